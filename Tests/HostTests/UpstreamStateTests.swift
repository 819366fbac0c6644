import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// ABI 1.5 upstream state entries: what `hyena` and `linear_attn` declare, and ``ParameterFile`` loading a file laid
/// out as the upstream module's `state_dict` (buffers checked, tied copies checked, parts stacked), with every
/// disagreement an error naming the tensor.
@Suite struct UpstreamStateTests {
    private func hyena() throws -> Operator {
        try Operator(
            try TestOperators.descriptor("hyena", product: "OZHyena"), dim: 4,
            attributes: ["l_max": .int(16), "filter_order": .int(8), "num_inner_mlps": .int(2)])
    }

    private func linearAttention() throws -> Operator {
        try Operator(
            try TestOperators.descriptor("linear_attn", product: "OZLocalAttention"), dim: 4,
            attributes: ["num_heads": .int(2)])
    }

    /// Writes `tensors` to a fresh safetensors file and returns its path.
    private func write(_ tensors: [(name: String, tensor: Tensor<Float>)]) throws -> String {
        let path = try makeTemporaryDirectory("upstream-state").appendingPathComponent("p.safetensors").path
        try SafetensorsFile.write(path: path, tensors: tensors)
        return path
    }

    @Test func hyenaDeclaresUpstreamsBuffersAndTiedFrequencies() throws {
        let op = try hyena()
        #expect(
            op.stateEntries.map(\.name) == [
                "filter_fn.pos_emb.t", "filter_fn.modulation.deltas", "filter_fn.implicit_filter.3.freq",
                "filter_fn.implicit_filter.5.freq",
            ])
        guard case .buffer(_, let shape, let t) = op.stateEntries[0],
            case .buffer(_, let deltaShape, let deltas) = op.stateEntries[1]
        else {
            Issue.record("the first two entries are not buffers")
            return
        }
        // t = linspace(0, 1, l_max) (1, l_max, 1); deltas = linspace(log(0.01)/1.5, log(0.01)/0.3, C) (1, 1, C).
        #expect(shape == [1, 16, 1] && t.first == 0 && t.last == 1 && abs(t[1] - 1.0 / 15) < 1e-15)
        #expect(deltaShape == [1, 1, 4] && abs(deltas[0] - log(0.01) / 1.5) < 1e-12)
        #expect(abs(deltas[3] - log(0.01) / 0.3) < 1e-12)
        let freq = try #require(op.parameters.firstIndex { $0.name == "filter_fn.implicit_filter.1.freq" })
        #expect(op.stateEntries[2] == .alias(name: "filter_fn.implicit_filter.3.freq", parameter: freq))
    }

    @Test func hyenaLoadsAnUpstreamLayoutAndChecksBuffersAndAliases() throws {
        let op = try hyena()
        let params = try op.initialParameters(seed: 3)
        var tensors = try ParameterFile.upstreamLayout(params, for: op, parts: false)
        #expect(try ParameterFile.load(try write(tensors), for: op) == params)

        // A buffer from other attributes (another modulation target) is refused, naming it.
        let deltas = try #require(tensors.firstIndex { $0.name == "filter_fn.modulation.deltas" })
        let good = tensors[deltas].tensor
        tensors[deltas].tensor = try Tensor(shape: good.shape, scalars: good.scalars.map { $0 * 1.01 })
        do {
            _ = try ParameterFile.load(try write(tensors), for: op)
            Issue.record("a disagreeing buffer was accepted")
        } catch let error as ParameterFileError {
            guard case .disagrees(_, "filter_fn.modulation.deltas", _) = error else {
                Issue.record("\(error)")
                return
            }
        }
        // Within float32 rounding it is the same buffer.
        tensors[deltas].tensor = try Tensor(
            shape: good.shape, scalars: good.scalars.map { $0.nextUp })
        #expect(try ParameterFile.load(try write(tensors), for: op) == params)
        tensors[deltas].tensor = good

        // A tied copy that differs from its parameter is refused.
        let alias = try #require(tensors.firstIndex { $0.name == "filter_fn.implicit_filter.5.freq" })
        tensors[alias].tensor = Tensor(shape: [1, 8], repeating: 7)
        do {
            _ = try ParameterFile.load(try write(tensors), for: op)
            Issue.record("a differing tied copy was accepted")
        } catch let error as ParameterFileError {
            #expect(error.description.contains("filter_fn.implicit_filter.5.freq"), "\(error)")
        }
        // Our own files (parameters only) load as before.
        #expect(try ParameterFile.load(try write(zip(op.parameters, params).map { ($0.name, $1) }), for: op) == params)
    }

    @Test func linearAttentionTakesFastTransformersNames() throws {
        let op = try linearAttention()
        let params = try op.initialParameters(seed: 5)
        let (qkvW, qkvB) = (params[0].scalars, params[1].scalars)
        func rows(_ s: [Float], _ r: Range<Int>, width: Int) -> [Float] {
            Array(s[r.lowerBound * width..<r.upperBound * width])
        }
        var tensors: [(name: String, tensor: Tensor<Float>)] = []
        for (k, name) in ["query", "key", "value"].enumerated() {
            tensors.append(
                (
                    "\(name)_projection.weight",
                    try Tensor(shape: [4, 4], scalars: rows(qkvW, k * 4..<(k + 1) * 4, width: 4))
                ))
            tensors.append(
                ("\(name)_projection.bias", try Tensor(shape: [4], scalars: rows(qkvB, k * 4..<(k + 1) * 4, width: 1))))
        }
        tensors += [("out_projection.weight", params[2]), ("out_projection.bias", params[3])]
        #expect(try ParameterFile.load(try write(tensors), for: op) == params)

        // A missing part, or a part beside the whole parameter, is an error naming them.
        let missing = tensors.filter { $0.name != "key_projection.bias" }
        #expect(throws: ParameterFileError.self) { try ParameterFile.load(try write(missing), for: op) }
        do {
            _ = try ParameterFile.load(try write(missing), for: op)
        } catch {
            #expect("\(error)".contains("'key_projection.bias'") && "\(error)".contains("'qkv.bias'"), "\(error)")
        }
        let both = tensors + [("qkv.weight", params[0])]
        do {
            _ = try ParameterFile.load(try write(both), for: op)
            Issue.record("a parameter given whole and in parts was accepted")
        } catch {
            #expect("\(error)".contains("both 'qkv.weight'"), "\(error)")
        }
    }

    /// The host refuses inconsistent declarations when it creates an instance (a plugin's bug, not the file's).
    @Test func inconsistentDeclarationsAreFound() {
        let specs = [ParameterSpec(name: "w", shape: [6, 2]), ParameterSpec(name: "b", shape: [6])]
        func problem(_ entries: [UpstreamStateEntry]) -> String? {
            UpstreamStateEntry.problem(in: entries, parameters: specs)
        }
        #expect(
            problem([.part(name: "a", parameter: 0, rows: 0..<3), .part(name: "c", parameter: 0, rows: 3..<6)]) == nil)
        #expect(
            problem([.part(name: "a", parameter: 0, rows: 0..<3), .part(name: "c", parameter: 0, rows: 2..<6)]) != nil)
        #expect(problem([.part(name: "a", parameter: 0, rows: 0..<3)])?.contains("rows 0..<3 of 6") == true)
        #expect(problem([.alias(name: "w", parameter: 0)])?.contains("repeats") == true)
        #expect(problem([.alias(name: "x", parameter: 2)]) != nil)
        #expect(problem([.buffer(name: "t", shape: [2], values: [1])]) != nil)
        #expect(problem([.buffer(name: "t", shape: [1], values: [.nan])]) != nil)
        #expect(problem([.buffer(name: "t", shape: [], values: [1])]) == nil)
    }

    /// `tensors` as a safetensors file held in memory.
    private func inMemory(_ tensors: [(name: String, tensor: Tensor<Float>)]) throws -> SafetensorsFile {
        try SafetensorsFile.decode(
            SafetensorsFile.encode(tensors: tensors.map { SafetensorsTensor(name: $0.name, $0.tensor) }),
            path: "upstream-slot.safetensors")
    }

    /// A DiT slot holding an operator with state entries reads the upstream layout under its prefix (buffers and tied
    /// copies checked) like a parameter file does; a disagreeing buffer is an error naming the full tensor name.
    @Test func ditSlotReadsItsOperatorsUpstreamLayout() throws {
        let config = TrainingTests.tinyConfig
        let hyena = try TestOperators.descriptor("hyena", product: "OZHyena")
        func model() throws -> DiTModel {
            try DiTModel(config: config) { key in
                key.block == 1 && key.kind == .attn
                    ? DiTSlotChoice(
                        hyena, attributes: ["l_max": .int(Int64(config.tokenCount)), "filter_order": .int(8)])
                    : try TestOperators.standardSlot(key, config)
            }
        }
        let source = try model()
        try source.initialize(seed: 4)
        let slot = source.slot(DiTSlotKey(block: 1, kind: .attn))
        let prefix = "\(slot.key)."
        var tensors = zip(source.parameters.names, source.parameters.tensors).filter { !$0.0.hasPrefix(prefix) }.map {
            (name: $0.0, tensor: $0.1)
        }
        let slotTensors = slot.parameterPositions.map { source.parameters.tensors[$0] }
        tensors += try ParameterFile.upstreamLayout(slotTensors, for: slot.op, parts: false).map {
            (name: prefix + $0.name, tensor: $0.tensor)
        }
        let loaded = try model()
        try loaded.load(try inMemory(tensors))
        #expect(loaded.parameters.tensors == source.parameters.tensors)

        let deltas = try #require(tensors.firstIndex { $0.name == prefix + "filter_fn.modulation.deltas" })
        tensors[deltas].tensor = Tensor(shape: tensors[deltas].tensor.shape, repeating: 1)
        do {
            try loaded.load(try inMemory(tensors))
            Issue.record("a disagreeing buffer in a slot was accepted")
        } catch {
            #expect("\(error)".contains("blocks.1.attn.filter_fn.modulation.deltas"), "\(error)")
        }
    }

    // MARK: State dicts saved by the real upstream modules (Fixtures/Upstream, scripts/make-upstream-state-fixtures)

    private func upstreamFixture(_ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/HostTests/Fixtures/Upstream/\(name)").path
    }

    /// The operator a fixture's JSON names, with its attributes (`attributes` overrides them).
    private func upstreamOperator(_ json: String, _ overrides: [String: AttributeValue] = [:]) throws -> Operator {
        let data = try Data(contentsOf: URL(fileURLWithPath: upstreamFixture(json)))
        let root = try data.withUnsafeBytes { try StrictJSON.parse($0) }
        guard case .object(let members) = root else { throw FixtureFileError("\(json) is not an object") }
        func member(_ key: String) -> StrictJSON.Value? { members.first { $0.key == key }?.value }
        guard case .string(let id) = member("operator"), case .number(let dimText) = member("dim"),
            let dim = Int(dimText), case .object(let values) = member("attributes")
        else { throw FixtureFileError("\(json): operator, dim or attributes missing") }
        var attributes: [String: AttributeValue] = [:]
        for value in values {
            switch value.value {
            case .bool(let b): attributes[value.key] = .bool(b)
            case .number(let text):
                attributes[value.key] = Int64(text).map { .int($0) } ?? .float(Double(text)!)
            default: throw FixtureFileError("\(json): attribute \(value.key) is \(value.value.source())")
            }
        }
        let product = [
            "hyena": "OZHyena", "linear_attn": "OZLocalAttention", "mha": "OZMHA", "mamba2": "OZMamba2",
        ][id]!
        return try Operator(
            try TestOperators.descriptor(id, product: product), dim: dim,
            attributes: attributes.merging(overrides) { $1 })
    }

    /// The state dict the upstream module saved loads unchanged and the operator reproduces the module's output.
    /// Both run in float32 with other summation orders (hyena: FFT long convolutions; ours pads to a power of two):
    /// outputs are of scale ~0.1-1, differences ~1e-7, so 1e-5 absolute + 1e-4 relative.
    @Test(arguments: [
        ("hyena_operator.json", "hyena_operator.pt", "hyena_x.npy", "hyena_y.npy"),
        ("linear_attention.json", "linear_attention.pt", "linear_x.npy", "linear_y.npy"),
        ("timm_attention.json", "timm_attention.pt", "timm_x.npy", "timm_y.npy"),
        ("mamba2.json", "mamba2.pt", "mamba2_x.npy", "mamba2_y.npy"),
    ])
    func upstreamStateDictLoadsAndReproducesTheModule(json: String, params: String, x: String, y: String) throws {
        let op = try upstreamOperator(json)
        let parameters = try ParameterFile.load(upstreamFixture(params), for: op)
        let input = try NPY.readTensor(path: upstreamFixture(x), as: Float.self)
        let out = try op.forward(input, parameters: parameters)
        let expected = try NPY.readTensor(path: upstreamFixture(y), as: Double.self)
        expectClose(out, expected.scalars, rtol: 1e-4, atol: 1e-5, "\(params) vs the upstream module")
    }

    /// A HyenaOperator saved with another modulation target differs only in the buffer `modulation.deltas`: refused
    /// with our default target (naming the buffer), loaded and reproduced with the file's.
    @Test func hyenaBufferFromOtherAttributesIsRefused() throws {
        let path = upstreamFixture("hyena_operator_other_target.pt")
        do {
            _ = try ParameterFile.load(path, for: try upstreamOperator("hyena_operator.json"))
            Issue.record("a buffer from another target was accepted")
        } catch let error as ParameterFileError {
            guard case .disagrees(_, "filter_fn.modulation.deltas", _) = error else {
                Issue.record("\(error)")
                return
            }
        }
        let op = try upstreamOperator("hyena_operator_other_target.json")
        let out = try op.forward(
            try NPY.readTensor(path: upstreamFixture("hyena_x.npy"), as: Float.self),
            parameters: try ParameterFile.load(path, for: op))
        let expected = try NPY.readTensor(path: upstreamFixture("hyena_other_target_y.npy"), as: Double.self)
        expectClose(out, expected.scalars, rtol: 1e-4, atol: 1e-5, "other target vs the upstream module")
    }

    /// As a user runs it: `zoo op run hyena --params hyena_operator.pt` (refused as a whole before ABI 1.5).
    @Test func opRunTakesAnUpstreamHyenaStateDict() throws {
        let ws = try CLITests.Workspace()
        let registry = ws.path("registry.json")
        #expect(
            try runCommand(
                try zooPath(),
                ["registry", "add", try pluginPath(product: "OZHyena"), "--registry", registry, "--skip-conformance"]
            ).status == 0)
        let r = try ws.zoo([
            "op", "run", "hyena", "--params", upstreamFixture("hyena_operator.pt"), "--set", "l_max=16", "--set",
            "filter_order=8", "--input", upstreamFixture("hyena_x.npy"), "--output", ws.path("y.npy"),
        ])
        #expect(r.status == 0, "\(r.stderr)")
        expectClose(
            try NPY.readTensor(path: ws.path("y.npy"), as: Float.self),
            try NPY.readTensor(path: upstreamFixture("hyena_y.npy"), as: Double.self).scalars, rtol: 1e-4, atol: 1e-5,
            "zoo op run hyena")
        let refused = try ws.zoo([
            "op", "run", "hyena", "--params", upstreamFixture("hyena_operator_other_target.pt"), "--set", "l_max=16",
            "--set", "filter_order=8", "--input", upstreamFixture("hyena_x.npy"), "--output", ws.path("y2.npy"),
        ])
        #expect(refused.status != 0 && refused.stderr.contains("filter_fn.modulation.deltas"), "\(refused.stderr)")
    }
}

/// A fixture description that does not say what the test needs.
private struct FixtureFileError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
