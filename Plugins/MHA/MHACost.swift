import PluginKit

extension MHAKernel {
    /// The cost of `mha` (ABI 1.3 `oz_operator.cost`), per image of T = L tokens, times B:
    ///
    /// - forward: qkv `2 T D (3D)` + proj `2 T D D` + scores `Q Kᵀ` and weighted sum `P V`, `2 · 2 T T D` (the heads
    ///   split D, so their count drops out); with `causal` query i sees i + 1 keys, so `2 · 2 D T(T+1)/2`.
    ///   `EvaluationMetricsTests` checks it by hand.
    /// - backward (``backward(_:_:_:dx:dparams:_:)``): every product twice, `2 ·` forward: `dWproj = dyᵀ O` and
    ///   `dO = dy Wproj` (`2 · 2 T D D`), per head `dP = dO Vᵀ`, `dV = Pᵀ dO`, `dQ = s dS K`, `dK = s dSᵀ Q`
    ///   (`4 · 2 T T dh`, `T(T+1)/2` key pairs when causal), `dWqkv = dqkvᵀ x` and `dx = dqkv Wqkv`
    ///   (`2 · 2 T D 3D`). The forward it recomputes first is not counted.
    /// - bytes: PluginKit's minimum traffic (``OperatorCost``).
    func cost(batch: Int, length: Int) -> OperatorCost? {
        let (t, d) = (SaturatingCount(length), SaturatingCount(dim))
        let projections = 2 * t * d * (3 * d) + 2 * t * d * d
        let keys = causal ? t * (t + 1) / 2 : t * t
        let forward = projections + 2 * 2 * keys * d
        let b = SaturatingCount(batch)
        return OperatorCost(forwardFLOPs: b * forward, backwardFLOPs: b * 2 * forward)
    }
}
