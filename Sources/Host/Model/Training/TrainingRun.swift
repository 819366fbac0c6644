import Foundation
import HostCore

/// The training loop of a resumable run in a folder, shared by `zoo pretrain` and grafting stage 2: resume from the
/// folder's state, step, and at every checkpoint (every `checkpointEvery` steps and at the end) record the held-out
/// loss, save the state and refresh the exports. Every file is written atomically, state first, so a kill at any
/// point leaves a run that `--resume` continues to the uninterrupted result.
public final class TrainingRun {
    /// What a run does when its folder already holds a state.
    public enum Resume: Sendable {
        /// Continue from it if present, else start fresh (grafting stage 2).
        case ifPresent
        /// Continue from it, which must exist (`zoo pretrain --resume`).
        case required
        /// Refuse a folder that holds one (`zoo pretrain` without `--resume`): never overwrite a run.
        case forbidden
    }

    /// Files refreshed at every checkpoint besides the state.
    public struct Exports: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// `ema.safetensors`: the EMA weights as a float32 DiT checkpoint.
        public static let ema = Exports(rawValue: 1)
        /// `loss.csv` and `loss.png`.
        public static let lossFiles = Exports(rawValue: 2)
    }

    public let trainer: DiffusionTrainer
    public let folder: RunFolder
    public let exports: Exports
    /// Called after every step with the step, the total and the latest logged loss (or the step's own).
    public var onStep: ((_ step: Int, _ total: Int, _ loss: Double) -> Void)?
    /// One line per event worth telling the user (a resume and its note).
    public var log: ((String) -> Void)?

    public init(trainer: DiffusionTrainer, folder: RunFolder, exports: Exports) {
        self.trainer = trainer
        self.folder = folder
        self.exports = exports
    }

    /// Applies `policy` to the folder's state; returns whether the run resumed. After a resume the exports are
    /// rewritten from the state: they are written after it at each checkpoint, so a kill between the writes leaves
    /// them one checkpoint behind.
    /// - Throws: ``TrainingError/checkpoint(path:reason:)`` when the policy refuses the folder, or the state's own errors.
    @discardableResult
    public func start(_ policy: Resume) throws -> Bool {
        let exists = FileManager.default.fileExists(atPath: folder.state)
        switch (policy, exists) {
        case (.forbidden, true):
            throw TrainingError.checkpoint(
                path: folder.state,
                reason: "\(folder.path) already holds a run; pass --resume to continue it, or choose another --out")
        case (.required, false):
            throw TrainingError.checkpoint(path: folder.state, reason: "--resume: it does not exist")
        case (_, false):
            return false
        case (_, true):
            if let note = try trainer.resume(from: folder.state) { log?("note: \(note)") }
            if trainer.group.isRoot { try writeExports() }
            log?("resumed \(folder.state) at step \(trainer.step) of \(trainer.settings.steps)")
            return true
        }
    }

    /// Steps to the end, checkpointing on the way. Returns the last step's loss.
    @discardableResult
    public func run() throws -> Double {
        var lastLoss = Double.nan
        let settings = trainer.settings
        while !trainer.isFinished {
            lastLoss = try trainer.trainStep()
            onStep?(trainer.step, settings.steps, trainer.history.last?.loss ?? lastLoss)
            if trainer.step % settings.checkpointEvery == 0 || trainer.isFinished { try checkpoint() }
        }
        return lastLoss
    }

    /// Held-out loss (when the trainer has held-out data), the state, then the exports. In a group of processes only
    /// rank 0 evaluates and writes (the others hold the same weights and go on to the next step).
    public func checkpoint() throws {
        guard trainer.group.isRoot else { return }
        if let h = try trainer.heldOutLoss() { trainer.recordHeldOut(h) }
        try trainer.saveCheckpoint(path: folder.state)
        try writeExports()
    }

    /// Writes the EMA weights as a DiT checkpoint at `path` in `dtype`, leaving the live weights in the model.
    public func writeEMA(path: String, dtype: SafetensorsDType) throws {
        let model = trainer.model
        let live = model.parameters
        model.parameters = trainer.ema
        defer { model.parameters = live }
        try model.save(path: path, metadata: ["zoo.train.step": "\(trainer.step)", "zoo.weights": "ema"], dtype: dtype)
    }

    private func writeExports() throws {
        if exports.contains(.ema) { try writeEMA(path: folder.ema, dtype: .float32) }
        if exports.contains(.lossFiles) { try folder.writeLossFiles(trainer.history) }
    }
}
