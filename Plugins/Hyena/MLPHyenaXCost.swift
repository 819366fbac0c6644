import PluginKit

extension MLPHyenaXKernel {
    /// The cost of `mlp_hyena_x` (ABI 1.3 `oz_operator.cost`), per image of T = L = `l_max` tokens, times B, with
    /// `H = expansion_ratio · D` and `k = short_filter_order`:
    ///
    /// - forward: in_proj `2 T D (3H)` + out_proj `2 T H D` + the conv along the features, one multiply-add per tap and
    ///   element of `u`, `2 T (3H) k`. The gate is elementwise. `EvaluationMetricsTests` checks it by hand.
    /// - backward (``backward(_:_:_:dx:dparams:_:)``): out_proj `dW = dyᵀ g`, `dg = dy W`; the conv's input and weight
    ///   gradients; in_proj `dW = duᵀ x`, `dx = du W`: twice the forward.
    /// - bytes: PluginKit's minimum traffic (``OperatorCost``).
    ///
    /// PluginKit refuses an L other than `l_max` (``fixedLength``) with `OZ_ERR_SHAPE`.
    func cost(batch: Int, length: Int) -> OperatorCost? {
        let (t, d) = (SaturatingCount(length), SaturatingCount(dim))
        let (h, k) = (SaturatingCount(hidden), SaturatingCount(taps))
        let forward = 2 * t * d * (3 * h) + 2 * t * h * d + 2 * t * (3 * h) * k
        let b = SaturatingCount(batch)
        return OperatorCost(forwardFLOPs: b * forward, backwardFLOPs: b * 2 * forward)
    }
}
