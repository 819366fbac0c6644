import Foundation

/// Stage 1 of grafting for one slot: regress the teacher slot's output from the same input (activation
/// distillation), training only the new operator's parameters, keeping the weights with the best
/// validation loss.
public final class SlotDistiller {
    /// A slot's teacher activations: inputs and outputs `[K, T, D]`, one row per collected sample.
    public struct Activations: Sendable {
        public var inputs: Tensor<Float>
        public var outputs: Tensor<Float>
        public var count: Int { inputs.shape[0] }
    }

    /// One logged point.
    public struct Record: Equatable, Sendable, Codable {
        public var step: Int
        public var trainLoss: Double
        public var validationLoss: Double?
    }

    public let key: DiTSlotKey
    public let op: Operator
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

    /// A distiller for `op` starting from `initial` parameters on `activations`; the last
    /// `settings.validationFraction` of the samples are held out for validation.
    public init(key: DiTSlotKey, op: Operator, initial: [Tensor<Float>], activations: Activations, settings: GraftPlan.Stage1, seed: UInt64) throws {
        guard activations.count >= 2 else { throw GraftError.stage(name: "stage 1 \(key)", reason: "needs at least 2 samples") }
        self.key = key
        self.op = op
        self.settings = settings
        self.seed = seed
        self.data = activations
        self.parameters = initial
        let validation = max(1, Int((Double(activations.count) * settings.validationFraction).rounded()))
        self.trainCount = max(1, activations.count - validation)
        var set = ParameterSet()
        for (spec, tensor) in zip(op.parameters, initial) { set.append(spec.name, tensor) }
        optimizer = AdamW(for: set)
        best = (0, .infinity, initial)
        initialValidationLoss = try validationLoss()
        best = (0, initialValidationLoss, initial)
    }

    /// Samples `indices` of the activations: inputs and targets `[n, T, D]`.
    private func rows(_ indices: [Int]) -> (Tensor<Float>, Tensor<Float>) {
        let t = data.inputs.shape[1], d = data.inputs.shape[2], size = t * d
        var x = Tensor<Float>(zeros: [indices.count, t, d]), y = Tensor<Float>(zeros: [indices.count, t, d])
        x.withUnsafeMutableBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                data.inputs.withUnsafeBufferPointer { ip in
                    data.outputs.withUnsafeBufferPointer { op in
                        for (n, i) in indices.enumerated() {
                            for j in 0..<size {
                                xp[n * size + j] = ip[i * size + j]
                                yp[n * size + j] = op[i * size + j]
                            }
                        }
                    }
                }
            }
        }
        return (x, y)
    }

    /// The mean regression loss over the validation samples at the current parameters.
    public func validationLoss() throws -> Double {
        var total = 0.0
        var start = trainCount
        while start < data.count {
            let indices = Array(start..<min(data.count, start + settings.batchSize))
            let (x, y) = rows(indices)
            let prediction = try op.forward(x, parameters: parameters)
            total += settings.loss.evaluate(prediction, y).loss * Double(indices.count)
            start += indices.count
        }
        return total / Double(data.count - trainCount)
    }

    /// One optimizer step on a batch drawn from `(seed, step)`; returns its loss.
    @discardableResult
    public func trainStep() throws -> Double {
        step += 1
        var rng = SplitMix64(seed: seed ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15))
        let indices = (0..<settings.batchSize).map { _ in Int(rng.next() % UInt64(trainCount)) }
        let (x, y) = rows(indices)
        let prediction = try op.forward(x, parameters: parameters)
        let (loss, gradient) = settings.loss.evaluate(prediction, y)
        let grads = try op.backward(x, parameters: parameters, outputGradient: gradient, needInputGradient: false)
        var set = ParameterSet(), gradSet = ParameterSet()
        for (i, spec) in op.parameters.enumerated() {
            set.append(spec.name, parameters[i])
            gradSet.append(spec.name, grads.parameters[i] ?? Tensor(zeros: spec.shape))
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
    /// from `seed`.
    public static func collect(
        teacher: DiTModel, keys: [DiTSlotKey], data: any ImageDataset, samples: Int, batchSize: Int, seed: UInt64,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> [DiTSlotKey: Activations] {
        let c = teacher.config
        let diffusion = try GaussianDiffusion(respacing: "", learnSigma: c.learnSigma)
        var out: [DiTSlotKey: Activations] = [:]
        for key in keys {
            out[key] = Activations(inputs: Tensor(zeros: [samples, c.tokenCount, c.hiddenSize]), outputs: Tensor(zeros: [samples, c.tokenCount, c.hiddenSize]))
        }
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
            let size = c.tokenCount * c.hiddenSize
            for key in keys {
                let half = key.kind == .attn ? 0 : 1
                let input = trace.blocks[key.block].slotInput[half], output = trace.blocks[key.block].slotOutput[half]
                input.withUnsafeBufferPointer { src in out[key]!.inputs.withUnsafeMutableBufferPointer { dst in
                    for i in 0..<(n * size) { dst[start * size + i] = src[i] }
                } }
                output.withUnsafeBufferPointer { src in out[key]!.outputs.withUnsafeMutableBufferPointer { dst in
                    for i in 0..<(n * size) { dst[start * size + i] = src[i] }
                } }
            }
            start += n
            progress?(start, samples)
        }
        return out
    }
}
