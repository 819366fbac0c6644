import PluginKit

// The costs of `swa`, `swa2d` and `linear_attn` (ABI 1.3 `oz_operator.cost`), per image of T = L tokens, times B.
// Each counts the projections (``AttentionProjections/projectionFLOPs(tokens:)``) and its core; backward counts every
// gradient product of ``AttentionProjections/backward(_:_:_:dx:dparams:_:scratchPerHead:forwardHead:backwardHead:)``
// and of its core, not the forward it recomputes first. Bytes are PluginKit's minimum traffic (``OperatorCost``).

extension AttentionProjections {
    /// qkv `2 T D (3D)` + output projection `2 T D D` (the host's `projections`). Backward computes `dWout = dyᵀ O`,
    /// `dO = dy Wout`, `dWqkv = dqkvᵀ x`, `dx = dqkv Wqkv`: twice this.
    func projectionFLOPs(tokens t: SaturatingCount) -> SaturatingCount {
        let d = SaturatingCount(dim)
        return 2 * t * d * (3 * d) + 2 * t * d * d
    }
}

extension SlidingWindowAttentionKernel {
    /// `swa`:
    /// - forward: projections + `2 · 2 T W D` with `W = min(T, left + right + 1)` the keys of a full window (an
    ///   unbounded side counts T keys, `causal` makes right 0), as `EvaluationMetricsTests`
    ///   counts it by hand: an upper bound
    ///   (border queries see fewer keys).
    /// - backward (``WindowedAttention/backward(_:)``): per block `dP = dO Vᵀ`, `dQ = s dS K`, `dK += s dSᵀ Q`,
    ///   `dV += Pᵀ dO`, four products against the window's keys where the forward has two (`Q Kᵀ`, `P V`), so
    ///   `2 · (projections + 2 · 2 T W D)`, twice the forward.
    func cost(batch: Int, length: Int) -> OperatorCost? {
        let t = SaturatingCount(length)
        let leftKeys = left.map { SaturatingCount($0) } ?? t
        let rightKeys = right.map { SaturatingCount($0) } ?? t
        let window = min(t, leftKeys + rightKeys + 1)
        let forward = projections.projectionFLOPs(tokens: t) + 2 * 2 * t * window * SaturatingCount(projections.dim)
        let b = SaturatingCount(batch)
        return OperatorCost(forwardFLOPs: b * forward, backwardFLOPs: b * 2 * forward)
    }
}

extension AxisWindow {
    /// The (query, key) pairs along one axis of `extent` positions: the sum over positions of the keys each sees.
    /// `shifted(size)`: every position sees `min(size, extent)`. `offsets(before, after)`: the pairs with
    /// `-before <= key - query <= after`, i.e. `E + sum_{d=1}^{mb} (E - d) + sum_{d=1}^{ma} (E - d)` with
    /// `mb = min(before, E - 1)`, `ma = min(after, E - 1)` (an unbounded side is `E - 1`).
    func keyPairs(extent: Int) -> SaturatingCount {
        let e = SaturatingCount(extent)
        switch rule {
        case .shifted(let size):
            return e * SaturatingCount(min(size, extent))
        case .offsets(let before, let after):
            // sum_{d=1}^{m} (E - d) = m E - m (m + 1) / 2, never negative for m <= E - 1.
            func side(_ reach: Int?) -> SaturatingCount {
                let m = SaturatingCount(min(reach ?? extent, extent - 1))
                let (all, triangle) = (m * e, m * (m + 1) / 2)
                guard !all.isSaturated, !triangle.isSaturated else { return .saturated }
                return SaturatingCount(all.value - triangle.value)
            }
            return e + side(before) + side(after)
        }
    }
}

extension NeighborhoodAttentionKernel {
    /// `swa2d`:
    /// - forward: projections + `2 · 2 K D` with `K` the (query, key) pairs of the grid: `T · min(KH, H) · min(KW, W)`
    ///   for `border = shift` (every query sees a full window), the in-grid neighbours
    ///   `|r - r'| <= KH/2, |c - c'| <= KW/2` summed over the queries for `clip` (separable: the product of the two
    ///   axes' pair counts, ``AxisWindow/keyPairs(extent:)``). As `EvaluationMetricsTests` counts it by hand, exact.
    /// - backward (``WindowedAttention/backward(_:)``): four products per (query, key) pair where the forward has two,
    ///   and the projections' gradients: `2 · (projections + 2 · 2 K D)`, twice the forward.
    func cost(batch: Int, length: Int) -> OperatorCost? {
        let t = SaturatingCount(length)
        let keys = geometry.rows.keyPairs(extent: geometry.height) * geometry.cols.keyPairs(extent: geometry.width)
        let forward = projections.projectionFLOPs(tokens: t) + 2 * 2 * keys * SaturatingCount(projections.dim)
        let b = SaturatingCount(batch)
        return OperatorCost(forwardFLOPs: b * forward, backwardFLOPs: b * 2 * forward)
    }
}

extension LinearAttentionKernel {
    /// `linear_attn` (per head of width `dh = D / num_heads`):
    /// - forward: projections + `φ(K)ᵀ V` and `φ(Q) (φ(K)ᵀ V)`, `2 T dh²` each per head, so `2 · 2 T D dh`, + the
    ///   normaliser `φ(Q) · Σ φ(K)`, `2 T D`: as `EvaluationMetricsTests` counts it by hand.
    /// - backward (``LinearAttentionCore/backward(_:)``): per head `dKV = φ(Q)ᵀ dnum`, `dq = dnum KVᵀ`, `dk = v dKVᵀ`,
    ///   `dv = φ(K) dKV` (`4 · 2 T dh²`) and the normaliser's `dksum = Σ dden φ(q)`, `dq += dden ksum` (`2 · 2 T dh`),
    ///   with the projections' gradients: `2 · (projections + 2 · 2 T D dh + 2 T D)`, twice the forward.
    func cost(batch: Int, length: Int) -> OperatorCost? {
        let t = SaturatingCount(length)
        let (d, dh) = (SaturatingCount(projections.dim), SaturatingCount(projections.headDim))
        let forward = projections.projectionFLOPs(tokens: t) + 2 * 2 * t * d * dh + 2 * t * d
        let b = SaturatingCount(batch)
        return OperatorCost(forwardFLOPs: b * forward, backwardFLOPs: b * 2 * forward)
    }
}
