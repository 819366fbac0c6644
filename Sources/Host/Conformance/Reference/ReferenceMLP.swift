import Foundation

// Naive float64 references written from the math (plain loops, no BLAS), independent of every plugin: the
// conformance harness holds plugins with known operator ids against them, and the tests do too.
// Arrays are row-major; weights are PyTorch `(out, in)`.

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

extension ReferenceOperators {
    /// `mlp` (timm names `fc1.*`, `fc2.*`; attribute `expansion_ratio`, hidden width `int(D * r)`).
    static func mlp(_ input: ReferenceInput) -> [Double]? {
        guard let ratio = input.float("expansion_ratio"), let fc1W = input.parameters["fc1.weight"],
            let fc1B = input.parameters["fc1.bias"], let fc2W = input.parameters["fc2.weight"],
            let fc2B = input.parameters["fc2.bias"]
        else { return nil }
        return referenceMLP(
            x: input.x, B: input.batch, L: input.length, D: input.dim,
            hidden: Int((Double(input.dim) * ratio).rounded(.towardZero)),
            fc1W: fc1W, fc1B: fc1B, fc2W: fc2W, fc2B: fc2B)
    }
}
