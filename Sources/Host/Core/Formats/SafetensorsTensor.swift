/// A named tensor to write to a safetensors file, with the dtype to store it as.
///
/// ```swift
/// let items = [
///     SafetensorsTensor(name: "w", weight, dtype: .bfloat16),   // Tensor<Float> stored as BF16
///     SafetensorsTensor(name: "b", bias),                       // stored as F32
///     SafetensorsTensor(name: "steps", int64: timesteps),       // Int64Array stored as I64
/// ]
/// try SafetensorsFile.write(path: "ckpt.safetensors", tensors: items, metadata: ["format": "pt"])
/// ```
public struct SafetensorsTensor: Sendable {
    /// The name (header key): non-empty, not `__metadata__`, unique within a file.
    public let name: String
    /// The storage type: `F32`, `F64`, `F16` or `BF16` for floating-point tensors, `I64` for integer arrays.
    public let dtype: SafetensorsDType
    let payload: Payload

    enum Payload: Sendable {
        case float32(Tensor<Float>)
        case float64(Tensor<Double>)
        case int64(Int64Array)
    }

    /// A float32 tensor, stored as `dtype` (`F32` by default; `F16`/`BF16` round to nearest even).
    public init(name: String, _ tensor: Tensor<Float>, dtype: SafetensorsDType = .float32) {
        self.name = name
        self.dtype = dtype
        self.payload = .float32(tensor)
    }

    /// A float64 tensor, stored as `dtype` (`F64` by default; narrower types round to nearest even, once).
    public init(name: String, _ tensor: Tensor<Double>, dtype: SafetensorsDType = .float64) {
        self.name = name
        self.dtype = dtype
        self.payload = .float64(tensor)
    }

    /// An int64 array, stored as `I64`.
    public init(name: String, int64 array: Int64Array) {
        self.name = name
        self.dtype = .int64
        self.payload = .int64(array)
    }

    /// Extents, outermost first.
    public var shape: [Int] {
        switch payload {
        case .float32(let t): t.shape
        case .float64(let t): t.shape
        case .int64(let a): a.shape
        }
    }

    /// Number of elements.
    var count: Int {
        switch payload {
        case .float32(let t): t.count
        case .float64(let t): t.count
        case .int64(let a): a.count
        }
    }
}
