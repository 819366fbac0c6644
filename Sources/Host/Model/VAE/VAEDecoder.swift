import HostCore

/// The decoder of Stable Diffusion's VAE (diffusers' `AutoencoderKL`, e.g. `stabilityai/sd-vae-ft-ema` and
/// `sd-vae-ft-mse`): turns the latents of a latent DiT (DiT-XL/2: 4 channels, 32x32 for 256 px) into images.
///
/// It computes what `AutoencoderKL.decode(z).sample` computes, in float32: `post_quant_conv` (1x1), `decoder.conv_in`
/// (3x3), the mid block (resnet, single-head attention over the positions, resnet), the up blocks (each
/// `layers_per_block + 1` resnets, then a nearest-2x upsample and a 3x3 conv except in the last), GroupNorm, SiLU and
/// `conv_out`. Every GroupNorm has eps 1e-6 and ``VAEDecoderConfig/normNumGroups`` groups. Images come out in about
/// [-1, 1], not clamped.
///
/// ```swift
/// let vae = try VAEDecoder.open(path: "sd-vae-ft-ema.safetensors")
/// let images = try vae.decode(latents)        // raw DiT latents [N, 4, h, w] -> [N, 3, 8h, 8w]
/// try ImageGrid.write(images, columns: 4, path: "samples.png")
/// ```
///
/// Images are decoded one at a time; within an image the work is split over ``ThreadPool/shared`` in fixed pieces,
/// so a decode gives the same bits run after run for one thread count (and OpenBLAS kernel).
public struct VAEDecoder: Sendable {
    /// The configuration, inferred from the weights (plus the options).
    public let config: VAEDecoderConfig
    /// The file the weights came from.
    public let path: String
    /// Decoder parameters (encoder tensors are not loaded).
    public let parameterCount: Int

    let postQuantConv: Conv2d
    let convIn: Conv2d
    let midResnets: [ResnetBlock]
    let midAttention: MidBlockAttention
    let upBlocks: [UpDecoderBlock]
    let normOut: GroupNorm
    let convOut: Conv2d

    /// Reads a decoder from an `AutoencoderKL` state dict in diffusers' names (safetensors, or a PyTorch checkpoint
    /// through ``WeightsFile``).
    ///
    /// The configuration is inferred from the tensor shapes (see ``VAEDecoderConfig``); every decoder tensor must be
    /// present with the shape it implies. The mid-block attention may use diffusers' current names (`to_q`, `to_k`,
    /// `to_v`, `to_out.0`) or the old ones (`query`, `key`, `value`, `proj_attn`), with `[C, C]` or `[C, C, 1, 1]`
    /// weights. The encoder's tensors (`encoder.*`, `quant_conv.*`) are ignored, so a decoder-only file loads too; any
    /// other tensor is an error. F16, BF16 and F64 tensors are widened to float32.
    /// - Parameters:
    ///   - normNumGroups: GroupNorm groups (`norm_num_groups`; not visible in the tensors). SD: 32.
    ///   - scalingFactor: What ``decode(_:progress:)`` divides the latents by. DiT: 0.18215.
    /// - Throws: ``VAEError`` naming the file and the tensor or field at fault.
    public static func open(
        path: String, normNumGroups: Int = VAEDecoderConfig.defaultNormNumGroups,
        scalingFactor: Float = VAEDecoderConfig.defaultScalingFactor
    ) throws(VAEError) -> VAEDecoder {
        let file: SafetensorsFile
        do { file = try WeightsFile.read(path: path) } catch { throw .file(error) }
        return try VAEDecoder(file: file, normNumGroups: normNumGroups, scalingFactor: scalingFactor)
    }

    /// A decoder from the tensors of `file` (see ``open(path:normNumGroups:scalingFactor:)``).
    public init(
        file: SafetensorsFile, normNumGroups: Int = VAEDecoderConfig.defaultNormNumGroups,
        scalingFactor: Float = VAEDecoderConfig.defaultScalingFactor
    ) throws(VAEError) {
        let weights = try VAEWeights(file: file, normNumGroups: normNumGroups, scalingFactor: scalingFactor)
        let t = weights.tensors, c = weights.config, g = c.normNumGroups
        config = c
        path = file.path
        parameterCount = t.values.reduce(0) { $0 + $1.count }
        postQuantConv = Conv2d(weight: t["post_quant_conv.weight"]!, bias: t["post_quant_conv.bias"]!)
        convIn = Conv2d(weight: t["decoder.conv_in.weight"]!, bias: t["decoder.conv_in.bias"]!)
        midResnets = (0..<2).map { ResnetBlock(t, prefix: "decoder.mid_block.resnets.\($0)", groups: g) }
        midAttention = MidBlockAttention(t, prefix: "decoder.mid_block.attentions.0", groups: g)
        let blocks = c.blockOutChannels.count
        upBlocks = (0..<blocks).map {
            UpDecoderBlock(t, index: $0, resnets: c.layersPerBlock + 1, upsample: $0 < blocks - 1, groups: g)
        }
        normOut = GroupNorm(
            groups: g, scale: t["decoder.conv_norm_out.weight"]!, shift: t["decoder.conv_norm_out.bias"]!)
        convOut = Conv2d(weight: t["decoder.conv_out.weight"]!, bias: t["decoder.conv_out.bias"]!)
    }

    /// Units of work per image reported to a progress callback.
    var stepsPerImage: Int { 1 + 3 + upBlocks.reduce(0) { $0 + $1.steps } + 1 }

    /// Images from raw DiT latents: divides by ``VAEDecoderConfig/scalingFactor`` first, as DiT's `sample.py` does
    /// (`vae.decode(samples / 0.18215).sample`), then ``forward(_:progress:)``.
    /// - Parameters:
    ///   - latents: `[N, latent_channels, h, w]`.
    ///   - progress: Called with (units done, units in all) as the decode advances.
    /// - Returns: `[N, out_channels, u h, u w]` (`u` = ``VAEDecoderConfig/upscale``, 8 in SD), in about [-1, 1], not
    ///   clamped.
    /// - Throws: ``VAEError/argument(name:expected:found:)`` for latents of the wrong shape.
    public func decode(
        _ latents: Tensor<Float>, progress: ((_ done: Int, _ total: Int) -> Void)? = nil
    ) throws(VAEError) -> Tensor<Float> {
        var z = latents
        let factor = config.scalingFactor
        z.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] /= factor }
        }
        return try forward(z, progress: progress)
    }

    /// Images from latents already divided by the scaling factor: exactly `AutoencoderKL.decode(z).sample`
    /// (`post_quant_conv`, then the decoder). Shapes as ``decode(_:progress:)``.
    public func forward(
        _ z: Tensor<Float>, progress: ((_ done: Int, _ total: Int) -> Void)? = nil
    ) throws(VAEError) -> Tensor<Float> {
        let c = config
        guard z.rank == 4, z.shape[1] == c.latentChannels, z.shape.allSatisfy({ $0 >= 1 }) else {
            throw .argument(
                name: "latents", expected: "[N, \(c.latentChannels), h, w] (N, h, w >= 1)", found: z.shape.shapeText)
        }
        let (count, height, width) = (z.shape[0], z.shape[2], z.shape[3])
        let (outHeight, outWidth) = (height * c.upscale, width * c.upscale)
        let imageCount = c.outChannels * outHeight * outWidth
        var images = Tensor<Float>(uninitialized: [count, c.outChannels, outHeight, outWidth])
        let total = count * stepsPerImage
        var done = 0
        progress?(0, total)
        let step = {
            done += 1
            progress?(done, total)
        }
        for n in 0..<count {
            let latent = z.withUnsafeBufferPointer { p in
                let size = c.latentChannels * height * width
                return try! Tensor<Float>(
                    shape: [c.latentChannels, height, width], scalars: p[n * size..<(n + 1) * size])
            }
            let image: Tensor<Float>
            do {
                image = try decodeImage(latent, height: height, width: width, step: step)
            } catch {
                throw .argument(name: "latents", expected: "a size OpenBLAS can multiply", found: error.message)
            }
            image.withUnsafeBufferPointer { src in
                images.withUnsafeMutableBufferPointer { dst in
                    (dst.baseAddress! + n * imageCount).update(from: src.baseAddress!, count: imageCount)
                }
            }
        }
        return images
    }

    /// One image `[out_channels, u h, u w]` from one latent `[latent_channels, h, w]` (already scaled).
    private func decodeImage(
        _ z: Tensor<Float>, height h: Int, width w: Int, step: () -> Void
    ) throws(BLAS.DimensionError) -> Tensor<Float> {
        var height = h, width = w
        var x = try convIn(postQuantConv(z, height: height, width: width), height: height, width: width)
        step()
        try midResnets[0].apply(&x, height: height, width: width)
        step()
        try midAttention.apply(&x, positions: height * width)
        step()
        try midResnets[1].apply(&x, height: height, width: width)
        step()
        for block in upBlocks {
            try block.apply(&x, height: &height, width: &width, step: step)
        }
        let normed = normOut(x, plane: height * width, silu: true)
        x = Tensor(zeros: [0])  // the last block's output is not needed any more: free it before conv_out
        let image = try convOut(normed, height: height, width: width)
        step()
        return image
    }
}
