import HostCore

/// diffusers' `UpDecoderBlock2D`: `layers_per_block + 1` resnets, then (in all but the decoder's last block)
/// `Upsample2D`: nearest-neighbour 2x upsampling and a 3x3 conv (fused: the conv reads the map it upsamples).
struct UpDecoderBlock {
    let resnets: [ResnetBlock]
    let upsample: Conv2d?

    /// Up block `index` of the decoder (`decoder.up_blocks.<index>.*` in `tensors`).
    init(_ tensors: [String: Tensor<Float>], index: Int, resnets count: Int, upsample: Bool, groups: Int) {
        let prefix = "decoder.up_blocks.\(index)"
        resnets = (0..<count).map { ResnetBlock(tensors, prefix: "\(prefix).resnets.\($0)", groups: groups) }
        self.upsample =
            upsample
            ? Conv2d(
                weight: tensors["\(prefix).upsamplers.0.conv.weight"]!,
                bias: tensors["\(prefix).upsamplers.0.conv.bias"]!) : nil
    }

    /// Units of work for progress reports: one per resnet and one for the upsample.
    var steps: Int { resnets.count + (upsample == nil ? 0 : 1) }

    /// Replaces `x` (`[cin, height, width]`) by the block's output; `height` and `width` double when it upsamples.
    /// `step` is called after each unit of ``steps``.
    func apply(
        _ x: inout Tensor<Float>, height: inout Int, width: inout Int, step: () -> Void
    ) throws(BLAS.DimensionError) {
        for resnet in resnets {
            try resnet.apply(&x, height: height, width: width)
            step()
        }
        if let upsample {
            x = try upsample(x, height: height, width: width, upsample: true)
            height *= 2
            width *= 2
            step()
        }
    }
}
