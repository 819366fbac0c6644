import Foundation
import HostCore

/// The DiT's built-in layers over raw row-major float32 buffers: the model's only unsafe-pointer code.
///
/// Matrix products go through ``BLAS``; row-wise work (LayerNorm, modulation) is split over the host
/// thread pool. Backward functions *accumulate* into parameter gradients (`+=`) and *overwrite* input
/// gradients unless their name says otherwise.
enum DiTKernels {
    package typealias In = UnsafePointer<Float>
    package typealias Out = UnsafeMutablePointer<Float>

    /// `y[m, o] = x[m, i] W[o, i]^T + b[o]`.
    package static func linear(
        _ x: In, rows m: Int, inDim: Int, weight w: In, bias b: In?, outDim: Int, _ y: Out
    ) throws(BLAS.DimensionError) {
        if let b {
            for r in 0..<m { (y + r * outDim).update(from: b, count: outDim) }
        }
        try BLAS.gemm(
            .none, .transposed, m: m, n: outDim, k: inDim, a: x, lda: inDim, b: w, ldb: inDim,
            beta: b == nil ? 0 : 1, c: y, ldc: outDim)
    }

    /// Backward of ``linear``: `dx = dy W` (overwritten, when asked), `dW += dy^T x`, `db += sum_rows dy`.
    package static func linearBackward(
        _ dy: In, _ x: In, rows m: Int, inDim: Int, weight w: In, outDim: Int, dx: Out?, dWeight: Out, dBias: Out?
    ) throws(BLAS.DimensionError) {
        if let dx {
            try BLAS.gemm(
                .none, .none, m: m, n: inDim, k: outDim, a: dy, lda: outDim, b: w, ldb: inDim, c: dx, ldc: inDim)
        }
        try BLAS.gemm(
            .transposed, .none, m: outDim, n: inDim, k: m, a: dy, lda: outDim, b: x, ldb: inDim,
            beta: 1, c: dWeight, ldc: inDim)
        if let dBias {
            for r in 0..<m {
                let row = dy + r * outDim
                for o in 0..<outDim { dBias[o] += row[o] }
            }
        }
    }

    /// LayerNorm without affine over the last `dim` of `rows` rows: `h = (x - mean) / sqrt(var + eps)`,
    /// with the biased variance as PyTorch computes it; `rstd` receives `1 / sqrt(var + eps)` per row.
    package static func layerNorm(_ x: In, rows: Int, dim: Int, eps: Float, _ h: Out, rstd: Out) {
        let xa = UInt(bitPattern: x), ha = UInt(bitPattern: h), ra = UInt(bitPattern: rstd)
        ThreadPool.shared.parallelFor(rows, grain: 16) { lo, hi in
            let x = In(bitPattern: xa)!, h = Out(bitPattern: ha)!, rstd = Out(bitPattern: ra)!
            for r in lo..<hi {
                let xr = x + r * dim, hr = h + r * dim
                var sum: Double = 0
                for j in 0..<dim { sum += Double(xr[j]) }
                let mean = sum / Double(dim)
                var sq: Double = 0
                for j in 0..<dim {
                    let d = Double(xr[j]) - mean
                    sq += d * d
                }
                let rs = 1 / (sq / Double(dim) + Double(eps)).squareRoot()
                rstd[r] = Float(rs)
                let m = Float(mean), s = Float(rs)
                for j in 0..<dim { hr[j] = (xr[j] - m) * s }
            }
        }
    }

    /// Backward of ``layerNorm``: `dx = rstd (dh - mean(dh) - h mean(dh h))`, *added* to `dx`.
    package static func layerNormBackwardAdd(_ dh: In, _ h: In, rstd: In, rows: Int, dim: Int, dx: Out) {
        let dha = UInt(bitPattern: dh), ha = UInt(bitPattern: h), ra = UInt(bitPattern: rstd),
            dxa = UInt(bitPattern: dx)
        ThreadPool.shared.parallelFor(rows, grain: 16) { lo, hi in
            let dh = In(bitPattern: dha)!, h = In(bitPattern: ha)!, rstd = In(bitPattern: ra)!,
                dx = Out(bitPattern: dxa)!
            for r in lo..<hi {
                let g = dh + r * dim, hr = h + r * dim, out = dx + r * dim
                var sg: Float = 0, sgh: Float = 0
                for j in 0..<dim {
                    sg += g[j]
                    sgh += g[j] * hr[j]
                }
                let mg = sg / Float(dim), mgh = sgh / Float(dim), s = rstd[r]
                for j in 0..<dim { out[j] += s * (g[j] - mg - hr[j] * mgh) }
            }
        }
    }

    /// `a[n, t, :] = h[n, t, :] * (1 + scale[n, :]) + shift[n, :]`; `shift`/`scale` rows are `modStride` apart.
    package static func modulate(
        _ h: In, batch: Int, tokens: Int, dim: Int, shift: In, scale: In, modStride: Int, _ a: Out
    ) {
        let ha = UInt(bitPattern: h), sha = UInt(bitPattern: shift), sca = UInt(bitPattern: scale),
            aa = UInt(bitPattern: a)
        ThreadPool.shared.parallelFor(batch * tokens, grain: 16) { lo, hi in
            let h = In(bitPattern: ha)!, shift = In(bitPattern: sha)!, scale = In(bitPattern: sca)!,
                a = Out(bitPattern: aa)!
            for r in lo..<hi {
                let n = r / tokens
                let sh = shift + n * modStride, sc = scale + n * modStride, hr = h + r * dim, ar = a + r * dim
                for j in 0..<dim { ar[j] = hr[j] * (1 + sc[j]) + sh[j] }
            }
        }
    }

    /// Backward of ``modulate``: `dh = da (1 + scale)` (overwritten), `dshift[n] += sum_t da`,
    /// `dscale[n] += sum_t da h`.
    package static func modulateBackward(
        _ da: In, _ h: In, batch: Int, tokens: Int, dim: Int, scale: In, modStride: Int, dh: Out, dShift: Out,
        dScale: Out
    ) {
        for n in 0..<batch {
            let sc = scale + n * modStride, dsh = dShift + n * modStride, dsc = dScale + n * modStride
            for t in 0..<tokens {
                let r = n * tokens + t
                let g = da + r * dim, hr = h + r * dim, out = dh + r * dim
                for j in 0..<dim {
                    out[j] = g[j] * (1 + sc[j])
                    dsh[j] += g[j]
                    dsc[j] += g[j] * hr[j]
                }
            }
        }
    }

    /// `x[n, t, :] += gate[n, :] * y[n, t, :]`.
    package static func gatedAdd(_ x: Out, _ y: In, batch: Int, tokens: Int, dim: Int, gate: In, modStride: Int) {
        for n in 0..<batch {
            let g = gate + n * modStride
            for t in 0..<tokens {
                let r = (n * tokens + t) * dim
                for j in 0..<dim { x[r + j] += g[j] * y[r + j] }
            }
        }
    }

    /// Backward of ``gatedAdd`` (for the `y` and `gate` sides): `dy = gate dx` (overwritten),
    /// `dgate[n] += sum_t dx y`.
    package static func gatedAddBackward(
        _ dx: In, _ y: In, batch: Int, tokens: Int, dim: Int, gate: In, modStride: Int, dy: Out, dGate: Out
    ) {
        for n in 0..<batch {
            let g = gate + n * modStride, dg = dGate + n * modStride
            for t in 0..<tokens {
                let r = (n * tokens + t) * dim
                for j in 0..<dim {
                    dy[r + j] = g[j] * dx[r + j]
                    dg[j] += dx[r + j] * y[r + j]
                }
            }
        }
    }

    /// `y = x sigmoid(x)`.
    package static func silu(_ x: In, count: Int, _ y: Out) {
        for i in 0..<count { y[i] = x[i] / (1 + Foundation.exp(-x[i])) }
    }

    /// `dx = dy * silu'(x)`, overwritten.
    package static func siluBackward(_ dy: In, _ x: In, count: Int, _ dx: Out) {
        for i in 0..<count {
            let s = 1 / (1 + Foundation.exp(-x[i]))
            dx[i] = dy[i] * s * (1 + x[i] * (1 - s))
        }
    }
}
