import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// Grafting: plan validation, slot assignment, stage 1 (activation distillation) with self-grafting, and
/// grafted checkpoints (manifest, round trip, refusal of a changed library).
@Suite struct GraftTests {
    private func parse(_ json: String) throws -> GraftPlan { try GraftPlan.parse(Data(json.utf8), source: "plan.json") }

    @Test func plansParseWithDefaults() throws {
        let plan = try parse(
            #"""
            {"name": "swa-50", "grafts": [{"slot": "attn", "layers": "interleave-50", "operator": "swa",
              "attributes": {"window_size": [2, 2], "num_heads": 4}},
              {"slot": "mlp", "layers": [0, 2], "operator": "mlp", "attributes": {"expansion_ratio": 6}}],
             "stage1": {"steps": 10, "loss": "huber"}, "stage2": {"steps": 0}, "seed": 9}
            """#)
        #expect(plan.name == "swa-50" && plan.seed == 9 && plan.stage1.loss == .huber && plan.stage1.steps == 10)
        #expect(plan.stage1.batchSize == GraftPlan.Stage1().batchSize && plan.stage2.steps == 0)
        #expect(plan.grafts[0].assignments == ["num_heads=4", "window_size=2,2"])
        let slots = try plan.assignments(depth: 6)
        #expect(slots.keys.filter { $0.kind == .attn }.map(\.block).sorted() == [1, 3, 5])
        #expect(slots.keys.filter { $0.kind == .mlp }.map(\.block).sorted() == [0, 2])
        #expect(GraftPlan.Layers.interleave75.blocks(depth: 8) == [1, 2, 3, 5, 6, 7])
        #expect(GraftPlan.Layers.all.blocks(depth: 3) == [0, 1, 2])
    }

    /// Every shipped plan parses, fits the embedded model's 6 blocks, and names operators the registry provides.
    @Test func shippedPlansAreValid() throws {
        let folder = packageRoot.appendingPathComponent("plans")
        let study = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("study").path)
        let files =
            try FileManager.default.contentsOfDirectory(atPath: folder.path).filter {
                $0.hasSuffix(".json") && $0 != "plan.schema.json"
            } + study.filter { $0.hasSuffix(".json") }.map { "study/" + $0 }
        #expect(files.count >= 36 && files.contains("quick.json") && files.contains("study/mamba2-50-b4.json"))
        let registry = try Registry.load(path: packageRoot.appendingPathComponent("registry.json").path)
        // Plans that choose layers by locality read `zoo analyze`'s report from runs/analyze (made first, as
        // docs/RESULTS.md says); here a stand-in report of the embedded model's depth takes its place.
        let standIn = try writeSyntheticAnalysis(masses: [0.3, 0.3, 0.6, 0.4, 0.3, 0.2], attention: true)
        for file in files {
            var plan = try GraftPlan.load(path: folder.appendingPathComponent(file).path)
            if plan.analysis != nil {
                #expect(plan.analysis?.file == "runs/analyze/analysis.json", "\(file)")
                plan.analysis?.file = standIn
            }
            #expect(plan.name + ".json" == URL(fileURLWithPath: file).lastPathComponent, "\(file): name '\(plan.name)'")
            #expect(
                !(try plan.assignments(depth: 6)).isEmpty || plan.restructure == .parallelPairs,
                "\(file) grafts nothing")
            for graft in plan.grafts {
                #expect(registry.operatorIds.contains(graft.operatorId), "\(file): \(graft.operatorId)")
            }
        }
    }

    @Test func badPlansAreRefusedByField() throws {
        func expectRefusal(_ json: String, _ mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                let plan = try parse(json)
                _ = try plan.assignments(depth: 4, source: "plan.json")
                Issue.record("accepted \(json)", sourceLocation: sourceLocation)
            } catch {
                for m in mentions + ["plan.json"] {
                    #expect("\(error)".contains(m), "'\(error)' should mention '\(m)'", sourceLocation: sourceLocation)
                }
            }
        }
        let g = #"{"slot": "attn", "layers": "all", "operator": "swa"}"#
        expectRefusal(#"{"grafts": [\#(g)]}"#, ["'name'"])
        expectRefusal(#"{"name": "x", "grafts": []}"#, ["grafts", "non-empty"])
        expectRefusal(#"{"name": "x", "grafts": [\#(g)], "stage3": {}}"#, ["stage3", "no such field"])
        expectRefusal(
            #"{"name": "x", "grafts": [{"slot": "norm", "layers": "all", "operator": "swa"}]}"#,
            ["grafts[0].slot", "attn"])
        expectRefusal(
            #"{"name": "x", "grafts": [{"slot": "attn", "layers": "every-other", "operator": "swa"}]}"#,
            ["grafts[0].layers", "every-other"])
        expectRefusal(
            #"{"name": "x", "grafts": [{"slot": "attn", "layers": [1, 1], "operator": "swa"}]}"#, ["distinct"])
        expectRefusal(
            #"{"name": "x", "grafts": [{"slot": "attn", "layers": [7], "operator": "swa"}]}"#, ["0..<4", "7"])
        expectRefusal(#"{"name": "x", "grafts": [\#(g), \#(g)]}"#, ["claimed twice"])
        expectRefusal(#"{"name": "x", "grafts": [\#(g)], "stage1": {"loss": "l3"}}"#, ["stage1.loss", "huber"])
        expectRefusal(#"{"name": "x", "grafts": [\#(g)], "stage1": {"steps": -1}}"#, ["stage1.steps"])
        expectRefusal(#"{"name": "x", "grafts": [\#(g)], "stage2": {"ema_decay": 2}}"#, ["stage2.ema_decay"])
        expectRefusal(
            #"{"name": "x", "grafts": [\#(g)], "stage2": {"teacher_weight": 1.5}}"#, ["stage2.teacher_weight"])
        expectRefusal(#"{"name": "x", "grafts": [\#(g)], "restructure": "serial"}"#, ["restructure", "parallel_pairs"])
        expectRefusal(
            #"{"name": "x", "grafts": [\#(g)], "evaluation": {"samples_per_class": 2}}"#,
            ["evaluation.samples_per_class", "4...400"])
        expectRefusal(#"{"name": "x", "grafts": [\#(g)], "evaluation": {"per_class": 8}}"#, ["evaluation.per_class"])
        #expect(
            try parse(#"{"name": "x", "grafts": [\#(g)], "evaluation": {"samples_per_class": 100}}"#).evaluation
                .samplesPerClass == 100)
        expectRefusal(
            #"{"name": "x", "grafts": [\#(g)], "restructure": "parallel_pairs"}"#, ["grafts", "not supported"])
        #expect(try parse(#"{"name": "x", "restructure": "parallel_pairs"}"#).grafts.isEmpty)
        expectRefusal(#"{"name": "x", "grafts": [\#(g)], "#, ["valid JSON"])
    }

    @Test func regressionLossGradientsMatchFiniteDifferences() throws {
        let p = Tensor<Float>.randomNormal([2, 3, 4], seed: 1, scale: 2),
            t = Tensor<Float>.randomNormal([2, 3, 4], seed: 2)
        for loss in RegressionLoss.allCases {
            let (_, g) = loss.evaluate(p, t)
            for i in [0, 5, 17] {
                var plus = p, minus = p
                plus[flat: i] += 1e-3
                minus[flat: i] -= 1e-3
                let numeric = (loss.evaluate(plus, t).loss - loss.evaluate(minus, t).loss) / 2e-3
                #expect(abs(numeric - Double(g[flat: i])) < 1e-4, "\(loss) d[\(i)]")
            }
        }
    }

    /// Self-grafting: the teacher's own `mha` in block 1, re-initialised at random and distilled with L2
    /// on the teacher's activations, must cut the slot's validation loss and bring the whole model's output
    /// most of the way back to the teacher's.
    @Test func selfGraftingRecoversTheTeacher() throws {
        let teacher = try goldenDiT()
        let key = DiTSlotKey(block: 1, kind: .attn)
        let graft = GraftPlan.Graft(
            kind: .attn, layers: .explicit([1]), operatorId: "mha", attributes: ["num_heads": "4"])
        let student = try Grafting.makeStudent(teacher: teacher, assignments: [key: graft], seed: 3) { _ in
            try TestOperators.standardSlot(key, teacher.config)
        }
        // Generator 1, the data these tolerances were set on (the default's centred shapes give other crops).
        let data = try SyntheticShapes(seed: 2, trainCount: 256, heldOutCount: 16, resolution: 16, generator: 1)
        // The golden teacher is 8x8: train it on 8x8 crops of the shapes (the distiller sees activations only).
        struct Crop: ImageDataset {
            let base: SyntheticShapes
            var count: Int { base.count }
            var numClasses: Int { 5 }
            var classNames: [String] { Array(base.classNames.prefix(5)) }
            var resolution: Int { 8 }
            func sample(_ index: Int) throws -> (image: Tensor<Float>, label: Int) {
                let (image, label) = base.sample(index)
                var out = Tensor<Float>(zeros: [3, 8, 8])
                for c in 0..<3 { for y in 0..<8 { for x in 0..<8 { out[c, y, x] = image[c, y + 4, x + 4] } } }
                return (out, label % 5)
            }
        }
        let activations = try SlotDistiller.collect(
            teacher: teacher, keys: [key], data: Crop(base: data), samples: 96, batchSize: 16, seed: 1)
        var settings = GraftPlan.Stage1()
        settings.steps = 600
        settings.batchSize = 16
        settings.learningRate = 3e-3
        settings.loss = .l2
        settings.validateEvery = 50
        let slot = student.slot(key)
        let distiller = try SlotDistiller(
            key: key, op: slot.op, initial: slot.parameterPositions.map { student.parameters.tensors[$0] },
            activations: try #require(activations[key]), settings: settings, seed: 4)
        let initial = distiller.best.loss
        try distiller.run()
        // Measured at this seed: 10.2% of the initial loss, and 0.30 of the distance below (the batches of neighbouring
        // steps are independent draws since the stage-1 sampler fix; before it the same run reached 9.8% and 0.28).
        #expect(distiller.best.loss < 0.15 * initial, "validation loss \(initial) -> \(distiller.best.loss)")

        // Held-out inputs from the distillation distribution: noised crops at random timesteps.
        let (x0, labels) = try Crop(base: data).batch(200..<216)
        let t = (0..<16).map { $0 * 61 }, y = labels
        let x = try GaussianDiffusion().qSample(x0: x0, t: t, noise: Tensor.randomNormal(x0.shape, seed: 8))
        let reference = try teacher.forward(x, timesteps: t.map(Double.init), labels: y)
        func distance(_ m: DiTModel) throws -> Double {
            let out = try m.forward(x, timesteps: t.map(Double.init), labels: y)
            return zip(out.scalars, reference.scalars).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
                .squareRoot()
        }
        let before = try distance(student)
        for (tensor, position) in zip(distiller.best.parameters, slot.parameterPositions) {
            student.parameters.tensors[position] = tensor
        }
        let after = try distance(student)
        #expect(after < 0.4 * before, "distance to the teacher's output \(before) -> \(after)")
    }

    /// The host fills in the model's `num_heads` only for operators whose schema admits it (`hyena` implements one
    /// head), and never over a value the plan gives.
    @Test func choiceFillsTheModelsHeadsOnlyWhereTheSchemaAdmitsThem() throws {
        let ws = try CLITests.Workspace()
        let added = try ws.zoo([
            "registry", "add", try pluginPath(product: "OZHyena"), "--registry", ws.registry, "--skip-conformance",
        ])
        #expect(added.status == 0, "\(added.stderr)")
        let host = try PluginHost(search: .standard(registry: ws.registry, pluginDirectory: productsDirectory.path))
        let config = DiTConfig.embeddedDefault
        func choice(_ id: String, _ attributes: [String: String] = [:]) throws -> DiTSlotChoice {
            try Grafting.choice(
                for: GraftPlan.Graft(kind: .attn, layers: .all, operatorId: id, attributes: attributes), config: config,
                host: host)
        }
        let mha = try host.resolveOperator("mha"), hyena = try host.resolveOperator("hyena")
        #expect(mha.admits("num_heads", .int(Int64(config.numHeads))) && !mha.admits("num_heads", .float(4)))
        #expect(!mha.admits("no_such_attribute", .int(1)))
        #expect(hyena.admits("num_heads", .int(1)) && !hyena.admits("num_heads", .int(Int64(config.numHeads))))
        #expect(try choice("mha").attributes["num_heads"] == .int(Int64(config.numHeads)))
        #expect(try choice("mha", ["num_heads": "2"]).attributes["num_heads"] == .int(2))
        #expect(try choice("hyena").attributes["num_heads"] == nil)
        #expect(try choice("hyena").attributes["l_max"] == .int(Int64(config.tokenCount)))
    }

    @Test func graftedCheckpointsRoundTripAndRefuseAChangedLibrary() throws {
        let ws = try CLITests.Workspace()
        let host = try PluginHost(search: .standard(registry: ws.registry, pluginDirectory: productsDirectory.path))
        let teacher = try goldenDiT()
        let graft = GraftPlan.Graft(
            kind: .attn, layers: .interleave50, operatorId: "poolformer", attributes: ["pool_size": "3"])
        let plan = GraftPlan(name: "pool", grafts: [graft])
        let student = try Grafting.makeStudent(
            teacher: teacher, assignments: try plan.assignments(depth: 2), host: host, seed: 1)
        #expect(student.slot(DiTSlotKey(block: 1, kind: .attn)).op.descriptor.id == "poolformer")
        #expect(student.parameters["blocks.0.attn.qkv.weight"] == teacher.parameters["blocks.0.attn.qkv.weight"])
        #expect(student.parameters["blocks.1.attn.qkv.weight"] == nil)
        let path = ws.path("grafted.safetensors")
        try student.save(path: path)
        let manifest = try SlotManifest.parse(
            try #require(SafetensorsFile.read(path: path).metadata[SlotManifest.metadataKey]), path: path)
        #expect(manifest.slots.keys.sorted() == ["blocks.1.attn"])
        #expect(manifest.slots["blocks.1.attn"]?.attributes["pool_size"] == "3")
        let reopened = try DiTModel.open(checkpoint: path, configPath: nil, host: host)
        let x = try NPY.readTensor(path: ditFixture("x.npy"), as: Float.self)
        #expect(
            try reopened.forward(x, timesteps: [1, 2, 3], labels: [0, 1, 2])
                == (try student.forward(x, timesteps: [1, 2, 3], labels: [0, 1, 2])))

        // A manifest naming another library hash is refused, unless unpinned libraries are allowed.
        let file = try SafetensorsFile.read(path: path)
        var edited = manifest
        edited.slots["blocks.1.attn"]!.librarySha256 = String(repeating: "0", count: 64)
        var metadata = file.metadata
        metadata[SlotManifest.metadataKey] = edited.jsonString()
        let tampered = ws.path("tampered.safetensors")
        try SafetensorsFile.write(
            path: tampered, tensors: try file.names.map { (name: $0, tensor: try file.tensor(named: $0)) },
            metadata: metadata)
        do {
            _ = try DiTModel.open(checkpoint: tampered, configPath: nil, host: host)
            Issue.record("a changed library hash must be refused")
        } catch {
            #expect(
                "\(error)".contains(tampered) && "\(error)".contains("--allow-unpinned")
                    && "\(error)".contains("blocks.1.attn"))
        }
        let lenient = try PluginHost(
            search: .standard(registry: ws.registry, pluginDirectory: productsDirectory.path, allowUnpinned: true))
        _ = try DiTModel.open(checkpoint: tampered, configPath: nil, host: lenient)
    }

    /// A run is refused, before it writes anything, when its data does not fit the teacher.
    @Test func graftRunRefusesDataTheTeacherCannotTake() throws {
        let ws = try CLITests.Workspace()
        let host = try PluginHost(search: .standard(registry: ws.registry, pluginDirectory: productsDirectory.path))
        let teacher = try makeDiT(TrainingTests.tinyConfig)
        let plan = try parse(#"{"name": "x", "grafts": [{"slot": "mlp", "layers": [0], "operator": "mlp"}]}"#)
        let small = try SyntheticShapes(resolution: 16), large = try SyntheticShapes(split: .heldOut, resolution: 32)
        #expect(
            throws: GraftError.data(
                reason:
                    "the held-out data does not fit the teacher: its images are 3x32x32, but the model takes 3x16x16 (in_channels, input_size)"
            )
        ) {
            try GraftRun(plan: plan, teacher: teacher, host: host, train: small, heldOut: large, folder: ws.path("run"))
        }
        #expect(!FileManager.default.fileExists(atPath: ws.path("run")))
        let empty = try SyntheticShapes(trainCount: 0, resolution: 16)
        #expect(throws: GraftError.data(reason: "the training data does not fit the teacher: it is empty")) {
            try GraftRun(plan: plan, teacher: teacher, host: host, train: empty, heldOut: small, folder: ws.path("run"))
        }
    }

    /// `restructure: parallel_pairs` in process: the student starts as the teacher's weights run in parallel
    /// pairs, stage 1 brings each pair's output closer to the teacher's residual stream after the sequential
    /// pair, and the saved checkpoint reopens as the restructured model with the same outputs.
    @Test func parallelPairsRestructuringDistilsEachPairAndRoundTrips() throws {
        let ws = try CLITests.Workspace()
        let host = try PluginHost(search: .standard(registry: ws.registry, pluginDirectory: productsDirectory.path))
        var config = TrainingTests.tinyConfig
        config.depth = 3
        let teacher = try makeDiT(config)
        var rng = SplitMix64(seed: 5)
        for index in teacher.parameters.tensors.indices {
            teacher.parameters.tensors[index].withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count { p[i] = Float(rng.nextNormal() * 0.15) }
            }
        }
        let plan = try parse(
            #"""
            {"name": "pairs", "restructure": "parallel_pairs", "seed": 2,
             "stage1": {"samples": 64, "steps": 150, "batch_size": 4, "learning_rate": 0.0003, "validate_every": 25, "loss": "l2"},
             "stage2": {"steps": 2, "batch_size": 2, "warmup_steps": 1}}
            """#)
        let run = try GraftRun(
            plan: plan, teacher: teacher, host: host, train: SyntheticShapes(seed: 0, resolution: 16),
            heldOut: SyntheticShapes(seed: 0, split: .heldOut, resolution: 16), folder: ws.path("run"))
        #expect(run.student.config.parallelPairs && run.student.config.blockStages == [[0, 1], [2]])
        #expect(
            run.student.parameters.tensors == teacher.parameters.tensors,
            "the student starts from the teacher's weights")
        #expect(run.units.map(\.name) == ["blocks.0+1"], "an odd last block stays alone and is not distilled")
        try run.runStage1()
        let result = try #require(run.stage1Results["blocks.0+1"])
        #expect(
            result.bestValidationLoss < 0.7 * result.initialValidationLoss,
            "pair validation loss \(result.initialValidationLoss) -> \(result.bestValidationLoss)")
        #expect(run.student.parameters["blocks.0.attn.qkv.weight"] != teacher.parameters["blocks.0.attn.qkv.weight"])
        #expect(run.student.parameters["blocks.2.attn.qkv.weight"] == teacher.parameters["blocks.2.attn.qkv.weight"])
        try run.runStage2()
        try run.saveCheckpoint()
        let reopened = try DiTModel.open(checkpoint: run.checkpointPath, configPath: nil, host: host)
        #expect(reopened.config.parallelPairs)
        let x = Tensor<Float>.randomNormal([2, 3, 16, 16], seed: 3)
        #expect(
            try reopened.forward(x, timesteps: [5, 700], labels: [1, 2])
                == (try run.student.forward(x, timesteps: [5, 700], labels: [1, 2])))
    }
}
