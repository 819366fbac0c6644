import Foundation
import OperatorABI
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The `OZMamba2` plugin: `mamba2` against the float64 recurrent-scan reference of
/// Sources/Host/Reference/ReferenceMamba2.swift (written from docs/OPERATORS.md section 5), `mamba2_bidir` and
/// `mamba2_2d` against the same reference with their scan orders and against the symmetries their definitions imply,
/// every backward against central finite differences, causality by perturbation, the grafting configuration, and the
/// conformance harness.
@Suite struct Mamba2Tests {
    static let ids = ["mamba2", "mamba2_bidir", "mamba2_2d"]

    static func descriptor(_ id: String) throws -> OperatorDescriptor {
        let plugin = try PluginLibrary(path: try pluginPath(product: "OZMamba2"))
        return try #require(plugin.operator(id))
    }

    /// One small configuration (every attribute given).
    struct Config: CustomStringConvertible {
        var dState = 4, dConv = 4, expand = 2, headDim = 4, groups = 1, chunk = 4
        var normBeforeGate = false
        var eps = 1e-5

        var attributes: [String: AttributeValue] {
            [
                "d_state": .int(Int64(dState)), "d_conv": .int(Int64(dConv)), "expand": .int(Int64(expand)),
                "headdim": .int(Int64(headDim)), "ngroups": .int(Int64(groups)), "chunk_size": .int(Int64(chunk)),
                "norm_before_gate": .bool(normBeforeGate), "eps": .float(eps),
            ]
        }
        var description: String {
            "N=\(dState) k=\(dConv) e=\(expand) P=\(headDim) G=\(groups) Q=\(chunk) nbg=\(normBeforeGate)"
        }
    }

    static func make(_ id: String, d: Int, _ c: Config, grid: (height: Int, width: Int)? = nil) throws -> Operator {
        try Operator(try descriptor(id), dim: d, grid: grid, attributes: c.attributes)
    }

    /// The upstream initialisation with `D` and `norm.weight` moved off their constant 1, and `dt_bias`, `A_log` moved to
    /// `dt ~ 0.5`, `A ~ -1` (upstream's `dt` of 1e-3 ... 1e-1 makes the decay, and so the gradients of `dt_bias` and
    /// `A_log`, so small that finite differences only see their rounding noise), so that every parameter's gradient and
    /// every path through the scan is exercised.
    static func testParameters<S: TensorScalar>(_ op: Operator, seed: UInt64, as _: S.Type) throws -> [Tensor<S>] {
        var params: [Tensor<S>] = try op.initialParameters(seed: seed, as: S.self)
        for (i, spec) in op.parameters.enumerated() {
            let center: Double
            switch spec.name.split(separator: ".").last! {
            case "D": center = 1
            case "weight" where spec.name == "norm.weight": center = 1
            case "dt_bias": center = -0.5
            case "A_log": center = 0
            default: continue
            }
            let noise = Tensor<Double>.randomNormal(spec.shape, seed: seed &+ 500 &+ UInt64(i), scale: 0.3)
            for k in 0..<params[i].count { params[i][flat: k] = S(center + noise[flat: k]) }
        }
        return params
    }

    static func named<S: TensorScalar>(_ op: Operator, _ params: [Tensor<S>]) -> [String: [Double]] {
        Dictionary(uniqueKeysWithValues: zip(op.parameters.map(\.name), params.map { $0.scalars.map(Double.init) }))
    }

    static func reference<S: TensorScalar>(
        _ id: String, _ op: Operator, _ params: [Tensor<S>], _ c: Config, grid: (height: Int, width: Int)? = nil
    ) -> ReferenceMamba2 {
        let scans: [ReferenceMamba2.Scan] =
            switch id {
            case "mamba2": ReferenceMamba2.causal
            case "mamba2_bidir": ReferenceMamba2.bidirectional
            default: ReferenceMamba2.grid(height: grid!.height, width: grid!.width)
            }
        return ReferenceMamba2(
            D: op.dim, dState: c.dState, dConv: c.dConv, expand: c.expand, headDim: c.headDim, groups: c.groups,
            eps: c.eps, normBeforeGate: c.normBeforeGate, scans: scans, parameters: named(op, params))
    }

    /// Float64 gradient check: central differences with Richardson extrapolation, `(4 D(h/2) - D(h)) / 3` at h = 1e-3,
    /// against the plugin's VJP for x and every parameter, on `samples` random coordinates of each.
    ///
    /// Why not the shared single-step check (step 1e-6): its rounding noise, `eps |<y, dy>| / h` ~ 1e-9 absolute here,
    /// is as large as 1e-6 of the small gradients of `dt_bias` and `A_log`. Extrapolation leaves truncation O(h^4)
    /// ~ 1e-12 and rounding ~ 2e-11, so the criterion can be tighter: 1e-7 relative plus 1e-9 absolute.
    static func expectGradientsMatchExtrapolated(
        _ op: Operator, x: Tensor<Double>, parameters: [Tensor<Double>], seed: UInt64, samples: Int = 10,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let dy = Tensor<Double>.randomNormal(x.shape, seed: seed &+ 99)
        let grads = try op.backward(x, parameters: parameters, outputGradient: dy)
        func objective(_ x: Tensor<Double>, _ p: [Tensor<Double>]) throws -> Double {
            zip(try op.forward(x, parameters: p).scalars, dy.scalars).reduce(0.0) { $0 + $1.0 * $1.1 }
        }
        var rng = SplitMix64(seed: seed &+ 7)
        for which in -1..<parameters.count {
            let analytic = try #require(
                which < 0 ? grads.input : grads.parameters[which], sourceLocation: sourceLocation)
            let count = which < 0 ? x.count : parameters[which].count
            let name = which < 0 ? "x" : op.parameters[which].name
            for _ in 0..<samples {
                let i = Int(rng.next() % UInt64(count))
                func difference(_ h: Double) throws -> Double {
                    var (xp, xm, pp, pm) = (x, x, parameters, parameters)
                    if which < 0 {
                        xp[flat: i] += h
                        xm[flat: i] -= h
                    } else {
                        pp[which][flat: i] += h
                        pm[which][flat: i] -= h
                    }
                    return (try objective(xp, pp) - objective(xm, pm)) / (2 * h)
                }
                let numeric = (4 * (try difference(5e-4)) - (try difference(1e-3))) / 3
                let a = analytic[flat: i]
                #expect(
                    abs(numeric - a) <= 1e-9 + 1e-7 * max(abs(numeric), abs(a)),
                    "\(op.descriptor.id) d\(name)[\(i)]: analytic \(a), numeric \(numeric)",
                    sourceLocation: sourceLocation)
            }
        }
    }

    // MARK: Metadata and attributes

    @Test(arguments: ids)
    func parametersFlagsAndReceptiveField(id: String) throws {
        let descriptor = try Self.descriptor(id)
        #expect(descriptor.role == .tokenMixer)
        for cap: OperatorCapabilities in [.backward, .float64, .deterministic, .reentrant] {
            #expect(descriptor.capabilities.contains(cap))
        }
        #expect(descriptor.capabilities.contains(.needsGrid) == (id == "mamba2_2d"))
        #expect(
            descriptor.attributes.map(\.name) == [
                "d_state", "d_conv", "expand", "headdim", "ngroups", "chunk_size", "norm_before_gate", "eps",
            ])
        // D = 10, expand 2, headdim 5, d_state 3, ngroups 2: d_inner 20, nheads 4, conv_dim 32, d_in_proj 56.
        let c = Config(dState: 3, dConv: 3, expand: 2, headDim: 5, groups: 2)
        let op = try Self.make(id, d: 10, c, grid: id == "mamba2_2d" ? (2, 3) : nil)
        let prefixes: [String] =
            switch id {
            case "mamba2": [""]
            case "mamba2_bidir": ["fwd.", "bwd."]
            default: ["row_fwd.", "row_bwd.", "col_fwd.", "col_bwd."]
            }
        var expected: [(String, [Int])] = [("in_proj.weight", [56, 10])]
        for p in prefixes {
            expected += [
                (p + "conv1d.weight", [32, 1, 3]), (p + "conv1d.bias", [32]), (p + "dt_bias", [4]), (p + "A_log", [4]),
                (p + "D", [4]),
            ]
        }
        expected += [("norm.weight", [20]), ("out_proj.weight", [10, 20])]
        #expect(op.parameters.map(\.name) == expected.map(\.0))
        #expect(op.parameters.map(\.shape) == expected.map(\.1))
        // mamba2 is causal with an unbounded left field; the others see every token.
        #expect(op.isCausal == (id == "mamba2"))
        let field = try #require(op.receptiveField)
        #expect(field.left == nil)
        #expect(field.right == (id == "mamba2" ? 0 : nil))
    }

    @Test func graftingDefaultsAreTheAttributeDefaults() throws {
        let op = try Operator(try Self.descriptor("mamba2"), dim: 1152)
        let values = Dictionary(uniqueKeysWithValues: op.attributes.map { ($0.name, $0.value) })
        #expect(values["d_state"] == .int(64) && values["d_conv"] == .int(4) && values["expand"] == .int(2))
        #expect(values["headdim"] == .int(16) && values["ngroups"] == .int(1) && values["chunk_size"] == .int(256))
        #expect(values["norm_before_gate"] == .bool(false) && values["eps"] == .float(1e-5))
        // docs/OPERATORS.md section 5: d_inner 2304, nheads 144, conv_dim 2432, d_in_proj 4880.
        #expect(
            op.parameters.map(\.shape) == [
                [4880, 1152], [2432, 1, 4], [2432], [144], [144], [144], [2304], [1152, 2304],
            ])
    }

    @Test(arguments: ids)
    func inconsistentAttributesAreRefusedWithTheirName(id: String) throws {
        let descriptor = try Self.descriptor(id)
        let grid: (height: Int, width: Int)? = id == "mamba2_2d" ? (2, 2) : nil
        // d_inner = 2 * 6 = 12 is not a multiple of headdim 5; nheads = 12 / 4 = 3 is not a multiple of ngroups 2.
        let cases: [([String: AttributeValue], [String])] = [
            (["headdim": .int(5)], ["'headdim' = 5", "d_inner", "12"]),
            (["headdim": .int(4), "ngroups": .int(2)], ["'ngroups' = 2", "nheads", "3"]),
        ]
        for (attributes, mentions) in cases {
            let error = #expect(throws: OperatorError.self) {
                _ = try Operator(descriptor, dim: 6, grid: grid, attributes: attributes)
            }
            guard case .plugin(let call) = error else {
                Issue.record("expected the plugin to refuse \(attributes), got \(String(describing: error))")
                continue
            }
            #expect(call.function == "create" && call.status == OZ_ERR_INVALID_ARGUMENT)
            for m in mentions { #expect(call.message.contains(m), "'\(call.message)' should mention \(m)") }
        }
        // Out-of-range values are refused by the schema.
        for attributes: [String: AttributeValue] in [
            ["d_state": .int(0)], ["chunk_size": .int(0)], ["eps": .float(0)], ["expand": .int(65)],
            ["d_conv": .int(0)],
        ] {
            #expect(throws: OperatorError.self, "\(attributes)") {
                _ = try Operator(descriptor, dim: 8, grid: grid, attributes: attributes)
            }
        }
    }

    @Test func initialisationFollowsUpstream() throws {
        let c = Config(dState: 8, dConv: 4, expand: 2, headDim: 2, groups: 1)
        let d = 32
        let op = try Self.make("mamba2", d: d, c)
        let params: [Tensor<Double>] = try op.initialParameters(seed: 11, as: Double.self)
        let p = Self.named(op, params)
        func bounded(_ name: String, _ bound: Double) {
            let v = p[name]!
            #expect(v.allSatisfy { abs($0) <= bound }, "\(name) exceeds \(bound)")
            #expect(v.map(abs).max()! > 0.9 * bound, "\(name) does not fill U(-\(bound), \(bound))")
        }
        // nn.Linear and nn.Conv1d defaults: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = D, d_inner, d_conv.
        bounded("in_proj.weight", 1 / Double(d).squareRoot())
        bounded("out_proj.weight", 1 / Double(2 * d).squareRoot())
        bounded("conv1d.weight", 0.5)
        bounded("conv1d.bias", 0.5)
        // softplus(dt_bias) = dt in [1e-3, 1e-1]; exp(A_log) in [1, 16]; D = 1; norm.weight = 1.
        let dt = p["dt_bias"]!.map { log1p(exp($0)) }
        #expect(dt.allSatisfy { $0 >= 1e-3 * (1 - 1e-12) && $0 <= 0.1 * (1 + 1e-12) }, "\(dt)")
        #expect(p["A_log"]!.allSatisfy { $0 >= 0 && $0 <= log(16.0) })
        #expect(Set(p["A_log"]!).count == 32, "A_log is drawn per head")
        #expect(p["D"]!.allSatisfy { $0 == 1 } && p["norm.weight"]!.allSatisfy { $0 == 1 })

        // mamba2_bidir's fwd. set and mamba2_2d's row_fwd. set equal mamba2's for the same seed.
        for (id, prefix) in [("mamba2_bidir", "fwd."), ("mamba2_2d", "row_fwd.")] {
            let other = try Self.make(id, d: d, c, grid: id == "mamba2_2d" ? (4, 4) : nil)
            let q = Self.named(other, try other.initialParameters(seed: 11, as: Double.self))
            for (name, values) in p {
                let shared = ["in_proj.weight", "norm.weight", "out_proj.weight"].contains(name)
                #expect(q[shared ? name : prefix + name] == values, "\(id) \(name)")
            }
            let second = prefix == "fwd." ? "bwd." : "row_bwd."
            #expect(q[second + "A_log"] != p["A_log"], "\(id): the second scan draws its own parameters")
        }
    }

    // MARK: mamba2 forward and backward

    /// B = 1 and 2; L = 1, odd, below one chunk, not a multiple of the chunk, exactly several chunks; ngroups 1 and 2;
    /// norm_before_gate both ways; d_conv 1 to 4; headdim 1 to 6.
    static let cases: [(b: Int, l: Int, d: Int, c: Config)] = [
        (1, 7, 8, Config(dState: 3, dConv: 4, expand: 2, headDim: 4, groups: 1, chunk: 4)),
        (2, 13, 6, Config(dState: 5, dConv: 3, expand: 2, headDim: 3, groups: 2, chunk: 4, normBeforeGate: true)),
        (2, 5, 8, Config(dState: 4, dConv: 4, expand: 2, headDim: 4, groups: 2, chunk: 16)),
        (1, 24, 4, Config(dState: 4, dConv: 2, expand: 1, headDim: 2, groups: 1, chunk: 8, normBeforeGate: true)),
        (2, 1, 8, Config(dState: 2, dConv: 4, expand: 2, headDim: 4, groups: 1, chunk: 4)),
        (1, 17, 12, Config(dState: 6, dConv: 1, expand: 1, headDim: 6, groups: 2, chunk: 5)),
        (2, 9, 5, Config(dState: 3, dConv: 4, expand: 2, headDim: 1, groups: 5, chunk: 3, normBeforeGate: true)),
        (1, 33, 8, Config(dState: 8, dConv: 4, expand: 2, headDim: 2, groups: 1, chunk: 7)),
        // Several blocks of heads per group (shared C B^T, dB and dC summed over blocks): 2 x 3 heads per group, and
        // 3 + 4 heads (uneven).
        (2, 19, 12, Config(dState: 3, dConv: 4, expand: 2, headDim: 2, groups: 2, chunk: 6)),
        (2, 10, 7, Config(dState: 5, dConv: 2, expand: 2, headDim: 2, groups: 1, chunk: 4, normBeforeGate: true)),
    ]

    @Test(arguments: cases.indices)
    func forwardMatchesRecurrentReference(index: Int) throws {
        let (b, l, d, c) = Self.cases[index]
        let op = try Self.make("mamba2", d: d, c)
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: UInt64(index), as: Double.self)
        let x = Tensor<Double>.randomNormal([b, l, d], seed: 100 + UInt64(index))
        let expected = Self.reference("mamba2", op, params, c).forward(x.scalars, B: b, L: l)
        // float64: the chunked and the recurrent forms differ only in rounding (sums of at most L*N terms of O(1)).
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-10, atol: 1e-12, "f64 \(c)")
        // float32: ~6e-8 relative per operation through in_proj, the scan and the norm; 1e-4 leaves margin.
        let y32 = try op.forward(x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) })
        expectClose(y32, expected, rtol: 1e-4, atol: 1e-5, "f32 \(c)")
    }

    @Test(arguments: cases.indices)
    func backwardMatchesFiniteDifferences(index: Int) throws {
        let (b, l, d, c) = Self.cases[index]
        let op = try Self.make("mamba2", d: d, c)
        // Tolerances: float64 1e-7 relative (expectGradientsMatchExtrapolated); float32 2e-2 relative with step 1e-2
        // (expectGradientsMatch), the balance of truncation (h^2 ~ 1e-4) and float32 cancellation (eps/h ~ 1e-5).
        let p64: [Tensor<Double>] = try Self.testParameters(op, seed: 20 + UInt64(index), as: Double.self)
        try Self.expectGradientsMatchExtrapolated(op, x: .randomNormal([b, l, d], seed: 21), parameters: p64, seed: 22)
        let p32: [Tensor<Float>] = try Self.testParameters(op, seed: 20 + UInt64(index), as: Float.self)
        try expectGradientsMatch(op, x: .randomNormal([b, l, d], seed: 21), parameters: p32, seed: 22)
    }

    /// Chunking changes only rounding: Q = 1, 3, L and beyond give the same output.
    @Test func chunkSizeChangesOnlyRounding() throws {
        let (b, l, d) = (2, 11, 8)
        let x = Tensor<Double>.randomNormal([b, l, d], seed: 5)
        var outputs: [[Double]] = []
        for q in [1, 3, 11, 64] {
            let op = try Self.make("mamba2", d: d, Config(dState: 4, headDim: 4, groups: 2, chunk: q))
            outputs.append(try op.forward(x, parameters: try Self.testParameters(op, seed: 6, as: Double.self)).scalars)
        }
        for o in outputs.dropFirst() {
            #expect(zip(o, outputs[0]).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
        }
    }

    // MARK: Causality

    /// Perturbing token s of batch 1 leaves every output before s bitwise unchanged and changes every output from s
    /// on (float64, 4 chunks, so the state carries the change across chunk boundaries); batch 0 never changes.
    @Test func mamba2IsCausalUnderPerturbation() throws {
        let (b, l, d) = (2, 16, 8)
        let op = try Self.make("mamba2", d: d, Config(dState: 4, dConv: 3, headDim: 4, groups: 2, chunk: 4))
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: 3, as: Double.self)
        let x = Tensor<Double>.randomNormal([b, l, d], seed: 4)
        let y = try op.forward(x, parameters: params)
        for s in [0, 3, 4, 9, 15] {
            var perturbed = x
            for c in 0..<d { perturbed[1, s, c] += 0.5 }
            let yp = try op.forward(perturbed, parameters: params)
            for t in 0..<l {
                let (before, after) = ((0..<d).map { y[1, t, $0] }, (0..<d).map { yp[1, t, $0] })
                if t < s {
                    #expect(before == after, "token \(s) changed the earlier output \(t)")
                } else {
                    #expect(before != after, "token \(s) did not reach output \(t)")
                }
                #expect((0..<d).allSatisfy { y[0, t, $0] == yp[0, t, $0] }, "batches mix")
            }
        }
    }

    @Test(arguments: ["mamba2_bidir", "mamba2_2d"])
    func bidirectionalOperatorsSeeEveryToken(id: String) throws {
        let (h, w, d) = (3, 4, 8)
        let op = try Self.make(
            id, d: d, Config(dState: 4, headDim: 4, chunk: 5), grid: id == "mamba2_2d" ? (h, w) : nil)
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: 7, as: Double.self)
        let x = Tensor<Double>.randomNormal([1, h * w, d], seed: 8)
        let y = try op.forward(x, parameters: params)
        for s in 0..<(h * w) {
            var perturbed = x
            for c in 0..<d { perturbed[0, s, c] += 0.5 }
            let yp = try op.forward(perturbed, parameters: params)
            for t in 0..<(h * w) {
                #expect(
                    (0..<d).map { y[0, t, $0] } != (0..<d).map { yp[0, t, $0] }, "\(id): token \(s) does not reach \(t)"
                )
            }
        }
    }

    // MARK: mamba2_bidir

    static let bidirCases: [(b: Int, l: Int, d: Int, c: Config)] = [
        (2, 9, 8, Config(dState: 3, dConv: 4, expand: 2, headDim: 2, groups: 1, chunk: 4)),
        (1, 12, 6, Config(dState: 4, dConv: 3, expand: 2, headDim: 3, groups: 1, chunk: 5, normBeforeGate: true)),
    ]

    @Test(arguments: bidirCases.indices)
    func bidirMatchesReferenceAndFiniteDifferences(index: Int) throws {
        let (b, l, d, c) = Self.bidirCases[index]
        let op = try Self.make("mamba2_bidir", d: d, c)
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: 30 + UInt64(index), as: Double.self)
        let x = Tensor<Double>.randomNormal([b, l, d], seed: 31)
        let expected = Self.reference("mamba2_bidir", op, params, c).forward(x.scalars, B: b, L: l)
        // Tolerances as for mamba2.
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-10, atol: 1e-12, "bidir f64 \(c)")
        let y32 = try op.forward(x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) })
        expectClose(y32, expected, rtol: 1e-4, atol: 1e-5, "bidir f32 \(c)")
        // Gradients: tolerances as for mamba2.
        try Self.expectGradientsMatchExtrapolated(op, x: x, parameters: params, seed: 32)
        try expectGradientsMatch(
            op, x: x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) }, seed: 32)
    }

    /// The definition is symmetric: reversing the tokens and swapping the `fwd.` and `bwd.` sets reverses the output.
    @Test func bidirReversalSymmetry() throws {
        let (b, l, d) = (2, 11, 8)
        let op = try Self.make("mamba2_bidir", d: d, Config(dState: 4, headDim: 2, groups: 2, chunk: 4))
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: 9, as: Double.self)
        let names = op.parameters.map(\.name)
        let swapped = names.map { name in
            let other =
                name.hasPrefix("fwd.")
                ? "bwd." + name.dropFirst(4) : name.hasPrefix("bwd.") ? "fwd." + name.dropFirst(4) : name
            return params[names.firstIndex(of: other)!]
        }
        let x = Tensor<Double>.randomNormal([b, l, d], seed: 10)
        let y = try op.forward(x, parameters: params)
        let reversed = try Tensor<Double>(
            shape: [b, l, d],
            scalars: (0..<(b * l * d)).map { i in
                let (bb, t, c) = (i / (l * d), i / d % l, i % d)
                return x[bb, l - 1 - t, c]
            })
        let yr = try op.forward(reversed, parameters: swapped)
        // Chunks start from the other end, so only rounding differs.
        let expected = (0..<(b * l * d)).map { i in y[i / (l * d), l - 1 - i / d % l, i % d] }
        expectClose(yr, expected, rtol: 1e-11, atol: 1e-13, "reversal")
    }

    /// With the `bwd.` conv zeroed its scan sees x = B = C = 0 and adds nothing: `mamba2_bidir` is then `mamba2` with
    /// the `fwd.` set, bitwise.
    @Test func bidirWithSilentBackwardScanIsMamba2() throws {
        let (b, l, d) = (2, 10, 8)
        let c = Config(dState: 4, headDim: 4, groups: 1, chunk: 4)
        let bidir = try Self.make("mamba2_bidir", d: d, c)
        let single = try Self.make("mamba2", d: d, c)
        var params: [Tensor<Double>] = try Self.testParameters(bidir, seed: 12, as: Double.self)
        for (i, spec) in bidir.parameters.enumerated() where spec.name.hasPrefix("bwd.conv1d.") {
            params[i] = Tensor(zeros: spec.shape)
        }
        let byName = Dictionary(uniqueKeysWithValues: zip(bidir.parameters.map(\.name), params))
        let singleParams = single.parameters.map { byName[$0.name] ?? byName["fwd." + $0.name]! }
        let x = Tensor<Double>.randomNormal([b, l, d], seed: 13)
        #expect(try bidir.forward(x, parameters: params).scalars == single.forward(x, parameters: singleParams).scalars)
    }

    // MARK: mamba2_2d

    static let gridCases: [(b: Int, h: Int, w: Int, d: Int, c: Config)] = [
        (2, 3, 5, 8, Config(dState: 3, dConv: 4, expand: 2, headDim: 2, groups: 1, chunk: 4)),
        (1, 2, 3, 8, Config(dState: 3, dConv: 3, expand: 2, headDim: 4, groups: 2, chunk: 4)),
        (1, 4, 4, 6, Config(dState: 4, dConv: 2, expand: 2, headDim: 3, groups: 1, chunk: 16, normBeforeGate: true)),
        (1, 1, 6, 4, Config(dState: 2, dConv: 3, expand: 1, headDim: 2, groups: 1, chunk: 4)),
    ]

    @Test(arguments: gridCases.indices)
    func grid2DMatchesReferenceAndFiniteDifferences(index: Int) throws {
        let (b, h, w, d, c) = Self.gridCases[index]
        let op = try Self.make("mamba2_2d", d: d, c, grid: (h, w))
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: 40 + UInt64(index), as: Double.self)
        let x = Tensor<Double>.randomNormal([b, h * w, d], seed: 41)
        let expected = Self.reference("mamba2_2d", op, params, c, grid: (h, w)).forward(x.scalars, B: b, L: h * w)
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-10, atol: 1e-12, "2d f64 \(h)x\(w) \(c)")
        let y32 = try op.forward(x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) })
        expectClose(y32, expected, rtol: 1e-4, atol: 1e-5, "2d f32 \(h)x\(w) \(c)")
        try Self.expectGradientsMatchExtrapolated(op, x: x, parameters: params, seed: 42)
        try expectGradientsMatch(
            op, x: x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) }, seed: 42)
    }

    /// Transposing the grid (H x W to W x H) and swapping the row and column sets transposes the output; rotating it
    /// by 180 degrees (reversing the tokens) and swapping forward and reversed sets rotates the output.
    @Test func grid2DTransposeAndRotationSymmetry() throws {
        let (h, w, d) = (3, 5, 8)
        let c = Config(dState: 4, headDim: 4, groups: 2, chunk: 4)
        let op = try Self.make("mamba2_2d", d: d, c, grid: (h, w))
        let transposedOp = try Self.make("mamba2_2d", d: d, c, grid: (w, h))
        let params: [Tensor<Double>] = try Self.testParameters(op, seed: 14, as: Double.self)
        let names = op.parameters.map(\.name)
        func remap(_ swap: (String) -> String) -> [Tensor<Double>] {
            names.map { params[names.firstIndex(of: swap($0))!] }
        }
        func replacing(_ name: String, _ pairs: [(String, String)]) -> String {
            for (a, b) in pairs {
                if name.hasPrefix(a) { return b + name.dropFirst(a.count) }
                if name.hasPrefix(b) { return a + name.dropFirst(b.count) }
            }
            return name
        }
        let x = Tensor<Double>.randomNormal([1, h * w, d], seed: 15)
        let y = try op.forward(x, parameters: params)
        func permuted(_ t: Tensor<Double>, _ source: (Int) -> Int) throws -> Tensor<Double> {
            try Tensor(shape: [1, h * w, d], scalars: (0..<(h * w * d)).map { i in t[0, source(i / d), i % d] })
        }
        // Token (r, c) of the transposed W x H grid is cell (c, r) of the original.
        let transpose = { (i: Int) in (i % h) * w + i / h }
        let yt = try transposedOp.forward(
            try permuted(x, transpose),
            parameters: remap { replacing($0, [("row_fwd.", "col_fwd."), ("row_bwd.", "col_bwd.")]) })
        expectClose(yt, try permuted(y, transpose).scalars, rtol: 1e-11, atol: 1e-13, "transpose")
        let rotate = { (i: Int) in h * w - 1 - i }
        let yr = try op.forward(
            try permuted(x, rotate),
            parameters: remap { replacing($0, [("row_fwd.", "row_bwd."), ("col_fwd.", "col_bwd.")]) })
        expectClose(yr, try permuted(y, rotate).scalars, rtol: 1e-11, atol: 1e-13, "rotation")
    }

    @Test func grid2DRefusesOtherLengths() throws {
        let op = try Self.make("mamba2_2d", d: 8, Config(), grid: (3, 3))
        let params: [Tensor<Float>] = try op.initialParameters(seed: 0)
        #expect(throws: OperatorError.self) {
            _ = try op.forward(Tensor<Float>.randomNormal([1, 8, 8], seed: 1), parameters: params)
        }
        #expect(throws: OperatorError.self) { _ = try Operator(try Self.descriptor("mamba2_2d"), dim: 8) }
    }

    // MARK: Backward contract, cost

    @Test(arguments: ids)
    func backwardHonoursNullOutputsAndIsDeterministic(id: String) throws {
        let op = try Self.make(
            id, d: 8, Config(dState: 3, headDim: 4, groups: 2, chunk: 3), grid: id == "mamba2_2d" ? (2, 3) : nil)
        let params: [Tensor<Float>] = try Self.testParameters(op, seed: 1, as: Float.self)
        let x = Tensor<Float>.randomNormal([2, 6, 8], seed: 2)
        let dy = Tensor<Float>.randomNormal([2, 6, 8], seed: 3)
        try expectBackwardHonoursNullOutputsAndIsDeterministic(
            op, x: x, parameters: params, outputGradient: dy, label: id)
    }

    /// Memory (and the work it reflects) grows linearly in L: 4x the tokens take at most 4x the workspace.
    @Test(arguments: ids)
    func workspaceIsLinearInLength(id: String) throws {
        for backward in [false, true] {
            var sizes: [Int] = []
            for side in [32, 64] {
                let op = try Operator(
                    try Self.descriptor(id), dim: 64, grid: id == "mamba2_2d" ? (side, side) : nil,
                    attributes: ["chunk_size": .int(64)])
                sizes.append(try op.workspaceSize(backward: backward, batch: 2, length: side * side))
            }
            // 4x the tokens: at most 4x the bytes (a quadratic term would give 16x).
            #expect(sizes[1] <= 4 * sizes[0] + 4096, "\(id) backward \(backward): \(sizes)")
        }
    }

    @Test(arguments: ids)
    func hugeShapesAreRefusedNotTrapped(id: String) throws {
        let op = try Operator(try Self.descriptor(id), dim: 64, grid: id == "mamba2_2d" ? (4, 4) : nil)
        for backward in [false, true] {
            #expect(throws: OperatorError.self) {
                _ = try op.workspaceSize(backward: backward, batch: Int(Int32.max), length: Int(Int32.max))
            }
        }
    }

    // MARK: The grafting configuration

    /// DiT-XL/2 at 256 px: D = 1152, L = 256, every attribute at its default (d_state 64, headdim 16, expand 2, one
    /// chunk of 256); B = 1. mamba2 is causal, so its first T outputs are the reference run on the first T tokens.
    @Test func graftingDefaultsMatchTheReference() throws {
        let (l, d, prefix) = (256, 1152, 12)
        let op = try Operator(try Self.descriptor("mamba2"), dim: d)
        let x = Tensor<Float>.randomNormal([1, l, d], seed: 17)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 18)
        let p64 = params.map { $0.converted(to: Double.self) }
        let y32 = try op.forward(x, parameters: params)
        let y64 = try op.forward(x.converted(to: Double.self), parameters: p64)
        let xs = x.scalars.map(Double.init)
        let expected = Self.reference(
            "mamba2", op, p64, Config(dState: 64, dConv: 4, expand: 2, headDim: 16, groups: 1, chunk: 256)
        )
        .forward(Array(xs[0..<(prefix * d)]), B: 1, L: prefix)
        let got64 = try Tensor<Double>(shape: [prefix * d], scalars: y64.scalars[0..<(prefix * d)])
        let got32 = try Tensor<Float>(shape: [prefix * d], scalars: y32.scalars[0..<(prefix * d)])
        // float64: rounding only (sums of up to 4880 terms). float32: sums of D = 1152 and d_inner = 2304 products,
        // ~sqrt(2304) * 6e-8 relative per stage; 2e-4 leaves margin.
        expectClose(got64, expected, rtol: 1e-10, atol: 1e-12, "f64 grafting defaults")
        expectClose(got32, expected, rtol: 2e-4, atol: 2e-5, "f32 grafting defaults")
        #expect(y32.scalars.allSatisfy { $0.isFinite })
    }

    // MARK: Conformance

    @Test func conformanceHarnessPassesEveryCheck() throws {
        let dir = try makeTemporaryDirectory("zoo-conform-mamba2")
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("report.json").path
        let result = try runCommand(
            try zooPath(), ["conform", try pluginPath(product: "OZMamba2"), "--quick", "--json", json])
        let report = try JSONDecoder().decode(
            ConformanceReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(result.status == 0, "\(report.table)")
        #expect(Set(report.results.map(\.operatorId)) == Set(Self.ids))
        #expect(report.results.count == 3 * ConformanceCheckID.allCases.count)
        // Every check passes, the reference included (the host's float64 recurrent scan); complexity may report only.
        #expect(report.results.allSatisfy { ConformanceTests.expected($0, skipped: []) }, "\(report.table)")
        #expect(report.results.filter { $0.check == .reference }.allSatisfy { $0.verdict == .pass }, "\(report.table)")
    }
}
