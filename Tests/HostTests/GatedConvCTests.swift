import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// `Plugins/GatedConvC`: `gated_conv` in plain C, built by its own Makefile (never by SwiftPM) and loaded without
/// rebuilding the host. Forward against the float64 reference of Support/ReferenceGatedConv.swift in every mode,
/// backward against central finite differences for x and every parameter, the declared causality and receptive
/// field against perturbations, and `zoo conform` passing every check.
@Suite struct GatedConvCTests {
    struct Case: CustomStringConvertible {
        let b: Int, l: Int, d: Int
        let mode: String
        let kernel: [Int64]
        let act: String
        let grid: (height: Int, width: Int)?
        var description: String { "B=\(b) L=\(l) D=\(d) \(mode) k=\(kernel) \(act)" }
    }

    /// B = 1 and 2, L = 1, odd and prime L, every mode and activation, square and non-square 2D kernels and grids.
    static let cases: [Case] = [
        Case(b: 1, l: 1, d: 4, mode: "causal1d", kernel: [4], act: "sigmoid", grid: nil),
        Case(b: 2, l: 7, d: 6, mode: "causal1d", kernel: [3], act: "silu", grid: nil),
        Case(b: 1, l: 13, d: 5, mode: "same1d", kernel: [4], act: "identity", grid: nil),
        Case(b: 2, l: 9, d: 4, mode: "same1d", kernel: [5], act: "sigmoid", grid: nil),
        Case(b: 2, l: 12, d: 3, mode: "same2d", kernel: [3], act: "silu", grid: (3, 4)),
        Case(b: 1, l: 15, d: 4, mode: "same2d", kernel: [2, 3], act: "sigmoid", grid: (5, 3)),
    ]

    static func descriptor() throws -> OperatorDescriptor {
        try #require(try PluginLibrary(path: try MadeLibraries.gatedConv()).operator("gated_conv"))
    }

    static func instance(_ c: Case) throws -> Operator {
        try Operator(
            try descriptor(), dim: c.d, grid: c.grid,
            attributes: ["mode": .string(c.mode), "kernel_size": .intList(c.kernel), "act": .string(c.act)])
    }

    static func reference<S: TensorScalar>(_ c: Case, _ op: Operator, _ params: [Tensor<S>]) -> ReferenceGatedConv {
        let kh = c.mode == "same2d" ? Int(c.kernel[0]) : 1
        let kw = Int(c.kernel.last!)
        return ReferenceGatedConv(
            mode: ReferenceGatedConv.Mode(rawValue: c.mode)!, act: c.act, kh: kh, kw: kw, D: c.d,
            grid: c.grid.map { ($0.height, $0.width) },
            p: Dictionary(
                uniqueKeysWithValues: zip(op.parameters.map(\.name), params.map { $0.scalars.map(Double.init) })))
    }

    /// The declared field: (left, right) in the 1D token order.
    static func declaredField(_ c: Case) -> (left: Int, right: Int) {
        let kw = Int(c.kernel.last!)
        switch c.mode {
        case "causal1d": return (kw - 1, 0)
        case "same1d": return ((kw - 1) / 2, kw - 1 - (kw - 1) / 2)
        default:
            let kh = Int(c.kernel[0])
            let (ph, pw, w) = ((kh - 1) / 2, (kw - 1) / 2, c.grid!.width)
            return (ph * w + pw, (kh - 1 - ph) * w + (kw - 1 - pw))
        }
    }

    // MARK: Built outside SwiftPM

    @Test func buildsWithItsOwnMakefileAndNeedsNoSwift() throws {
        let library = try MadeLibraries.gatedConv()
        let needed = try runCommand("/usr/bin/env", ["readelf", "-d", library]).stdout
        #expect(!needed.contains("swift") && needed.contains("libm.so"), "\(needed)")
        // Not a SwiftPM target: the manifest never names it, so `swift build` does not build it.
        let manifest = try String(contentsOf: packageRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        #expect(!manifest.contains("GatedConvC"))
        let plugin = try PluginLibrary(path: library)
        #expect(plugin.name == "OZGatedConvC" && plugin.operators.map(\.id) == ["gated_conv"])
    }

    // MARK: Metadata

    @Test(arguments: cases.indices)
    func declaresParametersFieldAndCapabilities(index: Int) throws {
        let c = Self.cases[index]
        let descriptor = try Self.descriptor()
        #expect(descriptor.role == .tokenMixer)
        #expect(descriptor.capabilities == [.backward, .deterministic, .reentrant, .float64, .saveForBackward])
        #expect(descriptor.attributes.map(\.name) == ["mode", "kernel_size", "act"])
        let op = try Self.instance(c)
        let conv = c.mode == "same2d" ? [c.d, 1, Int(c.kernel[0]), Int(c.kernel.last!)] : [c.d, 1, Int(c.kernel[0])]
        #expect(
            op.parameters.map(\.name) == [
                "in_proj.weight", "in_proj.bias", "conv.weight", "conv.bias", "out_proj.weight", "out_proj.bias",
            ])
        #expect(op.parameters.map(\.shape) == [[2 * c.d, c.d], [2 * c.d], conv, [c.d], [c.d, c.d], [c.d]])
        #expect(op.isCausal == (c.mode == "causal1d"))
        let field = Self.declaredField(c)
        #expect(op.receptiveField?.left == field.left && op.receptiveField?.right == field.right)
        #expect(op.complexity == .linear)
    }

    @Test func initialisationFollowsPyTorchDefaults() throws {
        let c = Case(b: 1, l: 4, d: 16, mode: "same2d", kernel: [3, 5], act: "silu", grid: (2, 2))
        let op = try Self.instance(c)
        let params: [Tensor<Double>] = try op.initialParameters(seed: 11, as: Double.self)
        // U(-1/sqrt(fan_in), 1/sqrt(fan_in)): fan_in = D for the projections, kh * kw for the depthwise conv.
        for (spec, p) in zip(op.parameters, params) {
            let bound = spec.name.hasPrefix("conv.") ? 1 / Double(15).squareRoot() : 1 / Double(16).squareRoot()
            let largest = p.scalars.map(abs).max() ?? 0
            #expect(largest <= bound && largest > 0.7 * bound, "\(spec.name): max |p| = \(largest), bound \(bound)")
        }
        let again: [Tensor<Double>] = try op.initialParameters(seed: 11, as: Double.self)
        #expect(again.map(\.scalars) == params.map(\.scalars))
        let float: [Tensor<Float>] = try op.initialParameters(seed: 11)
        #expect(float[0].scalars == params[0].scalars.map { Float($0) })
    }

    // MARK: Numerics

    @Test(arguments: cases.indices)
    func forwardMatchesFloat64Reference(index: Int) throws {
        let c = Self.cases[index]
        let op = try Self.instance(c)
        let params: [Tensor<Double>] = try op.initialParameters(seed: UInt64(index), as: Double.self)
        let x = Tensor<Double>.randomNormal([c.b, c.l, c.d], seed: 50 + UInt64(index))
        let expected = Self.reference(c, op, params).forward(x.scalars, B: c.b, L: c.l)
        // float64: the same sums in another order, so rounding only.
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-12, atol: 1e-13, "float64 \(c)")
        // float32: sums of O(D) products of O(1) terms, ~1e-6 relative; 1e-4 leaves margin.
        let y32 = try op.forward(x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) })
        expectClose(y32, expected, rtol: 1e-4, atol: 1e-5, "float32 \(c)")
    }

    @Test func forwardAtALongerSequenceAndWiderModel() throws {
        let c = Case(b: 1, l: 256, d: 64, mode: "same1d", kernel: [7], act: "silu", grid: nil)
        let op = try Self.instance(c)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 3)
        let x = Tensor<Float>.randomNormal([c.b, c.l, c.d], seed: 4)
        let expected = Self.reference(c, op, params).forward(x.scalars.map(Double.init), B: c.b, L: c.l)
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-4, atol: 1e-5, "\(c)")
    }

    @Test(arguments: cases.indices)
    func backwardMatchesFiniteDifferences(index: Int) throws {
        let c = Self.cases[index]
        let op = try Self.instance(c)
        let params: [Tensor<Double>] = try op.initialParameters(seed: 20 + UInt64(index), as: Double.self)
        try expectGradientsMatch(
            op, x: .randomNormal([c.b, c.l, c.d], seed: 30 + UInt64(index)), parameters: params, seed: 40, samples: 12)
        let params32: [Tensor<Float>] = try op.initialParameters(seed: 20 + UInt64(index))
        try expectGradientsMatch(
            op, x: .randomNormal([c.b, c.l, c.d], seed: 30 + UInt64(index)), parameters: params32, seed: 41, samples: 6)
    }

    @Test func backwardOverwritesAndSkipsWhatIsNotWanted() throws {
        let c = Self.cases[3]
        let op = try Self.instance(c)
        let params: [Tensor<Double>] = try op.initialParameters(seed: 1, as: Double.self)
        let x = Tensor<Double>.randomNormal([c.b, c.l, c.d], seed: 2)
        let dy = Tensor<Double>.randomNormal([c.b, c.l, c.d], seed: 3)
        let all = try op.backward(x, parameters: params, outputGradient: dy)
        // Only conv.weight, and only dx: the same values as computing everything.
        let some = try op.backward(
            x, parameters: params, outputGradient: dy, needInputGradient: false, parameterGradients: [2])
        #expect(some.input == nil && some.parameters.enumerated().allSatisfy { $0.offset == 2 || $0.element == nil })
        #expect(some.parameters[2]?.scalars == all.parameters[2]?.scalars)
        let dxOnly = try op.backward(x, parameters: params, outputGradient: dy, parameterGradients: [])
        #expect(dxOnly.input?.scalars == all.input?.scalars)
    }

    @Test(arguments: cases.indices.filter { cases[$0].l > 1 })
    func causalityAndReceptiveFieldHoldUnderPerturbation(index: Int) throws {
        let c = Self.cases[index]
        let op = try Self.instance(c)
        let params: [Tensor<Double>] = try op.initialParameters(seed: 5, as: Double.self)
        let (b, l, d) = (2, c.l, c.d)
        let x = Tensor<Double>.randomNormal([b, l, d], seed: 6)
        let y = try op.forward(x, parameters: params)
        let field = Self.declaredField(c)
        for s in 0..<l {
            var perturbed = x
            for ch in 0..<d { perturbed[1, s, ch] += 1 }
            let yp = try op.forward(perturbed, parameters: params)
            for t in 0..<l {
                let changed = (0..<d).contains { y[1, t, $0] != yp[1, t, $0] }
                // Exactly the convolution window: in 1D the declared field; in 2D the kh x kw cells around t,
                // which the declared 1D field bounds.
                let inside: Bool
                if let grid = c.grid {
                    let (kh, kw) = (Int(c.kernel[0]), Int(c.kernel.last!))
                    let (dr, dc) = (s / grid.width - t / grid.width, s % grid.width - t % grid.width)
                    inside =
                        (-(kh - 1) / 2...(kh - 1 - (kh - 1) / 2)).contains(dr)
                        && (-(kw - 1) / 2...(kw - 1 - (kw - 1) / 2)).contains(dc)
                    if inside {
                        #expect(
                            (t - field.left...t + field.right).contains(s),
                            "\(c): window cell \(s) of \(t) is outside the declared field")
                    }
                } else {
                    inside = (t - field.left...t + field.right).contains(s)
                }
                #expect(
                    changed == inside,
                    "\(c): token \(s) \(inside ? "inside" : "outside") the field of \(t) \(changed ? "changes" : "does not change") it"
                )
                #expect((0..<d).allSatisfy { y[0, t, $0] == yp[0, t, $0] }, "\(c): batches mix")
            }
        }
    }

    // MARK: Refusals

    @Test func refusesWhatItCannotCompute() throws {
        let descriptor = try Self.descriptor()
        func refusal(_ body: () throws -> Void) -> String {
            do {
                try body()
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(
            refusal { _ = try Operator(descriptor, dim: 4, attributes: ["mode": .string("same2d")]) }
                .contains("mode 'same2d' needs the token grid"))
        #expect(
            refusal { _ = try Operator(descriptor, dim: 4, attributes: ["kernel_size": .intList([3, 3])]) }
                .contains("'kernel_size' has 2 values, but mode 'causal1d' takes one"))
        #expect(
            refusal { _ = try Operator(descriptor, dim: 4, attributes: ["act": .string("relu")]) }
                .contains("'relu' is not one of"))
        let grid = try Operator(descriptor, dim: 4, grid: (2, 3), attributes: ["mode": .string("same2d")])
        let params: [Tensor<Float>] = try grid.initialParameters(seed: 0)
        // The host checks L against the grid only for operators declaring needs_grid; this one checks it itself.
        let message = refusal {
            _ = try grid.forward(Tensor<Float>.randomNormal([1, 5, 4], seed: 1), parameters: params)
        }
        #expect(message.contains("mode 'same2d' on the 2 x 3 grid needs L = 6"), "\(message)")
    }

    // MARK: Through the CLI

    @Test func passesEveryConformanceCheck() throws {
        let run = try runCommand(try zooPath(), ["conform", try MadeLibraries.gatedConv()])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        expectEveryCheckPassed(run.stdout, operatorId: "gated_conv")
    }

    @Test func dropsIntoAPluginDirectoryAndRunsWithoutRebuildingTheHost() throws {
        let dir = try makeTemporaryDirectory("zoo-dropin")
        let pluginDir = dir.appendingPathComponent("plugins")
        try FileManager.default.createDirectory(at: pluginDir, withIntermediateDirectories: true)
        let library = pluginDir.appendingPathComponent("libOZGatedConvC.so").path
        try FileManager.default.copyItem(atPath: try MadeLibraries.gatedConv(), toPath: library)
        let registry = dir.appendingPathComponent("registry.json").path
        let env = ["ZOO_PLUGIN_PATH": pluginDir.path]
        let add = try runCommand(
            try zooPath(), ["registry", "add", library, "--registry", registry, "--skip-conformance"], environment: env)
        #expect(add.status == 0, "\(add.stderr)")
        // Recorded by file name: found in the plugin directory wherever zoo runs from.
        #expect(try Registry.load(path: registry).entry(id: "ozgatedconvc")?.library == "libOZGatedConvC.so")
        let x = Tensor<Float>.randomNormal([2, 6, 5], seed: 9)
        try NPY.write(x, path: dir.appendingPathComponent("x.npy").path)
        let run = try runCommand(
            try zooPath(),
            [
                "op", "run", "gated_conv", "--registry", registry, "--input", dir.appendingPathComponent("x.npy").path,
                "--output", dir.appendingPathComponent("y.npy").path, "--seed", "2", "--save-params",
                dir.appendingPathComponent("p.safetensors").path, "--set", "mode=same1d", "--set", "kernel_size=3",
                "--set", "act=silu",
            ], environment: env)
        #expect(run.status == 0, "\(run.stderr)")
        let file = try SafetensorsFile.read(path: dir.appendingPathComponent("p.safetensors").path)
        let p = Dictionary(
            uniqueKeysWithValues: try file.names.map { ($0, try file.tensor(named: $0).scalars.map(Double.init)) })
        let expected = ReferenceGatedConv(mode: .same1d, act: "silu", kh: 1, kw: 3, D: 5, grid: nil, p: p)
            .forward(x.scalars.map(Double.init), B: 2, L: 6)
        expectClose(
            try NPY.read(path: dir.appendingPathComponent("y.npy").path).tensor(as: Float.self), expected, rtol: 1e-4,
            atol: 1e-5, "zoo op run gated_conv")
    }
}
