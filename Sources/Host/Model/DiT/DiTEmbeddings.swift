import Foundation
import HostCore

/// The DiT's fixed (parameter-free) embeddings, computed in float64 and rounded once.
public enum DiTEmbeddings {
    /// Frequencies of the timestep embedding (DiT's `TimestepEmbedder.frequency_embedding_size`).
    public static let timestepFrequencies = 256

    /// DiT's `TimestepEmbedder.timestep_embedding`: for `half = dim / 2`,
    /// `freqs[k] = exp(-ln(max_period) k / half)` and the row for `t` is `[cos(t freqs), sin(t freqs)]`
    /// (cos first), zero-padded when `dim` is odd. Shape `[N, dim]`.
    public static func timestep(
        _ t: [Double], dim: Int = timestepFrequencies, maxPeriod: Double = 10000
    ) -> Tensor<Float> {
        let half = dim / 2
        var out = Tensor<Float>(zeros: [t.count, dim])
        out.withUnsafeMutableBufferPointer { p in
            for (n, tn) in t.enumerated() {
                for k in 0..<half {
                    let arg = tn * Foundation.exp(-Foundation.log(maxPeriod) * Double(k) / Double(half))
                    p[n * dim + k] = Float(Foundation.cos(arg))
                    p[n * dim + half + k] = Float(Foundation.sin(arg))
                }
            }
        }
        return out
    }

    /// DiT's `get_2d_sincos_pos_embed(dim, gridSize)`: shape `[gridSize * gridSize, dim]`, token `m = i * gridSize + j`
    /// (row i, column j). The first `dim/2` entries encode the column j and the last `dim/2` the row i (numpy's
    /// `meshgrid(grid_w, grid_h)` puts w first), each as `[sin(p omega), cos(p omega)]` with
    /// `omega[k] = 10000^(-k / (dim/4))`. `dim` must be a multiple of 4.
    public static func sinCos2D(dim: Int, gridSize: Int) -> Tensor<Float> {
        precondition(dim % 4 == 0, "the 2D sin-cos position embedding needs a width divisible by 4")
        let quarter = dim / 4
        var out = Tensor<Float>(zeros: [gridSize * gridSize, dim])
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<gridSize {
                for j in 0..<gridSize {
                    let row = p.baseAddress! + (i * gridSize + j) * dim
                    for (half, position) in [(0, j), (1, i)] {
                        for k in 0..<quarter {
                            let omega = 1 / Foundation.pow(10000, Double(k) / Double(quarter))
                            let arg = Double(position) * omega
                            row[half * 2 * quarter + k] = Float(Foundation.sin(arg))
                            row[half * 2 * quarter + quarter + k] = Float(Foundation.cos(arg))
                        }
                    }
                }
            }
        }
        return out
    }
}
