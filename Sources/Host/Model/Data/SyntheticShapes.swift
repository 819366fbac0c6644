import HostCore

/// A class-conditional dataset of small RGB pictures of shapes and patterns, generated on the fly.
///
/// Sample `i` is a pure function of `(seed, i)`: its generator is a ``SplitMix64`` seeded from a hash of both,
/// so any index can be drawn in any order, on any machine, and gives the same image. Each image is a
/// two-colour picture (random background and foreground colours at least 0.5 apart in RGB, on a [0, 1] scale)
/// of its class, with random positions, sizes and phases, plus mild Gaussian noise (σ = 0.04 on the [-1, 1]
/// scale, clamped) unless `noise` is off.
///
/// Several classes are defined by *global* structure, so a model has to mix information across the whole
/// image to tell them apart: stripes that span the image, a checkerboard, a left-right mirror-symmetric blob
/// pattern, concentric rings, a corner-to-corner diagonal, and exactly two versus exactly three dots.
///
/// Labels are balanced: the sample at global index `g` has label `g % numClasses`. The ``Split/train`` split
/// holds global indices `0..<trainCount`; ``Split/heldOut`` holds `trainCount..<trainCount + heldOutCount`,
/// disjoint from it (for the same `trainCount`).
///
/// ```swift
/// let train = try SyntheticShapes(seed: 7)
/// let test = try SyntheticShapes(seed: 7, split: .heldOut)
/// let (image, label) = train.sample(0)    // [3, 32, 32] in [-1, 1], label 0 ("horizontal-stripes")
/// ```
public struct SyntheticShapes: ImageDataset {
    /// Which range of global indices a dataset value draws from.
    public enum Split: String, Sendable, CaseIterable {
        /// Global indices `0..<trainCount`.
        case train
        /// Global indices `trainCount..<trainCount + heldOutCount`.
        case heldOut
    }

    /// The classes, in label order.
    public enum ShapeClass: Int, Sendable, CaseIterable {
        case horizontalStripes, verticalStripes, checkerboard, mirrorBlobs, rings, twoDots, threeDots, diagonal,
            disc, squareOutline, cross

        /// The class's name (also its folder name when exported as an ImageFolder).
        public var name: String {
            switch self {
            case .horizontalStripes: "horizontal-stripes"
            case .verticalStripes: "vertical-stripes"
            case .checkerboard: "checkerboard"
            case .mirrorBlobs: "mirror-blobs"
            case .rings: "rings"
            case .twoDots: "two-dots"
            case .threeDots: "three-dots"
            case .diagonal: "diagonal"
            case .disc: "disc"
            case .squareOutline: "square-outline"
            case .cross: "cross"
            }
        }
    }

    /// The smallest image side the shapes are drawn at.
    public static let minimumResolution = 16

    /// The seed every sample is derived from.
    public let seed: UInt64
    /// Which split this value draws from.
    public let split: Split
    /// Size of the training split; the held-out split starts at this global index.
    public let trainCount: Int
    /// Size of the held-out split.
    public let heldOutCount: Int
    public let resolution: Int
    /// Whether samples carry Gaussian noise (σ = 0.04); without it every image has exactly two colours.
    public let noise: Bool
    /// The version of the drawing code the images come from (one of ``generators``).
    public let generator: Int

    /// A synthetic dataset.
    /// - Parameters:
    ///   - seed: the dataset's seed.
    ///   - split: the split to draw from.
    ///   - trainCount: size of the training split (the held-out split begins after it).
    ///   - heldOutCount: size of the held-out split.
    ///   - resolution: image side in pixels, at least 16 (the shapes are designed at 32 and scale with it).
    ///   - noise: add mild Gaussian noise (on by default; off gives exact two-colour renders).
    ///   - generator: the version of the drawing code, one of ``generators``.
    /// - Throws: ``SyntheticShapesError/argument(name:value:expected:)`` for a negative split size, a
    ///   resolution below 16 or an unknown generator.
    public init(
        seed: UInt64 = 0, split: Split = .train, trainCount: Int = 50_000, heldOutCount: Int = 10_000,
        resolution: Int = 32, noise: Bool = true, generator: Int = defaultGenerator
    ) throws(SyntheticShapesError) {
        guard trainCount >= 0 else { throw .argument(name: "trainCount", value: trainCount, expected: "at least 0") }
        guard heldOutCount >= 0 else {
            throw .argument(name: "heldOutCount", value: heldOutCount, expected: "at least 0")
        }
        guard resolution >= Self.minimumResolution else {
            throw .argument(name: "resolution", value: resolution, expected: "at least \(Self.minimumResolution)")
        }
        guard Self.generators.contains(generator) else {
            throw .argument(name: "generator", value: generator, expected: Self.generatorChoices)
        }
        self.seed = seed
        self.split = split
        self.trainCount = trainCount
        self.heldOutCount = heldOutCount
        self.resolution = resolution
        self.noise = noise
        self.generator = generator
    }

    public var count: Int { split == .train ? trainCount : heldOutCount }
    /// The versions of the drawing code (``ShapeScene``) that can be drawn. A new version is added whenever a
    /// seed's images change, and the old ones stay, so that data a model was trained on can be drawn again.
    /// (Generator 2 was an experiment that never shipped.)
    public static let generators = [1, 3]
    /// The generator of the data the shipped default model (`models/dit-shapes`) was trained on. (Generator 1
    /// was the data of the previous default, whose samples never showed checkerboards, rings, dots or outlines:
    /// see the model card.)
    public static let defaultGenerator = 3
    /// ``generators`` for messages and help: "1 or 3".
    public static var generatorChoices: String { generators.map(String.init).joined(separator: " or ") }
    public var identity: String {
        "synthetic shapes (generator \(generator)), seed \(seed), \(split.rawValue) split of \(count) (train \(trainCount)), "
            + "\(resolution) px, noise \(noise ? "on" : "off")"
    }
    public var numClasses: Int { ShapeClass.allCases.count }
    public var classNames: [String] { ShapeClass.allCases.map(\.name) }

    /// The global index of this split's sample `index`: `index` for training, `trainCount + index` held out.
    public func globalIndex(_ index: Int) -> Int {
        precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count) (\(split) split)")
        return split == .train ? index : trainCount + index
    }

    /// The label of this split's sample `index`, without rendering it.
    public func label(_ index: Int) -> Int { globalIndex(index) % numClasses }

    /// Sample `index` of this split: a `[3, R, R]` image in [-1, 1] and its label. Never throws.
    public func sample(_ index: Int) -> (image: Tensor<Float>, label: Int) {
        render(globalIndex: globalIndex(index))
    }

    /// The sample at a global index (ignoring the split), a pure function of `(seed, globalIndex)`.
    public func render(globalIndex: Int) -> (image: Tensor<Float>, label: Int) {
        precondition(globalIndex >= 0, "negative global index \(globalIndex)")
        var rng = SplitMix64(seed: Self.sampleSeed(seed: seed, index: globalIndex))
        let shape = ShapeClass(rawValue: globalIndex % numClasses)!
        let scene = ShapeScene.draw(shape, resolution: resolution, generator: generator, using: &rng)
        return (scene.tensor(noise: noise ? 0.04 : 0, using: &rng), shape.rawValue)
    }

    /// The generator seed of sample `index`: two SplitMix64 rounds over the dataset seed and the index.
    static func sampleSeed(seed: UInt64, index: Int) -> UInt64 {
        var outer = SplitMix64(seed: seed ^ 0x5348_4150_4553_0001)  // "SHAPES", version 1
        let key = outer.next()
        var inner = SplitMix64(seed: key ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        return inner.next()
    }
}
