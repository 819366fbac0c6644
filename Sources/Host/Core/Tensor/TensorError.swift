/// Errors of tensor construction and reshaping.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    /// `count` scalars cannot fill `shape`.
    case countMismatch(shape: [Int], count: Int)
    /// A reshape that changes the element count.
    case reshape(from: [Int], to: [Int])

    /// The element count of `shape` as text ("too many" when it overflows, "invalid" when an extent is negative).
    private static func elements(_ shape: [Int]) -> String {
        if shape.contains(where: { $0 < 0 }) { return "invalid" }
        return ShapeArithmetic.elementCount(shape).map(String.init) ?? "too many"
    }

    public var description: String {
        switch self {
        case .countMismatch(let shape, let count):
            "shape \(shape) holds \(Self.elements(shape)) elements, but \(count) were given"
        case .reshape(let from, let to):
            "cannot reshape \(from) (\(Self.elements(from)) elements) to \(to) (\(Self.elements(to)) elements)"
        }
    }
}
