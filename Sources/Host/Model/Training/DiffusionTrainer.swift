import Foundation
import HostCore

/// Trains a ``DiTModel`` with DiT's diffusion loss: AdamW, warm-up, gradient clipping, EMA, a held-out
/// loss, atomic checkpoints and exact resume.
///
/// Every step's randomness (batch indices, timesteps, noise, label dropout) is a pure function of
/// `(settings.seed, step)`, and the checkpoint holds the weights, EMA, optimizer moments and history in
/// float32, so a run resumed from a checkpoint continues bit for bit as the uninterrupted run would.
public final class DiffusionTrainer {
    public let model: DiTModel
    public let diffusion: GaussianDiffusion
    public let settings: TrainingSettings
    public let data: any ImageDataset
    public let heldOut: (any ImageDataset)?
    public private(set) var optimizer: AdamW
    /// The exponential moving average of the weights (DiT samples with these).
    public private(set) var ema: ParameterSet
    /// Steps completed.
    public private(set) var step = 0
    /// Logged points so far.
    public private(set) var history: [LossRecord] = []
    private var window: (loss: Double, norm: Double, count: Int) = (0, 0, 0)
    /// The processes sharing each step (data parallelism): each computes the gradient of its own share of the global
    /// batch, the shares' gradients and losses are averaged across the group, and every process takes the same step.
    public let group: ProcessGroup
    /// Seconds this session spent averaging gradients and losses across the group (0 for a group of one).
    public private(set) var communicationSeconds = 0.0
    /// Every gradient laid end to end for the all-reduce, kept from step to step.
    private var flatGradients: [Float] = []
    /// When set, every step's objective mixes the diffusion loss with the distance to this teacher's output
    /// (``OutputDistillation``); the history's losses are then the mixed objective. The held-out loss stays the
    /// diffusion loss alone.
    public var distillation: OutputDistillation?

    /// A trainer for `model` (already initialized or loaded), whose EMA starts at the current weights; `group` splits
    /// every batch across its processes.
    /// - Throws: ``DistributedError/split(_:)`` when the batch size is not a multiple of the group's size.
    public init(
        model: DiTModel, data: any ImageDataset, heldOut: (any ImageDataset)?, settings: TrainingSettings,
        group: ProcessGroup = .single
    ) throws {
        try settings.validate()
        guard settings.batchSize % group.size == 0 else {
            throw DistributedError.split(
                "the batch size \(settings.batchSize) does not split evenly across \(group.size) ranks: use a multiple of \(group.size)"
            )
        }
        self.group = group
        for (role, set) in [("the training set", data), ("the held-out set", heldOut)] {
            if let set, let reason = set.mismatch(with: model.config) {
                throw TrainingError.data(reason: "\(role): \(reason)")
            }
        }
        self.model = model
        self.data = data
        self.heldOut = heldOut
        self.settings = settings
        self.diffusion = try GaussianDiffusion(respacing: "", learnSigma: model.config.learnSigma)
        self.optimizer = AdamW(for: model.parameters, weightDecay: settings.weightDecay)
        self.ema = model.parameters
    }

    /// Whether the run has done all its steps.
    public var isFinished: Bool { step >= settings.steps }

    /// The inputs of step `step` (1-based): clean images, labels after class dropout, timesteps and noise, of this
    /// process' share of the global batch (all of it for a group of one). The global batch is a pure function of
    /// `(settings.seed, step)`; rank r of N takes its entries `r B/N ..< (r+1) B/N`, drawing the whole batch's random
    /// numbers (cheap) but loading only its own images.
    public func batch(forStep step: Int) throws -> (x0: Tensor<Float>, labels: [Int], t: [Int], noise: Tensor<Float>) {
        var rng = SplitMix64(seed: settings.seed, stream: UInt64(step))
        let b = settings.batchSize
        let share = (b / group.size * group.rank)..<(b / group.size * (group.rank + 1))
        let indices = (0..<b).map { _ in Int(rng.next() % UInt64(data.count)) }
        let (x0, dataLabels) = try data.batch(Array(indices[share]))
        var labels = dataLabels
        let t = (0..<b).map { _ in Int(rng.next() % UInt64(diffusion.numTimesteps)) }
        if let null = model.config.nullClass {
            for i in 0..<b where rng.nextUnit() < model.config.classDropoutProb && share.contains(i) {
                labels[i - share.lowerBound] = null
            }
        }
        let noise = Tensor<Float>.randomNormal([b] + x0.shape.dropFirst(), seed: rng.next())
        guard group.isDistributed else { return (x0, labels, t, noise) }
        let perSample = x0.count / share.count
        let own = try Tensor<Float>(
            shape: x0.shape,
            scalars: noise.scalars[(share.lowerBound * perSample)..<(share.upperBound * perSample)])
        return (x0, labels, Array(t[share]), own)
    }

    /// The loss (mixed with ``distillation``'s term when set) and its gradient with respect to every parameter, for one
    /// batch, at the current weights.
    public func lossAndGradients(
        x0: Tensor<Float>, labels: [Int], t: [Int], noise: Tensor<Float>
    ) throws -> (loss: Double, gradients: ParameterSet) {
        let xt = try diffusion.qSample(x0: x0, t: t, noise: noise)
        let timesteps = t.map(Double.init)
        let (output, trace) = try model.tracedForward(xt, timesteps: timesteps, labels: labels)
        let loss = try diffusion.trainingLoss(x0: x0, t: t, noise: noise, modelOutput: output)
        guard let distillation else {
            return (loss.loss, try model.backward(trace, outputGradient: loss.outputGradient))
        }
        let teacherOutput = try distillation.teacher.forward(xt, timesteps: timesteps, labels: labels)
        let mixed = distillation.mix(diffusion: loss, studentOutput: output, teacherOutput: teacherOutput)
        return (mixed.loss, try model.backward(trace, outputGradient: mixed.outputGradient))
    }

    /// Runs one optimizer step and returns its loss.
    @discardableResult
    public func trainStep() throws -> Double {
        let next = step + 1
        let b = try batch(forStep: next)
        var (loss, gradients) = try lossAndGradients(x0: b.x0, labels: b.labels, t: b.t, noise: b.noise)
        if group.isDistributed { loss = try averageAcrossGroup(&gradients, loss: loss) }
        guard loss.isFinite else { throw TrainingError.diverged(step: next, loss: loss) }
        let norm = TrainingMath.clipGradientNorm(&gradients, maxNorm: settings.maxGradNorm)
        let lr = TrainingMath.warmupLearningRate(settings.learningRate, step: next, warmup: settings.warmupSteps)
        optimizer.update(&model.parameters, gradients: gradients, lr: lr)
        TrainingMath.updateEMA(&ema, toward: model.parameters, decay: settings.emaDecay)
        step = next
        window = (window.loss + loss, window.norm + norm, window.count + 1)
        if step % settings.logEvery == 0 || step == settings.steps {
            history.append(
                LossRecord(
                    step: step, loss: window.loss / Double(window.count), gradNorm: window.norm / Double(window.count)))
            window = (0, 0, 0)
        }
        return loss
    }

    /// Averages every rank's gradients (of its share's mean loss) and loss over the group, in place: with equal
    /// shares this is the gradient of the global batch's mean loss, the same bits on every rank.
    private func averageAcrossGroup(_ gradients: inout ParameterSet, loss: Double) throws -> Double {
        let started = DispatchTime.now().uptimeNanoseconds
        defer { communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        var flat = flatGradients
        flatGradients = []  // the only reference while it is filled, so appending does not copy it
        flat.removeAll(keepingCapacity: true)
        for tensor in gradients.tensors { tensor.withUnsafeBufferPointer { flat.append(contentsOf: $0) } }
        defer { flatGradients = flat }
        try group.allReduceSum(&flat)
        let scale = 1 / Float(group.size)
        var offset = 0
        flat.withUnsafeBufferPointer { sums in
            for i in gradients.tensors.indices {
                gradients.tensors[i].withUnsafeMutableBufferPointer { g in
                    for j in g.indices { g[j] = sums[offset + j] * scale }
                }
                offset += gradients.tensors[i].count
            }
        }
        var losses = [loss]
        try group.allReduceSum(&losses)
        return losses[0] / Double(group.size)
    }

    /// The mean diffusion loss of the EMA weights over a fixed held-out set: the first
    /// `settings.heldOutSamples` held-out images, each with a timestep and noise fixed by its index, so the
    /// figure is comparable across checkpoints and runs (and between an original and a grafted model).
    public func heldOutLoss() throws -> Double? {
        guard let heldOut, settings.heldOutSamples > 0 else { return nil }
        return try Self.evaluate(
            model: model, parameters: ema, diffusion: diffusion, data: heldOut,
            samples: settings.heldOutSamples, batchSize: settings.batchSize)
    }

    /// The mean diffusion loss of `model` with `parameters` over held-out samples `0..<samples` of `data`,
    /// with per-sample timesteps and noise fixed by a constant seed.
    public static func evaluate(
        model: DiTModel, parameters: ParameterSet, diffusion: GaussianDiffusion, data: any ImageDataset, samples: Int,
        batchSize: Int
    ) throws -> Double {
        let saved = model.parameters
        model.parameters = parameters
        defer { model.parameters = saved }
        let count = min(samples, data.count)
        var total = 0.0
        var start = 0
        while start < count {
            let indices = Array(start..<min(count, start + batchSize))
            let (x0, labels) = try data.batch(indices)
            var rng = SplitMix64(seed: 0x5EED_4E1D, stream: UInt64(start))
            let t = indices.map { _ in Int(rng.next() % UInt64(diffusion.numTimesteps)) }
            let noise = Tensor<Float>.randomNormal(x0.shape, seed: rng.next())
            let xt = try diffusion.qSample(x0: x0, t: t, noise: noise)
            let out = try model.forward(xt, timesteps: t.map(Double.init), labels: labels)
            total += try diffusion.trainingLoss(x0: x0, t: t, noise: noise, modelOutput: out).losses.reduce(0, +)
            start += indices.count
        }
        return total / Double(max(1, count))
    }

    /// Records the held-out loss on the history point of the current step (checkpoint steps are log steps).
    public func recordHeldOut(_ value: Double) {
        guard history.last?.step == step else { return }
        history[history.count - 1].heldOut = value
    }

    // MARK: Checkpoints

    private static let formatKey = "zoo.train.format"
    private static let settingsKey = "zoo.train.settings"
    private static let stepKey = "zoo.train.step"
    private static let historyKey = "zoo.train.history"
    private static let dataKey = "zoo.train.data"
    private static let arithmeticKey = "zoo.train.arithmetic"

    /// What decides the last bits of a step besides the run itself: the host pool's thread count (matrix products
    /// are split into one row block per thread), OpenBLAS's kernel and the float32 products' library. A run resumed
    /// under another arithmetic continues correctly but not bit for bit as the uninterrupted run would.
    public static var arithmetic: String {
        "\(ThreadPool.shared.threadCount) pool threads, OpenBLAS \(BLAS.coreName), float32 products \(BLAS.sgemmLibrary)"
    }

    /// This run's ``arithmetic``, with the number of ranks whose shares' gradients are summed when there are several
    /// (another count changes how the batch's sum is split, so the last bits).
    public var runArithmetic: String {
        group.isDistributed ? "\(group.size) ranks x \(Self.arithmetic)" : Self.arithmetic
    }

    /// Writes the complete training state (weights, EMA, AdamW moments, step, history, settings,
    /// configuration) to `path` atomically.
    public func saveCheckpoint(path: String) throws {
        var tensors: [(name: String, tensor: Tensor<Float>)] = []
        for (prefix, set) in [
            ("model/", model.parameters), ("ema/", ema), ("adam.m/", optimizer.firstMoment),
            ("adam.v/", optimizer.secondMoment),
        ] {
            tensors += zip(set.names, set.tensors).map { (name: prefix + $0, tensor: $1) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = [
            Self.formatKey: "1", DiTModel.configMetadataKey: model.config.jsonString(),
            Self.settingsKey: settings.jsonString(),
            Self.stepKey: "\(step)", Self.historyKey: String(decoding: try encoder.encode(history), as: UTF8.self),
            Self.dataKey: data.identity, Self.arithmeticKey: runArithmetic,
        ]
        do { try SafetensorsFile.write(path: path, tensors: tensors, metadata: metadata) } catch {
            throw TrainingError.checkpoint(path: path, reason: error.description)
        }
    }

    /// Restores the state written by ``saveCheckpoint(path:)``. The checkpoint's settings (except the total
    /// step count, which may grow or shrink), the model's configuration and the training data's
    /// ``ImageDataset/identity`` must equal this trainer's, so a resumed run is the same run. (Checkpoints
    /// written before the data was recorded carry no identity; they resume on whatever data is given.)
    /// - Returns: a note when the checkpoint was written under another ``arithmetic`` (the run continues, but its
    ///   last bits will differ from an uninterrupted run's), else nil.
    @discardableResult
    public func resume(from path: String) throws -> String? {
        let file: SafetensorsFile
        do { file = try SafetensorsFile.read(path: path) } catch {
            throw TrainingError.checkpoint(path: path, reason: error.description)
        }
        guard file.metadata[Self.formatKey] == "1", let stepText = file.metadata[Self.stepKey],
            let saved = Int(stepText),
            let settingsJSON = file.metadata[Self.settingsKey], let historyJSON = file.metadata[Self.historyKey]
        else {
            throw TrainingError.checkpoint(
                path: path, reason: "not a zoo training checkpoint (metadata 'zoo.train.*' missing)")
        }
        // The step count may change (a run can be extended or cut short): no earlier step depends on it.
        var savedSettings = try JSONDecoder().decode(TrainingSettings.self, from: Data(settingsJSON.utf8))
        savedSettings.steps = settings.steps
        guard saved <= settings.steps else {
            throw TrainingError.checkpoint(
                path: path, reason: "it is at step \(saved), beyond the \(settings.steps) steps asked for")
        }
        guard savedSettings == settings else {
            throw TrainingError.checkpoint(
                path: path,
                reason:
                    "it was written with other settings (\(settingsJSON)); resume with the same settings, or start a new run"
            )
        }
        guard file.metadata[DiTModel.configMetadataKey] == model.config.jsonString() else {
            throw TrainingError.checkpoint(
                path: path,
                reason: "it holds another model configuration: \(file.metadata[DiTModel.configMetadataKey] ?? "none")")
        }
        if let trainedOn = file.metadata[Self.dataKey], trainedOn != data.identity {
            throw TrainingError.checkpoint(
                path: path,
                reason:
                    "it was trained on other data (\(trainedOn)), not on \(data.identity); resume on the same data, or start a new run"
            )
        }
        func read(_ prefix: String, into set: ParameterSet) throws -> ParameterSet {
            var out = set
            for (i, name) in set.names.enumerated() {
                let key = prefix + name
                guard let entry = file.entry(named: key) else {
                    throw TrainingError.checkpoint(path: path, reason: "missing tensor '\(key)'")
                }
                guard entry.shape == set.tensors[i].shape else {
                    throw TrainingError.checkpoint(
                        path: path, reason: "tensor '\(key)' has shape \(entry.shape), expected \(set.tensors[i].shape)"
                    )
                }
                do { out.tensors[i] = try file.tensor(named: key) } catch {
                    throw TrainingError.checkpoint(path: path, reason: error.description)
                }
            }
            return out
        }
        let weights = try read("model/", into: model.parameters)
        let emaWeights = try read("ema/", into: model.parameters)
        var adam = AdamW(for: model.parameters, weightDecay: settings.weightDecay)
        adam.firstMoment = try read("adam.m/", into: model.parameters)
        adam.secondMoment = try read("adam.v/", into: model.parameters)
        adam.step = saved
        let records = try JSONDecoder().decode([LossRecord].self, from: Data(historyJSON.utf8))
        model.parameters = weights
        ema = emaWeights
        optimizer = adam
        step = saved
        history = records
        window = (0, 0, 0)
        guard let recorded = file.metadata[Self.arithmeticKey], recorded != runArithmetic else { return nil }
        return "\(path) was written with \(recorded) and resumes with \(runArithmetic): the run continues, but its "
            + "results will differ in the last bits from an uninterrupted run's (resume with the same number of ranks "
            + "and ZOO_THREADS as the first to keep them equal)"
    }
}
