import Foundation
import HostCore

/// Trains a ``ShapeClassifier`` on an image dataset with AdamW and softmax cross-entropy, and measures it.
///
/// Step `s` draws its batch of `batchSize` indices uniformly (with replacement) from the training set with a
/// ``SplitMix64`` stream `s` of `seed` (``SplitMix64/init(seed:stream:)``), so a run is a pure function of its settings and data. The learning rate
/// rises linearly over `warmupSteps`, then follows a half cosine to zero at `steps`.
public enum ClassifierTrainer {
    /// Optimisation settings.
    public struct Settings: Codable, Equatable, Sendable {
        public var steps = 3000
        public var batchSize = 64
        public var learningRate = 2e-3
        public var warmupSteps = 100
        public var weightDecay = 1e-4
        /// Seed of the initial weights and of every step's batch.
        public var seed: UInt64 = 1
        public init() {}

        enum CodingKeys: String, CodingKey {
            case steps, batchSize = "batch_size", learningRate = "learning_rate", warmupSteps = "warmup_steps"
            case weightDecay = "weight_decay", seed
        }

        /// The learning rate of step `step` (0-based).
        public func learningRate(at step: Int) -> Double {
            if step < warmupSteps { return learningRate * Double(step + 1) / Double(warmupSteps) }
            let progress = Double(step - warmupSteps) / Double(max(1, steps - warmupSteps))
            return learningRate * 0.5 * (1 + cos(Double.pi * min(1, progress)))
        }
    }

    /// One logged point: the mean training loss and accuracy over the steps since the previous one.
    public struct Record: Codable, Equatable, Sendable {
        public var step: Int
        public var loss: Double
        public var accuracy: Double
    }

    /// Trains a classifier of `config` on `data` (whose class names and resolution must match the configuration).
    /// `progress(step, steps, record)` is called every `logEvery` steps with the mean over those steps.
    /// - Throws: ``ClassifierError`` for an invalid configuration, settings or data, and any error `data` throws.
    public static func train(
        config: ShapeClassifierConfig, settings: Settings, data: some ImageDataset, logEvery: Int = 50,
        progress: ((Int, Int, Record) -> Void)? = nil
    ) throws -> (classifier: ShapeClassifier, history: [Record]) {
        try check(config: config, data: data)
        guard settings.steps >= 1, settings.batchSize >= 1, settings.warmupSteps >= 0, settings.learningRate > 0 else {
            throw ClassifierError.config(
                field: "settings", expected: "steps and batch_size >= 1, warmup_steps >= 0, learning_rate > 0")
        }
        var classifier = try ShapeClassifier(config: config, seed: settings.seed)
        var optimizer = AdamW(for: classifier.parameters, weightDecay: settings.weightDecay)
        var history: [Record] = []
        var (lossSum, correct, seen, since) = (0.0, 0, 0, 0)
        for step in 0..<settings.steps {
            var rng = SplitMix64(seed: settings.seed, stream: UInt64(step))
            let indices = (0..<settings.batchSize).map { _ in Int(rng.next() % UInt64(data.count)) }
            let (images, labels) = try data.batch(indices)
            let pass = try classifier.forward(images)
            let (loss, gradients) = try classifier.lossAndGradients(pass, labels: labels)
            optimizer.update(&classifier.parameters, gradients: gradients, lr: settings.learningRate(at: step))
            lossSum += loss
            correct += zip(pass.predictions, labels).filter { $0 == $1 }.count
            seen += labels.count
            since += 1
            if (step + 1) % logEvery == 0 || step + 1 == settings.steps {
                let record = Record(
                    step: step + 1, loss: lossSum / Double(since), accuracy: Double(correct) / Double(seen))
                history.append(record)
                progress?(step + 1, settings.steps, record)
                (lossSum, correct, seen, since) = (0, 0, 0, 0)
            }
        }
        return (classifier, history)
    }

    /// The accuracy of `classifier` on the first `count` samples of `data` and its confusion matrix
    /// (`confusion[true][predicted]`).
    /// - Throws: ``ClassifierError/incompatibleData(expected:found:)`` when the classes or resolution differ.
    public static func measure(
        _ classifier: ShapeClassifier, on data: some ImageDataset, count: Int, batchSize: Int = 256
    ) throws -> (accuracy: Double, confusion: [[Int]]) {
        try check(config: classifier.config, data: data)
        let k = classifier.config.numClasses, total = min(count, data.count)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        var start = 0
        while start < total {
            let end = min(total, start + batchSize)
            let (images, labels) = try data.batch(start..<end)
            for (label, predicted) in zip(labels, try classifier.forward(images).predictions) {
                confusion[label][predicted] += 1
            }
            start = end
        }
        let correct = (0..<k).reduce(0) { $0 + confusion[$1][$1] }
        return (Double(correct) / Double(max(1, total)), confusion)
    }

    /// Checks that `data` has the classifier's classes (names, in order) and resolution.
    public static func check(config: ShapeClassifierConfig, data: some ImageDataset) throws(ClassifierError) {
        guard data.classNames == config.classNames, data.resolution == config.resolution else {
            throw .incompatibleData(
                expected: "\(config.numClasses) classes \(config.classNames) at \(config.resolution) px",
                found: "\(data.numClasses) classes \(data.classNames) at \(data.resolution) px")
        }
    }
}
