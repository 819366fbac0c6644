import Foundation
import OperatorABI
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The `hyena` operator of `OZHyena` (safari's original HyenaOperator, docs/OPERATORS.md section 7): forward against
/// the naive float64 reference (direct O(L^2) convolution, filter MLP in plain loops: Host's
/// Reference/ReferenceHyenaOperator.swift), backward against central finite differences for x and every parameter,
/// causality by perturbation, the upstream initialisation, and the refusals.
@Suite struct HyenaFFTTests {
    static func descriptor() throws -> OperatorDescriptor {
        let plugin = try PluginLibrary(path: try pluginPath(product: "OZHyena"))
        return try #require(plugin.operator("hyena"))
    }

    static func hyena(d: Int, lMax: Int, _ extra: [String: AttributeValue] = [:]) throws -> Operator {
        try Operator(try descriptor(), dim: d, attributes: extra.merging(["l_max": .int(Int64(lMax))]) { a, _ in a })
    }

    /// The initialisation with `filter_fn.bias` and `freq` moved off their init values and `w` a little larger,
    /// so that every parameter shapes the output.
    static func testParameters<S: TensorScalar>(_ op: Operator, seed: UInt64, as _: S.Type) throws -> [Tensor<S>] {
        try op.initialParameters(seed: seed, as: S.self).enumerated().map { (i, p) throws -> Tensor<S> in
            let noise = Tensor<S>.randomNormal(p.shape, seed: seed &+ 500 &+ UInt64(i), scale: 0.1)
            return try Tensor(shape: p.shape, scalars: zip(p.scalars, noise.scalars).map { $0 + $1 })
        }
    }

    static func reference<S: TensorScalar>(_ op: Operator, _ params: [Tensor<S>], x: Tensor<Double>) throws -> [Double]
    {
        let named = Dictionary(
            uniqueKeysWithValues: zip(op.parameters.map(\.name), params.map { $0.scalars.map(Double.init) }))
        let input = ReferenceInput(
            x: x.scalars, shape: x.shape,
            attributes: Dictionary(uniqueKeysWithValues: op.attributes.map { ($0.name, $0.value) }),
            parameters: named)
        return try #require(ReferenceOperators.evaluate(id: "hyena", input))
    }

    // MARK: Metadata

    @Test func parametersAttributesAndFlags() throws {
        let descriptor = try Self.descriptor()
        #expect(descriptor.role == .tokenMixer)
        for cap: OperatorCapabilities in [.backward, .float64, .deterministic, .reentrant] {
            #expect(descriptor.capabilities.contains(cap))
        }
        let names = descriptor.attributes.map(\.name)
        for name in [
            "l_max", "order", "filter_order", "short_filter_order", "emb_dim", "num_inner_mlps", "w", "modulate",
            "fast_decay_pct", "slow_decay_pct", "target", "shift", "num_heads", "num_blocks", "inner_factor",
            "outer_mixing", "post_order_ffn",
        ] {
            #expect(names.contains(name), "\(name)")
        }
        let (d, lMax) = (6, 20)
        let op = try Self.hyena(d: d, lMax: lMax)
        let expected: [(String, [Int])] = [
            ("in_proj.weight", [3 * d, d]), ("in_proj.bias", [3 * d]), ("short_filter.weight", [3 * d, 1, 3]),
            ("short_filter.bias", [3 * d]), ("filter_fn.pos_emb.z", [1, lMax, 3]),
            ("filter_fn.implicit_filter.0.weight", [64, 3]), ("filter_fn.implicit_filter.0.bias", [64]),
            ("filter_fn.implicit_filter.1.freq", [1, 64]),
            ("filter_fn.implicit_filter.2.weight", [64, 64]), ("filter_fn.implicit_filter.2.bias", [64]),
            ("filter_fn.implicit_filter.4.weight", [64, 64]), ("filter_fn.implicit_filter.4.bias", [64]),
            ("filter_fn.implicit_filter.6.weight", [d, 64]), ("filter_fn.bias", [d]),
            ("out_proj.weight", [d, d]), ("out_proj.bias", [d]),
        ]
        #expect(op.parameters.map(\.name) == expected.map(\.0))
        #expect(op.parameters.map(\.shape) == expected.map(\.1))
        // Causal up to FFT rounding (see causalUpToRounding), with a long filter spanning the whole sequence.
        #expect(op.isCausal && op.receptiveField == nil)
        #expect(op.complexity == .linearithmic)
        // Order 3: in_proj 4D, filter channels 2D.
        let third = try Self.hyena(
            d: d, lMax: lMax, ["order": .int(3), "num_inner_mlps": .int(1), "filter_order": .int(8)])
        let shapes = Dictionary(uniqueKeysWithValues: third.parameters.map { ($0.name, $0.shape) })
        #expect(shapes["in_proj.weight"] == [4 * d, d] && shapes["filter_fn.bias"] == [2 * d])
        #expect(
            shapes["filter_fn.implicit_filter.4.weight"] == [2 * d, 8]
                && shapes["filter_fn.implicit_filter.2.weight"] == [8, 8])
    }

    @Test func initialisationFollowsUpstream() throws {
        let (d, lMax) = (8, 16)
        let op = try Self.hyena(d: d, lMax: lMax, ["w": .float(1.5), "emb_dim": .int(5)])
        let params: [Tensor<Double>] = try op.initialParameters(seed: 4, as: Double.self)
        let byName = Dictionary(uniqueKeysWithValues: zip(op.parameters.map(\.name), params.map(\.scalars)))
        // z = [t, Re exp(-i f w), Im exp(-i f w)], t = linspace(0, 1, l_max), w = 2 pi l / l_max, f = linspace(1e-4, 1, 2).
        let z = try #require(byName["filter_fn.pos_emb.z"])
        for l in 0..<lMax {
            let w = 2 * Double.pi * Double(l) / Double(lMax)
            let expected = [Double(l) / Double(lMax - 1), cos(1e-4 * w), cos(w), -sin(1e-4 * w), -sin(w)]
            for e in 0..<5 { #expect(abs(z[l * 5 + e] - expected[e]) < 1e-15, "z[\(l), \(e)]") }
        }
        #expect(byName["filter_fn.implicit_filter.1.freq"]!.allSatisfy { $0 == 1.5 })
        // torch.randn: mean ~0, spread ~1 (64 draws over D = 8 would be too few; use a wider instance).
        let wide = try Self.hyena(d: 256, lMax: 4)
        let bias = try wide.initialParameters(seed: 1, as: Double.self)[
            wide.parameters.firstIndex { $0.name == "filter_fn.bias" }!
        ].scalars
        let mean = bias.reduce(0, +) / Double(bias.count)
        let variance = bias.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(bias.count)
        #expect(abs(mean) < 0.25 && abs(variance - 1) < 0.3, "filter_fn.bias mean \(mean), variance \(variance)")
        // nn.Linear / nn.Conv1d defaults: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        let fanIn = [
            "in_proj.weight": d, "short_filter.weight": 3, "filter_fn.implicit_filter.0.weight": 5,
            "filter_fn.implicit_filter.2.weight": 64, "filter_fn.implicit_filter.6.weight": 64, "out_proj.weight": d,
        ]
        for (name, fan) in fanIn {
            let bound = 1 / Double(fan).squareRoot()
            let values = try #require(byName[name])
            #expect(values.allSatisfy { abs($0) <= bound } && values.map(abs).max()! > 0.8 * bound, "\(name)")
        }
    }

    // MARK: Forward

    /// B = 1 and 2, L = 1, odd and prime L, L not a power of two, orders 2 and 3, with and without modulation.
    static let cases: [(b: Int, l: Int, d: Int, attributes: [String: AttributeValue])] = [
        (1, 1, 4, [:]), (2, 7, 6, [:]), (1, 13, 5, ["order": .int(3)]), (2, 12, 3, ["modulate": .bool(false)]),
        (
            2, 9, 4,
            ["short_filter_order": .int(4), "num_inner_mlps": .int(0), "filter_order": .int(16), "shift": .float(0.2)]
        ),
        (1, 24, 4, ["order": .int(4), "emb_dim": .int(5), "filter_order": .int(12)]),
    ]

    @Test(arguments: cases.indices)
    func forwardMatchesFloat64Reference(index: Int) throws {
        let c = Self.cases[index]
        let op = try Self.hyena(d: c.d, lMax: c.l + 3, c.attributes)
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: UInt64(index), as: Double.self)
        let x = Tensor<Double>.randomNormal([c.b, c.l, c.d], seed: 70 + UInt64(index))
        let expected = try Self.reference(op, params, x: x)
        // float64: a radix-2 FFT against direct sums; each differs from the exact value by ~1e-16 N log N relative
        // to the sums' magnitudes, so 1e-10 relative plus 1e-12 leaves a wide margin.
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-10, atol: 1e-12, "hyena f64 \(c)")
        // float32 (KISS FFT in float): ~1e-7 relative per stage over a handful of stages and O(D) sums.
        let y32 = try op.forward(x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) })
        expectClose(y32, expected, rtol: 2e-4, atol: 2e-5, "hyena f32 \(c)")
    }

    /// The grafting default size (DiT-XL/2: D = 1152, L = 256), forward only: the float32 (KISS FFT) and float64
    /// (radix-2) engines agree, and the output is finite.
    @Test func graftingSizeForwardAgreesAcrossEngines() throws {
        let (d, l) = (1152, 256)
        let op = try Self.hyena(d: d, lMax: l)
        let params: [Tensor<Double>] = try op.initialParameters(seed: 1, as: Double.self)
        let x = Tensor<Double>.randomNormal([1, l, d], seed: 2)
        let y64 = try op.forward(x, parameters: params)
        #expect(y64.scalars.allSatisfy { $0.isFinite })
        let y32 = try op.forward(x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) })
        let scale = y64.scalars.map(abs).max()!
        expectClose(y32, y64.scalars, rtol: 1e-3, atol: 1e-4 * scale, "hyena f32 vs f64 at D = 1152, L = 256")
    }

    // MARK: Backward

    @Test(arguments: cases.indices)
    func backwardMatchesFiniteDifferences(index: Int) throws {
        let c = Self.cases[index]
        // l_max = L + 2: z's last two rows never reach the output (their gradient must be exactly 0, which the
        // sampled coordinates check too).
        let op = try Self.hyena(d: c.d, lMax: c.l + 2, c.attributes)
        // Tolerances: see expectGradientsMatch (float64 relative 1e-6 with step 1e-6; float32 relative 2e-2 with step 1e-2).
        let p64: [Tensor<Double>] = try Self.testParameters(op, seed: 11 + UInt64(index), as: Double.self)
        try expectGradientsMatch(
            op, x: .randomNormal([c.b, c.l, c.d], seed: 12), parameters: p64, seed: 13, samples: 12)
        let p32: [Tensor<Float>] = try Self.testParameters(op, seed: 11 + UInt64(index), as: Float.self)
        try expectGradientsMatch(
            op, x: .randomNormal([c.b, c.l, c.d], seed: 12), parameters: p32, seed: 13, samples: 12)
    }

    @Test func zRowsBeyondLHaveZeroGradient() throws {
        let (b, l, d) = (2, 5, 4)
        let op = try Self.hyena(d: d, lMax: 9)
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: 3, as: Double.self)
        let x = Tensor<Double>.randomNormal([b, l, d], seed: 4)
        let grads = try op.backward(x, parameters: params, outputGradient: .randomNormal([b, l, d], seed: 5))
        let dz = try #require(grads.parameters[op.parameters.firstIndex { $0.name == "filter_fn.pos_emb.z" }!]).scalars
        #expect(dz[(l * 3)...].allSatisfy { $0 == 0 })
        #expect(dz[..<(l * 3)].contains { $0 != 0 })
    }

    // MARK: Causality

    /// Causal up to FFT rounding: perturbing token s of sample 1 moves outputs t < s by at most 16 ulp of the
    /// output's scale in float64 (the bound `zoo conform` allows; a real dependence would be O(1)), and changes every output t >= s
    /// by far more (the long filter reaches every later token); sample 0 stays bitwise unchanged.
    @Test func causalUpToRounding() throws {
        let (b, l, d) = (2, 11, 4)
        let op = try Self.hyena(d: d, lMax: l)
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: 6, as: Double.self)
        let x = Tensor<Double>.randomNormal([b, l, d], seed: 7)
        let y = try op.forward(x, parameters: params)
        let scale = y.scalars.map(abs).max()!
        for s in [0, 4, l - 1] {
            var perturbed = x
            for c in 0..<d { perturbed[1, s, c] += 1 }
            let yp = try op.forward(perturbed, parameters: params)
            for t in 0..<l {
                let change = (0..<d).map { abs(y[1, t, $0] - yp[1, t, $0]) }.max()!
                if t < s {
                    #expect(
                        change <= 16 * Double.ulpOfOne * scale, "token \(s) -> earlier output \(t): change \(change)")
                } else {
                    #expect(change > 1e-6 * scale, "token \(s) -> output \(t): change \(change)")
                }
                #expect((0..<d).allSatisfy { y[0, t, $0] == yp[0, t, $0] }, "batches mix")
            }
        }
    }

    // MARK: Refusals

    @Test func sequencesLongerThanLMaxAreRefused() throws {
        let op = try Self.hyena(d: 4, lMax: 6)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 0)
        _ = try op.forward(Tensor<Float>.randomNormal([1, 6, 4], seed: 1), parameters: params)
        let error = #expect(throws: OperatorError.self) {
            _ = try op.forward(Tensor<Float>.randomNormal([1, 7, 4], seed: 1), parameters: params)
        }
        guard case .plugin(let call) = error else {
            Issue.record("expected a plugin error, got \(String(describing: error))")
            return
        }
        #expect(call.status == OZ_ERR_SHAPE && call.message.contains("l_max"))
    }

    @Test(arguments: [
        ("order", AttributeValue.int(1)), ("emb_dim", .int(4)), ("num_heads", .int(2)), ("num_blocks", .int(2)),
        ("inner_factor", .int(2)), ("outer_mixing", .bool(true)), ("post_order_ffn", .bool(true)), ("l_max", .int(0)),
        ("filter_order", .int(0)), ("short_filter_order", .int(0)), ("target", .float(0)),
        ("fast_decay_pct", .float(-1)),
    ])
    func badAttributesAreRefusedByName(name: String, value: AttributeValue) throws {
        let error = #expect(throws: OperatorError.self) {
            _ = try Operator(try Self.descriptor(), dim: 4, attributes: [name: value])
        }
        #expect(String(describing: error).contains("'\(name)'"), "\(String(describing: error))")
    }
}
