import ArgumentParser
import Foundation
import HostCore
import HostGraft
import HostModel

/// `zoo classifier`: train and measure the classifier behind the sample-quality metrics.
struct ClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "Train or measure the shapes classifier that the sample-quality metrics use.",
        discussion: """
            The shipped classifier (models/shapes-classifier) was made with `zoo classifier train --out \
            models/shapes-classifier` (see its MODEL_CARD.md); `zoo graft` and `zoo sample --evaluate` use it.
            """,
        subcommands: [Train.self, Evaluate.self])

    /// `zoo classifier train`.
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a classifier on the synthetic shapes and measure it on the held-out split.",
            discussion: """
                Writes OUT/model.safetensors (float32, configuration and held-out accuracy in the metadata), \
                OUT/training.csv (loss and accuracy every 50 steps) and OUT/held-out.json (accuracy and confusion \
                matrix on the held-out split of --eval-seed, the split the embedded DiT never trained on).
                """)

        @Option(help: "Output folder (created if missing).")
        var out: String

        @Option(help: "Optimizer steps.")
        var steps = ClassifierTrainer.Settings().steps

        @Option(help: "Images per step.")
        var batchSize = ClassifierTrainer.Settings().batchSize

        @Option(help: "Peak learning rate (AdamW; linear warm-up, then a half cosine to zero).")
        var lr = ClassifierTrainer.Settings().learningRate

        @Option(help: "Seed of the initial weights and the batches.")
        var seed: UInt64 = ClassifierTrainer.Settings().seed

        @Option(
            help: "Seed of the training images (a different seed from the DiT's 0 keeps the evaluation data unseen).")
        var dataSeed: UInt64 = 1

        @Option(help: "Seed of the held-out data the accuracy is measured on (the embedded DiT's: 0).")
        var evalSeed: UInt64 = 0

        @Option(help: "Held-out images to measure on.")
        var evalCount = 10_000

        @Option(help: "Version of the drawing code: \(SyntheticShapes.generatorChoices).")
        var generator = SyntheticShapes.defaultGenerator

        func validate() throws {
            guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
            guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
            guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive, got \(lr)") }
            guard evalCount >= 1 else { throw ValidationError("--eval-count must be at least 1, got \(evalCount)") }
            try checkGenerator(generator, option: "--generator")
        }

        func run() throws {
            let data = try SyntheticShapes(seed: dataSeed, trainCount: 1_000_000, generator: generator)
            let heldOut = try SyntheticShapes(seed: evalSeed, split: .heldOut, generator: generator)
            var settings = ClassifierTrainer.Settings()
            settings.steps = steps
            settings.batchSize = batchSize
            settings.learningRate = lr
            settings.seed = seed
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let bar = ProgressBar("classifier", total: steps)
            let (classifier, history) = try ClassifierTrainer.train(
                config: ShapeClassifierConfig(classNames: data.classNames), settings: settings, data: data
            ) { step, _, r in
                bar.update(step, status: String(format: "loss %.4f acc %.3f", r.loss, r.accuracy))
            }
            var csv = "step,loss,accuracy\n"
            for r in history { csv += "\(r.step),\(r.loss),\(r.accuracy)\n" }
            try AtomicFile.write(Data(csv.utf8), to: out + "/training.csv")
            let (accuracy, confusion) = try ClassifierTrainer.measure(classifier, on: heldOut, count: evalCount)
            let measured = ClassifierMeasurement(
                data: heldOut.identity, images: min(evalCount, heldOut.count), accuracy: accuracy, confusion: confusion,
                classNames: heldOut.classNames, training: data.identity, settings: settings)
            try AtomicFile.write(try measured.json(), to: out + "/held-out.json")
            try classifier.write(
                path: out + "/model.safetensors",
                metadata: [ShapeClassifier.accuracyMetadataKey: String(decoding: try measured.json(), as: UTF8.self)])
            print(measured.summary)
            print("wrote \(out)/model.safetensors, training.csv, held-out.json")
        }
    }

    /// `zoo classifier evaluate`.
    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure a classifier's accuracy and confusion matrix on the synthetic shapes.")

        @Option(help: "Classifier file (default: the shipped models/shapes-classifier/model.safetensors).")
        var classifier: String?

        @Option(help: "Dataset seed.")
        var seed: UInt64 = 0

        @Option(help: "Split: train or heldOut.")
        var split = "heldOut"

        @Option(help: "Images to measure on, from index 0 of the split.")
        var count = 10_000

        @Option(help: "Version of the drawing code: \(SyntheticShapes.generatorChoices).")
        var generator = SyntheticShapes.defaultGenerator

        func validate() throws {
            guard SyntheticShapes.Split(rawValue: split) != nil else {
                throw ValidationError("--split must be train or heldOut (found '\(split)')")
            }
            guard count >= 1 else { throw ValidationError("--count must be at least 1, got \(count)") }
            try checkGenerator(generator, option: "--generator")
        }

        func run() throws {
            let path = try classifier ?? ShippedClassifier.path()
            let model = try ShapeClassifier.read(path: path)
            let data = try SyntheticShapes(
                seed: seed, split: SyntheticShapes.Split(rawValue: split)!, generator: generator)
            let (accuracy, confusion) = try ClassifierTrainer.measure(model, on: data, count: count)
            let measured = ClassifierMeasurement(
                data: data.identity, images: min(count, data.count), accuracy: accuracy, confusion: confusion,
                classNames: data.classNames, training: nil, settings: nil)
            print("classifier \(path)")
            print(measured.summary)
        }
    }
}
