/// The element types of the safetensors format, by their header names.
///
/// All of them are recognised (so a file that mixes in, say, `U8` tensors still validates and lists);
/// ``SafetensorsFile`` converts `F16`, `BF16`, `F32` and `F64` to floating-point tensors and reads `I64` as
/// ``Int64Array``, and writes `F32`, `F64`, `F16`, `BF16` and `I64`.
public enum SafetensorsDType: String, CaseIterable, Equatable, Sendable, CustomStringConvertible {
    case bool = "BOOL"
    case uint8 = "U8"
    case int8 = "I8"
    case float8E4M3 = "F8_E4M3"
    case float8E5M2 = "F8_E5M2"
    case int16 = "I16"
    case uint16 = "U16"
    /// IEEE 754 binary16.
    case float16 = "F16"
    /// bfloat16: the top 16 bits of a float32.
    case bfloat16 = "BF16"
    case int32 = "I32"
    case uint32 = "U32"
    case float32 = "F32"
    case float64 = "F64"
    case int64 = "I64"
    case uint64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .uint8, .int8, .float8E4M3, .float8E5M2: 1
        case .int16, .uint16, .float16, .bfloat16: 2
        case .int32, .uint32, .float32: 4
        case .float64, .int64, .uint64: 8
        }
    }

    /// Whether ``SafetensorsFile/tensor(named:as:)`` can convert this type to a floating-point tensor.
    public var isConvertibleToFloat: Bool {
        switch self {
        case .float16, .bfloat16, .float32, .float64: true
        default: false
        }
    }

    /// The header name, e.g. `F32`.
    public var description: String { rawValue }

    /// The dtypes a floating-point tensor can be stored as when writing.
    static let floatStorage: [SafetensorsDType] = [.float32, .float64, .float16, .bfloat16]
}
