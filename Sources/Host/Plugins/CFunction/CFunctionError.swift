/// Why a `cfunction` registry entry could not be turned into an operator. Every case names the entry.
public enum CFunctionError: Error, Equatable, CustomStringConvertible {
    /// The entry is of another kind (`plugin`), or of kind `cfunction` without a description.
    case notACFunction(entry: String, reason: String)
    /// The library does not export a symbol the description names.
    case missingSymbol(entry: String, library: String, field: String, symbol: String)
    /// libffi refused to prepare a call interface for the described signature.
    case callInterface(entry: String, field: String, symbol: String, reason: String)
    /// A `cfunction:REGISTRY#ENTRY` reference that cannot be used.
    case invalidReference(text: String, reason: String)

    public var description: String {
        switch self {
        case .notACFunction(let entry, let reason):
            "registry entry '\(entry)' is not a usable cfunction entry: \(reason)"
        case .missingSymbol(let entry, let library, let field, let symbol):
            "cfunction entry '\(entry)': '\(library)' does not export '\(symbol)' (named by \(field))"
        case .callInterface(let entry, let field, let symbol, let reason):
            "cfunction entry '\(entry)': cannot prepare a call to '\(symbol)' (\(field)): \(reason)"
        case .invalidReference(let text, let reason):
            "'\(text)' is not a usable cfunction reference: \(reason) (expected cfunction:REGISTRY.json#ENTRY-ID)"
        }
    }
}
