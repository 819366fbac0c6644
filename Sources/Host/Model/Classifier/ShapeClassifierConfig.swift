import Foundation

/// The architecture of a ``ShapeClassifier``: stages of 3x3 convolutions (ReLU after each), each stage followed by a
/// 2x2 average pool; the last map is flattened into a linear layer of ``hidden`` units (the **feature** layer the
/// Fréchet distance and the nearest-neighbour metrics use, taken before its ReLU) and a linear layer to the class
/// logits.
public struct ShapeClassifierConfig: Codable, Equatable, Sendable {
    /// Image side in pixels (a multiple of `2^stages.count`).
    public var resolution: Int
    /// Input channels (3 for RGB).
    public var inChannels: Int
    /// Output channels of each convolution, stage by stage.
    public var stages: [[Int]]
    /// Units of the feature layer.
    public var hidden: Int
    /// The class names, in label order.
    public var classNames: [String]

    /// The shipped architecture: 32 px RGB, stages (16), (32, 32), (64, 64), 128 features.
    public init(
        resolution: Int = 32, inChannels: Int = 3, stages: [[Int]] = [[16], [32, 32], [64, 64]], hidden: Int = 128,
        classNames: [String]
    ) {
        self.resolution = resolution
        self.inChannels = inChannels
        self.stages = stages
        self.hidden = hidden
        self.classNames = classNames
    }

    enum CodingKeys: String, CodingKey {
        case resolution, inChannels = "in_channels", stages, hidden, classNames = "class_names"
    }

    /// Number of classes.
    public var numClasses: Int { classNames.count }
    /// Side of the last map, before flattening.
    public var finalSide: Int { resolution >> stages.count }
    /// Inputs of the feature layer: channels of the last convolution times the last map's pixels.
    public var flattened: Int { (stages.last?.last ?? inChannels) * finalSide * finalSide }

    /// The convolutions in order: input channels, output channels, the side they run at, and whether a pool follows.
    var convolutions: [(cin: Int, cout: Int, side: Int, poolAfter: Bool)] {
        var out: [(Int, Int, Int, Bool)] = []
        var cin = inChannels, side = resolution
        for stage in stages {
            for (i, cout) in stage.enumerated() {
                out.append((cin, cout, side, i == stage.count - 1))
                cin = cout
            }
            side /= 2
        }
        return out
    }

    /// Checks the shape rules.
    /// - Throws: ``ClassifierError/config(field:expected:)`` naming the first field that breaks one.
    public func validate() throws(ClassifierError) {
        guard inChannels >= 1 else { throw .config(field: "in_channels", expected: "at least 1") }
        guard !stages.isEmpty, stages.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 >= 1 } }) else {
            throw .config(field: "stages", expected: "non-empty stages of positive channel counts")
        }
        guard resolution >= 1 << stages.count, resolution % (1 << stages.count) == 0 else {
            throw .config(field: "resolution", expected: "a positive multiple of \(1 << stages.count)")
        }
        guard hidden >= 1 else { throw .config(field: "hidden", expected: "at least 1") }
        guard numClasses >= 2 else { throw .config(field: "class_names", expected: "at least 2 classes") }
    }

    /// The configuration as one line of JSON (sorted keys), as a checkpoint's metadata stores it.
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}
