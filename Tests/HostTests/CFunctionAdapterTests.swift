import Foundation
import OperatorABI
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The libffi adapter: plain C functions described by `cfunction` registry entries run as ordinary operators
/// (`Operator`, `zoo op run`, `zoo conform`, `zoo plugins list`), checked against references written here.
@Suite struct CFunctionAdapterTests {
    /// A temporary folder with a registry of cfunction entries over libraries built for the test.
    struct Workspace {
        let dir: URL
        let registry: String
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        /// Writes a registry holding `entries` (JSON objects).
        init(_ entries: [[String: Any]]) throws {
            dir = try makeTemporaryDirectory("zoo-cfunction")
            registry = dir.appendingPathComponent("registry.json").path
            let root: [String: Any] = ["schema_version": 1, "plugins": entries]
            try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys]).write(
                to: URL(fileURLWithPath: registry))
        }

        func host(allowUnpinned: Bool = false) throws -> PluginHost {
            try PluginHost(
                search: PluginSearchPath(registryPath: registry, directories: [], allowUnpinned: allowUnpinned))
        }

        func zoo(_ arguments: [String]) throws -> CommandResult {
            try runCommand(try zooPath(), arguments, environment: ["ZOO_REGISTRY": registry])
        }
    }

    /// The shipped `token_shift` entry of registry.json, pointed at a freshly made example library.
    static func tokenShiftEntry() throws -> [String: Any] {
        let data = try Data(contentsOf: packageRoot.appendingPathComponent("registry.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let plugins = try #require(root["plugins"] as? [[String: Any]])
        var entry = try #require(plugins.first { $0["id"] as? String == "token_shift" })
        let library = try MadeLibraries.tokenShift()
        entry["library"] = library
        entry["sha256"] = try FileHash.sha256(path: library)
        entry["conformance"] = nil
        return entry
    }

    /// An entry for a function of the `box_mean` fixture library.
    static func fixtureEntry(id: String, description: String) throws -> [String: Any] {
        let library = try MadeLibraries.fixture("box_mean")
        return [
            "id": id, "kind": "cfunction", "library": library, "name": id, "version": "0.1.0", "abi": "1.1",
            "license": "MIT", "operators": [id], "sha256": try FileHash.sha256(path: library),
            "cfunction": try JSONSerialization.jsonObject(with: Data(description.utf8)),
        ]
    }

    static let boxMean = """
        {"role": "token_mixer", "summary": "scaled box mean", "capabilities": ["deterministic", "reentrant"],
         "receptive_field": {"left": "radius", "right": "radius"}, "complexity": "linear",
         "forward": {"symbol": "box_mean", "returns": "int", "arguments": [
           {"kind": "input", "type": "const double *"}, {"kind": "output", "type": "double *"},
           {"kind": "B", "type": "int64_t"}, {"kind": "L", "type": "int64_t"}, {"kind": "D", "type": "int64_t"},
           {"kind": "attribute", "name": "radius", "type": "int32_t", "default": 1, "min": 0, "max": 1000},
           {"kind": "attribute", "name": "normalize", "type": "bool", "default": true},
           {"kind": "attribute", "name": "offset", "type": "float", "default": 0},
           {"kind": "parameter", "name": "scale", "type": "const double *", "shape": ["D"], "init": {"normal": 1}},
           {"kind": "workspace", "type": "double *", "count": "L"}, {"kind": "workspace_bytes", "type": "size_t"}]},
         "vjp": {"symbol": "box_mean_vjp", "returns": "int", "arguments": [
           {"kind": "output_grad", "type": "const double *"}, {"kind": "input_grad", "type": "double *"},
           {"kind": "parameter_grad", "name": "scale", "type": "double *"}, {"kind": "input", "type": "const double *"},
           {"kind": "B", "type": "int64_t"}, {"kind": "L", "type": "int64_t"}, {"kind": "D", "type": "int64_t"},
           {"kind": "attribute", "name": "radius", "type": "int32_t"}, {"kind": "attribute", "name": "normalize", "type": "bool"},
           {"kind": "parameter", "name": "scale", "type": "const double *"},
           {"kind": "workspace", "type": "double *", "count": "2 * L"}, {"kind": "workspace_bytes", "type": "size_t"}]}}
        """

    static let refuseEverything = """
        {"role": "token_mixer", "summary": "always fails", "forward": {"symbol": "refuse_everything", "returns": "int",
         "arguments": [{"kind": "input", "type": "const float *"}, {"kind": "output", "type": "float *"},
           {"kind": "B", "type": "int"}, {"kind": "L", "type": "int"}, {"kind": "D", "type": "int"}]}}
        """

    static let rowMean = """
        {"role": "token_mixer", "summary": "row mean on the grid", "receptive_field": {"left": "W - 1", "right": "W - 1"},
         "forward": {"symbol": "row_mean", "arguments": [{"kind": "input", "type": "const double *"},
           {"kind": "output", "type": "double *"}, {"kind": "B", "type": "long"}, {"kind": "H", "type": "long"},
           {"kind": "W", "type": "long"}, {"kind": "D", "type": "long"}]}}
        """

    // MARK: References

    static func referenceTokenShift(_ x: [Double], mix: [Double], B: Int, L: Int, D: Int, shift: Int) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for b in 0..<B {
            for t in 0..<L {
                for c in 0..<D {
                    let before = t >= shift ? x[(b * L + t - shift) * D + c] : 0
                    y[(b * L + t) * D + c] = mix[c] * x[(b * L + t) * D + c] + (1 - mix[c]) * before
                }
            }
        }
        return y
    }

    static func referenceBoxMean(
        _ x: [Double], scale: [Double], B: Int, L: Int, D: Int, radius: Int, normalize: Bool, offset: Double
    ) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for b in 0..<B {
            for t in 0..<L {
                let window = max(0, t - radius)...min(L - 1, t + radius)
                for c in 0..<D {
                    let sum = window.reduce(0.0) { $0 + x[(b * L + $1) * D + c] }
                    y[(b * L + t) * D + c] = scale[c] * (normalize ? sum / Double(window.count) : sum) + offset
                }
            }
        }
        return y
    }

    // MARK: token_shift (the shipped example)

    static let shapes: [(b: Int, l: Int, d: Int, shift: Int)] = [
        (1, 1, 3, 1), (2, 7, 5, 1), (1, 9, 4, 3), (3, 4, 2, 6),
    ]

    @Test(arguments: shapes.indices)
    func tokenShiftForwardAndBackwardMatchTheMath(index: Int) throws {
        let c = Self.shapes[index]
        let ws = try Workspace([try Self.tokenShiftEntry()])
        let descriptor = try ws.host().resolveOperator("token_shift")
        #expect(descriptor.capabilities == [.backward, .deterministic, .reentrant])
        let op = try Operator(descriptor, dim: c.d, attributes: ["shift": .int(Int64(c.shift))])
        #expect(op.parameters.map(\.description) == ["time_mix [\(c.d)]"])
        let initial: [Tensor<Float>] = try op.initialParameters(seed: 0)
        #expect(initial[0].scalars.allSatisfy { $0 == 0.5 })
        // Random mixes, so every term reaches the output and the gradient.
        let params = [Tensor<Float>.randomNormal([c.d], seed: 10 + UInt64(index))]
        let x = Tensor<Float>.randomNormal([c.b, c.l, c.d], seed: UInt64(index))
        let expected = Self.referenceTokenShift(
            x.scalars.map(Double.init), mix: params[0].scalars.map(Double.init), B: c.b, L: c.l, D: c.d, shift: c.shift)
        // Two float32 products and a sum: a few ulps.
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-6, atol: 1e-6, "token_shift \(c)")
        try expectGradientsMatch(op, x: x, parameters: params, seed: 3)
    }

    @Test func tokenShiftIsCausalWithTheDeclaredField() throws {
        let ws = try Workspace([try Self.tokenShiftEntry()])
        let op = try Operator(try ws.host().resolveOperator("token_shift"), dim: 3, attributes: ["shift": .int(2)])
        #expect(
            op.isCausal && op.receptiveField?.left == 2 && op.receptiveField?.right == 0 && op.complexity == .linear)
        let params = [Tensor<Float>.randomNormal([3], seed: 1)]
        let x = Tensor<Float>.randomNormal([2, 8, 3], seed: 2)
        let y = try op.forward(x, parameters: params)
        for s in 0..<8 {
            var perturbed = x
            for c in 0..<3 { perturbed[1, s, c] += 1 }
            let yp = try op.forward(perturbed, parameters: params)
            for t in 0..<8 {
                let changed = (0..<3).contains { y[1, t, $0] != yp[1, t, $0] }
                #expect(changed == (s == t || s == t - 2), "token \(s) and output \(t)")
                #expect((0..<3).allSatisfy { y[0, t, $0] == yp[0, t, $0] })
            }
        }
    }

    @Test func tokenShiftRefusesDtypesItCannotTake() throws {
        let ws = try Workspace([try Self.tokenShiftEntry()])
        let op = try Operator(try ws.host().resolveOperator("token_shift"), dim: 2)
        // The host refuses float64 before calling (no float64 capability) ...
        #expect(
            throws: OperatorError.unsupported(
                operatorId: "token_shift",
                reason: "float64 tensors need the float64 capability, which it does not declare")
        ) {
            _ = try op.forward(Tensor<Double>(zeros: [1, 2, 2]), parameters: [Tensor<Double>(zeros: [2])])
        }
        // ... and the adapter refuses any dtype but float32 on its own, as a plugin must.
        for bits: UInt8 in [64, 16] {
            let t = TensorArgument(data: UnsafeMutableRawPointer(bitPattern: 64), shape: [1, 2, 2], bits: bits)
            let p = TensorArgument(data: UnsafeMutableRawPointer(bitPattern: 64), shape: [2], bits: bits)
            #expect(
                throws: PluginCallError(
                    operatorId: "token_shift", function: "forward", status: OZ_ERR_DTYPE,
                    message: "tensor 'x' has \(bits)-bit floats; token_shift_mix takes float32")
            ) {
                try op.table.forward(op.instance, x: t, params: [p], y: t, workspace: nil, workspaceSize: 0)
            }
        }
        // Wrong shapes are refused with a status too.
        let x = TensorArgument(data: UnsafeMutableRawPointer(bitPattern: 64), shape: [1, 2, 2], bits: 32)
        #expect(
            throws: PluginCallError(
                operatorId: "token_shift", function: "forward", status: OZ_ERR_SHAPE,
                message: "parameter 'time_mix' has shape [3]; expected [2]")
        ) {
            try op.table.forward(
                op.instance, x: x, params: [TensorArgument(data: x.data, shape: [3], bits: 32)], y: x, workspace: nil,
                workspaceSize: 0)
        }
    }

    // MARK: Fixtures: double precision, workspace, status, grid

    @Test(arguments: [(1, true, 0.0), (2, false, 0.25), (0, true, -1.5), (7, true, 0.0)])
    func doubleFunctionWithWorkspaceMatchesItsReference(radius: Int, normalize: Bool, offset: Double) throws {
        let ws = try Workspace([try Self.fixtureEntry(id: "box_mean", description: Self.boxMean)])
        let descriptor = try ws.host().resolveOperator("box_mean")
        #expect(descriptor.capabilities == [.backward, .deterministic, .reentrant, .float64])
        let op = try Operator(
            descriptor, dim: 3,
            attributes: ["radius": .int(Int64(radius)), "normalize": .bool(normalize), "offset": .float(offset)])
        #expect(op.receptiveField?.left == radius && op.receptiveField?.right == radius && !op.isCausal)
        #expect(try op.workspaceSize(backward: false, batch: 2, length: 9) == 9 * 8)
        #expect(try op.workspaceSize(backward: true, batch: 2, length: 9) == 18 * 8)
        let params: [Tensor<Double>] = try op.initialParameters(seed: 4, as: Double.self)
        let x = Tensor<Double>.randomNormal([2, 9, 3], seed: 5)
        let expected = Self.referenceBoxMean(
            x.scalars, scale: params[0].scalars, B: 2, L: 9, D: 3, radius: radius, normalize: normalize, offset: offset)
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-12, atol: 1e-12, "box_mean float64")
        // float32 tensors go through float64 copies around the call: one rounding at the end.
        let y32 = try op.forward(x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) })
        expectClose(y32, expected, rtol: 1e-6, atol: 1e-6, "box_mean float32")
        try expectGradientsMatch(op, x: x, parameters: params, seed: 6)
        try expectGradientsMatch(
            op, x: x.converted(to: Float.self), parameters: params.map { $0.converted(to: Float.self) }, seed: 7,
            samples: 4)
    }

    @Test func aFailingStatusReachesTheCallerWithTheSymbolNamed() throws {
        let ws = try Workspace([try Self.fixtureEntry(id: "refuser", description: Self.refuseEverything)])
        let op = try Operator(try ws.host().resolveOperator("refuser"), dim: 2)
        #expect(
            throws: OperatorError.plugin(
                PluginCallError(
                    operatorId: "refuser", function: "forward", status: OZ_ERR_INTERNAL,
                    message:
                        "the C function refuse_everything returned status 7 (the cfunction entry 'refuser' treats non-zero as failure)"
                ))
        ) {
            _ = try op.forward(Tensor<Float>(zeros: [1, 3, 2]), parameters: [])
        }
        #expect(
            throws: OperatorError.unsupported(
                operatorId: "refuser", reason: "the operator has no backward (vector-Jacobian product)")
        ) {
            _ = try op.backward(
                Tensor<Float>(zeros: [1, 3, 2]), parameters: [], outputGradient: Tensor<Float>(zeros: [1, 3, 2]))
        }
    }

    @Test func gridBindingsPassHeightAndWidth() throws {
        let ws = try Workspace([try Self.fixtureEntry(id: "row_mean", description: Self.rowMean)])
        let descriptor = try ws.host().resolveOperator("row_mean")
        #expect(descriptor.capabilities == [.needsGrid, .float64])
        #expect(throws: OperatorError.unsupported(operatorId: "row_mean", reason: "needs the token grid (--grid HxW)"))
        {
            _ = try Operator(descriptor, dim: 2)
        }
        let op = try Operator(descriptor, dim: 2, grid: (3, 4))
        #expect(op.receptiveField?.left == 3 && op.receptiveField?.right == 3)
        let x = Tensor<Double>.randomNormal([2, 12, 2], seed: 8)
        let y = try op.forward(x, parameters: [])
        for b in 0..<2 {
            for r in 0..<3 {
                for d in 0..<2 {
                    let mean = (0..<4).reduce(0.0) { $0 + x[b, r * 4 + $1, d] } / 4
                    for c in 0..<4 { #expect(abs(y[b, r * 4 + c, d] - mean) < 1e-12) }
                }
            }
        }
    }

    // MARK: Pins, symbols and the registry

    @Test func pinsAreEnforcedAndMissingSymbolsNamed() throws {
        var entry = try Self.tokenShiftEntry()
        let library = entry["library"] as! String
        entry["sha256"] = String(repeating: "0", count: 64)
        let ws = try Workspace([entry])
        #expect(
            throws: RegistryError.hashMismatch(
                library: library, entry: "token_shift", expected: String(repeating: "0", count: 64),
                found: try FileHash.sha256(path: library))
        ) {
            _ = try ws.host().resolveOperator("token_shift")
        }
        _ = try ws.host(allowUnpinned: true).resolveOperator("token_shift")

        var renamed = try Self.tokenShiftEntry()
        var description = renamed["cfunction"] as! [String: Any]
        var vjp = description["vjp"] as! [String: Any]
        vjp["symbol"] = "token_shift_mix_backward"
        description["vjp"] = vjp
        renamed["cfunction"] = description
        let ws2 = try Workspace([renamed])
        #expect(
            throws: CFunctionError.missingSymbol(
                entry: "token_shift", library: library, field: "cfunction.vjp.symbol",
                symbol: "token_shift_mix_backward")
        ) {
            _ = try ws2.host().resolveOperator("token_shift")
        }
    }

    @Test func registryRoundTripsDescriptionsAndRefusesMisplacedOnes() throws {
        let ws = try Workspace([
            try Self.tokenShiftEntry(), try Self.fixtureEntry(id: "box_mean", description: Self.boxMean),
        ])
        let registry = try Registry.load(path: ws.registry)
        #expect(registry.entries.map(\.kind) == ["cfunction", "cfunction"])
        let again = try Registry.parse(registry.encoded(), path: "again")
        #expect(again == registry)
        #expect(again.entry(id: "box_mean")?.cfunction?.forward.workspace?.count == .variable("L"))

        func refused(_ mutate: (inout [String: Any]) -> Void) throws -> RegistryError? {
            var entry = try Self.tokenShiftEntry()
            mutate(&entry)
            let data = try JSONSerialization.data(
                withJSONObject: ["schema_version": 1, "plugins": [entry]] as [String: Any])
            do {
                _ = try Registry.parse(data, path: "r.json")
                return nil
            } catch { return error }
        }
        #expect(
            try refused { $0["cfunction"] = nil }
                == .invalidField(
                    path: "r.json", field: "plugins[0].cfunction",
                    expected: "the C function's description (an entry of kind cfunction needs one)"))
        #expect(
            try refused { $0["kind"] = "plugin" }
                == .invalidField(
                    path: "r.json", field: "plugins[0].cfunction",
                    expected: "no such field in an entry of kind plugin (only kind cfunction has one)"))
        #expect(
            try refused { $0["operators"] = ["a", "b"] }
                == .invalidField(
                    path: "r.json", field: "plugins[0].operators",
                    expected: "exactly one operator id (a cfunction entry describes one C function)"))
        let badType = try refused { entry in
            var description = entry["cfunction"] as! [String: Any]
            var forward = description["forward"] as! [String: Any]
            var arguments = forward["arguments"] as! [[String: Any]]
            arguments[2]["type"] = "char"
            forward["arguments"] = arguments
            description["forward"] = forward
            entry["cfunction"] = description
        }
        guard
            case .cfunction(
                "r.json", .unsupportedType("token_shift", "cfunction.forward.arguments[2].type", "char", _))? = badType
        else {
            Issue.record("a bad C type was not refused naming the entry and the field: \(String(describing: badType))")
            return
        }
        #expect(
            badType!.description.hasPrefix(
                "registry 'r.json': cfunction entry 'token_shift': field 'cfunction.forward.arguments[2].type'"))
    }

    @Test func committedRegistryDescribesTheExample() throws {
        let registry = try Registry.load(path: packageRoot.appendingPathComponent("registry.json").path)
        let entry = try #require(registry.entry(id: "token_shift"))
        #expect(entry.kind == "cfunction" && entry.library == "./examples/cfunction/build/libtoken_shift.so")
        #expect(entry.operators == ["token_shift"] && entry.cfunction?.vjp?.symbol == "token_shift_mix_vjp")
        #expect(entry.conformance?.passed == true)
    }

    @Test func referencesNameARegistryEntry() throws {
        let reference = try CFunctionReference(parsing: "cfunction:/tmp/a#b/registry.json#token_shift")
        #expect(reference.registry == "/tmp/a#b/registry.json" && reference.entry == "token_shift")
        #expect(reference.description == "cfunction:/tmp/a#b/registry.json#token_shift")
        #expect(
            throws: CFunctionError.invalidReference(
                text: "cfunction:/tmp/registry.json",
                reason: "it needs a registry path and an entry id separated by '#'")
        ) {
            _ = try CFunctionReference(parsing: "cfunction:/tmp/registry.json")
        }
        let ws = try Workspace([try Self.tokenShiftEntry()])
        let library = try PluginLibrary.open(
            CFunctionReference(registry: ws.registry, entry: "token_shift").description)
        #expect(library.operators.map(\.id) == ["token_shift"] && library.abiMajor == UInt32(OZ_ABI_MAJOR))
        #expect(throws: CFunctionError.self) { _ = try PluginLibrary.open("cfunction:\(ws.registry)#nothing") }
    }

    // MARK: Through the CLI

    @Test func opRunComputesTheFunctionAndItsVJP() throws {
        let ws = try Workspace([try Self.tokenShiftEntry()])
        let x = Tensor<Float>.randomNormal([2, 6, 4], seed: 1)
        let dy = Tensor<Float>.randomNormal([2, 6, 4], seed: 2)
        let mix = Tensor<Float>.randomNormal([4], seed: 3)
        try NPY.write(x, path: ws.path("x.npy"))
        try NPY.write(dy, path: ws.path("dy.npy"))
        try SafetensorsFile.write(path: ws.path("p.safetensors"), tensors: [(name: "time_mix", tensor: mix)])
        let run = try ws.zoo([
            "op", "run", "token_shift", "--input", ws.path("x.npy"), "--output", ws.path("y.npy"), "--params",
            ws.path("p.safetensors"), "--set", "shift=2", "--grad-output", ws.path("dy.npy"), "--grad-input",
            ws.path("dx.npy"), "--grad-params", ws.path("dp.safetensors"),
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("token_shift: [2, 6, 4] float32"))
        let (xd, md, dyd) = (x.scalars.map(Double.init), mix.scalars.map(Double.init), dy.scalars.map(Double.init))
        let y = try NPY.read(path: ws.path("y.npy")).tensor(as: Float.self)
        expectClose(
            y, Self.referenceTokenShift(xd, mix: md, B: 2, L: 6, D: 4, shift: 2), rtol: 1e-6, atol: 1e-6, "zoo op run y"
        )
        // dx[s] = mix * dy[s] + (1 - mix) * dy[s + 2]; dmix = sum dy * (x - x shifted).
        var dx = [Double](repeating: 0, count: xd.count)
        var dmix = [Double](repeating: 0, count: 4)
        for b in 0..<2 {
            for t in 0..<6 {
                for c in 0..<4 {
                    let i = (b * 6 + t) * 4 + c
                    dx[i] = md[c] * dyd[i] + (t + 2 < 6 ? (1 - md[c]) * dyd[i + 8] : 0)
                    dmix[c] += dyd[i] * (xd[i] - (t >= 2 ? xd[i - 8] : 0))
                }
            }
        }
        expectClose(
            try NPY.read(path: ws.path("dx.npy")).tensor(as: Float.self), dx, rtol: 1e-6, atol: 1e-6, "zoo op run dx")
        expectClose(
            try SafetensorsFile.read(path: ws.path("dp.safetensors")).tensor(named: "time_mix"), dmix, rtol: 1e-5,
            atol: 1e-5, "zoo op run dtime_mix")
    }

    @Test func conformPassesEveryCheckOnCFunctionEntries() throws {
        let ws = try Workspace([
            try Self.tokenShiftEntry(), try Self.fixtureEntry(id: "box_mean", description: Self.boxMean),
        ])
        let tokenShift = try ws.zoo(["conform", "token_shift", "--registry", ws.registry])
        #expect(tokenShift.status == 0, "\(tokenShift.stdout)\(tokenShift.stderr)")
        #expect(tokenShift.stdout.contains("cfunction:\(ws.registry)#token_shift: "), "\(tokenShift.stdout)")
        expectEveryCheckPassed(tokenShift.stdout, operatorId: "token_shift")
        // A double function is probed in float64, where the gradient check is tight.
        let boxMean = try ws.zoo(["conform", "box_mean", "--registry", ws.registry, "--json", ws.path("report.json")])
        #expect(boxMean.status == 0, "\(boxMean.stdout)\(boxMean.stderr)")
        #expect(boxMean.stdout.contains("(float64)"), "\(boxMean.stdout)")
        expectEveryCheckPassed(boxMean.stdout, operatorId: "box_mean")
        // A failing function fails conformance, with the C function's status in the reason.
        let refuser = try Workspace([try Self.fixtureEntry(id: "refuser", description: Self.refuseEverything)])
        let failed = try refuser.zoo(["conform", "refuser", "--registry", refuser.registry, "--check", "shapes"])
        #expect(failed.status != 0 && failed.stdout.contains("refuse_everything returned status 7"), "\(failed.stdout)")
    }

    @Test func pluginsListInspectAndPinTreatItLikeAnyOperator() throws {
        var entry = try Self.tokenShiftEntry()
        entry["sha256"] = String(repeating: "0", count: 64)
        let ws = try Workspace([entry])
        let refused = try ws.zoo([
            "op", "run", "token_shift", "--input", ws.path("x.npy"), "--output", ws.path("y.npy"),
        ])
        #expect(refused.status != 0 && refused.stderr.contains("zoo registry pin token_shift"), "\(refused.stderr)")
        let pin = try ws.zoo(["registry", "pin", "token_shift", "--registry", ws.registry])
        #expect(pin.status == 0 && pin.stdout.contains("conformance (quick): "), "\(pin.stdout)\(pin.stderr)")
        let pinned = try #require(try Registry.load(path: ws.registry).entry(id: "token_shift"))
        #expect(
            pinned.sha256 == (try FileHash.sha256(path: entry["library"] as! String))
                && pinned.conformance?.passed == true)
        #expect(pinned.cfunction == (try Self.parsedTokenShift()))
        #expect(pinned.abi == "\(OZ_ABI_MAJOR).\(OZ_ABI_MINOR)", "the adapter speaks the host's ABI")

        let list = try ws.zoo(["plugins", "list", "--registry", ws.registry])
        #expect(list.status == 0)
        #expect(
            list.stdout.contains("pinned (token_shift)") && list.stdout.contains("(cfunction through libffi)"),
            "\(list.stdout)")
        #expect(list.stdout.contains("- token_shift [token_mixer] v1.0.0: RWKV token shift"), "\(list.stdout)")
        let inspect = try ws.zoo([
            "plugins", "inspect", "token_shift", "--registry", ws.registry, "--dim", "8", "--set", "shift=3",
        ])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        for line in [
            "capabilities: backward, deterministic, reentrant", "shift: int = 1, range 1...65536", "time_mix [8]",
            "causal: true, receptive field: [t - 3, t + 0], time in L: O(L)",
        ] {
            #expect(inspect.stdout.contains(line), "\(line) in \(inspect.stdout)")
        }
        let verify = try ws.zoo(["registry", "verify", "--registry", ws.registry])
        #expect(verify.status == 0 && verify.stdout.contains("ok      token_shift"), "\(verify.stdout)")
    }

    static func parsedTokenShift() throws -> CFunctionSpec? {
        let entry = try tokenShiftEntry()
        let data = try JSONSerialization.data(withJSONObject: entry["cfunction"]!)
        return try CFunctionSpec.parse(json: Array(data), entry: "token_shift")
    }
}
