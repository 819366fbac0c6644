import Foundation
import OperatorABI
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The `OZHyena` plugin: `hyena_x`, `hyena_se`, `hyena_y` and `mlp_hyena_x` against the float64 references of
/// Host's Reference/ReferenceHyena.swift (written from docs/OPERATORS.md sections 6 and 9), their backward against
/// central finite differences, their declared causality and receptive field against perturbations, and the grafting
/// defaults.
@Suite struct HyenaTests {
    static let mixerIds = ["hyena_x", "hyena_se", "hyena_y"]

    static func descriptor(_ id: String) throws -> OperatorDescriptor {
        let plugin = try PluginLibrary(path: try pluginPath(product: "OZHyena"))
        return try #require(plugin.operator(id))
    }

    /// The attribute that sets a mixer's filter length: `short_filter_order` (X, SE) or `inner_filter_len` (Y).
    static func tapsAttribute(_ id: String) -> String { id == "hyena_y" ? "inner_filter_len" : "short_filter_order" }

    static func mixer(_ id: String, d: Int, taps: Int = 4, lMax: Int? = nil) throws -> Operator {
        var attributes: [String: AttributeValue] = [tapsAttribute(id): .int(Int64(taps))]
        if let lMax { attributes["l_max"] = .int(Int64(lMax)) }
        return try Operator(try descriptor(id), dim: d, attributes: attributes)
    }

    static func mlp(d: Int, length: Int, ratio: Int = 2, taps: Int = 4) throws -> Operator {
        try Operator(
            try descriptor("mlp_hyena_x"), dim: d,
            attributes: [
                "l_max": .int(Int64(length)), "expansion_ratio": .int(Int64(ratio)),
                "short_filter_order": .int(Int64(taps)),
            ])
    }

    /// The plugin's initialisation, with the inner filter (the identity at init) replaced by random values, so that
    /// every tap of it reaches the output and its gradient.
    static func testParameters<S: TensorScalar>(_ op: Operator, seed: UInt64, as _: S.Type) throws -> [Tensor<S>] {
        var params: [Tensor<S>] = try op.initialParameters(seed: seed, as: S.self)
        for (i, spec) in op.parameters.enumerated() where spec.name.hasPrefix("inner_filter.") {
            params[i] = .randomNormal(spec.shape, seed: seed &+ 1000 &+ UInt64(i), scale: 0.5)
        }
        return params
    }

    static func named<S: TensorScalar>(_ op: Operator, _ params: [Tensor<S>]) -> [String: [Double]] {
        Dictionary(uniqueKeysWithValues: zip(op.parameters.map(\.name), params.map { $0.scalars.map(Double.init) }))
    }

    static func reference<S: TensorScalar>(
        _ id: String, _ op: Operator, _ params: [Tensor<S>], taps: Int
    ) throws -> ReferenceHyenaMixer {
        let p = named(op, params)
        switch id {
        case "hyena_x":
            return try #require(ReferenceHyenaMixer(.x, D: op.dim, parameters: p, shortTaps: taps, innerTaps: 0))
        // Upstream Hyena_SE builds its inner filter with kernel_size = short_filter_order.
        case "hyena_se":
            return try #require(ReferenceHyenaMixer(.se, D: op.dim, parameters: p, shortTaps: taps, innerTaps: taps))
        default: return try #require(ReferenceHyenaMixer(.y, D: op.dim, parameters: p, shortTaps: 0, innerTaps: taps))
        }
    }

    /// Receptive field to the left for filter length k: (k-1) per conv.
    static func left(_ id: String, taps: Int) -> Int { id == "hyena_se" ? 2 * (taps - 1) : taps - 1 }

    // MARK: Metadata

    @Test(arguments: mixerIds)
    func mixerParametersAttributesAndFlags(id: String) throws {
        let d = 12
        let descriptor = try Self.descriptor(id)
        #expect(descriptor.role == .tokenMixer)
        #expect(descriptor.capabilities.contains(.backward) && descriptor.capabilities.contains(.float64))
        #expect(descriptor.capabilities.contains(.deterministic) && descriptor.capabilities.contains(.reentrant))
        let attributes = descriptor.attributes.map(\.name)
        for name in ["l_max", "order", "inner_factor", "num_heads", "num_blocks"] { #expect(attributes.contains(name)) }
        #expect(attributes.contains("short_filter_order") == (id != "hyena_y"))
        #expect(attributes.contains("inner_filter_len") == (id != "hyena_x"))

        let op = try Operator(descriptor, dim: d)
        var expected: [(String, [Int])] = [("in_proj.weight", [3 * d, d]), ("in_proj.bias", [3 * d])]
        if id != "hyena_y" { expected += [("short_filter.weight", [3 * d, 1, 4]), ("short_filter.bias", [3 * d])] }
        if id != "hyena_x" { expected += [("inner_filter.weight", [d, 1, 4]), ("inner_filter.bias", [d])] }
        expected += [("out_proj.weight", [d, d]), ("out_proj.bias", [d])]
        #expect(op.parameters.map(\.name) == expected.map(\.0))
        #expect(op.parameters.map(\.shape) == expected.map(\.1))
        #expect(op.isCausal)
        // Defaults (k = 4): left = 3 (X), 6 (SE), 3 (Y); right = 0.
        #expect(op.receptiveField?.left == [3, 6, 3][Self.mixerIds.firstIndex(of: id)!])
        #expect(op.receptiveField?.right == 0)

        let short = try Self.mixer(id, d: d, taps: 2)
        #expect(short.receptiveField?.left == Self.left(id, taps: 2))
    }

    @Test func hyenaSEInnerFilterLengthDoesNotChangeTheFilter() throws {
        // Upstream quirk: Hyena_SE's inner filter has short_filter_order taps; inner_filter_len sets only a padding.
        let op = try Operator(
            try Self.descriptor("hyena_se"), dim: 6,
            attributes: ["short_filter_order": .int(3), "inner_filter_len": .int(7)])
        #expect(op.parameters.first { $0.name == "inner_filter.weight" }?.shape == [6, 1, 3])
        #expect(op.receptiveField?.left == 4)
    }

    @Test func upstreamConstructorChecksAreKept() throws {
        let x = try Self.descriptor("hyena_x")
        // num_heads must divide D; num_blocks must divide l_max; only order 2 and inner_factor 1 run upstream.
        for attributes: [String: AttributeValue] in [
            ["num_heads": .int(5)], ["num_blocks": .int(3), "l_max": .int(256)], ["order": .int(3)],
            ["inner_factor": .int(2)],
        ] {
            #expect(throws: OperatorError.self) { _ = try Operator(x, dim: 12, attributes: attributes) }
        }
        _ = try Operator(x, dim: 12, attributes: ["num_heads": .int(4), "num_blocks": .int(4), "l_max": .int(256)])
    }

    @Test func initialisationFollowsPyTorchDefaults() throws {
        let d = 64
        for id in Self.mixerIds + ["mlp_hyena_x"] {
            let op = id == "mlp_hyena_x" ? try Self.mlp(d: d, length: 16) : try Self.mixer(id, d: d)
            let params: [Tensor<Double>] = try op.initialParameters(seed: 3, as: Double.self)
            for (spec, tensor) in zip(op.parameters, params) {
                let values = tensor.scalars
                if spec.name.hasPrefix("inner_filter.") {
                    // The identity: weight[:, 0, k-1] = 1, every other tap and the bias 0.
                    let k = spec.shape.last!
                    let expected =
                        spec.name.hasSuffix("weight")
                        ? (0..<values.count).map { $0 % k == k - 1 ? 1.0 : 0.0 }
                        : [Double](repeating: 0, count: values.count)
                    #expect(values == expected, "\(id) \(spec.name)")
                    continue
                }
                // U(-1/sqrt(fan_in), 1/sqrt(fan_in)): fan_in = in_features for Linear, k for a depthwise Conv1d.
                let fanIn: Int =
                    switch spec.name {
                    case "in_proj.weight", "in_proj.bias": d
                    case "short_filter.weight", "short_filter.bias": 4
                    default: id == "mlp_hyena_x" ? 2 * d : d
                    }
                let bound = 1 / Double(fanIn).squareRoot()
                #expect(values.allSatisfy { abs($0) <= bound }, "\(id) \(spec.name) exceeds \(bound)")
                // Enough draws fill the interval: the largest magnitude is close to the bound.
                if values.count >= 200 { #expect(values.map(abs).max()! > 0.9 * bound, "\(id) \(spec.name)") }
            }
        }
    }

    // MARK: Token mixers: forward and backward

    /// B = 1 and more, L = 1, odd and prime L, D not a power of two, several filter lengths.
    static let mixerCases: [(b: Int, l: Int, d: Int, taps: Int)] = [
        (1, 1, 8, 4), (2, 5, 6, 4), (2, 7, 10, 4), (1, 13, 12, 3), (3, 4, 5, 2), (2, 11, 7, 5), (2, 6, 9, 1),
    ]

    @Test(arguments: mixerIds, mixerCases.indices)
    func mixerForwardMatchesFloat64Reference(id: String, index: Int) throws {
        let c = Self.mixerCases[index]
        let op = try Self.mixer(id, d: c.d, taps: c.taps)
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: UInt64(index), as: Double.self)
        let x = Tensor<Double>.randomNormal([c.b, c.l, c.d], seed: 300 + UInt64(index))
        let expected = try Self.reference(id, op, params, taps: c.taps).forward(x.scalars, B: c.b, L: c.l)
        // float64 on both sides, differing only in summation order over at most 3D terms: ~1e-15 relative.
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-11, atol: 1e-12, "\(id) f64 \(c)")
        // float32: sums of D products of O(1) terms, relative error ~ sqrt(D) * 6e-8 per stage; 1e-4 leaves margin.
        let y32 = try op.forward(x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) })
        expectClose(y32, expected, rtol: 1e-4, atol: 1e-5, "\(id) f32 \(c)")
    }

    @Test(arguments: mixerIds, mixerCases.indices)
    func mixerBackwardMatchesFiniteDifferences(id: String, index: Int) throws {
        let c = Self.mixerCases[index]
        let op = try Self.mixer(id, d: c.d, taps: c.taps)
        // Tolerances: see expectGradientsMatch (float64 relative 1e-6 with step 1e-6; float32 relative 2e-2 with step 1e-2).
        let p64: [Tensor<Double>] = try Self.testParameters(op, seed: 7 + UInt64(index), as: Double.self)
        try expectGradientsMatch(op, x: .randomNormal([c.b, c.l, c.d], seed: 8), parameters: p64, seed: 9)
        let p32: [Tensor<Float>] = try Self.testParameters(op, seed: 7 + UInt64(index), as: Float.self)
        try expectGradientsMatch(op, x: .randomNormal([c.b, c.l, c.d], seed: 8), parameters: p32, seed: 9)
    }

    // MARK: Hyena-SE at init is Hyena-X

    @Test func hyenaSEWithIdentityInnerFilterEqualsHyenaX() throws {
        let (b, l, d) = (2, 9, 10)
        let x = try Self.mixer("hyena_x", d: d)
        let se = try Self.mixer("hyena_se", d: d)
        let input = Tensor<Double>.randomNormal([b, l, d], seed: 11)

        // 1. Both initialised from one seed: they share in_proj, short_filter and out_proj, and agree.
        let px: [Tensor<Double>] = try x.initialParameters(seed: 5, as: Double.self)
        let pse: [Tensor<Double>] = try se.initialParameters(seed: 5, as: Double.self)
        let shared = Self.named(x, px)
        for (name, values) in Self.named(se, pse) where !name.hasPrefix("inner_filter.") {
            #expect(shared[name] == values, "\(name)")
        }
        // The identity inner filter is exact (0 * z and 0 + z are exact) and the gating order is the same, so the
        // outputs are bitwise equal, in float64 and float32 alike.
        #expect(try se.forward(input, parameters: pse).scalars == x.forward(input, parameters: px).scalars)
        let input32 = input.converted(to: Float.self)
        #expect(
            try se.forward(input32, parameters: pse.map { $0.converted(to: Float.self) }).scalars
                == x.forward(input32, parameters: px.map { $0.converted(to: Float.self) }).scalars)

        // 2. Arbitrary in/short/out parameters of Hyena-X, with Hyena-SE's identity inner filter.
        let random: [Tensor<Double>] = x.parameters.enumerated().map {
            .randomNormal($1.shape, seed: 40 + UInt64($0), scale: 0.4)
        }
        let byName = Dictionary(uniqueKeysWithValues: zip(x.parameters.map(\.name), random))
        let seParams = se.parameters.indices.map { i in byName[se.parameters[i].name] ?? pse[i] }
        #expect(try se.forward(input, parameters: seParams).scalars == x.forward(input, parameters: random).scalars)
    }

    // MARK: Causality and receptive field

    /// Perturbs token `s` of batch 1 and checks output token `t`: bitwise unchanged outside `[t - left, t]`, changed
    /// inside; batch 0 never changes.
    static func checkReceptiveField(_ op: Operator, params: [Tensor<Double>], b: Int, l: Int, d: Int, left: Int) throws
    {
        let x = Tensor<Double>.randomNormal([b, l, d], seed: 21)
        let y = try op.forward(x, parameters: params)
        for s in 0..<l {
            var perturbed = x
            for c in 0..<d { perturbed[1, s, c] += 1 }
            let yp = try op.forward(perturbed, parameters: params)
            for t in 0..<l {
                let before = (0..<d).map { y[1, t, $0] }
                let after = (0..<d).map { yp[1, t, $0] }
                if (t - left...t).contains(s) {
                    #expect(
                        before != after,
                        "\(op.descriptor.id): token \(s) is inside the field of \(t) but changes nothing")
                } else {
                    #expect(
                        before == after, "\(op.descriptor.id): token \(s) is outside the field of \(t) but changes it")
                }
                #expect((0..<d).allSatisfy { y[0, t, $0] == yp[0, t, $0] }, "\(op.descriptor.id): batches mix")
            }
        }
    }

    @Test(arguments: mixerIds, [4, 3])
    func mixerCausalityAndReceptiveFieldHoldUnderPerturbation(id: String, taps: Int) throws {
        let (b, l, d) = (2, 12, 6)
        let op = try Self.mixer(id, d: d, taps: taps)
        #expect(op.isCausal)
        let left = try #require(op.receptiveField?.left)
        #expect(left == Self.left(id, taps: taps) && op.receptiveField?.right == 0)
        // Random inner filter: the identity at init would hide the first ki - 1 taps of Hyena-SE's field.
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: 2, as: Double.self)
        try Self.checkReceptiveField(op, params: params, b: b, l: l, d: d, left: left)
    }

    @Test func mlpHyenaXNeverMixesTokens() throws {
        let (b, l, d) = (2, 10, 6)
        let op = try Self.mlp(d: d, length: l)
        #expect(op.isCausal && op.receptiveField?.left == 0 && op.receptiveField?.right == 0)
        try Self.checkReceptiveField(
            op, params: try op.initialParameters(seed: 4, as: Double.self), b: b, l: l, d: d, left: 0)
    }

    // MARK: mlp_hyena_x

    @Test func mlpHyenaXParameters() throws {
        let descriptor = try Self.descriptor("mlp_hyena_x")
        #expect(descriptor.role == .channelMixer)
        let op = try Self.mlp(d: 10, length: 7, ratio: 3, taps: 4)
        #expect(
            op.parameters.map(\.name) == [
                "in_proj.weight", "in_proj.bias", "short_filter.weight", "short_filter.bias", "out_proj.weight",
                "out_proj.bias",
            ])
        #expect(op.parameters.map(\.shape) == [[90, 10], [90], [7, 1, 4], [7], [10, 30], [10]])
        // Grafting defaults: expansion_ratio 2, short_filter_order 4, l_max 256.
        let defaults = try Operator(descriptor, dim: 8)
        #expect(defaults.parameters.map(\.shape) == [[48, 8], [48], [256, 1, 4], [256], [8, 16], [8]])
    }

    /// B = 1 and more, L = l_max = 1, odd and prime L, D not a power of two, several ratios and filter lengths.
    static let mlpCases: [(b: Int, l: Int, d: Int, ratio: Int, taps: Int)] = [
        (1, 1, 6, 2, 4), (2, 5, 6, 1, 4), (2, 7, 10, 2, 3), (1, 13, 5, 3, 2), (3, 4, 7, 2, 5), (2, 3, 3, 1, 1),
    ]

    @Test(arguments: mlpCases.indices)
    func mlpHyenaXForwardMatchesFloat64Reference(index: Int) throws {
        let c = Self.mlpCases[index]
        let op = try Self.mlp(d: c.d, length: c.l, ratio: c.ratio, taps: c.taps)
        let params: [Tensor<Double>] = try op.initialParameters(seed: UInt64(index), as: Double.self)
        let x = Tensor<Double>.randomNormal([c.b, c.l, c.d], seed: 400 + UInt64(index))
        let reference = try #require(
            ReferenceMLPHyenaX(D: c.d, H: c.ratio * c.d, parameters: Self.named(op, params), taps: c.taps))
        let expected = reference.forward(x.scalars, B: c.b, L: c.l)
        // As for the token mixers: float64 differs only in summation order; float32 sums of O(D) products.
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-11, atol: 1e-12, "mlp_hyena_x f64 \(c)")
        let y32 = try op.forward(x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) })
        expectClose(y32, expected, rtol: 1e-4, atol: 1e-5, "mlp_hyena_x f32 \(c)")
    }

    @Test(arguments: mlpCases.indices)
    func mlpHyenaXBackwardMatchesFiniteDifferences(index: Int) throws {
        let c = Self.mlpCases[index]
        let op = try Self.mlp(d: c.d, length: c.l, ratio: c.ratio, taps: c.taps)
        // Tolerances: see expectGradientsMatch.
        let p64: [Tensor<Double>] = try op.initialParameters(seed: 3, as: Double.self)
        try expectGradientsMatch(op, x: .randomNormal([c.b, c.l, c.d], seed: 4), parameters: p64, seed: 5)
        let p32: [Tensor<Float>] = try op.initialParameters(seed: 3)
        try expectGradientsMatch(op, x: .randomNormal([c.b, c.l, c.d], seed: 4), parameters: p32, seed: 5)
    }

    @Test func mlpHyenaXRefusesLengthsOtherThanLMax() throws {
        let op = try Self.mlp(d: 6, length: 8)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 0)
        for l in [7, 9, 1] {
            let x = Tensor<Float>.randomNormal([2, l, 6], seed: 1)
            for pass in ["forward", "backward"] {
                let error = #expect(throws: OperatorError.self) {
                    if pass == "forward" {
                        _ = try op.forward(x, parameters: params)
                    } else {
                        _ = try op.backward(x, parameters: params, outputGradient: x)
                    }
                }
                // The instance reports fixed_length = l_max, so the host refuses before calling the plugin.
                guard case .shape(_, let argument, let expected, let found) = error else {
                    Issue.record("expected a shape error, got \(String(describing: error))")
                    continue
                }
                #expect(
                    argument == "x" && expected.contains("L = 8 only") && found == [2, l, 6], "\(pass): \(expected)")
            }
        }
        _ = try op.forward(Tensor<Float>.randomNormal([2, 8, 6], seed: 1), parameters: params)
    }

    @Test(arguments: mixerIds)
    func mixersRefuseSequencesLongerThanLMax(id: String) throws {
        let op = try Self.mixer(id, d: 4, lMax: 5)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 0)
        _ = try op.forward(Tensor<Float>.randomNormal([1, 5, 4], seed: 1), parameters: params)
        let error = #expect(throws: OperatorError.self) {
            _ = try op.forward(Tensor<Float>.randomNormal([1, 6, 4], seed: 1), parameters: params)
        }
        guard case .plugin(let call) = error else {
            Issue.record("expected a plugin error, got \(String(describing: error))")
            return
        }
        #expect(call.status == OZ_ERR_SHAPE && call.message.contains("l_max"))
    }

    // MARK: Backward contract, determinism, re-entrancy

    static let allIds = mixerIds + ["mlp_hyena_x"]

    static func smallInstance(_ id: String) throws -> Operator {
        id == "mlp_hyena_x" ? try mlp(d: 6, length: 5) : try mixer(id, d: 6)
    }

    @Test(arguments: allIds)
    func backwardHonoursNullOutputsAndIsDeterministic(id: String) throws {
        let op = try Self.smallInstance(id)
        let params: [Tensor<Float>] = try Self.testParameters(op, seed: 1, as: Float.self)
        let x = Tensor<Float>.randomNormal([2, 5, 6], seed: 2)
        let dy = Tensor<Float>.randomNormal([2, 5, 6], seed: 3)
        try expectBackwardHonoursNullOutputsAndIsDeterministic(
            op, x: x, parameters: params, outputGradient: dy, label: id)
        #expect(try op.forward(x, parameters: params).scalars == op.forward(x, parameters: params).scalars)
    }

    @Test(arguments: allIds)
    func oneInstanceServesConcurrentCalls(id: String) async throws {
        let op = try Self.smallInstance(id)
        let params: [Tensor<Float>] = try Self.testParameters(op, seed: 1, as: Float.self)
        let x = Tensor<Float>.randomNormal([3, 5, 6], seed: 2)
        let serial = try op.forward(x, parameters: params).scalars
        let serialGradient = try op.backward(x, parameters: params, outputGradient: x).input?.scalars
        let results = try await withThrowingTaskGroup(of: ([Float], [Float]?).self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (
                        try op.forward(x, parameters: params).scalars,
                        try op.backward(x, parameters: params, outputGradient: x).input?.scalars
                    )
                }
            }
            var all: [([Float], [Float]?)] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 8)
        #expect(results.allSatisfy { $0.0 == serial && $0.1 == serialGradient })
    }

    /// `zoo demo` (the quick start's first command) runs all four operators through the ABI, mlp_hyena_x with its
    /// `l_max` set to the demo's L.
    @Test func zooDemoRunsTheHyenaOperators() throws {
        let dir = try makeTemporaryDirectory("zoo-hyena")
        defer { try? FileManager.default.removeItem(at: dir) }
        let registry = dir.appendingPathComponent("registry.json").path
        let add = try runCommand(
            try zooPath(), ["registry", "add", try pluginPath(product: "OZHyena"), "--registry", registry])
        #expect(add.status == 0, "\(add.stderr)")
        let demo = try runCommand(
            try zooPath(), ["demo", "--dim", "16", "--grid", "3x3"], environment: ["ZOO_REGISTRY": registry])
        #expect(demo.status == 0, "\(demo.stdout)\(demo.stderr)")
        for id in Self.allIds { #expect(demo.stdout.contains(id), "\(demo.stdout)") }
        #expect(!demo.stdout.contains("FAILED") && !demo.stdout.contains("error:"), "\(demo.stdout)")
    }

    // MARK: The grafting configuration

    /// DiT-XL/2 at 256 px: D = 1152, L = 256, every attribute at its grafting default; B = 1. The reference is
    /// evaluated at a few tokens (the first ones, whose filters see the zero padding, and later ones).
    @Test(arguments: allIds)
    func graftingDefaultsMatchTheReference(id: String) throws {
        let (l, d) = (256, 1152)
        let op = try Operator(try Self.descriptor(id), dim: d)
        let x = Tensor<Float>.randomNormal([1, l, d], seed: 17)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 18)
        let p64 = params.map { $0.converted(to: Double.self) }
        let y32 = try op.forward(x, parameters: params)
        let y64 = try op.forward(x.converted(to: Double.self), parameters: p64)
        let xs = x.scalars.map(Double.init)
        let output: (Int) -> [Double]
        if id == "mlp_hyena_x" {
            #expect(op.parameters.map(\.shape) == [[6912, d], [6912], [256, 1, 4], [256], [d, 2304], [d]])
            let reference = try #require(ReferenceMLPHyenaX(D: d, H: 2 * d, parameters: Self.named(op, p64), taps: 4))
            output = { reference.output(xs, L: l, batch: 0, token: $0) }
        } else {
            #expect(op.parameters.first?.shape == [3 * d, d])
            #expect(op.receptiveField?.left == Self.left(id, taps: 4))
            let reference = try Self.reference(id, op, p64, taps: 4)
            output = { reference.output(xs, L: l, batch: 0, token: $0) }
        }
        for t in [0, 2, 6, 131, 255] {
            let expected = output(t)
            let got64 = try Tensor<Double>(shape: [d], scalars: (0..<d).map { y64[0, t, $0] })
            let got32 = try Tensor<Float>(shape: [d], scalars: (0..<d).map { y32[0, t, $0] })
            // float64: summation order only (sums of <= 3456 terms): 1e-10 relative is ample.
            expectClose(got64, expected, rtol: 1e-10, atol: 1e-12, "\(id) f64 token \(t)")
            // float32: sums of D = 1152 products, ~ sqrt(1152) * 6e-8 relative per stage: 1e-4 leaves margin.
            expectClose(got32, expected, rtol: 1e-4, atol: 1e-5, "\(id) f32 token \(t)")
        }
    }
}
