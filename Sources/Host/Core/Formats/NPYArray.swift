/// An array read from a `.npy` file, in the element type the file stores.
///
/// ```swift
/// let x = try NPY.read(path: "x.npy").tensor(as: Float.self)   // float32 or float64 file, converted
/// ```
public enum NPYArray: Equatable, Sendable {
    /// A `'<f4'` array.
    case float32(Tensor<Float>)
    /// A `'<f8'` array.
    case float64(Tensor<Double>)
    /// A `'<i8'` array.
    case int64(Int64Array)

    /// The stored element type.
    public var dtype: NPYDType {
        switch self {
        case .float32: .float32
        case .float64: .float64
        case .int64: .int64
        }
    }

    /// Extents, outermost first; `[]` for a 0-d array.
    public var shape: [Int] {
        switch self {
        case .float32(let t): t.shape
        case .float64(let t): t.shape
        case .int64(let a): a.shape
        }
    }

    /// Number of elements.
    public var count: Int {
        switch self {
        case .float32(let t): t.count
        case .float64(let t): t.count
        case .int64(let a): a.count
        }
    }

    /// The elements as a tensor of `Scalar`, converting if the file stores another type.
    ///
    /// float64 → float32 rounds to nearest; int64 → float is exact up to 2^24 (float32) or 2^53 (float64) in
    /// magnitude and rounds beyond. No copy is made when the stored type already is `Scalar`.
    public func tensor<Scalar: TensorScalar>(as _: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
        switch self {
        case .float32(let t):
            return (t as? Tensor<Scalar>) ?? t.converted(to: Scalar.self)
        case .float64(let t):
            return (t as? Tensor<Scalar>) ?? t.converted(to: Scalar.self)
        case .int64(let a):
            var out = Tensor<Scalar>(zeros: a.shape)
            out.withUnsafeMutableBufferPointer { dst in
                for (i, value) in a.scalars.enumerated() { dst[i] = Scalar(value) }
            }
            return out
        }
    }

    /// The integer array, or `nil` for a floating-point array (floats are never silently truncated).
    public var int64: Int64Array? {
        if case .int64(let a) = self { return a }
        return nil
    }
}
