import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// Central finite differences of `<op(x; p), dy>` against the plugin's vector-Jacobian product, for the input
/// and every parameter, on `samples` random coordinates of each tensor.
///
/// Tolerances: in float64 the step is 1e-6 and the truncation error O(h^2) ~ 1e-12 is far below the
/// 1e-6 relative tolerance; in float32 a step of 1e-2 balances truncation (h^2 ~ 1e-4) against the
/// cancellation error of float32 forward sums (eps/h ~ 1e-5 relative), so 2e-2 relative with an absolute
/// floor proportional to the gradient's scale is the honest criterion.
func expectGradientsMatch<S: TensorScalar>(
    _ op: Operator, x: Tensor<S>, parameters: [Tensor<S>], seed: UInt64, samples: Int = 10,
    outputGradient: Tensor<S>? = nil, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let is64 = S.bits == 64
    let h = is64 ? 1e-6 : 1e-2
    let rtol = is64 ? 1e-6 : 2e-2
    // A sparse output gradient keeps the objective small for long inputs: its rounding error over h then stays
    // below the tolerance (a dense one over thousands of outputs does not).
    let dy = outputGradient ?? Tensor<S>.randomNormal(x.shape, seed: seed &+ 99)
    let grads = try op.backward(x, parameters: parameters, outputGradient: dy)
    func objective(_ x: Tensor<S>, _ p: [Tensor<S>]) throws -> Double {
        let y = try op.forward(x, parameters: p)
        return zip(y.scalars, dy.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }
    var rng = SplitMix64(seed: seed &+ 7)
    // Tensor index -1 is the input; 0... are the parameters.
    for which in -1..<parameters.count {
        let base = which < 0 ? x : parameters[which]
        let analytic = try #require(which < 0 ? grads.input : grads.parameters[which], sourceLocation: sourceLocation)
        let scale = analytic.scalars.map { abs(Double($0)) }.max() ?? 0
        let atol = is64 ? 1e-9 * max(1, scale) : 2e-3 * max(1e-3, scale)
        let name = which < 0 ? "x" : op.parameters[which].name
        for _ in 0..<samples {
            let i = Int(rng.next() % UInt64(base.count))
            var plus = base
            var minus = base
            plus[flat: i] += S(h)
            minus[flat: i] -= S(h)
            let fp = which < 0 ? try objective(plus, parameters) : try objective(x, replacing(parameters, which, plus))
            let fm =
                which < 0 ? try objective(minus, parameters) : try objective(x, replacing(parameters, which, minus))
            // Divide by the step actually taken after rounding to S.
            let numeric = (fp - fm) / (Double(plus[flat: i]) - Double(minus[flat: i]))
            let a = Double(analytic[flat: i])
            #expect(
                abs(numeric - a) <= atol + rtol * max(abs(numeric), abs(a)),
                "\(op.descriptor.id) d\(name)[\(i)]: analytic \(a), numeric \(numeric) (\(S.dtypeName))",
                sourceLocation: sourceLocation)
        }
    }
}

private func replacing<T>(_ array: [T], _ index: Int, _ value: T) -> [T] {
    var copy = array
    copy[index] = value
    return copy
}

/// `|a - b| <= atol + rtol * |b|` elementwise, reporting the worst element.
func expectClose<S: TensorScalar>(
    _ actual: Tensor<S>, _ expected: [Double], rtol: Double, atol: Double, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        actual.count == expected.count, "\(what): \(actual.count) vs \(expected.count) elements",
        sourceLocation: sourceLocation)
    var worst = (index: -1, excess: 0.0)
    for (i, (a, e)) in zip(actual.scalars, expected).enumerated() {
        let excess = abs(Double(a) - e) - (atol + rtol * abs(e))
        if excess > worst.excess || !Double(a).isFinite { worst = (i, Double(a).isFinite ? excess : .infinity) }
    }
    #expect(
        worst.index < 0,
        "\(what): element \(worst.index) = \(worst.index >= 0 ? Double(actual[flat: worst.index]) : 0), expected \(worst.index >= 0 ? expected[worst.index] : 0)",
        sourceLocation: sourceLocation)
}

/// The backward contract every plugin VJP keeps: repeated calls are bitwise equal, and each gradient computed
/// alone (input only, or one parameter only, which skips different parts of the chain) equals the one computed
/// with all the others, while the gradients not asked for stay NULL.
func expectBackwardHonoursNullOutputsAndIsDeterministic(
    _ op: Operator, x: Tensor<Float>, parameters params: [Tensor<Float>], outputGradient dy: Tensor<Float>,
    label: String,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let all = try op.backward(x, parameters: params, outputGradient: dy)
    let again = try op.backward(x, parameters: params, outputGradient: dy)
    #expect(again.input?.scalars == all.input?.scalars, sourceLocation: sourceLocation)
    #expect(again.parameters.map { $0?.scalars } == all.parameters.map { $0?.scalars }, sourceLocation: sourceLocation)
    let onlyInput = try op.backward(x, parameters: params, outputGradient: dy, parameterGradients: [])
    #expect(
        onlyInput.input?.scalars == all.input?.scalars && onlyInput.parameters.allSatisfy { $0 == nil },
        sourceLocation: sourceLocation)
    for i in params.indices {
        let one = try op.backward(
            x, parameters: params, outputGradient: dy, needInputGradient: false, parameterGradients: [i])
        #expect(one.input == nil, sourceLocation: sourceLocation)
        #expect(
            one.parameters[i]?.scalars == all.parameters[i]?.scalars, "\(label) \(op.parameters[i].name)",
            sourceLocation: sourceLocation)
        #expect(
            one.parameters.indices.allSatisfy { $0 == i || one.parameters[$0] == nil }, sourceLocation: sourceLocation)
    }
}
