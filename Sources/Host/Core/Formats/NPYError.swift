/// Why a `.npy` file could not be read or written. Every case names the file.
///
/// The description is one sentence naming the path, what was found and what was expected, suitable for
/// printing as `Error: <description>`.
public enum NPYError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened or read.
    case readFailed(path: String, reason: String)
    /// The file does not start with the magic string `\x93NUMPY` (`found`: its first bytes, at most 6).
    case badMagic(path: String, found: [UInt8])
    /// A format version other than 1.0, 2.0 or 3.0.
    case unsupportedVersion(path: String, major: UInt8, minor: UInt8)
    /// The preamble or the header length field points past the end of the file.
    case headerPastEnd(path: String, headerEnd: Int, fileSize: Int)
    /// The header is not the Python dict literal `{'descr': ..., 'fortran_order': ..., 'shape': (...)}`.
    case malformedHeader(path: String, reason: String, header: String)
    /// The header says `'fortran_order': True`.
    case fortranOrder(path: String)
    /// A `descr` other than `'<f4'`, `'<f8'` or `'<i8'`, as Python source (e.g. `'<f2'`, quotes included).
    case unsupportedDType(path: String, descr: String)
    /// The shape has a negative extent, an extent beyond 64 bits, or an element/byte count that overflows.
    case invalidShape(path: String, shape: String, reason: String)
    /// Fewer data bytes than the shape and dtype require.
    case dataTruncated(path: String, shape: [Int], dtype: NPYDType, expectedBytes: Int, actualBytes: Int)
    /// More data bytes than the shape and dtype require.
    case trailingData(path: String, shape: [Int], dtype: NPYDType, expectedBytes: Int, actualBytes: Int)
    /// The file holds a valid array of a type the caller did not ask for.
    case dtypeMismatch(path: String, found: NPYDType, expected: [NPYDType])
    /// The file could not be written (no file was created or replaced).
    case writeFailed(path: String, reason: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .readFailed(let path, _), .badMagic(let path, _), .unsupportedVersion(let path, _, _),
            .headerPastEnd(let path, _, _), .malformedHeader(let path, _, _), .fortranOrder(let path),
            .unsupportedDType(let path, _), .invalidShape(let path, _, _), .dataTruncated(let path, _, _, _, _),
            .trailingData(let path, _, _, _, _), .dtypeMismatch(let path, _, _), .writeFailed(let path, _):
            path
        }
    }

    /// One sentence: the path, what is wrong, and what was expected.
    public var description: String {
        switch self {
        case .readFailed(let path, let reason):
            return "cannot read '\(path)': \(reason)"
        case .badMagic(let path, let found):
            let hex = found.map { "\\x" + String($0, radix: 16, uppercase: false).leftPadded(to: 2) }.joined()
            if found.count < 6 {
                return "'\(path)' is not a .npy file: it is \(found.count) bytes long, too short for the magic "
                    + "string \\x93NUMPY"
            }
            return "'\(path)' is not a .npy file: expected the magic string \\x93NUMPY, found \(hex)"
        case .unsupportedVersion(let path, let major, let minor):
            return "'\(path)' uses .npy format version \(major).\(minor); supported versions are 1.0, 2.0 and 3.0"
        case .headerPastEnd(let path, let headerEnd, let fileSize):
            return "'\(path)' is truncated: its .npy header ends at byte \(headerEnd), past the end of the "
                + "\(fileSize)-byte file"
        case .malformedHeader(let path, let reason, let header):
            return "'\(path)' has a malformed .npy header: \(reason); expected a dict like "
                + "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}, found \(header)"
        case .fortranOrder(let path):
            return "'\(path)' holds a Fortran-order array ('fortran_order': True); Fortran-order arrays are not "
                + "supported; save with np.ascontiguousarray"
        case .unsupportedDType(let path, let descr):
            return
                "'\(path)' holds dtype \(descr)\(Self.hint(for: descr)); accepted dtypes are \(NPYDType.acceptedList)"
        case .invalidShape(let path, let shape, let reason):
            return "'\(path)' has an invalid shape \(shape): \(reason)"
        case .dataTruncated(let path, let shape, let dtype, let expected, let actual):
            return "'\(path)' is truncated: shape \(Self.pythonShape(shape)) of \(dtype.name) needs \(expected) data "
                + "bytes, but only \(actual) follow the header"
        case .trailingData(let path, let shape, let dtype, let expected, let actual):
            return "'\(path)' has \(actual - expected) unexpected trailing bytes: shape \(Self.pythonShape(shape)) of "
                + "\(dtype.name) needs \(expected) data bytes, but \(actual) follow the header"
        case .dtypeMismatch(let path, let found, let expected):
            return "'\(path)' holds \(found), expected \(expected.map(\.description).joined(separator: " or "))"
        case .writeFailed(let path, let reason):
            return "cannot write '\(path)': \(reason)"
        }
    }

    /// A parenthetical explaining common unsupported type strings.
    private static func hint(for descr: String) -> String {
        let code =
            descr.count >= 2 && (descr.hasPrefix("'") || descr.hasPrefix("\""))
            ? String(descr.dropFirst().dropLast()) : descr
        if code.hasPrefix("[") || code.hasPrefix("(") { return " (a structured dtype)" }
        if code == "O" || code == "|O" || code.hasSuffix("O") { return " (Python objects, pickled)" }
        if code.hasPrefix(">") || code.hasPrefix("!") {
            return " (big-endian; convert with a.astype('<\(code.dropFirst())'))"
        }
        let names = [
            "f2": "float16", "f4": "float32", "f8": "float64", "f16": "float128", "i1": "int8", "i2": "int16",
            "i4": "int32", "i8": "int64", "u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64",
            "b1": "bool", "c8": "complex64", "c16": "complex128",
        ]
        let bare = code.first.map { "<|=".contains($0) } == true ? String(code.dropFirst()) : code
        return names[bare].map { " (\($0))" } ?? ""
    }

    /// `(2, 3)`, `(3,)` or `()`: a shape the way numpy prints it.
    static func pythonShape(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))"
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
