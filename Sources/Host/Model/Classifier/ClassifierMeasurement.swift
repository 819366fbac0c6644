import Foundation

/// A classifier's measured accuracy on a dataset, as `zoo classifier` prints it and writes `held-out.json`.
public struct ClassifierMeasurement: Codable, Sendable {
    /// The measured data's identity (``ImageDataset/identity``).
    public var data: String
    /// Images measured.
    public var images: Int
    /// Fraction classified correctly.
    public var accuracy: Double
    /// `confusion[true][predicted]` counts.
    public var confusion: [[Int]]
    public var classNames: [String]
    /// The training data's identity, when this measurement was made at the end of training.
    public var training: String?
    public var settings: ClassifierTrainer.Settings?

    public init(
        data: String, images: Int, accuracy: Double, confusion: [[Int]], classNames: [String], training: String?,
        settings: ClassifierTrainer.Settings?
    ) {
        self.data = data
        self.images = images
        self.accuracy = accuracy
        self.confusion = confusion
        self.classNames = classNames
        self.training = training
        self.settings = settings
    }

    enum CodingKeys: String, CodingKey {
        case data, images, accuracy, confusion, classNames = "class_names", training, settings
    }

    /// Pretty-printed JSON with sorted keys.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// The accuracy, the per-class recall and the largest confusions, a few lines.
    public var summary: String {
        var lines = [String(format: "accuracy %.2f%% on %d images of %@", 100 * accuracy, images, data)]
        for (c, name) in classNames.enumerated() {
            let row = confusion[c], total = row.reduce(0, +)
            let worst = row.enumerated().filter { $0.offset != c && $0.element > 0 }.max { $0.element < $1.element }
            lines.append(
                "  " + name.padding(toLength: 20, withPad: " ", startingAt: 0)
                    + String(format: " %6.2f%%", 100 * Double(row[c]) / Double(max(1, total)))
                    + (worst.map { " (most often mistaken for \(classNames[$0.offset]): \($0.element))" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}
