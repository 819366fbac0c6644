/// Errors of tensor construction and reshaping.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    /// `count` scalars cannot fill `shape`.
    case countMismatch(shape: [Int], count: Int)
    /// A reshape that changes the element count.
    case reshape(from: [Int], to: [Int])

    public var description: String {
        switch self {
        case .countMismatch(let shape, let count):
            "shape \(shape) holds \(shape.reduce(1, *)) elements, but \(count) were given"
        case .reshape(let from, let to):
            "cannot reshape \(from) (\(from.reduce(1, *)) elements) to \(to) (\(to.reduce(1, *)) elements)"
        }
    }
}
