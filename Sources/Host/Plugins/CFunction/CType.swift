/// A C integer type the adapter can pass by value (LP64 Linux: `long` is 64-bit).
public enum CInteger: String, Sendable, Equatable, CaseIterable {
    case int, long, longLong = "long long", int32 = "int32_t", int64 = "int64_t", sizeT = "size_t",
        ptrdiffT = "ptrdiff_t", unsigned = "unsigned int", unsignedLong = "unsigned long", uint32 = "uint32_t",
        uint64 = "uint64_t"

    /// Width in bits.
    public var bits: Int {
        switch self {
        case .int, .int32, .unsigned, .uint32: 32
        default: 64
        }
    }

    public var isSigned: Bool {
        switch self {
        case .sizeT, .unsigned, .unsignedLong, .uint32, .uint64: false
        default: true
        }
    }

    /// The values the type holds, clipped to Int64 (which is all the host passes).
    public var range: ClosedRange<Int64> {
        switch (bits, isSigned) {
        case (32, true): Int64(Int32.min)...Int64(Int32.max)
        case (32, false): 0...Int64(UInt32.max)
        case (_, true): Int64.min...Int64.max
        default: 0...Int64.max
        }
    }
}

/// A C type an argument may have. Pointers carry their pointee and constness, because the binding decides
/// which are allowed (inputs are `const`, outputs are not).
public enum CType: Sendable, Equatable, CustomStringConvertible {
    /// `const float *`, `double *`, `void *` ...; `pointee` is nil for `void`.
    case pointer(pointee: CScalar?, isConst: Bool)
    case integer(CInteger)
    case float
    case double
    /// `_Bool` (or `bool` from `<stdbool.h>`).
    case bool

    /// The spellings accepted, one per line in error messages.
    public static let spellings: [String] =
        ["const float *", "float *", "const double *", "double *", "void *"]
        + CInteger.allCases.map(\.rawValue) + ["float", "double", "bool", "_Bool"]

    /// Reads a C type from its spelling. Whitespace is free (`const float*`, `long  long`); `signed`,
    /// qualifiers other than a leading `const`, arrays, structs and function pointers are not accepted.
    public init?(parsing text: String) {
        var spelled = text.replacingOccurrences(of: "*", with: " * ")
        spelled = spelled.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
        switch spelled {
        case "const float *", "float const *": self = .pointer(pointee: .float, isConst: true)
        case "float *": self = .pointer(pointee: .float, isConst: false)
        case "const double *", "double const *": self = .pointer(pointee: .double, isConst: true)
        case "double *": self = .pointer(pointee: .double, isConst: false)
        case "void *": self = .pointer(pointee: nil, isConst: false)
        case "const void *": self = .pointer(pointee: nil, isConst: true)
        case "float": self = .float
        case "double": self = .double
        case "bool", "_Bool": self = .bool
        case "long int": self = .integer(.long)
        case "long long int": self = .integer(.longLong)
        case "unsigned": self = .integer(.unsigned)
        case "unsigned long int": self = .integer(.unsignedLong)
        default:
            guard let integer = CInteger(rawValue: spelled) else { return nil }
            self = .integer(integer)
        }
    }

    public var description: String {
        switch self {
        case .pointer(let pointee, let isConst): "\(isConst ? "const " : "")\(pointee?.rawValue ?? "void") *"
        case .integer(let i): i.rawValue
        case .float: "float"
        case .double: "double"
        case .bool: "bool"
        }
    }
}
