/// Why a plugin library could not be loaded. Every case names the library's path.
public enum PluginError: Error, Equatable, CustomStringConvertible {
    /// No file at `path`.
    case fileNotFound(path: String)
    /// The file is not an ELF shared object (`reason` says what it is instead).
    case notSharedObject(path: String, reason: String)
    /// An ELF object built for another machine or word size.
    case wrongArchitecture(path: String, found: String, expected: String)
    /// `dlopen` refused the file (a missing dependency, an undefined symbol, ...); `reason` is `dlerror()`.
    case loadFailed(path: String, reason: String)
    /// The library does not export the entry symbol.
    case missingEntry(path: String, symbol: String)
    /// The entry symbol returned NULL.
    case nullEntry(path: String)
    /// The plugin was built for another ABI major version.
    case abiMajorMismatch(path: String, found: UInt32, expected: UInt32)
    /// A struct's `struct_size` is smaller than the fields this ABI major requires.
    case structTooSmall(path: String, structName: String, size: Int, minimum: Int)
    /// An operator id is not `[a-z][a-z0-9_]*` (at most 64 characters).
    case invalidOperatorId(path: String, id: String)
    /// Two operators share an id (within the library, or across the libraries being loaded together).
    case duplicateOperatorId(path: String, id: String)
    /// A metadata field is missing or malformed.
    case invalidMetadata(path: String, field: String, reason: String)

    /// The path of the library this error is about.
    public var path: String {
        switch self {
        case .fileNotFound(let p), .notSharedObject(let p, _), .wrongArchitecture(let p, _, _),
            .loadFailed(let p, _), .missingEntry(let p, _), .nullEntry(let p), .abiMajorMismatch(let p, _, _),
            .structTooSmall(let p, _, _, _), .invalidOperatorId(let p, _), .duplicateOperatorId(let p, _),
            .invalidMetadata(let p, _, _):
            p
        }
    }

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            "plugin '\(path)': no such file"
        case .notSharedObject(let path, let reason):
            "plugin '\(path)' is not a shared library: \(reason)"
        case .wrongArchitecture(let path, let found, let expected):
            "plugin '\(path)' was built for \(found), but this host runs on \(expected)"
        case .loadFailed(let path, let reason):
            "plugin '\(path)' could not be loaded: \(reason)"
        case .missingEntry(let path, let symbol):
            "plugin '\(path)' does not export the entry symbol '\(symbol)' (is it an OperatorZoo plugin?)"
        case .nullEntry(let path):
            "plugin '\(path)': its entry symbol returned NULL instead of a plugin table"
        case .abiMajorMismatch(let path, let found, let expected):
            "plugin '\(path)' was built for operator ABI major version \(found); this host speaks version \(expected): rebuild the plugin against this host's OperatorABI.h"
        case .structTooSmall(let path, let name, let size, let minimum):
            "plugin '\(path)': \(name).struct_size is \(size) bytes, but ABI version 1 needs at least \(minimum)"
        case .invalidOperatorId(let path, let id):
            "plugin '\(path)': operator id '\(id)' is invalid (expected [a-z][a-z0-9_]*, at most 64 characters)"
        case .duplicateOperatorId(let path, let id):
            "plugin '\(path)': operator id '\(id)' is declared more than once"
        case .invalidMetadata(let path, let field, let reason):
            "plugin '\(path)': invalid metadata in \(field): \(reason)"
        }
    }
}
