/// The element types ``NPY`` reads and writes: little-endian float32, float64 and int64.
public enum NPYDType: String, CaseIterable, Equatable, Sendable, CustomStringConvertible {
    /// `'<f4'`, numpy `float32`.
    case float32 = "<f4"
    /// `'<f8'`, numpy `float64`.
    case float64 = "<f8"
    /// `'<i8'`, numpy `int64` (labels, timesteps).
    case int64 = "<i8"

    /// The numpy type string (`descr`) as written in the file header, e.g. `'<f4'`.
    public var descr: String { rawValue }

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .float32: 4
        case .float64, .int64: 8
        }
    }

    /// The numpy name: `float32`, `float64` or `int64`.
    public var name: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        case .int64: "int64"
        }
    }

    /// `'<f4' (float32)`: the type string and the numpy name.
    public var description: String { "'\(descr)' (\(name))" }

    /// The accepted types, listed for error messages.
    static var acceptedList: String { allCases.map(\.description).joined(separator: ", ") }
}
