/// Errors of the Gaussian diffusion schedule, timestep respacing, training loss and samplers.
///
/// Each case names the argument at fault and what was expected, so the message reads on its own.
public enum DiffusionError: Error, Equatable, CustomStringConvertible {
    /// The number of diffusion steps is below 1.
    case invalidTimestepCount(Int)
    /// A schedule (after respacing) has fewer than the 2 steps the posterior variance needs.
    case tooFewTimesteps(Int)
    /// `betas[index]` is not in (0, 1].
    case invalidBeta(index: Int, value: Double)
    /// A respacing string that is neither `"ddimN"` nor comma-separated positive integers.
    case malformedSpacing(spec: String, reason: String)
    /// Section `section` of a respacing spans `size` original steps, fewer than the `count` asked for.
    case sectionTooSmall(spec: String, section: Int, size: Int, count: Int)
    /// `"ddimN"`: no integer stride gives exactly `desiredCount` of `numTimesteps` steps.
    case noIntegerStride(numTimesteps: Int, desiredCount: Int)
    /// `argument[index] = value` is outside `0..<count`.
    case timestepOutOfRange(argument: String, index: Int, value: Int, count: Int)
    /// `argument` has `actual` entries where the batch has `expected`.
    case batchSizeMismatch(argument: String, expected: Int, actual: Int)
    /// `argument` has shape `actual` where `expected` was required.
    case shapeMismatch(argument: String, expected: [Int], actual: [Int])
    /// `argument` has a shape that cannot be used; `expected` says what is needed.
    case invalidShape(argument: String, shape: [Int], expected: String)
    /// A scalar argument outside its domain.
    case invalidArgument(argument: String, value: String, expected: String)

    public var description: String {
        switch self {
        case .invalidTimestepCount(let count):
            "the number of diffusion steps must be at least 1, got \(count)"
        case .tooFewTimesteps(let count):
            "a diffusion schedule needs at least 2 steps, got \(count)"
        case .invalidBeta(let index, let value):
            "betas[\(index)] = \(value) is not in (0, 1]"
        case .malformedSpacing(let spec, let reason):
            "timestep respacing '\(spec)' is malformed: \(reason)"
        case .sectionTooSmall(let spec, let section, let size, let count):
            "timestep respacing '\(spec)': section \(section) has \(size) steps and cannot be divided into \(count)"
        case .noIntegerStride(let numTimesteps, let desiredCount):
            "cannot take exactly \(desiredCount) of \(numTimesteps) steps with an integer stride"
        case .timestepOutOfRange(let argument, let index, let value, let count):
            "\(argument)[\(index)] = \(value) is outside the timestep range 0..<\(count)"
        case .batchSizeMismatch(let argument, let expected, let actual):
            "\(argument) has \(actual) entries, expected one per batch element (\(expected))"
        case .shapeMismatch(let argument, let expected, let actual):
            "\(argument) has shape \(actual), expected \(expected)"
        case .invalidShape(let argument, let shape, let expected):
            "\(argument) has shape \(shape), expected \(expected)"
        case .invalidArgument(let argument, let value, let expected):
            "\(argument) = \(value) is invalid: expected \(expected)"
        }
    }
}
