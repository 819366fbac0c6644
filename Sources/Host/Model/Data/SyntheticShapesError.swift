/// Why a ``SyntheticShapes`` dataset cannot be made with the given arguments, or cannot feed a given model.
///
/// The description names the argument (or the model's configuration field) and what was expected.
public enum SyntheticShapesError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An initialiser argument is out of range.
    case argument(name: String, value: Int, expected: String)
    /// A model takes inputs the shapes cannot be (they are 3-channel images of at least
    /// ``SyntheticShapes/minimumResolution`` pixels a side).
    case incompatibleModel(inChannels: Int, inputSize: Int)

    public var description: String {
        switch self {
        case .argument(let name, let value, let expected):
            return "synthetic shapes: '\(name)' is \(value), expected \(expected)"
        case .incompatibleModel(let inChannels, let inputSize):
            let m = SyntheticShapes.minimumResolution
            return
                "the synthetic shapes are 3-channel images of at least \(m)x\(m) pixels, but the model's in_channels is \(inChannels) and its input_size \(inputSize)"
        }
    }
}
