import Foundation

/// Names a `cfunction` registry entry where a library path is expected: `cfunction:REGISTRY#ENTRY`.
///
/// A C function has no library of its own to hand to `zoo conform`'s child processes, so the harness passes
/// this reference instead; each child reads the registry and builds the adapter itself.
public struct CFunctionReference: Equatable, Sendable, CustomStringConvertible {
    /// What every reference starts with.
    public static let prefix = "cfunction:"
    /// The registry file (an absolute path, so children started elsewhere find it).
    public let registry: String
    /// The entry's id.
    public let entry: String

    public init(registry: String, entry: String) {
        self.registry = URL(fileURLWithPath: registry).standardized.path
        self.entry = entry
    }

    /// Reads `cfunction:REGISTRY#ENTRY` (the last `#` separates the entry id, which never contains one).
    /// - Throws: ``CFunctionError/invalidReference(text:reason:)``.
    public init(parsing text: String) throws(CFunctionError) {
        guard text.hasPrefix(Self.prefix) else {
            throw .invalidReference(text: text, reason: "it does not start with '\(Self.prefix)'")
        }
        let body = text.dropFirst(Self.prefix.count)
        guard let hash = body.lastIndex(of: "#"), hash != body.startIndex, body.index(after: hash) != body.endIndex
        else {
            throw .invalidReference(text: text, reason: "it needs a registry path and an entry id separated by '#'")
        }
        self.init(registry: String(body[..<hash]), entry: String(body[body.index(after: hash)...]))
    }

    public var description: String { "\(Self.prefix)\(registry)#\(entry)" }
}
