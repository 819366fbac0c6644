import Foundation

extension PluginLibrary {
    /// Opens the library of a `cfunction` registry entry, finds its symbols, prepares their libffi call
    /// interfaces and wraps the described function as the entry's one operator.
    ///
    /// Pins are not checked here: ``PluginHost/loadEntry(_:)`` checks them before calling this.
    /// - Parameters:
    ///   - entry: a registry entry of kind `cfunction` with its description.
    ///   - path: the entry's library file, resolved.
    /// - Throws: ``CFunctionError`` for a wrong entry or a missing symbol, ``PluginError`` for a library that
    ///   does not load.
    public static func cfunction(entry: RegistryEntry, path: String) throws -> PluginLibrary {
        guard entry.kind == "cfunction", let spec = entry.cfunction else {
            throw CFunctionError.notACFunction(
                entry: entry.id,
                reason: entry.kind == "cfunction"
                    ? "it has no \"cfunction\" description" : "its kind is '\(entry.kind)'")
        }
        guard entry.operators.count == 1, let id = entry.operators.first else {
            throw CFunctionError.notACFunction(
                entry: entry.id, reason: "it lists \(entry.operators.count) operators; a C function is exactly one")
        }
        let library = try DynamicLibrary(path: path)
        func prepare(_ signature: CFunctionSignature, field: String) throws -> ForeignFunction {
            guard let address = library.address(of: signature.symbol) else {
                throw CFunctionError.missingSymbol(
                    entry: entry.id, library: path, field: "\(field).symbol", symbol: signature.symbol)
            }
            do {
                return try ForeignFunction(
                    symbol: signature.symbol, address: address, arguments: signature.arguments.map(\.type),
                    status: signature.status)
            } catch {
                throw CFunctionError.callInterface(
                    entry: entry.id, field: field, symbol: signature.symbol, reason: error.reason)
            }
        }
        let backend = CFunctionBackend(
            id: id, entry: entry.id, spec: spec, forwardFunction: try prepare(spec.forward, field: "cfunction.forward"),
            vjpFunction: try spec.vjp.map { try prepare($0, field: "cfunction.vjp") })
        let descriptor = OperatorDescriptor(
            id: id, version: entry.version, summary: spec.summary, role: spec.role, capabilities: spec.capabilities,
            attributes: spec.attributes.map(\.schema), libraryPath: path, table: backend)
        return PluginLibrary(
            path: path, name: entry.name, version: entry.version, license: entry.license, summary: spec.summary,
            operators: [descriptor], library: library)
    }
}
