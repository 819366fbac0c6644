import Foundation
import Testing

@testable import HostCore
@testable import HostPlugins

/// The attention weights `mha`, `swa` and `swa2d` give for analysis (ABI 1.6 `OZ_DIAG_ATTENTION_WEIGHTS`) against a
/// float64 reference written from the math: `qkv = x Wqkv^T + b` split `(three, heads, head_dim)`, scores
/// `q k^T / sqrt(head_dim)` masked to each query's window, row softmax.
///
/// Tolerances: float64 `1e-12` (the same sums in another order); float32 `2e-6` absolute (a probability in [0, 1] from
/// scores that are sums of D float32 products, rounded a few times: well under 1e-6 at these sizes, doubled).
@Suite struct AttentionWeightsTests {
    /// The reference weights `[B, H, L, L]`; `visible(q, s)` says whether query q sees key s.
    static func reference(
        _ x: Tensor<Double>, qkvWeight w: Tensor<Double>, qkvBias bias: Tensor<Double>?, heads: Int,
        visible: (Int, Int) -> Bool
    ) -> [Double] {
        let (b, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        let dh = d / heads
        let xs = x.scalars, ws = w.scalars, bs = bias?.scalars
        var qkv = [Double](repeating: 0, count: b * l * 3 * d)
        for t in 0..<(b * l) {
            for o in 0..<(3 * d) {
                var sum = bs?[o] ?? 0
                for c in 0..<d { sum += xs[t * d + c] * ws[o * d + c] }
                qkv[t * 3 * d + o] = sum
            }
        }
        var out = [Double](repeating: 0, count: b * heads * l * l)
        for bi in 0..<b {
            for h in 0..<heads {
                for q in 0..<l {
                    var scores = [Double](repeating: -.infinity, count: l)
                    for s in 0..<l where visible(q, s) {
                        var dot = 0.0
                        for c in 0..<dh {
                            dot += qkv[(bi * l + q) * 3 * d + h * dh + c] * qkv[(bi * l + s) * 3 * d + d + h * dh + c]
                        }
                        scores[s] = dot / Double(dh).squareRoot()
                    }
                    let m = scores.max()!
                    let e = scores.map { $0 == -.infinity ? 0 : Foundation.exp($0 - m) }
                    let total = e.reduce(0, +)
                    for s in 0..<l { out[((bi * heads + h) * l + q) * l + s] = e[s] / total }
                }
            }
        }
        return out
    }

    /// The operator's weights in float64 and float32 against the reference at the same input and parameters.
    func check(_ op: Operator, batch: Int, length: Int, visible: (Int, Int) -> Bool) throws {
        let heads = try #require(op.attentionHeads)
        let x = Tensor<Double>.randomNormal([batch, length, op.dim], seed: 4)
        let params = try op.initialParameters(seed: 5, as: Double.self)
        let names = op.parameters.map(\.name)
        let w = params[try #require(names.firstIndex { $0.hasSuffix("qkv.weight") })]
        let bias = names.firstIndex { $0.hasSuffix("qkv.bias") }.map { params[$0] }
        let expected = Self.reference(x, qkvWeight: w, qkvBias: bias, heads: heads, visible: visible)
        let got64 = try op.attentionWeights(x, parameters: params)
        #expect(got64.shape == [batch, heads, length, length])
        let worst64 = zip(got64.scalars, expected).map { abs($0 - $1) }.max()!
        #expect(worst64 < 1e-12, "\(op.descriptor.id) float64: worst difference \(worst64)")
        let got32 = try op.attentionWeights(
            x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) })
        let worst32 = zip(got32.scalars, expected).map { abs(Double($0) - $1) }.max()!
        #expect(worst32 < 2e-6, "\(op.descriptor.id) float32: worst difference \(worst32)")
        // Outside the window the weight is exactly 0, not merely small.
        for (i, v) in got32.scalars.enumerated() where !visible(i / length % length, i % length) { #expect(v == 0) }
    }

    @Test(arguments: [false, true]) func mhaWeightsMatchTheReference(causal: Bool) throws {
        let op = try Operator(
            try TestOperators.descriptor("mha", product: "OZMHA"), dim: 12,
            attributes: ["num_heads": .int(3), "causal": .bool(causal)])
        try check(op, batch: 2, length: 11) { q, s in !causal || s <= q }
    }

    @Test func swaWeightsMatchTheReference() throws {
        let op = try Operator(
            try TestOperators.descriptor("swa", product: "OZLocalAttention"), dim: 8,
            attributes: ["num_heads": .int(2), "window_size": .intList([3, 1])])
        try check(op, batch: 2, length: 13) { q, s in s >= q - 3 && s <= q + 1 }
    }

    @Test func neighbourhoodWeightsMatchTheReference() throws {
        // swa2d 3 x 3 (shifted at the borders, NATTEN's rule) on a 5 x 5 grid.
        let op = try Operator(
            try TestOperators.descriptor("swa2d", product: "OZLocalAttention"), dim: 8, grid: (5, 5),
            attributes: ["num_heads": .int(2), "kernel_size": .intList([3, 3])])
        func start(_ i: Int) -> Int { min(max(i - 1, 0), 5 - 3) }
        try check(op, batch: 1, length: 25) { q, s in
            let (r0, c0) = (start(q / 5), start(q % 5))
            return (r0..<r0 + 3).contains(s / 5) && (c0..<c0 + 3).contains(s % 5)
        }
    }

    @Test func operatorsWithoutWeightsRefuse() throws {
        let op = try Operator(try TestOperators.descriptor("mlp", product: "OZMLP"), dim: 8)
        #expect(op.attentionHeads == nil)
        #expect(throws: OperatorError.self) {
            try op.attentionWeights(Tensor<Float>(zeros: [1, 4, 8]), parameters: try op.initialParameters(seed: 0))
        }
    }
}
