import Foundation
import PluginKit

/// safari's `HyenaFilter.filter(L)`, the implicit long filter, in float64 whatever the call's precision (it is
/// small: L x filter_order per layer), with its vector-Jacobian product:
///
///     z = pos_emb.z[:L]                                     (L, E)   trainable, initialised by ``positionalEmbedding``
///     s_0 = sin(freq * (z W_0^T + b_0))                      (L, F)   one Sin module, shared by every layer
///     s_i = sin(freq * (s_{i-1} W_{2i}^T + b_{2i}))          i = 1 ... num_inner_mlps
///     h = s_last W_out^T                                     (L, C)   no bias
///     h *= exp(-t |delta|) + shift                           when modulate; t = linspace(0, 1, l_max)[:L]
///
/// with `delta = linspace(log(target) / slow_decay_pct, log(target) / fast_decay_pct, C)` (the buffers `t` and
/// `modulation.deltas` are recomputed, not parameters).
struct ImplicitFilter {
    /// `E = emb_dim`.
    let embedding: Int
    /// `F = filter_order`, the MLP width.
    let width: Int
    /// `num_inner_mlps`.
    let inner: Int
    /// `C = D (order - 1)`.
    let channels: Int
    let maxLength: Int
    let modulate: Bool
    let shift: Double
    /// `|delta_c|`, per channel.
    let decay: [Double]
    /// `delta_c` as upstream's `modulation.deltas` buffer holds it (signed).
    let deltas: [Double]

    init(
        embedding: Int, width: Int, inner: Int, channels: Int, maxLength: Int, modulate: Bool, shift: Double,
        fastDecay: Double, slowDecay: Double, target: Double
    ) {
        (self.embedding, self.width, self.inner, self.channels, self.maxLength) = (
            embedding, width, inner, channels, maxLength
        )
        (self.modulate, self.shift) = (modulate, shift)
        let (lo, hi) = (log(target) / slowDecay, log(target) / fastDecay)
        deltas = (0..<channels).map { Self.linspace(lo, hi, count: channels, at: $0) }
        decay = deltas.map(abs)
    }

    /// `torch.linspace(lo, hi, count)[i]` (a single point is `lo`).
    static func linspace(_ lo: Double, _ hi: Double, count: Int, at i: Int) -> Double {
        count <= 1 ? lo : lo + (hi - lo) * Double(i) / Double(count - 1)
    }

    /// `t_l = linspace(0, 1, l_max)[l]`.
    func time(_ l: Int) -> Double { Self.linspace(0, 1, count: maxLength, at: l) }

    /// The modulation factor of position `l`, channel `c`.
    func modulation(_ l: Int, _ c: Int) -> Double { modulate ? exp(-time(l) * decay[c]) + shift : 1 }

    /// Upstream `PositionalEmbedding(emb_dim, l_max).z`, `(1, l_max, E)`: `[t, Re exp(-i f w), Im exp(-i f w)]` with
    /// `w_l = 2 pi l / l_max` and `f = linspace(1e-4, bands - 1, bands)`, `bands = (E - 1) / 2`.
    func positionalEmbedding<S: KernelScalar>(into z: UnsafeMutablePointer<S>) {
        let bands = (embedding - 1) / 2
        for l in 0..<maxLength {
            let row = z + l * embedding
            let w = 2 * Double.pi * Double(l) / Double(maxLength)
            row[0] = S(time(l))
            for b in 0..<bands {
                let f = Self.linspace(1e-4, Double(bands - 1), count: bands, at: b)
                row[1 + b] = S(cos(f * w))
                row[1 + bands + b] = S(-sin(f * w))
            }
        }
    }

    /// The parameters in float64: `z[:L]`, then per layer `(weight, bias)`, the shared `freq`, and `W_out`.
    struct Weights {
        let z: UnsafePointer<Double>
        /// `inner + 1` layers: weight `(F, E)` then `(F, F)`, bias `(F)`.
        let layers: [(weight: UnsafePointer<Double>, bias: UnsafePointer<Double>)]
        let freq: UnsafePointer<Double>
        let output: UnsafePointer<Double>
    }

    /// Float64 scalars the activations of length `L` take: pre-activations and sines per layer, and `h`.
    func activationCount(length: Int) -> Int {
        saturatingSum(saturatingProduct(2 * (inner + 1), length, width), saturatingProduct(length, channels))
    }

    /// Float64 scalars the backward's gradients of activations take: `dh` and two `(L, F)` buffers.
    func gradientCount(length: Int) -> Int {
        saturatingSum(saturatingProduct(length, channels), saturatingProduct(2, length, width))
    }

    /// Where ``forward(_:length:activations:parallel:)`` leaves `h` in its activations: after every layer's
    /// pre-activation and sine, `2 (inner + 1) L F` scalars in.
    func filterOffset(length l: Int) -> Int { 2 * (inner + 1) * l * width }

    /// Computes `h` (`(L, C)`, at ``filterOffset(length:)``) and keeps each layer's pre-activation and sine in
    /// `activations` (layer `i`: `pre` at `2 i L F`, `sin` at `(2 i + 1) L F`). Returns `h`.
    @discardableResult
    func forward(
        _ w: Weights, length l: Int, activations: UnsafeMutablePointer<Double>, parallel: ParallelFor
    )
        -> UnsafeMutablePointer<Double>
    {
        let f = width
        var input = w.z
        var inFeatures = embedding
        for (i, layer) in w.layers.enumerated() {
            let pre = activations + 2 * i * l * f
            let out = pre + l * f
            linear(
                input, rows: l, inFeatures: inFeatures, weight: layer.weight, bias: layer.bias, outFeatures: f,
                into: pre, parallel: parallel)
            for r in 0..<l {
                for j in 0..<f { out[r * f + j] = sin(w.freq[j] * pre[r * f + j]) }
            }
            input = UnsafePointer(out)
            inFeatures = f
        }
        let h = activations + filterOffset(length: l)
        linear(
            input, rows: l, inFeatures: f, weight: w.output, bias: nil, outFeatures: channels, into: h,
            parallel: parallel)
        if modulate {
            for r in 0..<l {
                for c in 0..<channels { h[r * channels + c] *= modulation(r, c) }
            }
        }
        return h
    }

    /// The filter gradients, in float64, overwritten: `z` (first L rows), per layer `(weight, bias)`, `freq`, `W_out`.
    struct Gradients {
        let z: UnsafeMutablePointer<Double>
        let layers: [(weight: UnsafeMutablePointer<Double>, bias: UnsafeMutablePointer<Double>)]
        let freq: UnsafeMutablePointer<Double>
        let output: UnsafeMutablePointer<Double>
    }

    /// The VJP from `dh` (`(L, C)`, modified in place) through the activations ``forward`` kept.
    func backward(
        _ w: Weights, length l: Int, activations: UnsafePointer<Double>, dh: UnsafeMutablePointer<Double>,
        scratch: UnsafeMutablePointer<Double>, into g: Gradients, parallel: ParallelFor
    ) {
        let f = width
        if modulate {
            for r in 0..<l {
                for c in 0..<channels { dh[r * channels + c] *= modulation(r, c) }
            }
        }
        let depth = w.layers.count
        let last = activations + (2 * (depth - 1) + 1) * l * f
        // W_out: d W = dh^T s_last, d s_last = dh W_out.
        parallelGemm(
            transA: true, transB: false, m: channels, n: f, k: l, alpha: 1, a: dh, lda: channels, b: last, ldb: f,
            beta: 0, c: g.output, ldc: f, parallel: parallel)
        let ds = scratch
        let dpre = scratch + l * f
        parallelGemm(
            transA: false, transB: false, m: l, n: f, k: channels, alpha: 1, a: dh, lda: channels, b: w.output,
            ldb: f, beta: 0, c: ds, ldc: f, parallel: parallel)
        g.freq.update(repeating: 0, count: f)
        for i in (0..<depth).reversed() {
            let pre = activations + 2 * i * l * f
            // s = sin(freq * pre): d pre = ds cos(freq pre) freq, d freq += ds cos(freq pre) pre.
            for r in 0..<l {
                for j in 0..<f {
                    let at = r * f + j
                    let slope = ds[at] * cos(w.freq[j] * pre[at])
                    dpre[at] = slope * w.freq[j]
                    g.freq[j] += slope * pre[at]
                }
            }
            let inFeatures = i == 0 ? embedding : f
            let input = i == 0 ? w.z : activations + (2 * (i - 1) + 1) * l * f
            Double.gemm(
                transA: true, transB: false, m: f, n: inFeatures, k: l, alpha: 1, a: dpre, lda: f, b: input,
                ldb: inFeatures, beta: 0, c: g.layers[i].weight, ldc: inFeatures)
            columnSums(dpre, rows: l, columns: f, into: g.layers[i].bias)
            // The input's gradient (the previous layer's sine, into ds, which is read no more; or z).
            let target = i == 0 ? g.z : ds
            Double.gemm(
                transA: false, transB: false, m: l, n: inFeatures, k: f, alpha: 1, a: dpre, lda: f,
                b: w.layers[i].weight, ldb: inFeatures, beta: 0, c: target, ldc: inFeatures)
        }
    }
}
