import HostCore

/// diffusers' `ResnetBlock2D` as the VAE decoder uses it (no time embedding, output scale 1, dropout off at eval):
/// `x + conv2(silu(norm2(conv1(silu(norm1(x))))))`, with `x` through the 1x1 `conv_shortcut` when the block changes
/// the channel count.
struct ResnetBlock {
    let norm1: GroupNorm
    let conv1: Conv2d
    let norm2: GroupNorm
    let conv2: Conv2d
    let shortcut: Conv2d?

    /// The block whose tensors are `prefix.norm1.weight`, ... in `tensors`.
    init(_ tensors: [String: Tensor<Float>], prefix: String, groups: Int) {
        func t(_ name: String) -> Tensor<Float> { tensors[prefix + "." + name]! }
        norm1 = GroupNorm(groups: groups, scale: t("norm1.weight"), shift: t("norm1.bias"))
        conv1 = Conv2d(weight: t("conv1.weight"), bias: t("conv1.bias"))
        norm2 = GroupNorm(groups: groups, scale: t("norm2.weight"), shift: t("norm2.bias"))
        conv2 = Conv2d(weight: t("conv2.weight"), bias: t("conv2.bias"))
        shortcut =
            tensors[prefix + ".conv_shortcut.weight"].map { Conv2d(weight: $0, bias: t("conv_shortcut.bias")) }
    }

    var outChannels: Int { conv2.outChannels }

    /// Replaces `x` (`[cin, height, width]`) by the block's output `[cout, height, width]`. The residual sum is
    /// accumulated in `x`'s own buffer when the channel count stays.
    func apply(_ x: inout Tensor<Float>, height: Int, width: Int) throws(BLAS.DimensionError) {
        let plane = height * width
        var h = try conv1(norm1(x, plane: plane, silu: true), height: height, width: width)
        norm2.applyInPlace(&h, plane: plane, silu: true)
        if let shortcut { x = try shortcut(x, height: height, width: width) }
        try conv2.apply(h, height: height, width: width, into: &x, accumulate: true)
    }
}
