import PluginKit

extension MLPKernel {
    /// The cost of `mlp` (ABI 1.3 `oz_operator.cost`), per image of T = L tokens, times B, with `H = int(D r)`:
    ///
    /// - forward: fc1 `2 T D H` + fc2 `2 T H D` = `2 · 2 T D H` (`EvaluationMetricsTests` checks it by hand).
    /// - backward (``backward(_:_:_:dx:dparams:_:)``): `dW2 = dyᵀ act`, `dact = dy W2`, `dW1 = dpreᵀ x`,
    ///   `dx = dpre W1`, each `2 T D H`: `4 · 2 T D H`, twice the forward. The hidden activations it recomputes are
    ///   not counted.
    /// - bytes: PluginKit's minimum traffic (``OperatorCost``).
    func cost(batch: Int, length: Int) -> OperatorCost? {
        let (t, d, h) = (SaturatingCount(length), SaturatingCount(dim), SaturatingCount(hidden))
        let forward = 2 * 2 * t * d * h
        let b = SaturatingCount(batch)
        return OperatorCost(forwardFLOPs: b * forward, backwardFLOPs: b * 2 * forward)
    }
}
