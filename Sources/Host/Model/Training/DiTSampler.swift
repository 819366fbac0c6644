import HostCore

/// Class-conditional image generation with a ``DiTModel``: DDPM with the learned variance or DDIM, over a
/// respaced schedule, with optional classifier-free guidance (DiT's `sample.py`).
public struct DiTSampler: Sendable {
    /// The reverse process.
    public enum Kind: String, Sendable, CaseIterable {
        /// Ancestral sampling with the model's (learned or fixed) variance.
        case ddpm
        /// Deterministic DDIM (eta 0): the same seed gives the same image.
        case ddim
    }

    public var kind: Kind = .ddim
    /// Sampling steps: the 1000 training steps respaced evenly to this many (DiT's `create_diffusion(str(steps))`).
    public var steps: Int = 50
    /// Guidance scale; guidance runs when it is not 1 and the model has a null class.
    public var cfgScale: Double = 1
    /// Guide only the first k output channels (DiT's sample.py guides 3); nil guides all latent channels.
    public var guidedChannels: Int?
    /// Seed of the initial noise (and of DDPM's per-step noise).
    public var seed: UInt64 = 0
    /// Clip each step's predicted x0 to [-1, 1] (`clip_denoised`). `nil` chooses by the model: on for pixel-space
    /// models (3 input channels, images in [-1, 1], as ADM samples them), off for latent models (as DiT's
    /// sample.py, whose latents are unbounded).
    public var clipDenoised: Bool?
    /// `x_T` to start from, `[N, in_channels, H, W]` (e.g. the noise another implementation drew, to compare DDIM
    /// samples exactly); nil draws it from ``seed``.
    public var initialNoise: Tensor<Float>?
    /// Most images per model forward: a larger batch (many samples, or guidance's doubled batch) runs in chunks of
    /// this many, so memory stays bounded (the attention scores alone are `4 H L^2` bytes per image) whatever the
    /// sample count. Each image's result does not depend on the chunking beyond float rounding.
    public var forwardBatch = 64

    public init(
        kind: Kind = .ddim, steps: Int = 50, cfgScale: Double = 1, guidedChannels: Int? = nil, seed: UInt64 = 0,
        clipDenoised: Bool? = nil
    ) {
        self.clipDenoised = clipDenoised
        self.kind = kind
        self.steps = steps
        self.cfgScale = cfgScale
        self.guidedChannels = guidedChannels
        self.seed = seed
    }

    /// Samples one image per entry of `labels`: `[N, in_channels, H, W]`.
    /// - Throws: ``DiffusionError`` for invalid steps or guidance settings, ``DiTError`` for labels the model
    ///   does not have.
    public func sample(
        _ model: DiTModel, labels: [Int], progress: ((_ step: Int, _ total: Int) -> Void)? = nil
    ) throws -> Tensor<Float> {
        let c = model.config
        guard !labels.isEmpty else {
            throw DiTError.argument(name: "labels", expected: "at least one class", found: "none")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= c.numClasses }) {
            throw DiTError.argument(name: "labels", expected: "classes in 0..<\(c.numClasses)", found: "\(bad)")
        }
        guard steps >= 1, steps <= 1000 else {
            throw DiTError.argument(name: "steps", expected: "1...1000 sampling steps", found: "\(steps)")
        }
        let diffusion = try GaussianDiffusion(respacing: "\(steps)", learnSigma: c.learnSigma)
        let chunk = max(1, forwardBatch)
        let conditional: ConditionalDiffusionModel = { x, t, y in
            let n = x.shape[0]
            guard n > chunk else { return try model.forward(x, timesteps: t.map(Double.init), labels: y) }
            var out: Tensor<Float>?
            for start in stride(from: 0, to: n, by: chunk) {
                let end = min(n, start + chunk)
                let y = try model.forward(
                    x.gatherRows(start..<end), timesteps: t[start..<end].map(Double.init), labels: Array(y[start..<end])
                )
                if out == nil { out = Tensor<Float>(zeros: [n] + y.shape.dropFirst()) }
                let width = y.count / (end - start)
                out!.withUnsafeMutableBufferPointer { dst in
                    y.withUnsafeBufferPointer { src in
                        for i in 0..<src.count { dst[start * width + i] = src[i] }
                    }
                }
            }
            return out!
        }
        let net: DiffusionModel
        if cfgScale != 1 {
            guard let null = c.nullClass else {
                throw DiTError.argument(
                    name: "cfg", expected: "1 (the model has no null class: class_dropout_prob is 0)",
                    found: "\(cfgScale)")
            }
            let guided = try ClassifierFreeGuidance(
                labels: labels, nullLabel: null, scale: cfgScale, guidedChannels: guidedChannels, model: conditional)
            net = guided.callAsFunction
        } else {
            net = { x, t in try conditional(x, t, labels) }
        }
        let shape = [labels.count, c.inChannels, c.inputSize, c.inputSize]
        let clip = clipDenoised ?? (c.inChannels == 3)
        switch kind {
        case .ddpm:
            return try diffusion.ddpmSample(
                shape: shape, seed: seed, clipDenoised: clip, initialNoise: initialNoise, progress: progress,
                model: net)
        case .ddim:
            return try diffusion.ddimSample(
                shape: shape, seed: seed, clipDenoised: clip, initialNoise: initialNoise, progress: progress,
                model: net)
        }
    }
}
