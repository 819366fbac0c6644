import Foundation
import Testing

@testable import HostCore
@testable import HostGraft
@testable import HostModel

/// The classifier metrics: the intervals, precision and recall, and the score against hand-computed cases, then
/// ``SampleQuality`` with the shipped classifier on real images, on noise and on relabelled images (each metric
/// must move the way its definition says), and the sample cache's key.
@Suite struct SampleQualityTests {
    @Test func wilsonAndPercentileIntervals() {
        // Wilson 95% for 8 of 10 (z = 1.96): centre (0.8 + 0.19208) / 1.38415 = 0.71681, half-width
        // 1.96 sqrt(0.016 + 0.0096040) / 1.38415 = 0.22664 -> [0.4902, 0.9434] (the textbook values).
        let w = ConfidenceInterval.wilson(successes: 8, trials: 10)
        #expect(abs(w.low - 0.4902) < 1e-4 && abs(w.high - 0.9434) < 1e-4)
        // 0 and all successes: the interval touches the end and is not empty.
        #expect(ConfidenceInterval.wilson(successes: 0, trials: 50).low == 0)
        #expect(ConfidenceInterval.wilson(successes: 0, trials: 50).high > 0.05)
        #expect(ConfidenceInterval.wilson(successes: 50, trials: 50).high == 1)
        // Quantiles of 0...100 by linear interpolation: 2.5 and 97.5.
        let p = ConfidenceInterval.percentile((0...100).map(Double.init).reversed())
        #expect(abs(p.low - 2.5) < 1e-12 && abs(p.high - 97.5) < 1e-12)
        // Replicates 1, 2, 3 (sd 1) around an estimate of 10: 10 ± 1.96, and cut at the floor.
        let n = ConfidenceInterval.normal(estimate: 10, replicates: [1, 2, 3])
        #expect(abs(n.low - (10 - 1.959964)) < 1e-6 && abs(n.high - (10 + 1.959964)) < 1e-6)
        #expect(ConfidenceInterval.normal(estimate: 1, replicates: [1, 2, 3], floor: 0).low == 0)
    }

    @Test func precisionAndRecallByHand() throws {
        // Real points 0, 1, 2, 3, 4 on a line: with k = 1 every radius is 1 (squared 1).
        let real: [[Double]] = (0..<5).map { [Double($0)] }
        // Generated 0.5 (inside), 4.9 (inside: within 1 of 4) and 6 (outside): precision 2/3. Their k = 1 radii:
        // 4.4, 1.1 and 1.1, so real 0...4 lie within 4.4 of 0.5 and recall is 1.
        let generated: [[Double]] = [[0.5], [4.9], [6]]
        let r = try NearestNeighbourManifold.precisionRecall(real: real, generated: generated, k: 1)
        #expect(abs(r.precision - 2.0 / 3) < 1e-12 && r.recall == 1)
        #expect(r.generatedInside == [true, true, false])
        // Generated points clustered at 10: nothing real is covered, nothing generated is inside.
        let far = try NearestNeighbourManifold.precisionRecall(real: real, generated: [[10], [10.1], [10.2]], k: 1)
        #expect(far.precision == 0 && far.recall == 0)
        #expect(throws: EvaluationError.self) {
            try NearestNeighbourManifold.precisionRecall(real: real, generated: [[1], [2]], k: 3)
        }
    }

    @Test func classScoreClosedForms() throws {
        // Certain and evenly spread over 4 classes: 4. All the same distribution: 1.
        let certain = (0..<8).map { i in (0..<4).map { $0 == i % 4 ? 1.0 : 0 } }
        #expect(abs(try ClassScore.inceptionScore(certain) - 4) < 1e-12)
        #expect(abs(try ClassScore.inceptionScore([[0.3, 0.7], [0.3, 0.7]]) - 1) < 1e-12)
        // Two samples [p, 1-p] and [1-p, p]: marginal uniform, KL = log 2 + p log p + (1-p) log(1-p) each.
        let p = 0.8
        let expected = exp(log(2) + p * log(p) + (1 - p) * log(1 - p))
        #expect(abs(try ClassScore.inceptionScore([[p, 1 - p], [1 - p, p]]) - expected) < 1e-12)
    }

    /// The shipped classifier and balanced held-out images of the embedded model's data.
    static func shippedSetup(perClass: Int) throws -> (SampleQuality.Reference, SyntheticShapes, [Int], Int) {
        let classifier = try ShippedClassifier.load()
        let data = try SyntheticShapes(seed: 0, split: .heldOut)
        let labels = (0..<data.numClasses).flatMap { [Int](repeating: $0, count: perClass) }
        let (images, next) = try SampleQuality.matchingImages(in: data, labels: labels)
        return (try SampleQuality.reference(classifier: classifier, images: images), data, labels, next)
    }

    @Test func metricsSeparateRealImagesFromNoiseAndWrongClasses() throws {
        let (reference, data, labels, next) = try Self.shippedSetup(perClass: 20)
        let (real, _) = try SampleQuality.matchingImages(in: data, labels: labels, from: next)
        let good = try SampleQuality.measure(samples: real, labels: labels, against: reference, bootstrap: 20)
        // Real images: recognised (the classifier's held-out accuracy is above 99%), the score near the number of
        // classes, both manifolds overlapping.
        #expect(good.classAccuracy >= 0.98)
        #expect(good.inceptionScore > 10)
        #expect(good.precision > 0.8 && good.recall > 0.8)
        #expect(good.frechetInterval.low <= good.frechetDistance && good.frechetDistance <= good.frechetInterval.high)
        // The same images with every label shifted by one class: accuracy collapses, nothing else moves.
        let shifted = labels.map { ($0 + 1) % 11 }
        let wrong = try SampleQuality.measure(samples: real, labels: shifted, against: reference, bootstrap: 20)
        #expect(wrong.classAccuracy <= 0.02)
        #expect(wrong.frechetDistance == good.frechetDistance && wrong.precision == good.precision)
        // Gaussian noise images: not recognised above chance, far in feature space, no real variety covered, and one
        // class distribution for all (score near 1). (Precision does not fall: the noise collapses onto one point
        // of feature space, inside the ball of a real image; that is why precision is read together with recall.)
        let noise = SampleQuality.clampedToImageRange(.randomNormal(real.shape, seed: 3, scale: 0.5))
        let bad = try SampleQuality.measure(samples: noise, labels: labels, against: reference, bootstrap: 20)
        #expect(bad.classAccuracy < 0.3)
        #expect(bad.frechetDistance > 10 * good.frechetDistance)
        #expect(bad.recall < 0.1 && bad.inceptionScore < 2, "\(bad) vs \(good)")
        // Reproducible, intervals included.
        #expect(try SampleQuality.measure(samples: real, labels: labels, against: reference, bootstrap: 20) == good)
    }

    @Test func matchingImagesFollowTheLabels() throws {
        let data = try SyntheticShapes(seed: 0, split: .heldOut)
        let labels = [3, 3, 0, 10, 3]
        let (images, next) = try SampleQuality.matchingImages(in: data, labels: labels)
        #expect(images.shape == [5, 3, 32, 32])
        let classifier = try ShippedClassifier.load()
        #expect(try classifier.evaluate(images).predictions == labels)
        let (again, _) = try SampleQuality.matchingImages(in: data, labels: labels, from: next)
        #expect(again != images)
        let tiny = try SyntheticShapes(seed: 0, split: .heldOut, heldOutCount: 22)
        #expect(throws: EvaluationError.self) {
            try SampleQuality.matchingImages(in: tiny, labels: [Int](repeating: 1, count: 3))
        }
    }

    @Test func sampleCacheKeysOnEverythingTheSamplesDependOn() throws {
        let model = try makeDiT(TrainingTests.tinyConfig)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sampler = DiTSampler(kind: .ddim, steps: 2, seed: 4)
        let (drawn, first) = try SampleCache.samples(model: model, sampler: sampler, labels: [0, 1], directory: dir)
        let (read, second) = try SampleCache.samples(model: model, sampler: sampler, labels: [0, 1], directory: dir)
        #expect(!first && second && read == drawn)
        let key = SampleCache.key(model: model, sampler: sampler, labels: [0, 1])
        var reseeded = sampler
        reseeded.seed = 5
        #expect(SampleCache.key(model: model, sampler: reseeded, labels: [0, 1]) != key)
        #expect(SampleCache.key(model: model, sampler: sampler, labels: [1, 0]) != key)
        let changed = try makeDiT(TrainingTests.tinyConfig)
        changed.parameters.tensors[0].withUnsafeMutableBufferPointer { $0[0] += 1e-3 }
        #expect(SampleCache.key(model: changed, sampler: sampler, labels: [0, 1]) != key)
        // A damaged cache file is drawn again, not trusted.
        try Data("not npy".utf8).write(to: URL(fileURLWithPath: dir + "/" + key + ".npy"))
        let (again, cached) = try SampleCache.samples(model: model, sampler: sampler, labels: [0, 1], directory: dir)
        #expect(!cached && again == drawn)
    }

    @Test func reportsShowTheMetricsSideBySideWithTheVerdict() throws {
        let (reference, data, labels, next) = try Self.shippedSetup(perClass: 4)
        let (real, _) = try SampleQuality.matchingImages(in: data, labels: labels, from: next)
        let measured = try SampleQuality.measure(samples: real, labels: labels, against: reference, bootstrap: 5)
        var worse = measured
        worse.classAccuracy = measured.classAccuracy * 0.5
        func side(_ q: SampleQuality?) -> GraftReport.Side {
            GraftReport.Side(
                heldOutLoss: 0.1, frechetDistance: 1, parameters: 10, flops: nil, forwardSeconds: 0.1, quality: q)
        }
        var report = GraftReport(
            plan: "p", config: "{}", slots: [], teacher: side(measured), student: side(worse), samplePSNR: 20,
            samplesPerModel: 44, stage2Losses: [], seconds: 1,
            evaluation: .init(classifier: "c", skipped: nil, realImages: measured, teacherSamplesCached: false))
        #expect(report.recognitionRate == 0.5)
        #expect(report.summary.contains("at 50% of the teacher's rate") && report.summary.contains("class accuracy"))
        #expect(report.markdown.contains("precision (k=3)"))
        report.teacher.quality = nil
        report.evaluation?.skipped = "no classifier"
        #expect(report.recognitionRate == nil && report.summary.contains("not measured (no classifier)"))
    }

    @Test func shippedClassifierHeldOutAccuracy() throws {
        // The model card's claim, on the first 2,200 held-out images of the embedded model's data (the full 10,000
        // are measured by `zoo classifier evaluate`): at least 99%.
        let classifier = try ShippedClassifier.load()
        let (accuracy, _) = try ClassifierTrainer.measure(
            classifier, on: try SyntheticShapes(seed: 0, split: .heldOut), count: 2200)
        #expect(accuracy >= 0.99)
    }
}
