/// Why a ``ShapeClassifier`` could not be built, read, trained or applied. Each case names the field, file or
/// argument and what was expected.
public enum ClassifierError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A configuration field breaks a shape rule.
    case config(field: String, expected: String)
    /// A classifier file is unreadable, lacks a tensor or holds one of the wrong shape.
    case file(path: String, reason: String)
    /// An input batch has the wrong shape or holds non-finite values.
    case input(argument: String, expected: String)
    /// A dataset does not match the classifier (classes or resolution).
    case incompatibleData(expected: String, found: String)
    /// A matrix product's extents were refused.
    case blas(String)

    public var description: String {
        switch self {
        case .config(let field, let expected): "classifier config field '\(field)': expected \(expected)"
        case .file(let path, let reason): "classifier file '\(path)': \(reason)"
        case .input(let argument, let expected): "\(argument): expected \(expected)"
        case .incompatibleData(let expected, let found):
            "the data do not match the classifier: it knows \(expected), the data have \(found)"
        case .blas(let message): "matrix product: \(message)"
        }
    }
}
