import Foundation

// A naive float64 reference for the Mamba-2 operators, written from the math in docs/OPERATORS.md section 5 with plain
// loops (no BLAS, no chunking, no shared code with the plugin): the per-timestep recurrent scan
// `S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T`, `y_t = S_t C_t + D x_t`. Arrays are row-major; Linear weights are
// PyTorch `(out, in)`; `conv1d.weight` `(C, 1, k)` is read as `(C, k)`.

/// `mamba2` (one scan in token order), `mamba2_bidir` and `mamba2_2d` (several scans, each with its own token order
/// and prefixed conv1d, dt_bias, A_log and D, summed before the gated RMSNorm).
struct ReferenceMamba2 {
    /// A scan: the prefix of its parameters and its token order for a sequence of L tokens.
    struct Scan: Sendable {
        let prefix: String
        let order: @Sendable (Int) -> [Int]
    }

    let D: Int, dState: Int, dConv: Int, expand: Int, headDim: Int, groups: Int
    let eps: Double
    let normBeforeGate: Bool
    let scans: [Scan]
    let parameters: [String: [Double]]

    var dInner: Int { expand * D }
    var heads: Int { dInner / headDim }
    var convDim: Int { dInner + 2 * groups * dState }
    var inProjDim: Int { 2 * dInner + 2 * groups * dState + heads }

    static let causal = [Scan(prefix: "", order: { Array(0..<$0) })]
    static let bidirectional = [
        Scan(prefix: "fwd.", order: { Array(0..<$0) }), Scan(prefix: "bwd.", order: { Array((0..<$0).reversed()) }),
    ]
    /// Row-major and column-major on an `h x w` grid, each forward and reversed.
    static func grid(height h: Int, width w: Int) -> [Scan] {
        var order: [Int] = []
        for c in 0..<w { for r in 0..<h { order.append(r * w + c) } }
        let columnMajor = order
        return [
            Scan(prefix: "row_fwd.", order: { Array(0..<$0) }),
            Scan(prefix: "row_bwd.", order: { Array((0..<$0).reversed()) }),
            Scan(prefix: "col_fwd.", order: { _ in columnMajor }),
            Scan(prefix: "col_bwd.", order: { _ in columnMajor.reversed() }),
        ]
    }

    private static func silu(_ v: Double) -> Double { v / (1 + exp(-v)) }
    /// PyTorch `F.softplus` (threshold 20).
    private static func softplus(_ v: Double) -> Double { v > 20 ? v : log1p(exp(v)) }

    /// `x W^T` for one row, `W` of shape `(out, n)`.
    private static func project(_ x: UnsafeBufferPointer<Double>, _ w: [Double], out: Int) -> [Double] {
        let n = x.count
        return w.withUnsafeBufferPointer { w in
            (0..<out).map { o in
                var s = 0.0
                for i in 0..<n { s += w[o * n + i] * x[i] }
                return s
            }
        }
    }

    /// `y` for `x` of shape `(B, L, D)`.
    func forward(_ x: [Double], B: Int, L: Int) -> [Double] {
        var out = [Double](repeating: 0, count: B * L * D)
        let (P, N, H, G) = (headDim, dState, heads, groups)
        let inW = parameters["in_proj.weight"]!
        for b in 0..<B {
            // [z | xBC | dt] for every token.
            let zx: [[Double]] = x.withUnsafeBufferPointer { xs in
                (0..<L).map { t in
                    Self.project(
                        UnsafeBufferPointer(rebasing: xs[(b * L + t) * D..<(b * L + t + 1) * D]), inW, out: inProjDim)
                }
            }
            var y = [[Double]](repeating: [Double](repeating: 0, count: dInner), count: L)
            for scan in scans {
                let order = scan.order(L)
                let w = parameters[scan.prefix + "conv1d.weight"]!, bias = parameters[scan.prefix + "conv1d.bias"]!
                let dtBias = parameters[scan.prefix + "dt_bias"]!, aLog = parameters[scan.prefix + "A_log"]!
                let skip = parameters[scan.prefix + "D"]!
                // Causal depthwise conv along the scan's order, then silu.
                var u = [[Double]](repeating: [Double](repeating: 0, count: convDim), count: L)
                for i in 0..<L {
                    for c in 0..<convDim {
                        var s = bias[c]
                        for j in 0..<dConv where i - (dConv - 1) + j >= 0 {
                            s += w[c * dConv + j] * zx[order[i - (dConv - 1) + j]][dInner + c]
                        }
                        u[i][c] = Self.silu(s)
                    }
                }
                // The recurrent scan, head by head.
                for h in 0..<H {
                    let g = h / (H / G)
                    let a = -exp(aLog[h])
                    var state = [Double](repeating: 0, count: P * N)
                    for i in 0..<L {
                        let dt = Self.softplus(zx[order[i]][dInner + convDim + h] + dtBias[h])
                        let decay = exp(dt * a)
                        for p in 0..<P {
                            let xv = u[i][h * P + p]
                            var yv = skip[h] * xv
                            for n in 0..<N {
                                state[p * N + n] = decay * state[p * N + n] + dt * xv * u[i][dInner + g * N + n]
                                yv += state[p * N + n] * u[i][dInner + G * N + g * N + n]
                            }
                            y[order[i]][h * P + p] += yv
                        }
                    }
                }
            }
            // Gated RMSNorm per group of d_inner / G channels, then out_proj.
            let normW = parameters["norm.weight"]!, outW = parameters["out_proj.weight"]!
            let size = dInner / G
            for t in 0..<L {
                var v = [Double](repeating: 0, count: dInner)
                let z = zx[t]
                for c in 0..<dInner { v[c] = normBeforeGate ? y[t][c] : y[t][c] * Self.silu(z[c]) }
                for g in 0..<G {
                    let mean = (g * size..<(g + 1) * size).reduce(0.0) { $0 + v[$1] * v[$1] } / Double(size)
                    let rstd = 1 / (mean + eps).squareRoot()
                    for c in g * size..<(g + 1) * size {
                        v[c] = v[c] * rstd * normW[c] * (normBeforeGate ? Self.silu(z[c]) : 1)
                    }
                }
                let row = v.withUnsafeBufferPointer { Self.project($0, outW, out: D) }
                for o in 0..<D { out[(b * L + t) * D + o] = row[o] }
            }
        }
        return out
    }
}

extension ReferenceOperators {
    /// `mamba2`, `mamba2_bidir`, `mamba2_2d` (upstream `Mamba2` names; attributes `d_state`, `d_conv`, `expand`,
    /// `headdim`, `ngroups`, `eps`, `norm_before_gate`; `chunk_size` only changes rounding, so it is not read).
    static func mamba2(scans: @escaping @Sendable (ReferenceInput) -> [ReferenceMamba2.Scan]?) -> Evaluate {
        { input in
            guard let dState = input.int("d_state"), let dConv = input.int("d_conv"), let expand = input.int("expand"),
                let headDim = input.int("headdim"), let groups = input.int("ngroups"), let eps = input.float("eps"),
                let normBeforeGate = input.bool("norm_before_gate"), let scans = scans(input),
                headDim > 0, (expand * input.dim) % headDim == 0, groups > 0,
                ((expand * input.dim) / headDim) % groups == 0
            else { return nil }
            let reference = ReferenceMamba2(
                D: input.dim, dState: dState, dConv: dConv, expand: expand, headDim: headDim, groups: groups, eps: eps,
                normBeforeGate: normBeforeGate, scans: scans, parameters: input.parameters)
            let names =
                reference.scans.flatMap { s in
                    ["conv1d.weight", "conv1d.bias", "dt_bias", "A_log", "D"].map { s.prefix + $0 }
                }
                + ["in_proj.weight", "norm.weight", "out_proj.weight"]
            guard names.allSatisfy({ input.parameters[$0] != nil }) else { return nil }
            return reference.forward(input.x, B: input.batch, L: input.length)
        }
    }
}
