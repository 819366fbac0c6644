/// What the datasets (which know images, not models) need to know of a DiT: whether one fits a model.
extension ImageDataset {
    /// Why a DiT of configuration `c` cannot train on these images, or nil when it can: the images are
    /// 3-channel, so the model must be a pixel-space DiT of their size, with a label for each of their classes.
    public func mismatch(with c: DiTConfig) -> String? {
        guard c.inChannels == 3, resolution == c.inputSize else {
            return
                "its images are 3x\(resolution)x\(resolution), but the model takes \(c.inChannels)x\(c.inputSize)x\(c.inputSize) (in_channels, input_size)"
        }
        guard numClasses <= c.numClasses else {
            return "it has \(numClasses) classes, but the model's num_classes is \(c.numClasses)"
        }
        guard count >= 1 else { return "it is empty" }
        return nil
    }
}

extension SyntheticShapes {
    /// The training and held-out splits of the shapes for a model, at its input size.
    /// - Throws: ``SyntheticShapesError/incompatibleModel(inChannels:inputSize:)`` unless the model takes 3-channel
    ///   images of at least ``minimumResolution`` pixels a side.
    public static func splits(
        seed: UInt64, generator: Int = defaultGenerator, for config: DiTConfig
    ) throws(SyntheticShapesError) -> (train: Self, heldOut: Self) {
        guard config.inChannels == 3, config.inputSize >= minimumResolution else {
            throw .incompatibleModel(inChannels: config.inChannels, inputSize: config.inputSize)
        }
        return (
            try Self(seed: seed, split: .train, resolution: config.inputSize, generator: generator),
            try Self(seed: seed, split: .heldOut, resolution: config.inputSize, generator: generator)
        )
    }
}
