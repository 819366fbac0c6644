import Foundation

extension PluginLibrary {
    /// Opens a conformance or inspection target: a plugin library path, or a ``CFunctionReference``, whose
    /// entry is loaded through the libffi adapter without checking its pin (as a path is: conformance is
    /// how a library earns its pin). Bare library names resolve in the standard plugin directories.
    /// - Throws: ``PluginError``, ``RegistryError`` or ``CFunctionError``.
    public static func open(_ target: String) throws -> PluginLibrary {
        guard target.hasPrefix(CFunctionReference.prefix) else { return try PluginLibrary(path: target) }
        let reference = try CFunctionReference(parsing: target)
        let host = try PluginHost(search: .standard(registry: reference.registry, allowUnpinned: true))
        guard let entry = host.registry.entry(id: reference.entry) else {
            throw CFunctionError.invalidReference(
                text: target,
                reason:
                    "registry '\(reference.registry)' has no entry '\(reference.entry)' (it has: \(host.registry.entries.map(\.id).joined(separator: ", ")))"
            )
        }
        return try host.loadEntry(entry)
    }
}
