import Foundation

/// Optimisation settings of a diffusion training run (`zoo pretrain`, stage 2 of grafting).
///
/// DiT's own recipe is AdamW at lr 1e-4, no weight decay, batch 256, EMA 0.9999, no warm-up or clipping;
/// the defaults here suit a small model on a laptop-class CPU and are recorded in every checkpoint.
public struct TrainingSettings: Codable, Equatable, Sendable {
    /// Optimizer steps in the whole run.
    public var steps = 4000
    /// Images per step.
    public var batchSize = 32
    /// Peak learning rate.
    public var learningRate = 1e-3
    /// Steps of linear warm-up to the peak learning rate.
    public var warmupSteps = 200
    /// AdamW's decoupled weight decay.
    public var weightDecay = 0.0
    /// Global gradient-norm clip (0 = off).
    public var maxGradNorm = 1.0
    /// EMA decay per step.
    public var emaDecay = 0.999
    /// Seed of the run: the initialization, and every step's batch, timesteps, noise and label dropout.
    public var seed: UInt64 = 0
    /// Steps between checkpoints.
    public var checkpointEvery = 250
    /// Steps per logged (averaged) loss point.
    public var logEvery = 25
    /// Held-out images for the held-out loss at each checkpoint (0 = none).
    public var heldOutSamples = 256
    /// The sha256 of the DiT checkpoint the run's weights started from (a fine-tune), or nil when they were
    /// initialized from `seed`. Part of the settings, so a run resumes only with the same starting weights.
    public var initialWeightsSHA256: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case steps, batchSize = "batch_size", learningRate = "learning_rate", warmupSteps = "warmup_steps"
        case weightDecay = "weight_decay", maxGradNorm = "max_grad_norm", emaDecay = "ema_decay", seed
        case checkpointEvery = "checkpoint_every", logEvery = "log_every", heldOutSamples = "held_out_samples"
        case initialWeightsSHA256 = "initial_weights_sha256"
    }

    /// Checks every value; `source` names where they came from in the error.
    public func validate(source: String = "training settings") throws(TrainingError) {
        func fail(_ field: String, _ expected: String) -> TrainingError {
            .settings(source: source, field: field, expected: expected)
        }
        guard steps >= 1 else { throw fail("steps", "at least 1 (found \(steps))") }
        guard (1...65536).contains(batchSize) else { throw fail("batch_size", "1...65536 (found \(batchSize))") }
        guard learningRate.isFinite, learningRate > 0 else {
            throw fail("learning_rate", "a positive number (found \(learningRate))")
        }
        guard warmupSteps >= 0 else { throw fail("warmup_steps", ">= 0 (found \(warmupSteps))") }
        guard weightDecay.isFinite, weightDecay >= 0 else { throw fail("weight_decay", ">= 0 (found \(weightDecay))") }
        guard maxGradNorm.isFinite, maxGradNorm >= 0 else { throw fail("max_grad_norm", ">= 0 (found \(maxGradNorm))") }
        guard emaDecay.isFinite, (0...1).contains(emaDecay) else {
            throw fail("ema_decay", "in [0, 1] (found \(emaDecay))")
        }
        guard checkpointEvery >= 1 else { throw fail("checkpoint_every", "at least 1 (found \(checkpointEvery))") }
        guard logEvery >= 1 else { throw fail("log_every", "at least 1 (found \(logEvery))") }
        guard checkpointEvery % logEvery == 0 else {
            throw fail(
                "checkpoint_every",
                "a multiple of log_every \(logEvery), so a resumed run logs as the uninterrupted one (found \(checkpointEvery))"
            )
        }
        guard heldOutSamples >= 0 else { throw fail("held_out_samples", ">= 0 (found \(heldOutSamples))") }
        if let hash = initialWeightsSHA256, hash.count != 64 || !hash.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
            throw fail("initial_weights_sha256", "64 lowercase hex digits (found '\(hash)')")
        }
    }

    /// JSON with sorted keys.
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// Why a training run could not start, continue or save.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case settings(source: String, field: String, expected: String)
    case checkpoint(path: String, reason: String)
    case data(reason: String)
    case diverged(step: Int, loss: Double)

    public var description: String {
        switch self {
        case .settings(let source, let field, let expected): "\(source): '\(field)': expected \(expected)"
        case .checkpoint(let path, let reason): "\(path): \(reason)"
        case .data(let reason): "training data: \(reason)"
        case .diverged(let step, let loss): "training diverged at step \(step): loss \(loss)"
        }
    }
}
