import Foundation
import HostCore
import HostModel
import HostPlugins

/// One grafting run: a plan applied to a teacher checkpoint, its two stages, and the files it leaves in
/// its output folder. Every stage is resumable: stage 1 keeps the teacher activation cache and each slot's
/// result on disk and skips what is done; stage 2 resumes its training state. The same plan and seed give
/// the same result.
public final class GraftRun: @unchecked Sendable {
    public let plan: GraftPlan
    public let teacher: DiTModel
    public let student: DiTModel
    /// How the plan makes the student and what stage 1 distils.
    public let strategy: any GraftStrategy
    public let train: any ImageDataset
    public let heldOut: any ImageDataset
    public let folder: String
    /// Receives progress: a label, steps done, steps in all.
    public var progress: ((String, Int, Int) -> Void)?
    /// Receives one line per event worth telling the user.
    public var log: ((String) -> Void)?
    /// The processes sharing the run: stage 1 divides the units among them (unit i to rank i mod N, each rank holding
    /// only its units' teacher activations and writing its units' results), stage 2 splits every batch.
    public var group: ProcessGroup = .single
    /// Stage 1's finished units by name (``Stage1Unit/name``).
    public private(set) var stage1Results: [String: Stage1Result] = [:]
    public private(set) var stage2History: [LossRecord] = []

    /// Files in the run folder.
    public var checkpointPath: String { folder + "/grafted.safetensors" }
    var stage1Folder: String { folder + "/stage1" }
    /// The teacher-activation cache: one per rank in a group, each holding that rank's units.
    var cachePath: String {
        stage1Folder
            + (group.isDistributed
                ? "/activations.rank\(group.rank)-of-\(group.size).safetensors" : "/activations.safetensors")
    }
    func unitResultPath(_ name: String) -> String { stage1Folder + "/\(name).safetensors" }
    var stage2Folder: String { folder + "/stage2" }

    /// Builds teacher and student; `host` resolves the plan's operators.
    public init(
        plan: GraftPlan, teacher: DiTModel, host: PluginHost, train: any ImageDataset, heldOut: any ImageDataset,
        folder: String
    ) throws {
        self.plan = plan
        self.teacher = teacher
        self.train = train
        self.heldOut = heldOut
        self.folder = folder
        try Self.checkData(train, role: "training", teacher: teacher.config)
        try Self.checkData(heldOut, role: "held-out", teacher: teacher.config)
        strategy = try plan.strategy(depth: teacher.config.depth, source: "plan '\(plan.name)'")
        student = try strategy.makeStudent(teacher: teacher, host: host, seed: plan.seed)
        try OutputDirectory.create(stage1Folder)
        try OutputDirectory.create(stage2Folder)
    }

    /// Refuses data the teacher cannot take (``ImageDataset/mismatch(with:)``), before the run writes anything.
    private static func checkData(_ data: any ImageDataset, role: String, teacher c: DiTConfig) throws(GraftError) {
        if let reason = data.mismatch(with: c) {
            throw .data(reason: "the \(role) data does not fit the teacher: \(reason)")
        }
    }

    /// The units of stage 1, in model order.
    public var units: [Stage1Unit] { strategy.units(of: student) }

    // MARK: Stage 1

    /// Collects (or reloads) the teacher activations, distils every unit (in parallel, skipping units already
    /// done), and loads each unit's best weights into the student.
    public func runStage1() throws {
        let s = plan.stage1
        let c = teacher.config
        let units = self.units
        guard s.steps > 0 else {
            log?("stage 1: skipped (0 steps); the student keeps its initialization")
            return
        }
        // The cache file holds every unit of this process (float16); the limit bounds the file.
        let mineCount = (0..<units.count).filter { $0 % group.size == group.rank }.count
        let bytesPerSample =
            max(1, mineCount)
            * ActivationCache.bytesPerRow(
                tokens: c.tokenCount, width: c.hiddenSize, conditioned: strategy.unitsReadConditioning)
        let samples = min(s.samples, max(2, s.cacheLimitMiB * (1 << 20) / bytesPerSample))
        if samples < s.samples {
            log?(
                "stage 1: the activation cache is limited to \(s.cacheLimitMiB) MiB: \(samples) samples instead of \(s.samples)"
            )
        }
        // Rank r of N distils units r, r + N, ...; the sample count stays the one-process run's, so results agree.
        let mine = units.enumerated().filter { $0.offset % group.size == group.rank }.map(\.element)
        let activations = try loadOrCollectActivations(units: mine, samples: samples)
        let byName = Dictionary(uniqueKeysWithValues: zip(mine.map(\.name), activations))
        let pending = mine.filter { !FileManager.default.fileExists(atPath: unitResultPath($0.name)) }
        if pending.count < mine.count {
            log?("stage 1: \(mine.count - pending.count) unit(s) already distilled, resuming")
        }
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            /// Failed units' messages by their index in `pending`, so the error lists them in unit order.
            var messages: [Int: String] = [:]
            var steps = 0
        }
        let failures = Shared()
        let lock = failures.lock
        let total = pending.count * s.steps
        let what = strategy.unitNoun
        let label = "stage 1 (\(pending.count) \(what)\(pending.count == 1 ? "" : "s") in parallel)"
        DispatchQueue.concurrentPerform(iterations: pending.count) { i in
            let unit = pending[i]
            do {
                guard let unitActivations = byName[unit.name] else {
                    throw GraftError.stage(name: "stage 1", reason: "no teacher activations for \(unit.name)")
                }
                let distiller = try SlotDistiller(
                    name: unit.name, module: try strategy.module(for: unit, of: student),
                    initial: unit.positions.map { student.parameters.tensors[$0] }, activations: unitActivations,
                    settings: s,
                    seed: plan.seed &+ UInt64(unit.seedOffset))
                try distiller.run { _, _ in
                    lock.lock()
                    failures.steps += 1
                    if failures.steps % 10 == 0 || failures.steps == total {
                        self.progress?(label, failures.steps, total)
                    }
                    lock.unlock()
                }
                try saveUnitResult(unit, distiller)
            } catch {
                lock.lock()
                failures.messages[i] = "\(unit.name): \(error)"
                lock.unlock()
            }
        }
        guard failures.messages.isEmpty else {
            let reasons = failures.messages.sorted { $0.key < $1.key }.map(\.value)
            throw GraftError.stage(name: "stage 1", reason: reasons.joined(separator: "; "))
        }
        try group.barrier()  // every rank's units are written
        for unit in units { try loadUnitResult(unit) }
    }

    /// The teacher activations of every unit, in the order of `units`, read from the cache file (``ActivationCache``)
    /// when it was made for this seed, sample count and units, else collected into it first.
    private func loadOrCollectActivations(units: [Stage1Unit], samples: Int) throws -> [SlotDistiller.Activations] {
        guard !units.isEmpty else { return [] }  // a rank with no units (more ranks than units)
        let c = teacher.config, conditioned = strategy.unitsReadConditioning
        let signature =
            "f16 rows seed=\(plan.seed) samples=\(samples) units=\(units.map(\.name).joined(separator: ","))"
        func open() -> [SlotDistiller.Activations]? {
            ActivationCache.open(
                path: cachePath, signature: signature, units: units.count, tokens: c.tokenCount, width: c.hiddenSize,
                conditioned: conditioned)
        }
        if let cached = open() {
            log?("stage 1: reusing the teacher activations in \(cachePath)")
            return cached
        }
        let batchSize = max(1, plan.stage1.batchSize * 2), seed = plan.seed ^ 0xC0FFEE
        try ActivationCache.write(
            path: cachePath, signature: signature, units: units.count, samples: samples, tokens: c.tokenCount,
            width: c.hiddenSize, conditioned: conditioned
        ) { append in
            try strategy.streamActivations(
                teacher: teacher, units: units, data: train, samples: samples, batchSize: batchSize, seed: seed,
                progress: { done, total in self.progress?("stage 1 teacher activations", done, total) }
            ) { _, batch in try append(batch) }
        }
        guard let written = open() else {
            throw GraftError.checkpoint(
                path: cachePath, reason: "the activation cache just written cannot be read back")
        }
        return written
    }

    private func saveUnitResult(_ unit: Stage1Unit, _ distiller: SlotDistiller) throws {
        let tensors = zip(unit.tensorNames, distiller.best.parameters).map { (name: $0, tensor: $1) }
        try SafetensorsFile.write(
            path: unitResultPath(unit.name), tensors: tensors, metadata: try Stage1Result(distiller).metadata())
    }

    private func loadUnitResult(_ unit: Stage1Unit) throws {
        let path = unitResultPath(unit.name)
        let file = try SafetensorsFile.read(path: path)
        for (name, position) in zip(unit.tensorNames, unit.positions) {
            let t = try file.tensor(named: name)
            let expected = student.parameters.tensors[position].shape
            guard t.shape == expected else {
                throw GraftError.checkpoint(path: path, reason: "'\(name)' has shape \(t.shape), expected \(expected)")
            }
            student.parameters.tensors[position] = t
        }
        stage1Results[unit.name] = try Stage1Result(metadata: file.metadata, path: path)
    }

    // MARK: Stage 2

    /// Fine-tunes the whole student end to end with the diffusion loss, mixed with output distillation from the
    /// teacher when the plan's `teacher_weight` is above 0 (resuming its state if present), and leaves the EMA weights
    /// in the student.
    public func runStage2() throws {
        let s2 = plan.stage2
        guard s2.steps > 0 else {
            log?("stage 2: skipped (0 steps)")
            return
        }
        var settings = TrainingSettings()
        settings.steps = s2.steps
        settings.batchSize = s2.batchSize
        settings.learningRate = s2.learningRate
        settings.warmupSteps = s2.warmupSteps
        settings.emaDecay = s2.emaDecay
        settings.seed = plan.seed
        settings.logEvery = max(1, min(10, s2.steps))
        settings.checkpointEvery = settings.logEvery * max(1, 50 / settings.logEvery)
        settings.heldOutSamples = 0
        let trainer = try DiffusionTrainer(model: student, data: train, heldOut: nil, settings: settings, group: group)
        if s2.teacherWeight > 0 {
            trainer.distillation = try OutputDistillation(
                teacher: teacher, weight: s2.teacherWeight, student: student.config)
        }
        let run = TrainingRun(trainer: trainer, folder: RunFolder(path: stage2Folder), exports: [])
        run.log = { self.log?("stage 2: \($0)") }
        run.onStep = { step, total, _ in self.progress?("stage 2", step, total) }
        try run.start(.ifPresent)
        try run.run()
        student.parameters = trainer.ema
        stage2History = trainer.history
    }

    /// Writes the grafted checkpoint (with its manifest and the plan) atomically.
    public func saveCheckpoint() throws {
        try student.save(
            path: checkpointPath, metadata: ["zoo.graft.plan": plan.name, "zoo.graft.seed": "\(plan.seed)"])
    }
}
