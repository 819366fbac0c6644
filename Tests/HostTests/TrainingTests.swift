import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// Training (AdamW, clipping, EMA, loss reduction, exact resume) and sampling (determinism) on a tiny DiT
/// over the synthetic shapes at 16x16.
@Suite struct TrainingTests {
    static let tinyConfig = DiTConfig(
        inputSize: 16, patchSize: 4, inChannels: 3, hiddenSize: 32, depth: 2, numHeads: 4, mlpRatio: 2,
        classDropoutProb: 0.1, numClasses: 11, learnSigma: true)

    static func settings(steps: Int) -> TrainingSettings {
        var s = TrainingSettings()
        s.steps = steps
        s.batchSize = 8
        s.learningRate = 3e-3
        s.warmupSteps = 2
        s.logEvery = 2
        s.checkpointEvery = 2
        s.emaDecay = 0.9
        s.heldOutSamples = 16
        s.seed = 42
        return s
    }

    static func trainer(steps: Int) throws -> DiffusionTrainer {
        let model = try makeDiT(tinyConfig)
        try model.initialize(seed: 42)
        return try DiffusionTrainer(
            model: model,
            data: SyntheticShapes(seed: 1, split: .train, trainCount: 512, heldOutCount: 64, resolution: 16),
            heldOut: SyntheticShapes(seed: 1, split: .heldOut, trainCount: 512, heldOutCount: 64, resolution: 16),
            settings: settings(steps: steps))
    }

    @Test func afewStepsReduceTheLossOnAFixedBatch() throws {
        let trainer = try Self.trainer(steps: 40)
        let fixed = try trainer.batch(forStep: 1)
        let before = try trainer.lossAndGradients(x0: fixed.x0, labels: fixed.labels, t: fixed.t, noise: fixed.noise)
            .loss
        while !trainer.isFinished { try trainer.trainStep() }
        let after = try trainer.lossAndGradients(x0: fixed.x0, labels: fixed.labels, t: fixed.t, noise: fixed.noise)
            .loss
        #expect(after < 0.8 * before, "loss \(before) -> \(after) after 40 steps")
        #expect(trainer.history.count == 20 && trainer.history.allSatisfy { $0.loss.isFinite && $0.gradNorm > 0 })
        let heldOut = try #require(try trainer.heldOutLoss())
        #expect(heldOut.isFinite && heldOut > 0)
    }

    @Test func resumedRunEqualsTheUninterruptedRun() throws {
        let dir = try TestDirectory()
        let whole = try Self.trainer(steps: 6)
        while !whole.isFinished { try whole.trainStep() }

        let first = try Self.trainer(steps: 6)
        for _ in 0..<4 { try first.trainStep() }
        if let h = try first.heldOutLoss() { first.recordHeldOut(h) }
        try first.saveCheckpoint(path: dir.file("state.safetensors"))
        let resumed = try Self.trainer(steps: 6)
        #expect(try resumed.resume(from: dir.file("state.safetensors")) == nil, "same pool and kernel: no note")
        #expect(resumed.step == 4)
        while !resumed.isFinished { try resumed.trainStep() }

        #expect(resumed.model.parameters.tensors == whole.model.parameters.tensors, "weights differ after resume")
        #expect(resumed.ema.tensors == whole.ema.tensors, "EMA differs after resume")
        #expect(resumed.optimizer.secondMoment.tensors == whole.optimizer.secondMoment.tensors)
        #expect(resumed.history.map(\.loss) == whole.history.map(\.loss))
        #expect(resumed.history[1].heldOut != nil)
    }

    /// Three identical runs at once on the shared pool (each loop goes to whichever run holds the pool, the others'
    /// run serially: a schedule decided by timing) end where a lone run ends, bit for bit.
    @Test func concurrentRunsEqualALoneRun() async throws {
        /// Where a 4-step run ends.
        struct End: Sendable {
            var weights, ema, secondMoments: [Tensor<Float>]
            var losses: [Double]
        }
        @Sendable func run() throws -> End {
            let t = try Self.trainer(steps: 4)
            while !t.isFinished { try t.trainStep() }
            return End(
                weights: t.model.parameters.tensors, ema: t.ema.tensors,
                secondMoments: t.optimizer.secondMoment.tensors,
                losses: t.history.map(\.loss))
        }
        let lone = try run()
        let runs = try await withThrowingTaskGroup(of: End.self) { group in
            for _ in 0..<3 { group.addTask { try run() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.count == 3)
        for end in runs {
            let same = end.weights == lone.weights && end.ema == lone.ema && end.secondMoments == lone.secondMoments
            #expect(same, "a concurrent run's weights, EMA or second moments differ from the lone run's")
            #expect(end.losses == lone.losses)
        }
    }

    /// A checkpoint written with another pool size or OpenBLAS kernel resumes, with a note that its last bits will
    /// differ from the uninterrupted run's.
    @Test func resumeUnderAnotherArithmeticSaysSo() throws {
        let dir = try TestDirectory()
        let first = try Self.trainer(steps: 4)
        try first.trainStep()
        try first.saveCheckpoint(path: dir.file("state.safetensors"))
        let file = try SafetensorsFile.read(path: dir.file("state.safetensors"))
        #expect(file.metadata["zoo.train.arithmetic"] == DiffusionTrainer.arithmetic)
        var metadata = file.metadata
        metadata["zoo.train.arithmetic"] = "7 pool threads, OpenBLAS Prescott"
        try SafetensorsFile.write(
            path: dir.file("other.safetensors"), tensors: try file.names.map { ($0, try file.tensor(named: $0)) },
            metadata: metadata)
        let resumed = try Self.trainer(steps: 4)
        let note = try #require(try resumed.resume(from: dir.file("other.safetensors")))
        let namesBoth = note.contains("7 pool threads, OpenBLAS Prescott") && note.contains(DiffusionTrainer.arithmetic)
        #expect(namesBoth && note.contains("ZOO_THREADS"), "\(note)")
        #expect(resumed.step == 1 && resumed.model.parameters.tensors == first.model.parameters.tensors)
    }

    @Test func resumeRefusesAnotherRunsCheckpoint() throws {
        let dir = try TestDirectory()
        let a = try Self.trainer(steps: 6)
        try a.trainStep()
        try a.saveCheckpoint(path: dir.file("a.safetensors"))
        let model = try makeDiT(Self.tinyConfig)
        var other = Self.settings(steps: 6)
        other.learningRate = 1e-4
        let b = try DiffusionTrainer(
            model: model, data: SyntheticShapes(seed: 1, trainCount: 512, resolution: 16), heldOut: nil, settings: other
        )
        #expect(throws: TrainingError.self) { try b.resume(from: dir.file("a.safetensors")) }
        do { try b.resume(from: dir.file("a.safetensors")) } catch { #expect("\(error)".contains("other settings")) }
        let plain = dir.file("plain.safetensors")
        try model.save(path: plain)
        do {
            try b.resume(from: plain)
            Issue.record("a DiT checkpoint is not a training state")
        } catch { #expect("\(error)".contains(plain) && "\(error)".contains("not a zoo training checkpoint")) }
    }

    @Test func resumeRefusesOtherTrainingData() throws {
        let dir = try TestDirectory()
        let a = try Self.trainer(steps: 6)
        try a.trainStep()
        try a.saveCheckpoint(path: dir.file("a.safetensors"))
        // Same model, settings and size of data; only the data seed differs.
        let other = try SyntheticShapes(seed: 2, split: .train, trainCount: 512, heldOutCount: 64, resolution: 16)
        let b = try DiffusionTrainer(
            model: try makeDiT(Self.tinyConfig), data: other, heldOut: nil, settings: Self.settings(steps: 6))
        do {
            try b.resume(from: dir.file("a.safetensors"))
            Issue.record("resumed on data with another seed")
        } catch {
            #expect("\(error)".contains(dir.file("a.safetensors")) && "\(error)".contains("trained on other data"))
            #expect("\(error)".contains("seed 1") && "\(error)".contains("seed 2"), "both datasets named: \(error)")
        }
        #expect(b.step == 0, "nothing restored")
    }

    @Test func trainerRefusesDataTheModelCannotTake() throws {
        let model = try makeDiT(Self.tinyConfig)
        let fits = try SyntheticShapes(seed: 1, trainCount: 64, resolution: 16)
        let large = try SyntheticShapes(seed: 1, split: .heldOut, resolution: 32)
        #expect(
            throws: TrainingError.data(
                reason:
                    "the held-out set: its images are 3x32x32, but the model takes 3x16x16 (in_channels, input_size)")
        ) {
            try DiffusionTrainer(model: model, data: fits, heldOut: large, settings: Self.settings(steps: 2))
        }
        #expect(throws: TrainingError.data(reason: "the training set: it is empty")) {
            try DiffusionTrainer(
                model: model, data: SyntheticShapes(trainCount: 0, resolution: 16), heldOut: nil,
                settings: Self.settings(steps: 2))
        }
        var fewer = Self.tinyConfig
        fewer.numClasses = 5
        #expect(
            throws: TrainingError.data(reason: "the training set: it has 11 classes, but the model's num_classes is 5")
        ) {
            try DiffusionTrainer(model: try makeDiT(fewer), data: fits, heldOut: nil, settings: Self.settings(steps: 2))
        }
    }

    @Test func settingsAreValidatedByField() {
        var s = TrainingSettings()
        s.checkpointEvery = 30
        s.logEvery = 25
        #expect(
            throws: TrainingError.settings(
                source: "x", field: "checkpoint_every",
                expected: "a multiple of log_every 25, so a resumed run logs as the uninterrupted one (found 30)")
        ) { try s.validate(source: "x") }
        s = TrainingSettings()
        s.learningRate = -1
        #expect(throws: TrainingError.self) { try s.validate() }
    }

    /// One AdamW step against the formula in float64: with m = v = 0, the first step moves each weight by
    /// lr * g / (|g| + eps) after decay.
    @Test func adamWStepMatchesTheFormula() throws {
        var params = ParameterSet()
        params.append("w", try Tensor(shape: [3], scalars: [1, -2, 0.5]))
        var grads = params.zeros()
        grads.tensors[0] = try Tensor(shape: [3], scalars: [0.1, -3, 0])
        var adam = AdamW(for: params, weightDecay: 0.1)
        adam.update(&params, gradients: grads, lr: 0.01)
        for (i, (p0, g)) in zip([1.0, -2, 0.5], [0.1, -3, 0]).enumerated() {
            let expected = p0 * (1 - 0.01 * 0.1) - 0.01 * g / (abs(g) + 1e-8)
            #expect(abs(Double(params.tensors[0][flat: i]) - expected) < 1e-6)
        }
        #expect(adam.step == 1)
    }

    @Test func clippingAndEMA() throws {
        var grads = ParameterSet()
        grads.append("a", try Tensor(shape: [2], scalars: [3, 4]))
        let norm = TrainingMath.clipGradientNorm(&grads, maxNorm: 1)
        #expect(norm == 5)
        #expect(
            abs(Double(grads.tensors[0][flat: 0]) - 0.6) < 1e-6 && abs(Double(grads.tensors[0][flat: 1]) - 0.8) < 1e-6)
        var ema = grads.zeros()
        TrainingMath.updateEMA(&ema, toward: grads, decay: 0.75)
        #expect(abs(Double(ema.tensors[0][flat: 1]) - 0.2) < 1e-6)
        #expect(TrainingMath.warmupLearningRate(1, step: 5, warmup: 10) == 0.5)
        #expect(TrainingMath.warmupLearningRate(1, step: 50, warmup: 10) == 1)
    }

    @Test func samplersAreDeterministicPerSeed() throws {
        let trainer = try Self.trainer(steps: 4)
        while !trainer.isFinished { try trainer.trainStep() }
        let model = trainer.model
        for kind in DiTSampler.Kind.allCases {
            let a = try DiTSampler(kind: kind, steps: 5, cfgScale: 2, seed: 3).sample(model, labels: [0, 5])
            let b = try DiTSampler(kind: kind, steps: 5, cfgScale: 2, seed: 3).sample(model, labels: [0, 5])
            let c = try DiTSampler(kind: kind, steps: 5, cfgScale: 2, seed: 4).sample(model, labels: [0, 5])
            #expect(a.shape == [2, 3, 16, 16] && a == b && a != c && a.scalars.allSatisfy(\.isFinite), "\(kind)")
        }
        #expect(throws: DiTError.self) { try DiTSampler(steps: 5).sample(model, labels: [11]) }
    }

    @Test func lossPlotDrawsTheSeries() throws {
        var plot = LinePlot(width: 200, height: 100, logY: true)
        plot.add(x: [1, 2, 3, 4], y: [1, 0.5, 0.3, 0.2], color: (255, 0, 0))
        let image = plot.render()
        #expect(image.width == 200 && image.height == 100)
        #expect(
            image.pixels.enumerated().contains {
                $0.offset % 3 == 0 && $0.element == 255 && image.pixels[$0.offset + 1] == 0
            })
        let dir = try TestDirectory()
        try plot.write(path: dir.file("loss.png"))
        #expect(try PNGImage.read(path: dir.file("loss.png")) == image)
    }
}
