import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `zoo demo`: every registered operator through the ABI on a small DiT-like input, forward and backward,
/// with a finite-difference check of each backward. The quick start's first command runs it until the DiT
/// and grafting land.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run every registered operator forward and backward on a small input and check its gradient.")

    @Option(help: "Model width D.")
    var dim = 64

    @Option(help: "Token grid HxW (L = H*W tokens).")
    var grid = GridSize(argument: "8x8")!

    @Option(help: "Batch size B.")
    var batch = 2

    @Option(help: "Seed for inputs and parameters.")
    var seed: UInt64 = 0

    @OptionGroup var plugins: PluginOptions

    func run() throws {
        let host = try plugins.makeHost()
        let ids = host.registry.operatorIds
        guard !ids.isEmpty else { throw CLIError("the registry lists no operators") }
        let length = grid.height * grid.width
        print(
            "registry: \(host.search.registryPath ?? "(none)"); x = [\(batch), \(length), \(dim)] (grid \(grid.height)x\(grid.width)), seed \(seed)\n"
        )
        print(
            pad("operator", 12) + pad("role", 15) + pad("params", 10) + pad("forward ms", 12) + pad("backward ms", 13)
                + pad("rms(y)", 10) + "gradient check (directional, central differences, float64 where offered)")
        var failures = 0
        for id in ids {
            do {
                let descriptor = try host.resolveOperator(id)
                let line =
                    try descriptor.capabilities.contains(.float64)
                    ? check(descriptor, Double.self) : check(descriptor, Float.self)
                print(line.text)
                if !line.passed { failures += 1 }
            } catch {
                failures += 1
                print(pad(id, 12) + "error: \(error)")
            }
        }
        print("")
        if failures > 0 { throw CLIError("\(failures) operator(s) failed") }
        print(
            "all \(ids.count) operators ran forward and backward through the plugin ABI; gradients agree with finite differences"
        )
    }

    private func check<S: TensorScalar>(
        _ descriptor: OperatorDescriptor, _: S.Type
    ) throws -> (text: String, passed: Bool) {
        // Small-input settings: 4 heads, and a sequence-length attribute (`l_max`, e.g. mlp_hyena_x's, whose filter
        // has one kernel per token position) set to the demo's L, each only where the operator's schema admits it.
        let length = grid.height * grid.width
        let attributes = descriptor.completing([:], heads: 4, tokens: length)
        let op = try Operator(
            descriptor, dim: dim, grid: (height: grid.height, width: grid.width), attributes: attributes)
        let shape = [batch, length, dim]
        let params: [Tensor<S>] = try op.initialParameters(seed: seed, as: S.self)
        let x = Tensor<S>.randomNormal(shape, seed: seed &+ 1)
        let dy = Tensor<S>.randomNormal(shape, seed: seed &+ 2)
        let v = Tensor<S>.randomNormal(shape, seed: seed &+ 3)
        var start = Date()
        let y = try op.forward(x, parameters: params)
        let forwardMs = Date().timeIntervalSince(start) * 1000
        let rms = (y.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(y.count)).squareRoot()
        var backwardText = "-"
        var checkText = "no backward"
        var passed = true
        if descriptor.capabilities.contains(.backward) {
            start = Date()
            let grads = try op.backward(x, parameters: params, outputGradient: dy)
            backwardText = String(format: "%.2f", Date().timeIntervalSince(start) * 1000)
            // <dx, v> against (<f(x + h v), dy> - <f(x - h v), dy>) / 2h.
            let h = S.bits == 64 ? 1e-5 : 1e-2
            let plus = try op.forward(axpy(x, v, h), parameters: params)
            let minus = try op.forward(axpy(x, v, -h), parameters: params)
            let numeric = (dot(plus, dy) - dot(minus, dy)) / (2 * h)
            let analytic = dot(grads.input!, v)
            let rel = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-12)
            let tolerance = S.bits == 64 ? 1e-6 : 2e-2
            passed = rel <= tolerance
            checkText = String(
                format: "%@ rel. error %.1e (tolerance %.0e, %@)", passed ? "ok" : "FAILED", rel, tolerance, S.dtypeName
            )
        }
        let count = op.parameters.reduce(0) { $0 + $1.shape.reduce(1, *) }
        let text =
            pad(descriptor.id, 12) + pad(descriptor.role.rawValue, 15) + pad("\(count)", 10)
            + pad(String(format: "%.2f", forwardMs), 12) + pad(backwardText, 13) + pad(String(format: "%.3f", rms), 10)
            + checkText
        return (text, passed)
    }

    private func axpy<S: TensorScalar>(_ x: Tensor<S>, _ v: Tensor<S>, _ h: Double) -> Tensor<S> {
        var out = x
        out.withUnsafeMutableBufferPointer { o in
            v.withUnsafeBufferPointer { vb in for i in o.indices { o[i] += S(h) * vb[i] } }
        }
        return out
    }

    private func dot<S: TensorScalar>(_ a: Tensor<S>, _ b: Tensor<S>) -> Double {
        a.withUnsafeBufferPointer { ab in
            b.withUnsafeBufferPointer { bb in
                var s = 0.0
                for i in ab.indices { s += Double(ab[i]) * Double(bb[i]) }
                return s
            }
        }
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
