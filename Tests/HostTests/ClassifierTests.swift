import Foundation
import Testing

@testable import HostCore
@testable import HostGraft
@testable import HostModel

/// ``ShapeClassifier``: its forward pass against a float64 reference written from the layer definitions (naive loops,
/// image-major layout: nothing shared with the channel-major im2col kernels), its gradients against central finite
/// differences of that reference, batch independence, training determinism, the file format's errors and the shipped
/// classifier's held-out accuracy.
@Suite struct ClassifierTests {
    /// A small network (8 px, two stages) so the reference and finite differences stay fast.
    static let small = ShapeClassifierConfig(
        resolution: 8, inChannels: 3, stages: [[3], [4, 5]], hidden: 6, classNames: ["a", "b", "c", "d"])

    /// The float64 reference: logits and features of one image `[C, R, R]` (flat) for parameters `p` (flat lists in
    /// the parameter order).
    static func reference(
        _ config: ShapeClassifierConfig, _ p: [[Double]], image: [Double]
    ) -> (logits: [Double], features: [Double]) {
        var x = image, channels = config.inChannels, side = config.resolution
        var layer = 0
        for stage in config.stages {
            for cout in stage {
                let w = p[2 * layer], b = p[2 * layer + 1]
                var y = [Double](repeating: 0, count: cout * side * side)
                for o in 0..<cout {
                    for r in 0..<side {
                        for c in 0..<side {
                            var s = b[o]
                            for i in 0..<channels {
                                for ky in 0..<3 {
                                    for kx in 0..<3 {
                                        let (yy, xx) = (r + ky - 1, c + kx - 1)
                                        guard yy >= 0, yy < side, xx >= 0, xx < side else { continue }
                                        s += w[((o * channels + i) * 3 + ky) * 3 + kx] * x[(i * side + yy) * side + xx]
                                    }
                                }
                            }
                            y[(o * side + r) * side + c] = max(0, s)
                        }
                    }
                }
                x = y
                channels = cout
                layer += 1
            }
            let half = side / 2
            var pooled = [Double](repeating: 0, count: channels * half * half)
            for o in 0..<channels {
                for r in 0..<half {
                    for c in 0..<half {
                        var s = 0.0
                        for dy in 0..<2 { for dx in 0..<2 { s += x[(o * side + 2 * r + dy) * side + 2 * c + dx] } }
                        pooled[(o * half + r) * half + c] = s / 4
                    }
                }
            }
            x = pooled
            side = half
        }
        let fc = 2 * layer
        let features = (0..<config.hidden).map { j in
            p[fc + 1][j] + (0..<x.count).reduce(0.0) { $0 + p[fc][j * x.count + $1] * x[$1] }
        }
        let logits = (0..<config.numClasses).map { k in
            p[fc + 3][k]
                + (0..<config.hidden).reduce(0.0) { $0 + p[fc + 2][k * config.hidden + $1] * max(0, features[$1]) }
        }
        return (logits, features)
    }

    static func referenceLoss(
        _ config: ShapeClassifierConfig, _ p: [[Double]], images: [[Double]], labels: [Int]
    ) -> Double {
        var total = 0.0
        for (image, label) in zip(images, labels) {
            let l = reference(config, p, image: image).logits
            let top = l.max()!
            total -= l[label] - top - log(l.reduce(0) { $0 + exp($1 - top) })
        }
        return total / Double(images.count)
    }

    /// A classifier with small random biases too (so no bias is trivially zero) and a batch of random images.
    static func setup(images n: Int, seed: UInt64) throws -> (ShapeClassifier, Tensor<Float>, [[Double]]) {
        var classifier = try ShapeClassifier(config: small, seed: seed)
        for k in stride(from: 1, to: classifier.parameters.count, by: 2) {
            classifier.parameters.tensors[k] = .randomNormal(
                classifier.parameters.tensors[k].shape, seed: seed &+ 77 &+ UInt64(k), scale: 0.1)
        }
        let images = Tensor<Float>.randomNormal([n, 3, 8, 8], seed: seed &+ 5, scale: 0.6)
        let rows = images.scalars.map(Double.init)
        let size = 3 * 64
        return (classifier, images, (0..<n).map { Array(rows[($0 * size)..<(($0 + 1) * size)]) })
    }

    @Test func forwardMatchesFloat64Reference() throws {
        let (classifier, images, rows) = try Self.setup(images: 5, seed: 3)
        let pass = try classifier.forward(images)
        let p = classifier.parameters.tensors.map { $0.scalars.map(Double.init) }
        for (n, image) in rows.enumerated() {
            let (logits, features) = Self.reference(Self.small, p, image: image)
            // float32 products over at most 45 terms of O(1) values: 1e-5 of the value's scale.
            for k in 0..<4 { #expect(abs(Double(pass.logits[n, k]) - logits[k]) <= 1e-5 * (1 + abs(logits[k]))) }
            for j in 0..<6 { #expect(abs(Double(pass.features[n, j]) - features[j]) <= 1e-5 * (1 + abs(features[j]))) }
        }
    }

    @Test func resultsDoNotDependOnTheBatch() throws {
        let (classifier, images, _) = try Self.setup(images: 6, seed: 4)
        let all = try classifier.forward(images).logits
        let alone = try classifier.evaluate(images, batchSize: 1).probabilities
        let pairs = try classifier.evaluate(images, batchSize: 4).probabilities
        let probabilities = try classifier.forward(images).probabilities
        for n in 0..<6 {
            for k in 0..<4 {
                #expect(abs(alone[n][k] - probabilities[n][k]) <= 1e-6)
                #expect(abs(pairs[n][k] - probabilities[n][k]) <= 1e-6)
            }
        }
        #expect(all.count == 24)
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        let (classifier, images, rows) = try Self.setup(images: 4, seed: 9)
        let labels = [0, 3, 1, 2]
        let pass = try classifier.forward(images)
        let (loss, gradients) = try classifier.lossAndGradients(pass, labels: labels)
        var p = classifier.parameters.tensors.map { $0.scalars.map(Double.init) }
        #expect(abs(loss - Self.referenceLoss(Self.small, p, images: rows, labels: labels)) <= 1e-5)
        // Central differences of the float64 reference, step 1e-5 (truncation O(h^2), far from the ReLU kinks for
        // all but a measure-zero set of entries), against the float32 analytic gradient: 1e-3 absolute plus 1e-2 of
        // the value.
        var rng = SplitMix64(seed: 11)
        for k in 0..<p.count {
            for _ in 0..<min(6, p[k].count) {
                let i = Int(rng.next() % UInt64(p[k].count))
                let saved = p[k][i], h = 1e-5
                p[k][i] = saved + h
                let plus = Self.referenceLoss(Self.small, p, images: rows, labels: labels)
                p[k][i] = saved - h
                let minus = Self.referenceLoss(Self.small, p, images: rows, labels: labels)
                p[k][i] = saved
                let numeric = (plus - minus) / (2 * h)
                let analytic = Double(gradients.tensors[k][flat: i])
                #expect(
                    abs(numeric - analytic) <= 1e-3 + 1e-2 * abs(numeric),
                    "\(classifier.parameters.names[k])[\(i)]: numeric \(numeric), analytic \(analytic)")
            }
        }
    }

    @Test func trainingLearnsAndRepeatsBitForBit() throws {
        let config = ShapeClassifierConfig(
            resolution: 16, stages: [[8], [8]], hidden: 16, classNames: SyntheticShapes.ShapeClass.allCases.map(\.name))
        let data = try SyntheticShapes(seed: 2, trainCount: 5000, resolution: 16)
        var settings = ClassifierTrainer.Settings()
        settings.steps = 40
        settings.batchSize = 16
        let (a, history) = try ClassifierTrainer.train(config: config, settings: settings, data: data, logEvery: 20)
        let (b, _) = try ClassifierTrainer.train(config: config, settings: settings, data: data, logEvery: 20)
        #expect(a.parameters.tensors == b.parameters.tensors)
        #expect(history.count == 2 && history[1].loss < history[0].loss)
    }

    @Test func refusesMismatchedDataAndInputs() throws {
        let (classifier, _, _) = try Self.setup(images: 1, seed: 1)
        let data = try SyntheticShapes(seed: 0)
        #expect(throws: ClassifierError.self) { try ClassifierTrainer.measure(classifier, on: data, count: 10) }
        #expect(throws: ClassifierError.self) { try classifier.forward(Tensor<Float>(zeros: [2, 3, 16, 16])) }
        var bad = Tensor<Float>(zeros: [1, 3, 8, 8])
        bad[0, 1, 2, 3] = .nan
        #expect(throws: ClassifierError.self) { try classifier.forward(bad) }
    }

    @Test func fileRoundTripsAndNamesWhatIsWrong() throws {
        let (classifier, images, _) = try Self.setup(images: 2, seed: 6)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("clf-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try classifier.write(path: folder + "/c.safetensors")
        let read = try ShapeClassifier.read(path: folder + "/c.safetensors")
        #expect(read.config == classifier.config)
        #expect(try read.forward(images).logits == classifier.forward(images).logits)
        // A DiT-style file without the classifier's metadata, and one with a misshapen tensor.
        try SafetensorsFile.write(path: folder + "/plain.safetensors", tensors: [("x", Tensor<Float>(zeros: [2]))])
        #expect {
            try ShapeClassifier.read(path: folder + "/plain.safetensors")
        } throws: { "\($0)".contains("plain.safetensors") && "\($0)".contains(ShapeClassifier.configMetadataKey) }
        // Tensors in another order read the same; one the network does not have is named.
        let tensors = zip(classifier.parameters.names, classifier.parameters.tensors).map { ($0, $1) }
        let meta = [ShapeClassifier.configMetadataKey: classifier.config.jsonString()]
        try SafetensorsFile.write(path: folder + "/reversed.safetensors", tensors: tensors.reversed(), metadata: meta)
        #expect(
            try ShapeClassifier.read(path: folder + "/reversed.safetensors").parameters.names
                == classifier.parameters.names)
        try SafetensorsFile.write(
            path: folder + "/extra.safetensors", tensors: tensors + [("fc3.weight", Tensor(zeros: [1]))], metadata: meta
        )
        #expect { try ShapeClassifier.read(path: folder + "/extra.safetensors") } throws: {
            "\($0)".contains("fc3.weight")
        }
        var broken = classifier
        broken.parameters.tensors[0] = Tensor(zeros: [3, 3, 3, 2])
        try broken.write(path: folder + "/broken.safetensors")
        #expect {
            try ShapeClassifier.read(path: folder + "/broken.safetensors")
        } throws: { "\($0)".contains("conv1.weight") && "\($0)".contains("[3, 3, 3, 3]") }
    }
}
