import Foundation
import HostCore
import HostModel

/// Sample quality as a domain classifier sees it (``ShapeClassifier``, the shipped one by default): whether each
/// sample shows its class, and how the samples' distribution compares with real images'.
///
/// - **Class accuracy**: the fraction of samples of class c the classifier labels c (Wilson 95% interval), and per
///   class.
/// - **Fréchet distance** in the classifier's feature space (its 128-unit feature layer, before the ReLU): FID's
///   statistic with this classifier in Inception's place (``FrechetDistance``); comparable only between runs with
///   the same classifier and equal sample counts. Interval: ± 1.96 bootstrap standard errors over the samples
///   (reference fixed; ``ConfidenceInterval/normal(estimate:replicates:floor:)`` says why not percentiles).
/// - **Inception-Score analogue** (``ClassScore``), at most the number of classes. Interval: the same.
/// - **Precision and recall** (``NearestNeighbourManifold``, k = 3) against the real images' features. Intervals:
///   Wilson over the points tested, each manifold held fixed (they leave out the manifolds' own sampling error).
///
/// The bootstrap draws `bootstrap` resamples with a ``SplitMix64`` from `seed`, so the intervals are reproducible.
public struct SampleQuality: Codable, Equatable, Sendable {
    public var samples: Int
    public var referenceImages: Int
    public var classAccuracy: Double
    public var classAccuracyInterval: ConfidenceInterval
    /// Accuracy per class, by label (nil for a class with no samples).
    public var perClassAccuracy: [Double?]
    public var frechetDistance: Double
    public var frechetInterval: ConfidenceInterval
    public var inceptionScore: Double
    public var inceptionInterval: ConfidenceInterval
    public var precision: Double
    public var precisionInterval: ConfidenceInterval
    public var recall: Double
    public var recallInterval: ConfidenceInterval

    enum CodingKeys: String, CodingKey {
        case samples, referenceImages = "reference_images", classAccuracy = "class_accuracy"
        case classAccuracyInterval = "class_accuracy_ci95", perClassAccuracy = "per_class_accuracy"
        case frechetDistance = "classifier_frechet_distance", frechetInterval = "classifier_frechet_distance_ci95"
        case inceptionScore = "inception_score", inceptionInterval = "inception_score_ci95"
        case precision, precisionInterval = "precision_ci95", recall, recallInterval = "recall_ci95"
    }

    /// Real images seen through the classifier once, for measuring any number of sample sets against them.
    public struct Reference: Sendable {
        public let classifier: ShapeClassifier
        public let features: [[Double]]
        let frechet: FrechetDistance.Reference
    }

    /// The reference: `images` (`[N, 3, R, R]`, real, ideally balanced over the classes) through `classifier`.
    public static func reference(classifier: ShapeClassifier, images: Tensor<Float>) throws -> Reference {
        let features = try classifier.evaluate(images).features
        return Reference(
            classifier: classifier, features: features,
            frechet: FrechetDistance.Reference(try GaussianFit(features: features, argument: "reference features")))
    }

    /// Measures `samples` (`[N, 3, R, R]`, clamped to [-1, 1] as they would be shown) meant to show `labels`.
    public static func measure(
        samples: Tensor<Float>, labels: [Int], against reference: Reference, seed: UInt64 = 0, bootstrap: Int = 100
    ) throws -> SampleQuality {
        guard samples.rank == 4, samples.shape[0] == labels.count else {
            throw EvaluationError.shape(
                argument: "samples", expected: "[\(labels.count), C, R, R] (one per label)", found: samples.shape)
        }
        let classes = reference.classifier.config.numClasses
        if let bad = labels.firstIndex(where: { !(0..<classes).contains($0) }) {
            throw EvaluationError.outOfRange(argument: "labels[\(bad)]", value: labels[bad], expected: "0..<\(classes)")
        }
        let (predictions, probabilities, features) = try reference.classifier.evaluate(samples)
        let hits = zip(predictions, labels).map { $0 == $1 }
        let correct = hits.filter { $0 }.count
        let perClass: [Double?] = (0..<classes).map { c in
            let mine = labels.indices.filter { labels[$0] == c }
            return mine.isEmpty ? nil : Double(mine.filter { hits[$0] }.count) / Double(mine.count)
        }
        let fit = try GaussianFit(features: features, argument: "sample features")
        guard fit.dimension == reference.frechet.fit.dimension else {
            throw EvaluationError.featureWidth(
                argument: "sample features", row: 0, expected: reference.frechet.fit.dimension, found: fit.dimension)
        }
        let fd = FrechetDistance.between(reference.frechet, fit)
        let score = try ClassScore.inceptionScore(probabilities)
        let pr = try NearestNeighbourManifold.precisionRecall(real: reference.features, generated: features)
        // Bootstrap resamples of the samples, for the Fréchet distance and the score.
        var rng = SplitMix64(seed: seed ^ 0x5155_414C_4954_5901)
        var fdReplicates: [Double] = [], scoreReplicates: [Double] = []
        for _ in 0..<bootstrap {
            let picks = (0..<features.count).map { _ in Int(rng.next() % UInt64(features.count)) }
            let resampled = try GaussianFit(features: picks.map { features[$0] }, argument: "resampled features")
            fdReplicates.append(FrechetDistance.between(reference.frechet, resampled))
            scoreReplicates.append(try ClassScore.inceptionScore(picks.map { probabilities[$0] }))
        }
        return SampleQuality(
            samples: labels.count, referenceImages: reference.features.count,
            classAccuracy: Double(correct) / Double(labels.count),
            classAccuracyInterval: .wilson(successes: correct, trials: labels.count), perClassAccuracy: perClass,
            frechetDistance: fd, frechetInterval: .normal(estimate: fd, replicates: fdReplicates, floor: 0),
            inceptionScore: score, inceptionInterval: .normal(estimate: score, replicates: scoreReplicates, floor: 1),
            precision: pr.precision,
            precisionInterval: .wilson(successes: pr.generatedInside.filter { $0 }.count, trials: features.count),
            recall: pr.recall,
            recallInterval: .wilson(successes: pr.realInside.filter { $0 }.count, trials: reference.features.count))
    }

    /// Real images with the same class composition as `labels`: for each label in order, the next image of that
    /// class in `data` (scanning indices from `start`), so the reference matches the samples class for class.
    /// - Returns: the images and the index to scan from for a second, disjoint set.
    /// - Throws: ``EvaluationError/tooFewSamples(argument:needed:found:)`` when `data` runs out of a class.
    public static func matchingImages(
        in data: some ImageDataset, labels: [Int], from start: Int = 0
    ) throws -> (images: Tensor<Float>, next: Int) {
        var pools: [Int: [Int]] = [:]
        var next = start
        var indices: [Int] = [], used: [Int: Int] = [:]
        for label in labels {
            while pools[label, default: []].isEmpty && next < data.count {
                pools[try data.label(next), default: []].append(next)
                next += 1
            }
            guard !pools[label, default: []].isEmpty else {
                throw EvaluationError.tooFewSamples(
                    argument: "reference images of class \(label)", needed: labels.filter { $0 == label }.count,
                    found: used[label, default: 0])
            }
            indices.append(pools[label]!.removeFirst())
            used[label, default: 0] += 1
        }
        return (try data.batch(indices).images, (indices.max() ?? start - 1) + 1)
    }

    /// `samples` with every value clamped to the image range [-1, 1] (NaN to 0), as the PNG grids show them.
    public static func clampedToImageRange(_ samples: Tensor<Float>) -> Tensor<Float> {
        var out = samples
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = p[i].isNaN ? 0 : min(1, max(-1, p[i])) }
        }
        return out
    }

    /// `93.6% [91.9, 95.0]`: a fraction and its interval in percent.
    static func percent(_ value: Double, _ interval: ConfidenceInterval) -> String {
        String(format: "%.1f%% [%.1f, %.1f]", 100 * value, 100 * interval.low, 100 * interval.high)
    }

    /// `1.23 [1.10, 1.38]`, with `digits` decimals.
    static func number(_ value: Double, _ interval: ConfidenceInterval, digits: Int) -> String {
        String(format: "%.\(digits)f [%.\(digits)f, %.\(digits)f]", value, interval.low, interval.high)
    }

    /// The figures as rows of `(name, value with interval)`, for tables.
    public var rows: [(String, String)] {
        [
            ("class accuracy", Self.percent(classAccuracy, classAccuracyInterval)),
            ("classifier Fréchet", Self.number(frechetDistance, frechetInterval, digits: 1)),
            ("Inception Score (cls.)", Self.number(inceptionScore, inceptionInterval, digits: 2)),
            ("precision (k=3)", Self.percent(precision, precisionInterval)),
            ("recall (k=3)", Self.percent(recall, recallInterval)),
        ]
    }
}
