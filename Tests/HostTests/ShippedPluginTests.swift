import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// `mha` and `mlp` against float64 references written from the math (Support/ReferenceOperators.swift), and
/// their backward against central finite differences; the C plugin `poolformer` likewise.
@Suite struct ShippedPluginTests {
    static func descriptor(_ product: String, _ id: String) throws -> OperatorDescriptor {
        let plugin = try PluginLibrary(path: try pluginPath(product: product))
        return try #require(plugin.operator(id))
    }

    /// Shapes: B = 1 and 2, L = 1, odd and prime L, several head counts; and L = 700 and 1100, which the kernel
    /// splits into query blocks (``MHAKernel.queryBlock``: 374 and 238 rows, the last block short), causal and not.
    static let mhaCases: [(b: Int, l: Int, d: Int, heads: Int, causal: Bool)] = [
        (1, 1, 8, 2, false), (2, 5, 8, 2, false), (2, 7, 12, 3, true), (1, 13, 16, 1, false), (3, 4, 24, 4, true),
        (1, 700, 8, 2, true), (2, 1100, 8, 1, false),
    ]

    @Test(arguments: mhaCases.indices)
    func mhaForwardMatchesFloat64Reference(index: Int) throws {
        let c = Self.mhaCases[index]
        let op = try Operator(
            try Self.descriptor("OZMHA", "mha"), dim: c.d,
            attributes: ["num_heads": .int(Int64(c.heads)), "causal": .bool(c.causal)])
        #expect(op.parameters.map(\.name) == ["qkv.weight", "qkv.bias", "proj.weight", "proj.bias"])
        #expect(op.parameters.map(\.shape) == [[3 * c.d, c.d], [3 * c.d], [c.d, c.d], [c.d]])
        #expect(op.isCausal == c.causal)
        let params: [Tensor<Float>] = try op.initialParameters(seed: UInt64(index))
        let x = Tensor<Float>.randomNormal([c.b, c.l, c.d], seed: 100 + UInt64(index))
        let y = try op.forward(x, parameters: params)
        let p = params.map { $0.scalars.map(Double.init) }
        let expected = referenceMHA(
            x: x.scalars.map(Double.init), B: c.b, L: c.l, D: c.d, heads: c.heads, causal: c.causal,
            qkvW: p[0], qkvB: p[1], projW: p[2], projB: p[3])
        // float32 sums of D products of O(1) terms: relative error ~ sqrt(D) * 6e-8; 1e-4 leaves margin.
        expectClose(y, expected, rtol: 1e-4, atol: 1e-5, "mha \(c)")
    }

    @Test(arguments: mhaCases.indices)
    func mhaBackwardMatchesFiniteDifferences(index: Int) throws {
        let c = Self.mhaCases[index]
        let descriptor = try Self.descriptor("OZMHA", "mha")
        let op = try Operator(
            descriptor, dim: c.d, attributes: ["num_heads": .int(Int64(c.heads)), "causal": .bool(c.causal)])
        // Long inputs: the output gradient only on the first, middle and last token of each sequence (in different
        // query blocks), so every key and value still gets a gradient through all of them.
        func sparse<S: TensorScalar>(_: S.Type) -> Tensor<S>? {
            guard c.l > 256 else { return nil }
            var dy = Tensor<S>(zeros: [c.b, c.l, c.d])
            let dense = Tensor<S>.randomNormal([c.b, c.l, c.d], seed: 99)
            for b in 0..<c.b {
                for t in [0, c.l / 2, c.l - 1] {
                    for k in 0..<c.d { dy[flat: (b * c.l + t) * c.d + k] = dense[flat: (b * c.l + t) * c.d + k] }
                }
            }
            return dy
        }
        if descriptor.capabilities.contains(.float64) {
            let params: [Tensor<Double>] = try op.initialParameters(seed: 7, as: Double.self)
            try expectGradientsMatch(
                op, x: .randomNormal([c.b, c.l, c.d], seed: 8), parameters: params, seed: 9,
                outputGradient: sparse(Double.self))
        }
        let params: [Tensor<Float>] = try op.initialParameters(seed: 7)
        try expectGradientsMatch(
            op, x: .randomNormal([c.b, c.l, c.d], seed: 8), parameters: params, seed: 9,
            outputGradient: sparse(Float.self))
    }

    static let mlpCases: [(b: Int, l: Int, d: Int, ratio: Double)] = [
        (1, 1, 8, 4), (2, 5, 8, 3), (2, 3, 12, 6), (1, 7, 10, 2.5),
    ]

    @Test(arguments: mlpCases.indices)
    func mlpForwardMatchesFloat64Reference(index: Int) throws {
        let c = Self.mlpCases[index]
        let op = try Operator(
            try Self.descriptor("OZMLP", "mlp"), dim: c.d, attributes: ["expansion_ratio": .float(c.ratio)])
        let hidden = Int(Double(c.d) * c.ratio)
        #expect(op.parameters.map(\.name) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
        #expect(op.parameters.map(\.shape) == [[hidden, c.d], [hidden], [c.d, hidden], [c.d]])
        let params: [Tensor<Float>] = try op.initialParameters(seed: UInt64(index))
        let x = Tensor<Float>.randomNormal([c.b, c.l, c.d], seed: 200 + UInt64(index))
        let y = try op.forward(x, parameters: params)
        let p = params.map { $0.scalars.map(Double.init) }
        let expected = referenceMLP(
            x: x.scalars.map(Double.init), B: c.b, L: c.l, D: c.d, hidden: hidden, fc1W: p[0], fc1B: p[1], fc2W: p[2],
            fc2B: p[3])
        expectClose(y, expected, rtol: 1e-4, atol: 1e-5, "mlp \(c)")
    }

    @Test(arguments: mlpCases.indices)
    func mlpBackwardMatchesFiniteDifferences(index: Int) throws {
        let c = Self.mlpCases[index]
        let descriptor = try Self.descriptor("OZMLP", "mlp")
        let op = try Operator(descriptor, dim: c.d, attributes: ["expansion_ratio": .float(c.ratio)])
        if descriptor.capabilities.contains(.float64) {
            let params: [Tensor<Double>] = try op.initialParameters(seed: 3, as: Double.self)
            try expectGradientsMatch(op, x: .randomNormal([c.b, c.l, c.d], seed: 4), parameters: params, seed: 5)
        }
        let params: [Tensor<Float>] = try op.initialParameters(seed: 3)
        try expectGradientsMatch(op, x: .randomNormal([c.b, c.l, c.d], seed: 4), parameters: params, seed: 5)
    }

    @Test func poolformerMatchesNaiveReferenceAndGradients() throws {
        let plugin = try PluginLibrary(path: try pluginPath(product: "OZPoolFormerC"))
        let descriptor = try #require(plugin.operator("poolformer"))
        #expect(descriptor.capabilities.contains(.needsGrid))
        for (h, w, k) in [(3, 4, 3), (5, 5, 5), (1, 7, 3), (4, 4, 1)] {
            let op = try Operator(descriptor, dim: 3, grid: (h, w), attributes: ["pool_size": .int(Int64(k))])
            let r = k / 2
            #expect(op.receptiveField?.left == r * w + r)
            let x = Tensor<Double>.randomNormal([2, h * w, 3], seed: UInt64(h * 10 + w))
            let y = try op.forward(x, parameters: [])
            // AvgPool2d(k, stride 1, pad k/2, count_include_pad=False) - x, written directly.
            var expected = [Double](repeating: 0, count: x.count)
            for b in 0..<2 {
                for i in 0..<h {
                    for j in 0..<w {
                        for c in 0..<3 {
                            var sum = 0.0
                            var n = 0
                            for di in -r...r {
                                for dj in -r...r where (0..<h).contains(i + di) && (0..<w).contains(j + dj) {
                                    sum += x[b, (i + di) * w + j + dj, c]
                                    n += 1
                                }
                            }
                            expected[(b * h * w + i * w + j) * 3 + c] = sum / Double(n) - x[b, i * w + j, c]
                        }
                    }
                }
            }
            expectClose(y, expected, rtol: 1e-12, atol: 1e-12, "poolformer \(h)x\(w) k\(k)")
            try expectGradientsMatch(op, x: x, parameters: [], seed: 1)
        }
        // The grid is required.
        #expect(throws: OperatorError.self) { _ = try Operator(descriptor, dim: 3) }
    }

    @Test func wrongShapesAreRefusedBeforeThePluginIsCalled() throws {
        let op = try Operator(try Self.descriptor("OZMLP", "mlp"), dim: 8)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 0)
        #expect(
            throws: OperatorError.shape(
                operatorId: "mlp", argument: "x", expected: "[B, L, 8] with B, L >= 1", found: [2, 3, 9])
        ) {
            _ = try op.forward(Tensor<Float>(zeros: [2, 3, 9]), parameters: params)
        }
        #expect(throws: OperatorError.self) {
            _ = try op.forward(Tensor<Float>(zeros: [2, 3, 8]), parameters: Array(params.dropLast()))
        }
        var bad = params
        bad[0] = Tensor(zeros: [3, 3])
        let error = #expect(throws: OperatorError.self) {
            _ = try op.forward(Tensor<Float>(zeros: [2, 3, 8]), parameters: bad)
        }
        #expect(error?.description.contains("fc1.weight") == true)
    }

    @Test func badAttributesAreRefusedWithTheirName() throws {
        let descriptor = try Self.descriptor("OZMHA", "mha")
        let unknown = #expect(throws: OperatorError.self) {
            _ = try Operator(descriptor, dim: 8, attributes: ["heads": .int(2)])
        }
        #expect(unknown?.description.contains("'heads'") == true)
        // 3 heads do not divide D = 8: the plugin itself refuses, with a message.
        let plugin = #expect(throws: OperatorError.self) {
            _ = try Operator(descriptor, dim: 8, attributes: ["num_heads": .int(3)])
        }
        guard case .plugin(let callError) = plugin else {
            Issue.record("expected a plugin error, got \(String(describing: plugin))")
            return
        }
        #expect(callError.function == "create" && !callError.message.isEmpty)
    }

    @Test func backwardOverwritesAndHonoursNullOutputs() throws {
        let op = try Operator(try Self.descriptor("OZMLP", "mlp"), dim: 8)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 1)
        let x = Tensor<Float>.randomNormal([2, 3, 8], seed: 2)
        let dy = Tensor<Float>.randomNormal([2, 3, 8], seed: 3)
        let all = try op.backward(x, parameters: params, outputGradient: dy)
        let onlyParams = try op.backward(x, parameters: params, outputGradient: dy, needInputGradient: false)
        #expect(onlyParams.input == nil)
        #expect(onlyParams.parameters.map { $0?.scalars } == all.parameters.map { $0?.scalars })
        let onlyFirst = try op.backward(x, parameters: params, outputGradient: dy, parameterGradients: [0])
        #expect(onlyFirst.parameters[1] == nil && onlyFirst.parameters[0]?.scalars == all.parameters[0]?.scalars)
        #expect(onlyFirst.input?.scalars == all.input?.scalars)
    }

    /// An absurd B and L (workspace beyond Int64) is refused with a status by every shipped operator: a plugin must
    /// never trap on arithmetic overflow.
    @Test(arguments: ["OZMHA", "OZMLP", "OZLocalAttention", "OZHyena"])
    func hugeShapesAreRefusedNotTrapped(product: String) throws {
        let plugin = try PluginLibrary(path: try pluginPath(product: product))
        for descriptor in plugin.operators {
            let op = try Operator(
                descriptor, dim: 64, grid: descriptor.capabilities.contains(.needsGrid) ? (4, 4) : nil,
                attributes: descriptor.attributes.contains {
                    $0.name == "num_heads" && $0.intRange?.contains(4) ?? true
                }
                    ? ["num_heads": .int(4)] : [:])
            for backward in [false, true] {
                #expect(throws: OperatorError.self, "\(descriptor.id)") {
                    _ = try op.workspaceSize(backward: backward, batch: Int(Int32.max), length: Int(Int32.max))
                }
            }
        }
    }
}
