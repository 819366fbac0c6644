import Foundation

// Naive float64 references written from the math (plain loops, no BLAS), independent of every plugin: the
// conformance harness holds plugins with known operator ids against them, and the tests do too.
// Arrays are row-major; weights are PyTorch `(out, in)`.

/// timm `Attention`: qkv split `(three, heads, head_dim)`, softmax(q k^T / sqrt(dh)) v, heads concatenated, proj.
public func referenceMHA(
    x: [Double], B: Int, L: Int, D: Int, heads: Int, causal: Bool, qkvW: [Double], qkvB: [Double]?,
    projW: [Double], projB: [Double]
) -> [Double] {
    let dh = D / heads
    var y = [Double](repeating: 0, count: B * L * D)
    for b in 0..<B {
        let qkv = (0..<L).map { t in linearRow(x[(b * L + t) * D..<(b * L + t + 1) * D], qkvW, qkvB, out: 3 * D) }
        var concat = [[Double]](repeating: [Double](repeating: 0, count: D), count: L)
        for h in 0..<heads {
            for i in 0..<L {
                var scores = [Double](repeating: -Double.infinity, count: L)
                for j in 0..<L where !causal || j <= i {
                    var s = 0.0
                    for d in 0..<dh { s += qkv[i][h * dh + d] * qkv[j][D + h * dh + d] }
                    scores[j] = s / Double(dh).squareRoot()
                }
                let m = scores.max()!
                let e = scores.map { $0 == -Double.infinity ? 0 : exp($0 - m) }
                let z = e.reduce(0, +)
                for d in 0..<dh {
                    var o = 0.0
                    for j in 0..<L { o += e[j] / z * qkv[j][2 * D + h * dh + d] }
                    concat[i][h * dh + d] = o
                }
            }
        }
        for t in 0..<L {
            let row = linearRow(concat[t][...], projW, projB, out: D)
            for o in 0..<D { y[(b * L + t) * D + o] = row[o] }
        }
    }
    return y
}

extension ReferenceOperators {
    /// `mha` (timm names `qkv.*`, `proj.*`; attributes `num_heads`, `causal`).
    static func mha(_ input: ReferenceInput) -> [Double]? {
        guard let heads = input.int("num_heads"), let qkvW = input.parameters["qkv.weight"],
            let projW = input.parameters["proj.weight"], let projB = input.parameters["proj.bias"]
        else { return nil }
        return referenceMHA(
            x: input.x, B: input.batch, L: input.length, D: input.dim, heads: heads,
            causal: input.bool("causal") ?? false,
            qkvW: qkvW, qkvB: input.parameters["qkv.bias"], projW: projW, projB: projB)
    }
}
