import Foundation

/// Where the host looks for plugins, and how much it trusts what it finds.
public struct PluginSearchPath: Sendable {
    /// The registry file (`registry.json`); `nil` when none was found.
    public var registryPath: String?
    /// Directories scanned for drop-in libraries, in order.
    public var directories: [String]
    /// Load libraries that are not pinned (or whose pin differs). Off by default.
    public var allowUnpinned: Bool
    /// Resolve operators only from registry entries whose pinned library passed conformance (what `zoo graft`,
    /// `zoo sample`, `zoo pretrain` and `zoo dit forward` ask for unless told `--allow-unconformant`).
    public var requireConformance: Bool = false

    public init(registryPath: String?, directories: [String], allowUnpinned: Bool = false) {
        self.registryPath = registryPath
        self.directories = directories
        self.allowUnpinned = allowUnpinned
    }

    /// The standard search: the registry from `registry`, else `$ZOO_REGISTRY`, else the first
    /// `registry.json` found walking up from the executable's directory, else `./registry.json`; the plugin
    /// directories are the executable's directory, then `pluginDirectory`, then `$ZOO_PLUGIN_PATH`
    /// (colon-separated).
    public static func standard(
        registry: String? = nil, pluginDirectory: String? = nil, allowUnpinned: Bool = false
    )
        -> PluginSearchPath
    {
        let env = ProcessInfo.processInfo.environment
        let executableDirectory = executableURL.deletingLastPathComponent().path
        var directories = [executableDirectory]
        if let pluginDirectory { directories.append(pluginDirectory) }
        if let extra = env["ZOO_PLUGIN_PATH"] {
            directories += extra.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        let registryPath =
            registry ?? env["ZOO_REGISTRY"] ?? findUpwards("registry.json", from: executableDirectory)
            ?? (FileManager.default.fileExists(atPath: "registry.json") ? "registry.json" : nil)
        return PluginSearchPath(
            registryPath: registryPath,
            directories: directories.map { URL(fileURLWithPath: $0).standardized.path }.uniqued(),
            allowUnpinned: allowUnpinned)
    }

    /// The running executable's path (what the conformance harness re-invokes).
    public static var executablePath: String { executableURL.path }

    /// The running executable (`/proc/self/exe`), so plugins built beside `zoo` are found wherever it is run from.
    static var executableURL: URL {
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: resolved)
        }
        return Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
    }

    private static func findUpwards(_ name: String, from directory: String) -> String? {
        var url = URL(fileURLWithPath: directory, isDirectory: true)
        for _ in 0..<8 {
            let candidate = url.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { break }
            url = parent
        }
        return nil
    }
}

/// A library found in a plugin directory, with its pin status.
public struct DiscoveredLibrary: Sendable {
    public enum Trust: Sendable, Equatable {
        /// The file's sha256 matches this registry entry.
        case pinned(entryId: String)
        /// A registry entry names this file, but pins another hash.
        case hashMismatch(entryId: String, expected: String)
        /// No registry entry names this file or its hash.
        case unpinned
    }
    public let path: String
    public let sha256: String
    public let trust: Trust
}

/// Resolves operators and libraries through the registry and the plugin directories, enforcing pins.
///
/// Libraries are loaded once per process and kept (never unloaded).
public final class PluginHost: @unchecked Sendable {
    public let search: PluginSearchPath
    /// The registry (empty when there is no registry file).
    public let registry: Registry
    private var loaded: [String: PluginLibrary] = [:]
    private let lock = NSLock()

    /// - Throws: ``RegistryError`` when the registry file exists but is invalid.
    public init(search: PluginSearchPath) throws(RegistryError) {
        self.search = search
        if let path = search.registryPath {
            registry = try Registry.load(path: path)
        } else {
            registry = Registry()
        }
    }

    /// Every `*.so` file in the plugin directories, with its sha256 and pin status. Nothing is loaded.
    public func discover() -> [DiscoveredLibrary] {
        var found: [DiscoveredLibrary] = []
        var seen = Set<String>()
        for directory in search.directories {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for name in names.sorted() where name.hasSuffix(".so") {
                let path = URL(fileURLWithPath: directory).appendingPathComponent(name).standardized.path
                guard seen.insert(path).inserted, let sha = try? FileHash.sha256(path: path) else { continue }
                found.append(DiscoveredLibrary(path: path, sha256: sha, trust: trust(path: path, sha256: sha)))
            }
        }
        return found
    }

    /// Loads the library at `path` if it is pinned (or unpinned libraries are allowed).
    /// - Throws: ``RegistryError`` for a refused library, ``PluginError`` for one that does not load.
    public func load(path: String) throws -> PluginLibrary {
        let path = URL(fileURLWithPath: path).standardized.path
        lock.lock()
        defer { lock.unlock() }
        if let library = loaded[path] { return library }
        guard FileManager.default.fileExists(atPath: path) else { throw PluginError.fileNotFound(path: path) }
        let sha = try FileHash.sha256(path: path)
        if !search.allowUnpinned {
            switch trust(path: path, sha256: sha) {
            case .pinned: break
            case .hashMismatch(let entry, let expected):
                throw RegistryError.hashMismatch(library: path, entry: entry, expected: expected, found: sha)
            case .unpinned:
                throw RegistryError.notPinned(library: path, sha256: sha)
            }
        }
        let library = try PluginLibrary(path: path)
        loaded[path] = library
        return library
    }

    /// The library of a registry entry: a plugin library (``load(path:)``), or, for kind `cfunction`, the
    /// libffi adapter over the entry's C library. Either is refused when its sha256 differs from the entry's
    /// pin, unless unpinned libraries are allowed.
    /// - Throws: ``RegistryError``, ``PluginError`` or ``CFunctionError``.
    public func loadEntry(_ entry: RegistryEntry) throws -> PluginLibrary {
        let path = try libraryPath(for: entry)
        guard entry.kind == "cfunction" else { return try load(path: path) }
        let key = "cfunction:\(entry.id)"
        lock.lock()
        defer { lock.unlock() }
        if let library = loaded[key] { return library }
        if !search.allowUnpinned {
            let sha = try FileHash.sha256(path: path)
            guard sha == entry.sha256 else {
                throw RegistryError.hashMismatch(library: path, entry: entry.id, expected: entry.sha256, found: sha)
            }
        }
        let library = try PluginLibrary.cfunction(entry: entry, path: path)
        loaded[key] = library
        return library
    }

    /// The operator `id`: from the library at `pluginPath` when given, else from the registry entry providing it.
    public func resolveOperator(_ id: String, pluginPath: String? = nil) throws -> OperatorDescriptor {
        if let pluginPath {
            let library = try load(path: pluginPath)
            guard let op = library.operator(id) else {
                throw RegistryError.unknownOperator(id: id, registry: pluginPath, known: library.operators.map(\.id))
            }
            return op
        }
        guard let entry = registry.entries(providing: id).first else {
            throw RegistryError.unknownOperator(
                id: id, registry: search.registryPath ?? "(none)", known: registry.operatorIds)
        }
        if search.requireConformance, entry.conformance?.passed != true {
            throw RegistryError.notConformant(
                entry: entry.id, operatorId: id, registry: search.registryPath ?? "(none)",
                record: entry.conformance.map { "its conformance record says: failed (\($0.summary))" }
                    ?? "it has no conformance record")
        }
        let library = try loadEntry(entry)
        guard let op = library.operator(id) else {
            throw RegistryError.unknownOperator(id: id, registry: library.path, known: library.operators.map(\.id))
        }
        return op
    }

    /// Where `entry`'s library file is: a path relative to the registry's folder, or a bare file name
    /// searched in the plugin directories.
    public func libraryPath(for entry: RegistryEntry) throws(RegistryError) -> String {
        if entry.library.contains("/") {
            let base =
                search.registryPath.map { URL(fileURLWithPath: $0).deletingLastPathComponent() }
                ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let path = URL(
                fileURLWithPath: entry.library.hasPrefix("/")
                    ? entry.library : base.appendingPathComponent(entry.library).path
            ).standardized.path
            guard FileManager.default.fileExists(atPath: path) else {
                throw .libraryNotFound(entry: entry.id, library: entry.library, searched: [path])
            }
            return path
        }
        for directory in search.directories {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(entry.library).path
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw .libraryNotFound(entry: entry.id, library: entry.library, searched: search.directories)
    }

    private func trust(path: String, sha256: String) -> DiscoveredLibrary.Trust {
        if let entry = registry.entry(sha256: sha256) { return .pinned(entryId: entry.id) }
        // The entry that resolves to this very file, else one that names a file of the same name.
        let name = URL(fileURLWithPath: path).lastPathComponent
        if let entry = registry.entries.first(where: { (try? libraryPath(for: $0)) == path })
            ?? registry.entries.first(where: { URL(fileURLWithPath: $0.library).lastPathComponent == name })
        {
            return .hashMismatch(entryId: entry.id, expected: entry.sha256)
        }
        return .unpinned
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
