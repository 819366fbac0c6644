import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The DiT against golden outputs of an independent float64 numpy implementation of `models.py`
/// (`Fixtures/DiT/make_golden.py`), its backward against finite differences, and its checkpoint and
/// configuration errors.
@Suite struct DiTTests {
    private func goldenInputs() throws -> (x: Tensor<Float>, t: [Double], y: [Int]) {
        let x = try NPY.readTensor(path: ditFixture("x.npy"), as: Float.self)
        let t = try NPY.readInt64(path: ditFixture("t.npy")).scalars.map(Double.init)
        let y = try NPY.readInt64(path: ditFixture("y.npy")).scalars.map(Int.init)
        return (x, t, y)
    }

    /// Float32 against the float64 reference: the model computes in float32 (errors ~1e-6 relative per
    /// layer over ~20 layers) while the reference also takes the timestep embedding in float64, so
    /// 2e-4 absolute + 1e-3 relative on outputs of scale ~1 is a tight, honest bound.
    @Test func forwardMatchesFloat64Reference() throws {
        let model = try goldenDiT()
        let (x, t, y) = try goldenInputs()
        let out = try model.forward(x, timesteps: t, labels: y)
        let expected = try NPY.readTensor(path: ditFixture("out_fp64.npy"), as: Double.self)
        #expect(out.shape == expected.shape)
        expectClose(out, expected.scalars, rtol: 1e-3, atol: 2e-4, "DiT output")
    }

    @Test func diffusersNamesGiveIdenticalOutputs() throws {
        let model = try goldenDiT()
        let (x, t, y) = try goldenInputs()
        let reference = try model.forward(x, timesteps: t, labels: y)
        let other = try makeDiT(model.config)
        #expect(try other.load(checkpoint: ditFixture("weights_diffusers.safetensors")) == .diffusers)
        #expect(try other.forward(x, timesteps: t, labels: y) == reference)
    }

    @Test func positionEmbeddingMatchesCheckpoint() throws {
        let model = try goldenDiT()
        let file = try SafetensorsFile.read(path: ditFixture("weights.safetensors"))
        let stored = try file.tensor(named: "pos_embed")
        let computed = DiTEmbeddings.sinCos2D(dim: 32, gridSize: 4)
        expectClose(computed, stored.scalars.map(Double.init), rtol: 0, atol: 1e-7, "sin-cos position embedding")
        #expect(model.positionEmbedding.scalars == stored.scalars)
    }

    @Test func timestepEmbeddingIsCosThenSin() {
        let e = DiTEmbeddings.timestep([3], dim: 8)
        for k in 0..<4 {
            let f = exp(-log(10000.0) * Double(k) / 4)
            #expect(abs(Double(e[0, k]) - cos(3 * f)) < 1e-6)
            #expect(abs(Double(e[0, 4 + k]) - sin(3 * f)) < 1e-6)
        }
    }

    /// Backward against finite differences (see ``expectGradientsMatchFiniteDifferences(_:x:t:y:)``).
    @Test func backwardMatchesFiniteDifferences() throws {
        let (x, t, y) = try goldenInputs()
        try expectGradientsMatchFiniteDifferences(try goldenDiT(), x: x, t: t, y: y)
    }

    /// The restructured model (``DiTConfig/parallelPairs``) against the same numpy reference, run with its
    /// parallel-pairs option: with depth 2 the two blocks form one parallel block.
    @Test func parallelPairsMatchFloat64Reference() throws {
        var config = try DiTConfig.load(path: ditFixture("config.json"))
        config.parallelPairs = true
        let model = try makeDiT(config)
        try model.load(checkpoint: ditFixture("weights.safetensors"))
        let (x, t, y) = try goldenInputs()
        let out = try model.forward(x, timesteps: t, labels: y)
        let expected = try NPY.readTensor(path: ditFixture("out_parallel_pairs.npy"), as: Float.self)
        expectClose(out, expected.scalars.map(Double.init), rtol: 1e-3, atol: 2e-4, "parallel-pairs DiT output")
        #expect(try out != goldenDiT().forward(x, timesteps: t, labels: y))
    }

    /// Backward of a restructured model with an odd depth (a parallel pair, then a block alone), every
    /// parameter random so every path matters.
    @Test func parallelPairsBackwardMatchesFiniteDifferences() throws {
        var config = try DiTConfig.load(path: ditFixture("config.json"))
        config.depth = 3
        config.parallelPairs = true
        #expect(config.blockStages == [[0, 1], [2]])
        let model = try makeDiT(config)
        var rng = SplitMix64(seed: 21)
        for index in model.parameters.tensors.indices {
            model.parameters.tensors[index].withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count { p[i] = Float(rng.nextNormal() * 0.2) }
            }
        }
        let (x, t, y) = try goldenInputs()
        try expectGradientsMatchFiniteDifferences(model, x: x, t: t, y: y)
    }

    /// Central differences of `<out, dy>` in float32 (step 1e-2, objective summed in float64) against the
    /// analytic gradient of every parameter tensor, three coordinates each (label-table rows of the batch's
    /// labels). LayerNorm and softmax keep the model smooth, so 3% relative with an absolute floor of 1e-3 of
    /// the gradient's scale holds; a wrong layer gives errors of order one.
    private func expectGradientsMatchFiniteDifferences(
        _ model: DiTModel, x: Tensor<Float>, t: [Double], y: [Int]
    ) throws {
        let c = model.config
        let dy = Tensor<Float>.randomNormal([x.shape[0], c.outChannels, c.inputSize, c.inputSize], seed: 5)
        let (_, trace) = try model.tracedForward(x, timesteps: t, labels: y)
        let grads = try model.backward(trace, outputGradient: dy)
        func objective() throws -> Double {
            let out = try model.forward(x, timesteps: t, labels: y)
            return zip(out.scalars, dy.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        var rng = SplitMix64(seed: 11)
        let h: Float = 1e-2
        for (index, name) in model.parameters.names.enumerated() {
            let analytic = grads.tensors[index]
            let scale = analytic.scalars.map { abs(Double($0)) }.max() ?? 0
            #expect(scale > 0, "\(name): gradient is identically zero")
            for _ in 0..<3 {
                var i = Int(rng.next() % UInt64(analytic.count))
                if name == "y_embedder.embedding_table.weight" {
                    i = y[Int(rng.next() % UInt64(y.count))] * c.hiddenSize + i % c.hiddenSize
                }
                let original = model.parameters.tensors[index][flat: i]
                model.parameters.tensors[index][flat: i] = original + h
                let plus = try objective()
                model.parameters.tensors[index][flat: i] = original - h
                let minus = try objective()
                model.parameters.tensors[index][flat: i] = original
                let numeric = (plus - minus) / Double(2 * h)
                let a = Double(analytic[flat: i])
                #expect(
                    abs(numeric - a) <= 1e-3 * scale + 3e-2 * max(abs(numeric), abs(a)),
                    "d\(name)[\(i)]: analytic \(a), numeric \(numeric)")
            }
        }
    }

    @Test func saveLoadRoundTrip() throws {
        let model = try goldenDiT()
        let dir = try TestDirectory()
        try model.save(path: dir.file("ck.safetensors"))
        let again = try makeDiT(model.config)
        #expect(try again.load(checkpoint: dir.file("ck.safetensors")) == .original)
        #expect(again.parameters.tensors == model.parameters.tensors)
        let file = try SafetensorsFile.read(path: dir.file("ck.safetensors"))
        #expect(
            try DiTConfig.parse(Data(file.metadata[DiTModel.configMetadataKey]!.utf8), path: "meta") == model.config)
        // bfloat16 storage keeps 8 significant bits.
        try model.save(path: dir.file("bf16.safetensors"), dtype: .bfloat16)
        let narrow = try makeDiT(model.config)
        try narrow.load(checkpoint: dir.file("bf16.safetensors"))
        for (a, b) in zip(narrow.parameters.tensors, model.parameters.tensors) {
            expectClose(a, b.scalars.map(Double.init), rtol: 1.0 / 128, atol: 0, "bf16 round trip")
        }
    }

    @Test func initializationFollowsDiT() throws {
        let model = try makeDiT(
            DiTConfig(inputSize: 8, patchSize: 2, inChannels: 3, hiddenSize: 32, depth: 2, numHeads: 4, numClasses: 5))
        try model.initialize(seed: 3)
        let p = model.parameters
        for name in [
            "blocks.0.adaLN_modulation.1.weight", "final_layer.linear.weight", "final_layer.adaLN_modulation.1.bias",
        ] {
            #expect(p[name]!.scalars.allSatisfy { $0 == 0 }, "\(name) must start at zero (adaLN-Zero)")
        }
        let qkv = p["blocks.1.attn.qkv.weight"]!.scalars
        let bound = Float((6.0 / Double(32 + 96)).squareRoot())
        #expect(qkv.allSatisfy { abs($0) <= bound } && qkv.contains { abs($0) > bound / 2 })
        // adaLN-Zero: the output depends on nothing but zeros at initialization.
        let out = try model.forward(Tensor.randomNormal([2, 3, 8, 8], seed: 1), timesteps: [5, 900], labels: [0, 5])
        #expect(out.scalars.allSatisfy { $0 == 0 })
    }

    // MARK: Errors

    private func expectDiTError(
        _ mentions: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) {
        do {
            try body()
            Issue.record("expected a DiTError mentioning \(mentions)", sourceLocation: sourceLocation)
        } catch let error as DiTError {
            for m in mentions {
                #expect(
                    error.description.contains(m), "'\(error)' should mention '\(m)'", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func malformedCheckpointsAreRefusedByName() throws {
        let model = try goldenDiT()
        let dir = try TestDirectory()
        let tensors = zip(model.parameters.names, model.parameters.tensors).map { (name: $0, tensor: $1) }
        let missing = dir.file("missing.safetensors")
        try SafetensorsFile.write(path: missing, tensors: tensors.filter { $0.name != "blocks.1.mlp.fc2.bias" })
        expectDiTError([missing, "missing tensor 'blocks.1.mlp.fc2.bias'", "[32]"]) {
            try makeDiT(model.config).load(checkpoint: missing)
        }
        let extra = dir.file("extra.safetensors")
        try SafetensorsFile.write(
            path: extra, tensors: tensors + [(name: "blocks.7.attn.qkv.weight", tensor: Tensor(zeros: [1]))])
        expectDiTError([extra, "blocks.7.attn.qkv.weight"]) { try makeDiT(model.config).load(checkpoint: extra) }
        let shape = dir.file("shape.safetensors")
        try SafetensorsFile.write(
            path: shape,
            tensors: tensors.map {
                $0.name == "blocks.0.attn.proj.weight" ? (name: $0.name, tensor: Tensor(zeros: [32, 31])) : $0
            })
        let victim = try makeDiT(model.config)
        expectDiTError([shape, "blocks.0.attn.proj.weight", "[32, 31]", "[32, 32]"]) {
            try victim.load(checkpoint: shape)
        }
        #expect(
            victim.parameters.tensors.allSatisfy { $0.scalars.allSatisfy { $0 == 0 } },
            "a refused load must leave the model as it was")
        let foreign = dir.file("foreign.safetensors")
        try SafetensorsFile.write(path: foreign, tensors: [(name: "weight", tensor: Tensor(zeros: [2]))])
        expectDiTError([foreign, "not a DiT checkpoint"]) { try makeDiT(model.config).load(checkpoint: foreign) }
        let garbage = dir.file("garbage.safetensors")
        try Data("not safetensors at all".utf8).write(to: URL(fileURLWithPath: garbage))
        expectDiTError([garbage]) { try makeDiT(model.config).load(checkpoint: garbage) }
    }

    @Test func malformedConfigsAreRefusedByField() throws {
        func parse(_ json: String) throws { _ = try DiTConfig.parse(Data(json.utf8), path: "model.json") }
        let base = #""hidden_size": 32, "depth": 2, "num_heads": 4"#
        expectDiTError(["model.json", "num_heads", "divisor"]) {
            try parse(#"{"hidden_size": 32, "depth": 2, "num_heads": 5}"#)
        }
        expectDiTError(["model.json", "hiden_size", "no such field"]) { try parse("{\(base), \"hiden_size\": 3}") }
        expectDiTError(["model.json", "depth", "required"]) { try parse(#"{"hidden_size": 32, "num_heads": 4}"#) }
        expectDiTError(["model.json", "learn_sigma", "true or false"]) { try parse("{\(base), \"learn_sigma\": 1}") }
        expectDiTError(["model.json", "input_size", "multiple of patch_size"]) {
            try parse("{\(base), \"input_size\": 7}")
        }
        expectDiTError(["model.json", "patch_size", "integer"]) { try parse("{\(base), \"patch_size\": 2.5}") }
        expectDiTError(["model.json", "class_dropout_prob"]) { try parse("{\(base), \"class_dropout_prob\": 1.5}") }
        expectDiTError(["model.json", "valid JSON"]) { try parse("{\(base)") }
        expectDiTError(["/nonexistent/model.json"]) { _ = try DiTConfig.load(path: "/nonexistent/model.json") }
        #expect(try DiTConfig.parse(Data("{\(base)}".utf8), path: "m").learnSigma)
        #expect(DiTConfig.preset("DiT-XL/2") == DiTConfig(hiddenSize: 1152, depth: 28, numHeads: 16))
        #expect(DiTConfig.preset("DiT-S/8")?.patchSize == 8 && DiTConfig.presetNames.count == 12)
        // The restructuring flag: optional, boolean, and written only when set.
        expectDiTError(["model.json", "parallel_pairs", "true or false"]) {
            try parse("{\(base), \"parallel_pairs\": \"yes\"}")
        }
        let plain = try DiTConfig.parse(Data("{\(base)}".utf8), path: "m")
        #expect(!plain.parallelPairs && !plain.jsonString().contains("parallel_pairs"))
        let pairs = try DiTConfig.parse(Data("{\(base), \"parallel_pairs\": true}".utf8), path: "m")
        #expect(pairs.parallelPairs && pairs.blockStages == [[0, 1]])
        #expect(try DiTConfig.parse(Data(pairs.jsonString().utf8), path: "m") == pairs)
        #expect(try JSONDecoder().decode(DiTConfig.self, from: Data(pairs.jsonString().utf8)) == pairs)
    }

    @Test func badForwardArgumentsAreRefused() throws {
        let model = try goldenDiT()
        let x = Tensor<Float>(zeros: [2, 3, 8, 8])
        expectDiTError(["'x'", "[N, 3, 8, 8]"]) {
            _ = try model.forward(Tensor(zeros: [2, 3, 8, 9]), timesteps: [1, 2], labels: [0, 0])
        }
        expectDiTError(["'timesteps'", "2 values"]) { _ = try model.forward(x, timesteps: [1], labels: [0, 0]) }
        expectDiTError(["'labels'", "0...5", "6"]) { _ = try model.forward(x, timesteps: [1, 2], labels: [0, 6]) }
        expectDiTError(["'timesteps'", "finite"]) { _ = try model.forward(x, timesteps: [1, .nan], labels: [0, 0]) }
    }
}
