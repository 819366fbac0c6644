import PluginKit

extension HyenaMixerKernel {
    /// The cost of `hyena_x`, `hyena_se` and `hyena_y` (ABI 1.3 `oz_operator.cost`), per image of T = L tokens,
    /// times B, with `ks = short_filter_order` and `ki` the inner filter's taps (`ks` for SE, `inner_filter_len`
    /// for Y):
    ///
    /// - forward: in_proj `2 T D (3D)` + out_proj `2 T D D`, and one multiply-add per tap, channel and token of each
    ///   causal depthwise conv: the short filter `2 T (3D) ks` (X, SE), the inner filter `2 T D ki` (SE, Y). The
    ///   gates are elementwise. `EvaluationMetricsTests` checks it by hand.
    /// - backward (``backward(_:_:_:dx:dparams:_:)``): out_proj `dW = dyᵀ g`, `dg = dy W`; each conv's input and
    ///   weight gradients (``CausalDepthwiseConv``'s backward, one multiply-add per tap, channel and token each);
    ///   in_proj `dW = duᵀ x`, `dx = du W`: twice the forward.
    /// - bytes: PluginKit's minimum traffic (``OperatorCost``).
    ///
    /// An L above `l_max` is refused with `OZ_ERR_SHAPE`, as forward refuses it.
    func cost(batch: Int, length: Int) throws(PluginFailure) -> OperatorCost? {
        guard length <= maxLength else {
            throw .shape("cost query for L = \(length) tokens, more than attribute 'l_max' = \(maxLength)")
        }
        let (t, d) = (SaturatingCount(length), SaturatingCount(dim))
        var forward = 2 * t * d * (3 * d) + 2 * t * d * d
        if variant.hasShortFilter { forward += 2 * t * (3 * d) * SaturatingCount(shortTaps) }
        if variant.hasInnerFilter { forward += 2 * t * d * SaturatingCount(innerTaps) }
        let b = SaturatingCount(batch)
        return OperatorCost(forwardFLOPs: b * forward, backwardFLOPs: b * 2 * forward)
    }
}
