import PluginKit

/// Copies between the token order of `x` and a scan's order (``ScanDirection/tokens(length:)``), per batch entry.
///
/// A scan reads `width` columns starting at `column` of a `(B*L, stride)` tensor into a contiguous
/// `(B*L, width)` one in its order, and writes its results back to each token's own row. Rows are split over the host's
/// `parallel_for`; each destination row is written by one task.
struct TokenOrder {
    let batch: Int
    let length: Int
    /// `tokens[i]`: the token at position i of the scan.
    let tokens: [Int]
    let parallel: ParallelFor

    private func grain(_ width: Int) -> Int { max(1, 16384 / max(1, width)) }

    /// `out[b, i, :] = source[b, tokens[i], column ..< column + width]`.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func gather<S: KernelScalar>(
        _ source: UnsafePointer<S>, stride: Int, column: Int, width: Int, into out: UnsafeMutablePointer<S>
    ) {
        parallel(batch * length, grain: grain(width)) { r0, r1 in
            for row in r0..<r1 {
                let (b, i) = (row / length, row % length)
                (out + row * width).update(from: source + (b * length + tokens[i]) * stride + column, count: width)
            }
        }
    }

    /// `target[b, tokens[i], column ..< column + width] (+)= values[b, i, :]`: added when `accumulate`, else assigned.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func scatter<S: KernelScalar>(
        _ values: UnsafePointer<S>, width: Int, into target: UnsafeMutablePointer<S>, stride: Int, column: Int,
        accumulate: Bool
    ) {
        parallel(batch * length, grain: grain(width)) { r0, r1 in
            for row in r0..<r1 {
                let (b, i) = (row / length, row % length)
                let (v, t) = (values + row * width, target + (b * length + tokens[i]) * stride + column)
                if accumulate {
                    for c in 0..<width { t[c] += v[c] }
                } else {
                    t.update(from: v, count: width)
                }
            }
        }
    }
}
