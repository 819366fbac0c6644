/// A C-ordered array of 64-bit integers with a shape: class labels, timesteps and other integer data read from
/// `.npy` (`'<i8'`) or safetensors (`I64`) files. ``Tensor`` holds floating-point scalars only.
///
/// ```swift
/// let labels = try NPY.readInt64(path: "Y.npy")   // shape [N]
/// for y in labels.scalars { ... }
/// ```
public struct Int64Array: Equatable, Sendable, CustomStringConvertible {
    /// Extents, outermost first; `[]` for a 0-d (scalar) array.
    public let shape: [Int]
    /// The elements in C order; `scalars.count` is the product of `shape`.
    public let scalars: [Int64]

    /// An array of `shape` holding `scalars` in C order.
    /// - Throws: ``TensorError/countMismatch(shape:count:)`` when an extent is negative, the element count
    ///   overflows, or the counts differ.
    public init(shape: [Int], scalars: [Int64]) throws(TensorError) {
        guard let count = ShapeArithmetic.elementCount(shape), count == scalars.count else {
            throw .countMismatch(shape: shape, count: scalars.count)
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// Internal initialiser for already-validated shapes.
    init(validatedShape shape: [Int], scalars: [Int64]) {
        self.shape = shape
        self.scalars = scalars
    }

    /// Number of elements (the product of the shape).
    public var count: Int { scalars.count }

    /// `Int64Array[shape][first elements]`, like ``Tensor``'s description.
    public var description: String {
        let head = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Int64Array\(shape)[\(head)\(count > 8 ? ", ..." : "")]"
    }
}
