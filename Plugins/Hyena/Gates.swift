import PluginKit

/// The elementwise gates of the Hyena kernels and their vector-Jacobian products.
///
/// `qkv` is `rows` rows of `3 * width` features, split `q = [0, W)`, `k = [W, 2W)`, `v = [2W, 3W)`; every other
/// tensor is `rows` rows of `width`. Rows are processed in parallel on the host's `parallel_for`; each element is
/// written by exactly one task, so the results do not depend on scheduling.
enum Gates {
    /// Rows per parallel task: about 16K elements each.
    private static func grain(_ width: Int) -> Int { max(1, 16384 / max(1, width)) }

    /// `g = q * (k * v)` (Hyena-X and mlp_hyena_x: `v = k * v` first, then `y = q * v`, as upstream).
    static func product<S: KernelScalar>(
        _ qkv: UnsafePointer<S>, rows: Int, width w: Int, into g: UnsafeMutablePointer<S>, parallel: ParallelFor
    ) {
        parallel(rows, grain: grain(w)) { begin, end in
            for r in begin..<end {
                let (q, o) = (qkv + r * 3 * w, g + r * w)
                for c in 0..<w { o[c] = q[c] * (q[w + c] * q[2 * w + c]) }
            }
        }
    }

    /// The VJP of ``product(_:rows:width:into:parallel:)``: `dq = dg*(k*v)`, `dk = dg*q*v`, `dv = dg*q*k`,
    /// written into the three slices of `dqkv`.
    static func productBackward<S: KernelScalar>(
        _ qkv: UnsafePointer<S>, _ dg: UnsafePointer<S>, rows: Int, width w: Int, into dqkv: UnsafeMutablePointer<S>,
        parallel: ParallelFor
    ) {
        parallel(rows, grain: grain(w)) { begin, end in
            for r in begin..<end {
                let (q, g, d) = (qkv + r * 3 * w, dg + r * w, dqkv + r * 3 * w)
                for c in 0..<w {
                    let (qc, kc, vc, gc) = (q[c], q[w + c], q[2 * w + c], g[c])
                    d[c] = gc * (kc * vc)
                    d[w + c] = gc * qc * vc
                    d[2 * w + c] = gc * qc * kc
                }
            }
        }
    }

    /// `z = k * v` (the first gate of Hyena-SE and Hyena-Y, before the inner filter).
    static func keyValue<S: KernelScalar>(
        _ qkv: UnsafePointer<S>, rows: Int, width w: Int, into z: UnsafeMutablePointer<S>, parallel: ParallelFor
    ) {
        parallel(rows, grain: grain(w)) { begin, end in
            for r in begin..<end {
                let (k, o) = (qkv + r * 3 * w + w, z + r * w)
                for c in 0..<w { o[c] = k[c] * k[w + c] }
            }
        }
    }

    /// `g = q * f` (the second gate of Hyena-SE and Hyena-Y, `f` the inner filter's output).
    static func query<S: KernelScalar>(
        _ qkv: UnsafePointer<S>, _ f: UnsafePointer<S>, rows: Int, width w: Int, into g: UnsafeMutablePointer<S>,
        parallel: ParallelFor
    ) {
        parallel(rows, grain: grain(w)) { begin, end in
            for r in begin..<end {
                let (q, fr, o) = (qkv + r * 3 * w, f + r * w, g + r * w)
                for c in 0..<w { o[c] = q[c] * fr[c] }
            }
        }
    }

    /// The VJP of ``query(_:_:rows:width:into:parallel:)``: `dq = dg * f` into the q slice of `dqkv`, `df = dg * q`.
    static func queryBackward<S: KernelScalar>(
        _ qkv: UnsafePointer<S>, _ f: UnsafePointer<S>, _ dg: UnsafePointer<S>, rows: Int, width w: Int,
        dqkv: UnsafeMutablePointer<S>, df: UnsafeMutablePointer<S>, parallel: ParallelFor
    ) {
        parallel(rows, grain: grain(w)) { begin, end in
            for r in begin..<end {
                let (q, fr, g) = (qkv + r * 3 * w, f + r * w, dg + r * w)
                let (dq, dfr) = (dqkv + r * 3 * w, df + r * w)
                for c in 0..<w {
                    dq[c] = g[c] * fr[c]
                    dfr[c] = g[c] * q[c]
                }
            }
        }
    }

    /// The VJP of ``keyValue(_:rows:width:into:parallel:)``: `dk = dz * v`, `dv = dz * k`, into the k and v slices
    /// of `dqkv`.
    static func keyValueBackward<S: KernelScalar>(
        _ qkv: UnsafePointer<S>, _ dz: UnsafePointer<S>, rows: Int, width w: Int, into dqkv: UnsafeMutablePointer<S>,
        parallel: ParallelFor
    ) {
        parallel(rows, grain: grain(w)) { begin, end in
            for r in begin..<end {
                let (k, z, dk) = (qkv + r * 3 * w + w, dz + r * w, dqkv + r * 3 * w + w)
                for c in 0..<w {
                    dk[c] = z[c] * k[w + c]
                    dk[w + c] = z[c] * k[c]
                }
            }
        }
    }
}
