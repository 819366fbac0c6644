import HostCore
import HostModel

/// How much of each class's *layout* a DiT has learnt, measured at one noise level.
///
/// For every class, a few images `x0` are noised to `x_t = sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) ε` at one timestep `t`
/// with fixed noise ε, and the model's ε prediction (the first `in_channels` output channels, given the true
/// label) is scored by its mean squared error against ε. The yardstick is the best predictor that knows each
/// image's mean colour but nothing of where things are: it takes x0 to be the image's per-channel mean x̄0 at
/// every pixel, so its ε is `(x_t − sqrt(ᾱ_t) x̄0) / sqrt(1 − ᾱ_t)` and its error is
///
///     ᾱ_t / (1 − ᾱ_t) · mean((x0 − x̄0)²)
///
/// The ratio of the two errors is about 1 for a model that has learnt the palette only, below 1 when it knows
/// something of the class's layout, and 0 for a perfect denoiser. At t = 500 (ᾱ ≈ 0.08) the noise hides the
/// layout, so only a model that has learnt it from the label and the faint remaining signal gets below 1: the
/// measure tracks pretraining long before samples show the shapes (see `models/dit-shapes/MODEL_CARD.md`).
///
/// ```swift
/// let probe = try LayoutProbe(timestep: 500, samplesPerClass: 16)
/// for s in try probe.scores(model: model, data: data, diffusion: try GaussianDiffusion()) { print(s.name, s.ratio) }
/// ```
public struct LayoutProbe: Sendable {
    /// One class's result.
    public struct ClassScore: Sendable, Equatable, Encodable {
        /// The class label.
        public let label: Int
        /// The class name.
        public let name: String
        /// The number of images scored.
        public let samples: Int
        /// Mean squared error of the model's ε prediction.
        public let modelError: Double
        /// Mean squared error of the mean-colour predictor's ε.
        public let meanColourError: Double
        /// `modelError / meanColourError` (infinity when the images are flat and the model is not exact).
        public let ratio: Double

        init(label: Int, name: String, samples: Int, modelError: Double, meanColourError: Double) {
            (self.label, self.name, self.samples) = (label, name, samples)
            (self.modelError, self.meanColourError) = (modelError, meanColourError)
            ratio = modelError == 0 ? 0 : modelError / meanColourError
        }

        enum CodingKeys: String, CodingKey {
            case label, name, samples, ratio, modelError = "model_error", meanColourError = "mean_colour_error"
        }
    }

    /// The timestep the images are noised to.
    public let timestep: Int
    /// How many images of each class are scored (the first ones in index order).
    public let samplesPerClass: Int
    /// The seed of the noise ε (the same images and seed give the same noise).
    public let noiseSeed: UInt64
    /// Images per model forward (bounds memory; the images and noise do not depend on it).
    public let batchSize: Int

    /// A probe.
    /// - Throws: ``EvaluationError/tooFewSamples(argument:needed:found:)`` naming `samplesPerClass` or
    ///   `batchSize` when one is below 1, or ``EvaluationError/outOfRange(argument:value:expected:)`` naming
    ///   `timestep` when it is negative (the upper bound is checked against the diffusion in ``scores``).
    public init(
        timestep: Int = 500, samplesPerClass: Int = 16, noiseSeed: UInt64 = 0, batchSize: Int = 32
    ) throws(EvaluationError) {
        guard samplesPerClass >= 1 else {
            throw .tooFewSamples(argument: "samplesPerClass", needed: 1, found: samplesPerClass)
        }
        guard batchSize >= 1 else { throw .tooFewSamples(argument: "batchSize", needed: 1, found: batchSize) }
        guard timestep >= 0 else { throw .outOfRange(argument: "timestep", value: timestep, expected: "at least 0") }
        self.timestep = timestep
        self.samplesPerClass = samplesPerClass
        self.noiseSeed = noiseSeed
        self.batchSize = batchSize
    }

    /// The indices of the first ``samplesPerClass`` images of each class of `data`, class by class.
    /// - Throws: ``EvaluationError/tooFewSamples(argument:needed:found:)`` naming a class that has no image, or
    ///   the error of loading an image.
    public func indices(in data: any ImageDataset) throws -> [[Int]] {
        var chosen = [[Int]](repeating: [], count: data.numClasses)
        var full = 0
        var index = 0
        while index < data.count && full < data.numClasses {
            let label = try data.label(index)
            if chosen[label].count < samplesPerClass {
                chosen[label].append(index)
                if chosen[label].count == samplesPerClass { full += 1 }
            }
            index += 1
        }
        if let empty = chosen.firstIndex(where: \.isEmpty) {
            throw EvaluationError.tooFewSamples(argument: "class '\(data.classNames[empty])'", needed: 1, found: 0)
        }
        return chosen
    }

    /// The score of every class of `data` (in label order) for `model` with its current parameters.
    /// - Throws: ``EvaluationError`` when `timestep` is beyond `diffusion` or the data do not fit the model, and
    ///   the model's or the dataset's errors.
    public func scores(model: DiTModel, data: any ImageDataset, diffusion: GaussianDiffusion) throws -> [ClassScore] {
        guard timestep < diffusion.numTimesteps else {
            throw EvaluationError.outOfRange(
                argument: "timestep", value: timestep, expected: "below \(diffusion.numTimesteps)")
        }
        if let why = data.mismatch(with: model.config) { throw EvaluationError.incompatibleData(why) }
        var result: [ClassScore] = []
        for (label, indices) in try indices(in: data).enumerated() {
            var modelSum = 0.0, meanColourSum = 0.0
            var start = 0
            while start < indices.count {
                let part = Array(indices[start..<min(indices.count, start + batchSize)])
                let (x0, labels) = try data.batch(part)
                let noise = imageNoise(label: label, positions: start..<start + part.count, shape: x0.shape)
                let t = [Int](repeating: timestep, count: part.count)
                let xt = try diffusion.qSample(x0: x0, t: t, noise: noise)
                let out = try model.forward(xt, timesteps: t.map(Double.init), labels: labels)
                let sums = try Self.errorSums(
                    x0: x0, noise: noise, output: out, alphaBar: diffusion.alphasCumprod[timestep])
                modelSum += sums.model
                meanColourSum += sums.meanColour
                start += part.count
            }
            let elements = Double(indices.count * 3 * data.resolution * data.resolution)
            result.append(
                ClassScore(
                    label: label, name: data.classNames[label], samples: indices.count,
                    modelError: modelSum / elements, meanColourError: meanColourSum / elements))
        }
        return result
    }

    /// The summed squared ε errors of a batch: the model's (its first `C` output channels against `noise`) and the
    /// mean-colour predictor's (in closed form, `ᾱ/(1 − ᾱ) Σ (x0 − x̄0)²` with x̄0 per image and channel).
    /// - Throws: ``EvaluationError/shape(argument:expected:found:)`` when `output` is not `[N, C or more, H, W]`
    ///   for `x0` of shape `[N, C, H, W]`, or `noise` differs from `x0`.
    public static func errorSums(
        x0: Tensor<Float>, noise: Tensor<Float>, output: Tensor<Float>, alphaBar: Double
    ) throws(EvaluationError) -> (model: Double, meanColour: Double) {
        guard x0.rank == 4 else { throw .shape(argument: "x0", expected: "[N, C, H, W]", found: x0.shape) }
        let (n, c, plane) = (x0.shape[0], x0.shape[1], x0.shape[2] * x0.shape[3])
        guard noise.shape == x0.shape else {
            throw .shape(argument: "noise", expected: "\(x0.shape)", found: noise.shape)
        }
        guard output.rank == 4, output.shape[0] == n, output.shape[1] >= c,
            Array(output.shape[2...]) == Array(x0.shape[2...])
        else {
            throw .shape(
                argument: "output", expected: "[\(n), \(c) or more, \(x0.shape[2]), \(x0.shape[3])]",
                found: output.shape)
        }
        let outChannels = output.shape[1]
        var model = 0.0, spread = 0.0
        x0.withUnsafeBufferPointer { x in
            noise.withUnsafeBufferPointer { e in
                output.withUnsafeBufferPointer { o in
                    for i in 0..<n {
                        for ch in 0..<c {
                            let base = (i * c + ch) * plane
                            let outBase = (i * outChannels + ch) * plane
                            var mean = 0.0
                            for p in 0..<plane { mean += Double(x[base + p]) }
                            mean /= Double(plane)
                            for p in 0..<plane {
                                let d = Double(o[outBase + p]) - Double(e[base + p])
                                model += d * d
                                let s = Double(x[base + p]) - mean
                                spread += s * s
                            }
                        }
                    }
                }
            }
        }
        return (model, alphaBar / (1 - alphaBar) * spread)
    }

    /// The noise of a class's images at `positions` (their places in the class's list), `[N, C, H, W]`: each image's
    /// noise comes from its own seed, so the batch size does not change it.
    func imageNoise(label: Int, positions: Range<Int>, shape: [Int]) -> Tensor<Float> {
        let size = shape.dropFirst().reduce(1, *)
        var noise = Tensor<Float>(zeros: shape)
        noise.withUnsafeMutableBufferPointer { dst in
            for (n, k) in positions.enumerated() {
                var g = SplitMix64(
                    seed: noiseSeed ^ (UInt64(label) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(k) &* 0xD1B5_4A32_D192_ED03))
                Tensor<Float>.randomNormal([size], seed: g.next()).withUnsafeBufferPointer { src in
                    for i in 0..<size { dst[n * size + i] = src[i] }
                }
            }
        }
        return noise
    }
}
