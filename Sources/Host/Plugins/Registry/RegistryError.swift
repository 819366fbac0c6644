/// Why the registry could not be read, written, or trusted. Every case names the file and the field or library.
public enum RegistryError: Error, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    case unreadable(path: String, reason: String)
    case invalidJSON(path: String, reason: String)
    /// A field is missing or malformed; `field` is a JSON path such as `plugins[2].sha256`.
    case invalidField(path: String, field: String, expected: String)
    case duplicateEntry(path: String, id: String)
    case writeFailed(path: String, reason: String)
    /// A library's sha256 differs from its registry entry.
    case hashMismatch(library: String, entry: String, expected: String, found: String)
    /// A library is not pinned by any registry entry.
    case notPinned(library: String, sha256: String)
    /// No entry provides the operator.
    case unknownOperator(id: String, registry: String, known: [String])
    /// An entry's library file cannot be found in any plugin directory.
    case libraryNotFound(entry: String, library: String, searched: [String])
    /// The entry providing an operator has not passed conformance, and the caller requires it.
    case notConformant(entry: String, operatorId: String, registry: String, record: String)
    /// A `cfunction` entry's description is invalid (the error names the entry and the field).
    case cfunction(path: String, CFunctionSpecError)

    public var description: String {
        switch self {
        case .cfunction(let path, let error):
            "registry '\(path)': \(error)"
        case .notConformant(let entry, let operatorId, let registry, let record):
            "\(registry): entry '\(entry)' provides '\(operatorId)' but \(record); run `zoo registry add <library>` to check it, or pass --allow-unconformant"
        case .fileNotFound(let path):
            "registry '\(path)': no such file"
        case .unreadable(let path, let reason):
            "registry '\(path)' cannot be read: \(reason)"
        case .invalidJSON(let path, let reason):
            "registry '\(path)' is not valid JSON: \(reason)"
        case .invalidField(let path, let field, let expected):
            "registry '\(path)': field '\(field)' is invalid: expected \(expected)"
        case .duplicateEntry(let path, let id):
            "registry '\(path)': entry id '\(id)' appears more than once"
        case .writeFailed(let path, let reason):
            "registry '\(path)' could not be written: \(reason)"
        case .hashMismatch(let library, let entry, let expected, let found):
            "refusing '\(library)': its sha256 is \(found), but registry entry '\(entry)' pins \(expected) (rebuilt or replaced? run `zoo registry add` (a plugin) or `zoo registry pin \(entry)` (any entry) to re-pin it, or pass --allow-unpinned to load it anyway)"
        case .notPinned(let library, let sha256):
            "refusing '\(library)' (sha256 \(sha256)): it is not pinned in the registry (run `zoo registry add \(library)`, or pass --allow-unpinned)"
        case .unknownOperator(let id, let registry, let known):
            "no plugin in registry '\(registry)' provides operator '\(id)' (known: \(known.isEmpty ? "none" : known.joined(separator: ", "))); use --plugin PATH to load a library directly"
        case .libraryNotFound(let entry, let library, let searched):
            "registry entry '\(entry)': library '\(library)' not found in \(searched.joined(separator: ", "))"
        }
    }
}
