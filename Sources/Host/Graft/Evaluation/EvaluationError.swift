/// Why an evaluation metric refused its inputs. Each case names the argument and what was expected.
public enum EvaluationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A tensor or matrix argument has the wrong shape.
    case shape(argument: String, expected: String, found: [Int])
    /// A feature set has fewer samples (rows) than the statistic needs.
    case tooFewSamples(argument: String, needed: Int, found: Int)
    /// A row of a feature set, or a second set, has a different width from the first.
    case featureWidth(argument: String, row: Int, expected: Int, found: Int)
    /// A matrix that must be symmetric is not, at `(row, column)` (beyond the stated relative tolerance).
    case notSymmetric(argument: String, row: Int, column: Int, upper: Double, lower: Double)
    /// An input holds a NaN or an infinity.
    case nonFinite(argument: String, index: Int)
    /// An integer argument is outside its range.
    case outOfRange(argument: String, value: Int, expected: String)
    /// A dataset does not fit the model it is evaluated with (the reason names the mismatch).
    case incompatibleData(String)

    public var description: String {
        switch self {
        case .shape(let argument, let expected, let found):
            "\(argument) has shape \(found), expected \(expected)"
        case .tooFewSamples(let argument, let needed, let found):
            "\(argument) has \(found) samples, at least \(needed) are needed"
        case .featureWidth(let argument, let row, let expected, let found):
            "\(argument) row \(row) has \(found) features, expected \(expected)"
        case .notSymmetric(let argument, let row, let column, let upper, let lower):
            "\(argument) is not symmetric: [\(row), \(column)] = \(upper) but [\(column), \(row)] = \(lower)"
        case .nonFinite(let argument, let index):
            "\(argument) holds a non-finite value at flat index \(index)"
        case .outOfRange(let argument, let value, let expected):
            "\(argument) is \(value), expected \(expected)"
        case .incompatibleData(let why):
            "the data do not fit the model: \(why)"
        }
    }
}
