import Foundation

/// One grafting run: a plan applied to a teacher checkpoint, its two stages, and the files it leaves in
/// its output folder. Every stage is resumable: stage 1 keeps the teacher activation cache and each slot's
/// result on disk and skips what is done; stage 2 resumes its training state. The same plan and seed give
/// the same result.
public final class GraftRun: @unchecked Sendable {
    public let plan: GraftPlan
    public let teacher: DiTModel
    public let student: DiTModel
    public let assignments: [DiTSlotKey: GraftPlan.Graft]
    public let train: any ImageDataset
    public let heldOut: any ImageDataset
    public let folder: String
    /// Receives progress: a label, steps done, steps in all.
    public var progress: ((String, Int, Int) -> Void)?
    /// Receives one line per event worth telling the user.
    public var log: ((String) -> Void)?
    public private(set) var stage1Results: [DiTSlotKey: Stage1Result] = [:]
    public private(set) var stage2History: [LossRecord] = []

    /// A finished slot of stage 1.
    public struct Stage1Result: Sendable {
        public var initialValidationLoss: Double
        public var bestValidationLoss: Double
        public var bestStep: Int
        public var history: [SlotDistiller.Record]
    }

    /// Files in the run folder.
    public var checkpointPath: String { folder + "/grafted.safetensors" }
    var stage1Folder: String { folder + "/stage1" }
    var cachePath: String { stage1Folder + "/activations.safetensors" }
    func slotResultPath(_ key: DiTSlotKey) -> String { stage1Folder + "/\(key).safetensors" }
    var stage2Folder: String { folder + "/stage2" }

    /// Builds teacher and student; `host` resolves the plan's operators.
    public init(plan: GraftPlan, teacher: DiTModel, host: PluginHost, train: any ImageDataset, heldOut: any ImageDataset, folder: String) throws {
        self.plan = plan
        self.teacher = teacher
        self.train = train
        self.heldOut = heldOut
        self.folder = folder
        if let r = plan.restructure {
            throw GraftError.plan(source: "plan '\(plan.name)'", field: "restructure", expected: "null: '\(r)' is not implemented yet")
        }
        assignments = try plan.assignments(depth: teacher.config.depth, source: "plan '\(plan.name)'")
        student = try Grafting.makeStudent(teacher: teacher, assignments: assignments, host: host, seed: plan.seed)
        try FileManager.default.createDirectory(atPath: stage1Folder, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: stage2Folder, withIntermediateDirectories: true)
    }

    /// Grafted slots in model order.
    public var keys: [DiTSlotKey] { assignments.keys.sorted { ($0.block, $0.kind == .attn ? 0 : 1) < ($1.block, $1.kind == .attn ? 0 : 1) } }

    // MARK: Stage 1

    /// Collects (or reloads) the teacher activations, distils every grafted slot (in parallel, skipping slots
    /// already done), and loads each slot's best weights into the student.
    public func runStage1() throws {
        let s = plan.stage1
        let c = teacher.config
        guard s.steps > 0 else {
            log?("stage 1: skipped (0 steps); grafted slots keep their initialization")
            return
        }
        let bytesPerSample = keys.count * 2 * c.tokenCount * c.hiddenSize * 4
        let samples = min(s.samples, max(2, s.cacheLimitMiB * (1 << 20) / max(1, bytesPerSample)))
        if samples < s.samples {
            log?("stage 1: the activation cache is limited to \(s.cacheLimitMiB) MiB: \(samples) samples instead of \(s.samples)")
        }
        let activations = try loadOrCollectActivations(samples: samples)
        let pending = keys.filter { !FileManager.default.fileExists(atPath: slotResultPath($0)) }
        if pending.count < keys.count { log?("stage 1: \(keys.count - pending.count) slot(s) already distilled, resuming") }
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var messages: [String] = []
            var steps = 0
        }
        let failures = Shared()
        let lock = failures.lock
        let total = pending.count * s.steps
        let label = "stage 1 (\(pending.count) slot\(pending.count == 1 ? "" : "s") in parallel)"
        DispatchQueue.concurrentPerform(iterations: pending.count) { i in
            let key = pending[i]
            do {
                let slot = self.student.slot(key)
                let distiller = try SlotDistiller(
                    key: key, op: slot.op, initial: slot.parameterPositions.map { student.parameters.tensors[$0] },
                    activations: activations[key]!, settings: s, seed: plan.seed &+ UInt64(key.block * 2 + (key.kind == .attn ? 0 : 1)))
                try distiller.run { _, _ in
                    lock.lock()
                    failures.steps += 1
                    if failures.steps % 10 == 0 || failures.steps == total { self.progress?(label, failures.steps, total) }
                    lock.unlock()
                }
                try saveSlotResult(key, distiller)
            } catch {
                lock.lock()
                failures.messages.append("\(key): \(error)")
                lock.unlock()
            }
        }
        guard failures.messages.isEmpty else { throw GraftError.stage(name: "stage 1", reason: failures.messages.joined(separator: "; ")) }
        for key in keys { try loadSlotResult(key) }
    }

    private func loadOrCollectActivations(samples: Int) throws -> [DiTSlotKey: SlotDistiller.Activations] {
        let signature = "seed=\(plan.seed) samples=\(samples) slots=\(keys.map(\.description).joined(separator: ","))"
        if let file = try? SafetensorsFile.read(path: cachePath), file.metadata["zoo.graft.cache"] == signature {
            var out: [DiTSlotKey: SlotDistiller.Activations] = [:]
            for key in keys {
                out[key] = SlotDistiller.Activations(
                    inputs: try file.tensor(named: "\(key).input"), outputs: try file.tensor(named: "\(key).output"))
            }
            log?("stage 1: reusing the teacher activations in \(cachePath)")
            return out
        }
        let collected = try SlotDistiller.collect(
            teacher: teacher, keys: keys, data: train, samples: samples, batchSize: max(1, plan.stage1.batchSize * 2),
            seed: plan.seed ^ 0xC0FFEE) { done, total in self.progress?("stage 1 teacher activations", done, total) }
        var tensors: [(name: String, tensor: Tensor<Float>)] = []
        for key in keys {
            tensors.append((name: "\(key).input", tensor: collected[key]!.inputs))
            tensors.append((name: "\(key).output", tensor: collected[key]!.outputs))
        }
        try SafetensorsFile.write(path: cachePath, tensors: tensors, metadata: ["zoo.graft.cache": signature])
        return collected
    }

    private func saveSlotResult(_ key: DiTSlotKey, _ distiller: SlotDistiller) throws {
        let slot = student.slot(key)
        let tensors = zip(slot.op.parameters, distiller.best.parameters).map { (name: $0.name, tensor: $1) }
        let encoder = JSONEncoder()
        let history = String(decoding: try encoder.encode(distiller.history), as: UTF8.self)
        try SafetensorsFile.write(path: slotResultPath(key), tensors: tensors, metadata: [
            "zoo.stage1.best_step": "\(distiller.best.step)", "zoo.stage1.best_loss": "\(distiller.best.loss)",
            "zoo.stage1.initial_loss": "\(distiller.initialValidationLoss)", "zoo.stage1.history": history,
        ])
    }

    private func loadSlotResult(_ key: DiTSlotKey) throws {
        let path = slotResultPath(key)
        let file = try SafetensorsFile.read(path: path)
        let slot = student.slot(key)
        for (spec, position) in zip(slot.op.parameters, slot.parameterPositions) {
            let t = try file.tensor(named: spec.name)
            guard t.shape == spec.shape else { throw GraftError.checkpoint(path: path, reason: "'\(spec.name)' has shape \(t.shape), expected \(spec.shape)") }
            student.parameters.tensors[position] = t
        }
        let history = try JSONDecoder().decode([SlotDistiller.Record].self, from: Data((file.metadata["zoo.stage1.history"] ?? "[]").utf8))
        stage1Results[key] = Stage1Result(
            initialValidationLoss: Double(file.metadata["zoo.stage1.initial_loss"] ?? "") ?? .nan,
            bestValidationLoss: Double(file.metadata["zoo.stage1.best_loss"] ?? "") ?? .nan,
            bestStep: Int(file.metadata["zoo.stage1.best_step"] ?? "") ?? 0, history: history)
    }

    // MARK: Stage 2

    /// Fine-tunes the whole student end to end with the diffusion loss (resuming its state if present) and
    /// leaves the EMA weights in the student.
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
        let trainer = try DiffusionTrainer(model: student, data: train, heldOut: nil, settings: settings)
        let state = stage2Folder + "/train-state.safetensors"
        if FileManager.default.fileExists(atPath: state) {
            try trainer.resume(from: state)
            log?("stage 2: resumed at step \(trainer.step) of \(s2.steps)")
        }
        while !trainer.isFinished {
            try trainer.trainStep()
            progress?("stage 2", trainer.step, s2.steps)
            if trainer.step % settings.checkpointEvery == 0 || trainer.isFinished { try trainer.saveCheckpoint(path: state) }
        }
        student.parameters = trainer.ema
        stage2History = trainer.history
    }

    /// Writes the grafted checkpoint (with its manifest and the plan) atomically.
    public func saveCheckpoint() throws {
        try student.save(path: checkpointPath, metadata: ["zoo.graft.plan": plan.name, "zoo.graft.seed": "\(plan.seed)"])
    }
}
