import Foundation

/// `gated_conv` (docs/OPERATORS.md section 10) in float64, written from the math with naive loops, independently of
/// the C plugin: `[u, g] = split_D(x W_in^T + b_in)`, `v = conv(u) + b_conv`, `y = (v * act(g)) W_out^T + b_out`.
struct ReferenceGatedConv {
    enum Mode: String { case causal1d, same1d, same2d }

    let mode: Mode
    /// `identity`, `sigmoid` or `silu`.
    let act: String
    /// Kernel extents (kh = 1 in the 1D modes).
    let kh: Int
    let kw: Int
    let D: Int
    /// The grid (same2d only).
    let grid: (h: Int, w: Int)?
    /// Parameters by their upstream names.
    let p: [String: [Double]]

    func activation(_ g: Double) -> Double {
        switch act {
        case "sigmoid": 1 / (1 + Foundation.exp(-g))
        case "silu": g / (1 + Foundation.exp(-g))
        default: g
        }
    }

    /// `y` for `x` of shape `[B, L, D]`, row-major.
    func forward(_ x: [Double], B: Int, L: Int) -> [Double] {
        let (wIn, bIn, wConv, bConv, wOut, bOut) = (
            p["in_proj.weight"]!, p["in_proj.bias"]!, p["conv.weight"]!, p["conv.bias"]!, p["out_proj.weight"]!,
            p["out_proj.bias"]!
        )
        var y = [Double](repeating: 0, count: B * L * D)
        for b in 0..<B {
            // z = x W_in^T + b_in, per token.
            var u = [[Double]](repeating: [Double](repeating: 0, count: D), count: L)
            var g = u
            for t in 0..<L {
                for o in 0..<(2 * D) {
                    var s = bIn[o]
                    for i in 0..<D { s += x[(b * L + t) * D + i] * wIn[o * D + i] }
                    if o < D { u[t][o] = s } else { g[t][o - D] = s }
                }
            }
            // The depthwise convolution, written per mode from its definition.
            var h = u
            for t in 0..<L {
                for c in 0..<D {
                    var v = bConv[c]
                    switch mode {
                    case .causal1d:
                        for j in 0..<kw where t - (kw - 1) + j >= 0 { v += wConv[c * kw + j] * u[t - (kw - 1) + j][c] }
                    case .same1d:
                        let pad = (kw - 1) / 2
                        for j in 0..<kw where (0..<L).contains(t - pad + j) {
                            v += wConv[c * kw + j] * u[t - pad + j][c]
                        }
                    case .same2d:
                        let (gh, gw) = grid!
                        let (r, col) = (t / gw, t % gw)
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let (rr, cc) = (r - (kh - 1) / 2 + i, col - (kw - 1) / 2 + j)
                                guard (0..<gh).contains(rr), (0..<gw).contains(cc) else { continue }
                                v += wConv[(c * kh + i) * kw + j] * u[rr * gw + cc][c]
                            }
                        }
                    }
                    h[t][c] = v * activation(g[t][c])
                }
            }
            for t in 0..<L {
                for o in 0..<D {
                    var s = bOut[o]
                    for i in 0..<D { s += h[t][i] * wOut[o * D + i] }
                    y[(b * L + t) * D + o] = s
                }
            }
        }
        return y
    }
}
