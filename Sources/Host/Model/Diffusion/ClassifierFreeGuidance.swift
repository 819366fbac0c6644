import HostCore

/// Classifier-free guidance (Ho & Salimans 2022) as DiT's `forward_with_cfg`, packaged as a ``DiffusionModel``
/// for the samplers.
///
/// Called with a batch `x` of `N` samples, it runs the conditional model ONCE on the doubled batch `[x; x]` with
/// labels `[labels; nullLabel x N]`, and returns `N` outputs: on the first `guidedChannels` output channels
/// (default: all `C` latent channels of `x`, that is every epsilon channel)
/// `uncond + scale * (cond - uncond)`, and on the remaining channels (further epsilon channels when
/// `guidedChannels < C`, and the variance channels) the conditional half's values.
///
/// DiT's sampler carries the doubled batch itself and returns both halves, whose guided channels are equal and
/// whose other channels come from the conditional and the unconditional half respectively; the sample it keeps is
/// the first (conditional) half, which is exactly what this model returns. DiT guides only the first 3 channels
/// (`guidedChannels: 3` reproduces that).
///
/// ```swift
/// let guided = try ClassifierFreeGuidance(labels: [207, 360], nullLabel: 1000, scale: 4) { x, t, y in
///     try dit(x, t, y)
/// }
/// let latents = try diffusion.ddpmSample(shape: [2, 4, 32, 32], seed: 0, model: guided.callAsFunction)
/// ```
public struct ClassifierFreeGuidance {
    /// One class label per sample of the batch the guided model is called with.
    public let labels: [Int]
    /// The class id the conditional model treats as "no class" (DiT: `num_classes`).
    public let nullLabel: Int
    /// The guidance scale `s`; 1 gives the conditional model.
    public let scale: Double
    /// How many leading output channels are guided; `nil` means all `C` latent channels of the input.
    public let guidedChannels: Int?
    private let model: ConditionalDiffusionModel

    /// A guided model over `model`.
    /// - Throws: ``DiffusionError/invalidArgument(argument:value:expected:)`` for a non-finite `scale` or
    ///   `guidedChannels` below 1.
    public init(
        labels: [Int], nullLabel: Int, scale: Double, guidedChannels: Int? = nil,
        model: @escaping ConditionalDiffusionModel
    ) throws(DiffusionError) {
        guard scale.isFinite else {
            throw .invalidArgument(argument: "scale", value: "\(scale)", expected: "a finite guidance scale")
        }
        if let guidedChannels, guidedChannels < 1 {
            throw .invalidArgument(
                argument: "guidedChannels", value: "\(guidedChannels)", expected: "at least 1 channel, or nil for all")
        }
        self.labels = labels
        self.nullLabel = nullLabel
        self.scale = scale
        self.guidedChannels = guidedChannels
        self.model = model
    }

    /// The guided output for `x` (`[N, C, ...]`, `N == labels.count`) at original timesteps `t`.
    /// - Throws: ``DiffusionError`` when `x`, `t` or the conditional model's output has the wrong shape or the
    ///   guided channels exceed the output's; the conditional model's errors unchanged.
    public func callAsFunction(_ x: Tensor<Float>, _ t: [Int]) throws -> Tensor<Float> {
        let batch = labels.count
        guard x.rank >= 2, x.shape.allSatisfy({ $0 >= 1 }) else {
            throw DiffusionError.invalidShape(
                argument: "x", shape: x.shape, expected: "[N, C, ...] with every extent at least 1")
        }
        guard x.shape[0] == batch else {
            throw DiffusionError.batchSizeMismatch(argument: "labels", expected: x.shape[0], actual: batch)
        }
        guard t.count == batch else {
            throw DiffusionError.batchSizeMismatch(argument: "t", expected: batch, actual: t.count)
        }
        var doubledShape = x.shape
        doubledShape[0] = 2 * batch
        var doubled = Tensor<Float>(zeros: doubledShape)
        doubled.withUnsafeMutableBufferPointer { d in
            x.withUnsafeBufferPointer { x in
                for i in x.indices {
                    d[i] = x[i]
                    d[x.count + i] = x[i]
                }
            }
        }
        let output = try model(doubled, t + t, labels + [Int](repeating: nullLabel, count: batch))
        guard output.rank == x.rank, output.shape[0] == 2 * batch, output.shape.dropFirst(2) == x.shape.dropFirst(2)
        else {
            var expected = doubledShape
            expected[1] = output.rank >= 2 ? output.shape[1] : x.shape[1]
            throw DiffusionError.shapeMismatch(
                argument: "conditional model output", expected: expected, actual: output.shape)
        }
        let outputChannels = output.shape[1]
        let guided = guidedChannels ?? x.shape[1]
        guard guided <= outputChannels else {
            throw DiffusionError.invalidArgument(
                argument: "guidedChannels", value: "\(guided)",
                expected: "at most the \(outputChannels) channels of the model output")
        }
        var resultShape = output.shape
        resultShape[0] = batch
        var result = Tensor<Float>(zeros: resultShape)
        let perSample = result.count / batch
        let guidedPerSample = guided * (perSample / outputChannels)
        result.withUnsafeMutableBufferPointer { r in
            output.withUnsafeBufferPointer { out in
                let half = r.count
                for n in 0..<batch {
                    let base = n * perSample
                    for i in base..<base + guidedPerSample {
                        let cond = Double(out[i])
                        let uncond = Double(out[half + i])
                        r[i] = Float(uncond + scale * (cond - uncond))
                    }
                    for i in base + guidedPerSample..<base + perSample { r[i] = out[i] }
                }
            }
        }
        return result
    }
}
