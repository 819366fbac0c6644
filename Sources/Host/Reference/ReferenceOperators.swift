import Foundation

// Naive float64 references written from the math (plain loops, no BLAS), independent of every plugin: the
// conformance harness holds plugins with known operator ids against them, and the tests do too.
// Arrays are row-major; weights are PyTorch `(out, in)`.

/// `Lin(x) = x W^T + b` for one token.
private func linearRow(_ x: ArraySlice<Double>, _ w: [Double], _ b: [Double]?, out: Int) -> [Double] {
    let inFeatures = x.count
    var y = [Double](repeating: 0, count: out)
    for o in 0..<out {
        var s = b?[o] ?? 0
        for i in 0..<inFeatures { s += w[o * inFeatures + i] * x[x.startIndex + i] }
        y[o] = s
    }
    return y
}

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

/// timm `Mlp`: `fc2(gelu_tanh(fc1(x)))`.
public func referenceMLP(
    x: [Double], B: Int, L: Int, D: Int, hidden: Int, fc1W: [Double], fc1B: [Double], fc2W: [Double], fc2B: [Double]
) -> [Double] {
    var y = [Double](repeating: 0, count: B * L * D)
    for t in 0..<B * L {
        let h = linearRow(x[t * D..<(t + 1) * D], fc1W, fc1B, out: hidden).map { u in
            0.5 * u * (1 + tanh((2 / Double.pi).squareRoot() * (u + 0.044715 * u * u * u)))
        }
        let row = linearRow(h[...], fc2W, fc2B, out: D)
        for o in 0..<D { y[t * D + o] = row[o] }
    }
    return y
}

/// The built-in references by operator id, evaluated on upstream-named parameters.
public enum ReferenceOperators {
    /// Operator ids with a built-in reference.
    public static let ids: Set<String> = ["mha", "mlp"]

    /// The reference output for `id` at `x` (`[B, L, D]`, row-major), or nil when there is no reference or the
    /// parameters do not have the upstream names.
    public static func evaluate(
        id: String, x: [Double], shape: [Int], attributes: [String: AttributeValue], parameters: [String: [Double]]
    ) -> [Double]? {
        let (b, l, d) = (shape[0], shape[1], shape[2])
        switch id {
        case "mha":
            guard case .int(let heads)? = attributes["num_heads"], let qkvW = parameters["qkv.weight"],
                let projW = parameters["proj.weight"], let projB = parameters["proj.bias"]
            else { return nil }
            var causal = false
            if case .bool(let c)? = attributes["causal"] { causal = c }
            return referenceMHA(
                x: x, B: b, L: l, D: d, heads: Int(heads), causal: causal, qkvW: qkvW, qkvB: parameters["qkv.bias"],
                projW: projW, projB: projB)
        case "mlp":
            guard case .float(let ratio)? = attributes["expansion_ratio"], let fc1W = parameters["fc1.weight"],
                let fc1B = parameters["fc1.bias"], let fc2W = parameters["fc2.weight"], let fc2B = parameters["fc2.bias"]
            else { return nil }
            return referenceMLP(
                x: x, B: b, L: l, D: d, hidden: Int((Double(d) * ratio).rounded(.towardZero)), fc1W: fc1W, fc1B: fc1B,
                fc2W: fc2W, fc2B: fc2B)
        default:
            return nil
        }
    }
}
