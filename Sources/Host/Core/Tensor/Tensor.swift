/// A dense, C-ordered (row-major) n-dimensional array with value semantics (copy on write).
///
/// Storage is 64-byte aligned, as the operator ABI promises plugins.
///
/// ```swift
/// var x = Tensor<Float>(zeros: [2, 3])
/// x[1, 2] = 5
/// let y = try x.reshaped([3, 2])
/// ```
public struct Tensor<Scalar: TensorScalar>: @unchecked Sendable {
    /// Extents, outermost first.
    public private(set) var shape: [Int]
    private var storage: AlignedStorage<Scalar>

    /// A tensor of `shape` filled with zeros.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        self.storage = AlignedStorage(count: shape.reduce(1, *))
    }

    /// A tensor of `shape` whose elements are unspecified, for buffers a callee overwrites (e.g. an operator's saved
    /// activations): it skips the zero fill of a recycled mapping.
    package init(uninitialized shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        self.storage = AlignedStorage(count: shape.reduce(1, *), zeroed: false)
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Scalar) {
        self.init(zeros: shape)
        storage.buffer.update(repeating: value)
    }

    /// A tensor of `shape` holding `scalars` in C order.
    /// - Throws: ``TensorError/countMismatch(shape:count:)`` when the counts differ.
    public init(shape: [Int], scalars: some Collection<Scalar>) throws(TensorError) {
        guard ShapeArithmetic.elementCount(shape) == scalars.count else {
            throw .countMismatch(shape: shape, count: scalars.count)
        }
        self.init(zeros: shape)
        _ = storage.buffer.initialize(from: scalars)
    }

    /// Number of elements (the product of the shape).
    public var count: Int { storage.count }

    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// The elements in C order.
    public var scalars: [Scalar] { Array(storage.buffer) }

    /// Element at a flat (C-order) index.
    public subscript(flat index: Int) -> Scalar {
        get {
            precondition(index >= 0 && index < count, "flat index \(index) out of range 0..<\(count)")
            return storage.pointer[index]
        }
        set {
            precondition(index >= 0 && index < count, "flat index \(index) out of range 0..<\(count)")
            makeUnique()
            storage.pointer[index] = newValue
        }
    }

    /// Element at a multi-index.
    public subscript(indices: Int...) -> Scalar {
        get { self[flat: flatIndex(indices)] }
        set { self[flat: flatIndex(indices)] = newValue }
    }

    /// The flat offset of a multi-index.
    public func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "\(indices.count) indices for a rank-\(shape.count) tensor")
        var offset = 0
        for (i, extent) in zip(indices, shape) {
            precondition(i >= 0 && i < extent, "index \(indices) out of range for shape \(shape)")
            offset = offset * extent + i
        }
        return offset
    }

    /// The same elements under another shape with the same count.
    public func reshaped(_ newShape: [Int]) throws(TensorError) -> Tensor {
        guard ShapeArithmetic.elementCount(newShape) == count else {
            throw .reshape(from: shape, to: newShape)
        }
        var copy = self
        copy.shape = newShape
        return copy
    }

    /// The elements converted to another scalar type.
    public func converted<Other: TensorScalar>(to _: Other.Type = Other.self) -> Tensor<Other> {
        var out = Tensor<Other>(zeros: shape)
        out.withUnsafeMutableBufferPointer { dst in
            withUnsafeBufferPointer { src in
                for i in 0..<src.count { dst[i] = Other(src[i]) }
            }
        }
        return out
    }

    /// Read access to the contiguous, 64-byte-aligned elements.
    public func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Scalar>) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeBufferPointer(storage.buffer))
    }

    /// Write access to the contiguous, 64-byte-aligned elements (copies first if the storage is shared).
    public mutating func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (UnsafeMutableBufferPointer<Scalar>) throws(E) -> R
    ) throws(E) -> R {
        makeUnique()
        return try body(storage.buffer)
    }

    /// The storage's base address, for the ABI call layer only; keep `self` alive while it is used.
    package var baseAddressForReading: UnsafeMutablePointer<Scalar> { storage.pointer }

    /// The storage's base address after making it unique, for the ABI call layer only.
    package mutating func baseAddressForWriting() -> UnsafeMutablePointer<Scalar> {
        makeUnique()
        return storage.pointer
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = AlignedStorage(copying: storage)
        }
    }
}

extension Tensor: Equatable {
    /// Equal shapes and bitwise-equal elements (NaN compares unequal, as for `==` on scalars).
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape
            && lhs.withUnsafeBufferPointer { a in rhs.withUnsafeBufferPointer { b in a.elementsEqual(b) } }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor<\(Scalar.dtypeName)>\(shape)[\(head)\(count > 8 ? ", ..." : "")]"
    }
}
