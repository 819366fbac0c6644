import Foundation
import HostCore
import HostModel
import HostPlugins

/// Stage 1 of grafting for one unit (a grafted slot, or a restructured pair of blocks): regress the teacher's
/// output from the same input (activation distillation), training only the unit's parameters, keeping the
/// weights with the best validation loss.
public final class SlotDistiller {
    /// What is distilled: its parameter names, its forward `(x, conditioning, parameters) -> prediction`, and
    /// `gradients(x, conditioning, parameters, loss)`, which runs the unit, scores the prediction with `loss`
    /// (returning the loss and its gradient with respect to the prediction) and returns that loss with the
    /// parameters' gradients.
    public struct Module: @unchecked Sendable {
        public var names: [String]
        var forward: (Tensor<Float>, Tensor<Float>?, [Tensor<Float>]) throws -> Tensor<Float>
        var gradients:
            (Tensor<Float>, Tensor<Float>?, [Tensor<Float>], (Tensor<Float>) -> (Double, Tensor<Float>)) throws
                -> (Double, [Tensor<Float>?])

        /// A slot's operator: its plugin forward and vector-Jacobian product (from what a train-mode forward saved,
        /// when the operator saves).
        public static func slot(_ op: Operator) -> Module {
            Module(
                names: op.parameters.map(\.name),
                forward: { x, _, p in try op.forward(x, parameters: p) },
                gradients: { x, _, p, loss in
                    let (prediction, saved) = try op.forward(x, parameters: p, saving: true)
                    let (value, gradient) = loss(prediction)
                    return (
                        value,
                        try op.backward(
                            x, parameters: p, outputGradient: gradient, needInputGradient: false, saved: saved
                        ).parameters
                    )
                })
        }
    }

    /// One logged point.
    public struct Record: Equatable, Sendable, Codable {
        public var step: Int
        public var trainLoss: Double
        public var validationLoss: Double?
    }

    /// The unit's name (`blocks.3.attn`, `blocks.0+1`).
    public let name: String
    public let module: Module
    public let settings: GraftPlan.Stage1
    public let seed: UInt64
    public private(set) var parameters: [Tensor<Float>]
    public private(set) var best: (step: Int, loss: Double, parameters: [Tensor<Float>])
    /// The validation loss at the initial parameters.
    public private(set) var initialValidationLoss = Double.nan
    public private(set) var history: [Record] = []
    public private(set) var step = 0
    private let data: Activations
    private let trainCount: Int
    private var optimizer: AdamW

    /// A distiller for the slot `key` holding `op`, starting from `initial` parameters on `activations`.
    public convenience init(
        key: DiTSlotKey, op: Operator, initial: [Tensor<Float>], activations: Activations, settings: GraftPlan.Stage1,
        seed: UInt64
    ) throws {
        try self.init(
            name: key.description, module: .slot(op), initial: initial, activations: activations, settings: settings,
            seed: seed)
    }

    /// A distiller for `module` starting from `initial` parameters on `activations`; the last
    /// `settings.validationFraction` of the samples are held out for validation.
    public init(
        name: String, module: Module, initial: [Tensor<Float>], activations: Activations, settings: GraftPlan.Stage1,
        seed: UInt64
    ) throws {
        guard activations.count >= 2 else {
            throw GraftError.stage(name: "stage 1 \(name)", reason: "needs at least 2 samples")
        }
        self.name = name
        self.module = module
        self.settings = settings
        self.seed = seed
        self.data = activations
        self.parameters = initial
        let validation = max(1, Int((Double(activations.count) * settings.validationFraction).rounded()))
        self.trainCount = max(1, activations.count - validation)
        var set = ParameterSet()
        for (name, tensor) in zip(module.names, initial) { set.append(name, tensor) }
        optimizer = AdamW(for: set)
        best = (0, .infinity, initial)
        initialValidationLoss = try validationLoss()
        best = (0, initialValidationLoss, initial)
    }

    /// The mean regression loss over the validation samples at the current parameters.
    public func validationLoss() throws -> Double {
        var total = 0.0
        var start = trainCount
        while start < data.count {
            let indices = Array(start..<min(data.count, start + settings.batchSize))
            let (x, y, c) = data.rows(indices)
            let prediction = try module.forward(x, c, parameters)
            total += settings.loss.evaluate(prediction, y).loss * Double(indices.count)
            start += indices.count
        }
        return total / Double(data.count - trainCount)
    }

    /// One optimizer step on a batch drawn from `(seed, step)`; returns its loss.
    @discardableResult
    public func trainStep() throws -> Double {
        step += 1
        var rng = SplitMix64(seed: seed, stream: UInt64(step))
        let indices = (0..<settings.batchSize).map { _ in Int(rng.next() % UInt64(trainCount)) }
        let (x, y, c) = data.rows(indices)
        let (loss, grads) = try module.gradients(x, c, parameters) { [settings] prediction in
            settings.loss.evaluate(prediction, y)
        }
        var set = ParameterSet(), gradSet = ParameterSet()
        for (i, name) in module.names.enumerated() {
            set.append(name, parameters[i])
            gradSet.append(name, grads[i] ?? Tensor(zeros: parameters[i].shape))
        }
        TrainingMath.clipGradientNorm(&gradSet, maxNorm: settings.maxGradNorm)
        optimizer.update(&set, gradients: gradSet, lr: settings.learningRate)
        parameters = set.tensors
        var record = Record(step: step, trainLoss: loss, validationLoss: nil)
        if step % settings.validateEvery == 0 || step == settings.steps {
            let v = try validationLoss()
            record.validationLoss = v
            if v < best.loss { best = (step, v, parameters) }
        }
        history.append(record)
        return loss
    }

    /// Runs the remaining steps; the best parameters are in ``best``.
    public func run(progress: ((Int, Int) -> Void)? = nil) throws {
        while step < settings.steps {
            try trainStep()
            progress?(step, settings.steps)
        }
    }

    /// Collects the teacher's slot inputs and outputs for `keys` on `samples` noised training images
    /// (`x_t = q_sample(x0, t)` with uniform t, the images' labels, class dropout as in training), all
    /// from `seed`, in memory (see ``streamSlots(teacher:keys:data:samples:batchSize:seed:progress:_:)`` for the
    /// same batches one at a time).
    public static func collect(
        teacher: DiTModel, keys: [DiTSlotKey], data: any ImageDataset, samples: Int, batchSize: Int, seed: UInt64,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> [DiTSlotKey: Activations] {
        let c = teacher.config
        var inputs = keys.map { _ in Tensor<Float>(zeros: [samples, c.tokenCount, c.hiddenSize]) }
        var outputs = inputs
        try streamSlots(
            teacher: teacher, keys: keys, data: data, samples: samples, batchSize: batchSize, seed: seed,
            progress: progress
        ) { start, batch in
            for k in keys.indices {
                let (x, y, _) = batch[k].all()
                copyRows(x, into: &inputs[k], at: start)
                copyRows(y, into: &outputs[k], at: start)
            }
        }
        return Dictionary(
            uniqueKeysWithValues: keys.indices.map { (keys[$0], Activations(inputs: inputs[$0], outputs: outputs[$0])) }
        )
    }

    /// The batches of ``collect(teacher:keys:data:samples:batchSize:seed:progress:)`` one at a time:
    /// `body(first sample, per key its rows)`.
    public static func streamSlots(
        teacher: DiTModel, keys: [DiTSlotKey], data: any ImageDataset, samples: Int, batchSize: Int, seed: UInt64,
        progress: ((Int, Int) -> Void)? = nil, _ body: (Int, [Activations]) throws -> Void
    ) throws {
        try forEachTeacherBatch(
            teacher: teacher, data: data, samples: samples, batchSize: batchSize, seed: seed, progress: progress
        ) { start, trace in
            try body(
                start,
                keys.map { key in
                    let half = key.kind == .attn ? 0 : 1
                    return Activations(
                        inputs: trace.blocks[key.block].slotInput[half],
                        outputs: trace.blocks[key.block].slotOutput[half])
                })
        }
    }

    /// For each pair of blocks `(b, b + 1)` starting at a block in `firstBlocks`, the teacher's residual stream
    /// entering block `b` and leaving block `b + 1`, with `SiLU(c)`, on the same noised samples as
    /// ``collect(teacher:keys:data:samples:batchSize:seed:progress:)``, one batch at a time. The teacher runs
    /// sequentially.
    public static func streamPairs(
        teacher: DiTModel, firstBlocks: [Int], data: any ImageDataset, samples: Int, batchSize: Int, seed: UInt64,
        progress: ((Int, Int) -> Void)? = nil, _ body: (Int, [Activations]) throws -> Void
    ) throws {
        let c = teacher.config
        precondition(!c.parallelPairs && firstBlocks.allSatisfy { $0 + 1 < c.depth }, "pairs of a sequential teacher")
        try forEachTeacherBatch(
            teacher: teacher, data: data, samples: samples, batchSize: batchSize, seed: seed, progress: progress
        ) { start, trace in
            try body(
                start,
                firstBlocks.map { b in
                    Activations(
                        inputs: trace.stageInputs[b],
                        outputs: b + 2 < c.depth ? trace.stageInputs[b + 2] : trace.blocksOutput,
                        conditioning: trace.siluConditioning)
                })
        }
    }

    /// Runs the teacher (traced) on `samples` noised training images in batches, calling `body(first row, trace)`.
    private static func forEachTeacherBatch(
        teacher: DiTModel, data: any ImageDataset, samples: Int, batchSize: Int, seed: UInt64,
        progress: ((Int, Int) -> Void)?,
        _ body: (Int, DiTTrace) throws -> Void
    ) throws {
        let c = teacher.config
        let diffusion = try GaussianDiffusion(respacing: "", learnSigma: c.learnSigma)
        var rng = SplitMix64(seed: seed)
        var start = 0
        while start < samples {
            let n = min(batchSize, samples - start)
            let indices = (0..<n).map { _ in Int(rng.next() % UInt64(data.count)) }
            var (x0, labels) = try data.batch(indices)
            if let null = c.nullClass {
                for i in labels.indices where rng.nextUnit() < c.classDropoutProb { labels[i] = null }
            }
            let t = (0..<n).map { _ in Int(rng.next() % UInt64(diffusion.numTimesteps)) }
            let noise = Tensor<Float>.randomNormal(x0.shape, seed: rng.next())
            x0 = try diffusion.qSample(x0: x0, t: t, noise: noise)
            let (_, trace) = try teacher.tracedForward(x0, timesteps: t.map(Double.init), labels: labels)
            try body(start, trace)
            start += n
            progress?(start, samples)
        }
    }

    /// Copies every row of `source` (rows along the first axis) into `target` from row `row` on.
    private static func copyRows(_ source: Tensor<Float>, into target: inout Tensor<Float>, at row: Int) {
        let width = target.count / target.shape[0]
        source.withUnsafeBufferPointer { src in
            target.withUnsafeMutableBufferPointer { dst in
                for i in 0..<src.count { dst[row * width + i] = src[i] }
            }
        }
    }
}
