import PluginKit

extension HyenaKernel {
    /// The cost of `hyena` (ABI 1.3 `oz_operator.cost`), per image of T = L tokens, times B, with order `o`,
    /// `C = D (o - 1)` filter channels, `F = filter_order`, `E = emb_dim`, `k = short_filter_order`, `N` the smallest
    /// power of two `>= 2T` (at least 2) and `fft = 2.5 N log2 N` one real transform:
    ///
    /// - forward: in_proj `2 T D (o+1) D` + out_proj `2 T D D` + the short filter `2 T (o+1) D k` + the filter MLP
    ///   `2 T (E F + num_inner_mlps F² + F C)` (sines not counted) + per filter channel the long convolution
    ///   (``LongConvolution``'s forward): three transforms (filter, signal, inverse), the spectral product
    ///   `6 (N/2 + 1)` and the skip term `2T`, i.e. `C (3 fft + 6 (N/2 + 1) + 2T)`:
    ///   the count `EvaluationMetricsTests` checks by hand.
    /// - backward (``backward(_:_:_:dx:dparams:_:)``): the projections, the short filter and the filter MLP
    ///   (``ImplicitFilter``'s backward: `dW` and the input gradient, down to `z`, per layer) twice their forward;
    ///   per filter channel the long convolution's VJP (``LongConvolution``'s backward): five transforms (filter,
    ///   `dy`, signal, the inverse for `da`, the inverse for `dk`), two spectral products (`conj(K) G` and
    ///   `conj(A) G`) and the skip term's two gradients (`da += bias dy`, `dbias = Σ dy a`):
    ///   `2 (projections + short filter + filter MLP) + C (5 fft + 2 · 6 (N/2 + 1) + 2 · 2T)`.
    /// - bytes: PluginKit's minimum traffic (``OperatorCost``; `pos_emb.z` counts all its `l_max` rows).
    ///
    /// As the host counts it, everything is per image: the filter MLP, its transforms and the filter gradient's
    /// inverse transform run once per call in this kernel whatever B, so for B > 1 the count is an upper bound by
    /// `(B - 1)` times those terms. An L above `l_max` is refused with `OZ_ERR_SHAPE`, as forward refuses it.
    func cost(batch: Int, length: Int) throws(PluginFailure) -> OperatorCost? {
        guard length <= maxLength else {
            throw .shape("cost query for L = \(length) tokens, more than attribute 'l_max' = \(maxLength)")
        }
        let (t, d, o) = (SaturatingCount(length), SaturatingCount(dim), SaturatingCount(order))
        let (e, f, inner, c) = (
            SaturatingCount(filter.embedding), SaturatingCount(filter.width), SaturatingCount(filter.inner),
            SaturatingCount(filter.channels)
        )
        let projections = 2 * t * d * (o + 1) * d + 2 * t * d * d
        let shortFilter = 2 * t * (o + 1) * d * SaturatingCount(shortTaps)
        let filterMLP = 2 * t * (e * f + inner * f * f + f * c)
        var size = 2
        while size < 2 * length { size <<= 1 }
        let n = SaturatingCount(size)
        let fft = 5 * n * SaturatingCount(size.trailingZeroBitCount) / 2
        let spectral = 6 * (n / 2 + 1)
        let forward = projections + shortFilter + filterMLP + c * (3 * fft + spectral + 2 * t)
        let backward = 2 * (projections + shortFilter + filterMLP) + c * (5 * fft + 2 * spectral + 2 * 2 * t)
        let b = SaturatingCount(batch)
        return OperatorCost(forwardFLOPs: b * forward, backwardFLOPs: b * backward)
    }
}
