import PluginKit

extension Mamba2Kernel {
    /// The cost of `mamba2`, `mamba2_bidir` and `mamba2_2d` (ABI 1.3 `oz_operator.cost`), per image of T = L tokens,
    /// times B, with `d_inner = expand D`, `H = d_inner / headdim` heads of width P, `G` groups, state `N`,
    /// `k = d_conv`, chunk `Q = min(chunk_size, T)` and `S` scans (1, 2 or 4):
    ///
    /// - forward: in_proj `2 T D (2 d_inner + 2GN + H)` + out_proj `2 T d_inner D` + per scan the depthwise conv
    ///   `2 T (d_inner + 2GN) k` and the chunked SSD's products (``ChunkedSSD/forward(_:y:shared:scratch:)``), per
    ///   token `2QN` per group (`C Bᵀ` inside the chunk) and `2QP + 2NP + 2NP` per head (the masked scores times
    ///   `x`, the read-out `C Sᵀ` of the carried state and the state update `Xᵀ diag(w) B`):
    ///   the count `EvaluationMetricsTests` checks by hand (a full Q-token chunk everywhere: an upper
    ///   bound).
    /// - backward (``backward(_:_:_:dx:dparams:_:)``): out_proj `dW = dyᵀ n`, `dn = dy W`; per scan the conv's input
    ///   and weight gradients and the SSD's VJP
    ///   (``ChunkedSSD/backward(_:y:dy:du:ddt:dD:dA:shared:accumulators:scratch:)``): per head `E = dY Xᵀ` and
    ///   `dX~ = Kᵀ dY` (`2 · 2QP`), the state paths `B dSᵀ` into `dX~`, `dB += X dS`, `dC += dY S` and
    ///   `dS += Yᵀ C` (`4 · 2NP`), per group `dC = V B`, `dB = Vᵀ C` (`2 · 2QN`); in_proj `dW = dzxᵀ x`,
    ///   `dx = dzx W`: twice the forward. The forward it recomputes first (states, `C Bᵀ`) and the per-token dot
    ///   products of the `dt`, `D` and `A` gradients (reductions, like the `D x` skip the forward leaves out) are
    ///   not counted.
    /// - bytes: PluginKit's minimum traffic (``OperatorCost``).
    ///
    /// `mamba2_2d` needs L == H*W of create; PluginKit refuses any other L with `OZ_ERR_SHAPE`.
    func cost(batch: Int, length: Int) -> OperatorCost? {
        let d = dimensions
        let t = SaturatingCount(length)
        let (dim, inner, heads) = (SaturatingCount(d.dim), SaturatingCount(d.dInner), SaturatingCount(d.heads))
        let (n, p) = (SaturatingCount(d.dState), SaturatingCount(d.headDim))
        let (g, k) = (SaturatingCount(d.groups), SaturatingCount(d.dConv))
        let q = SaturatingCount(min(d.chunkSize, length))
        let projections = 2 * t * dim * (2 * inner + 2 * g * n + heads) + 2 * t * inner * dim
        let conv = 2 * t * (inner + 2 * g * n) * k
        let ssd = t * (heads * (2 * q * p + 4 * n * p) + g * 2 * q * n)
        let forward = projections + SaturatingCount(directions.count) * (conv + ssd)
        let b = SaturatingCount(batch)
        return OperatorCost(forwardFLOPs: b * forward, backwardFLOPs: b * 2 * forward)
    }
}
