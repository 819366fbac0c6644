import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

struct RegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry", abstract: "Pin plugin libraries by sha256 and check the pins.",
        subcommands: [Add.self, Pin.self, Verify.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a library, read its metadata through the ABI, and add (or update) its pinned entry.")

        @Argument(help: "The plugin library (.so).")
        var library: String

        @Option(help: "Entry id (default: the plugin's name, lower-cased).")
        var id: String?

        @Option(help: "The registry file to update (default: as for every command; created if missing).")
        var registry: String?

        @Flag(help: "Do not run the conformance harness (the entry then records no conformance result).")
        var skipConformance = false

        func run() throws {
            let search = PluginSearchPath.standard(registry: registry, allowUnpinned: true)
            let path = search.registryPath ?? registry ?? "registry.json"
            var catalogue = FileManager.default.fileExists(atPath: path) ? try Registry.load(path: path) : Registry()
            let plugin = try PluginLibrary(path: library)
            let sha = try FileHash.sha256(path: library)
            let entryId = id ?? plugin.name.lowercased().replacingOccurrences(of: " ", with: "-")
            // A library inside a plugin directory is recorded by file name (found wherever zoo is built);
            // anything else by its path relative to the registry.
            let url = URL(fileURLWithPath: library).resolvingSymlinksInPath()
            let inPluginDirectory = search.directories.contains(url.deletingLastPathComponent().path)
            let recorded = inPluginDirectory ? url.lastPathComponent : relativePath(url, to: path)
            var conformance: ConformanceRecord?
            if !skipConformance {
                var runner = ConformanceRunner(executable: PluginSearchPath.executablePath)
                runner.quick = true
                let report = ConformanceReport(library: library, results: runner.run(library: library))
                conformance = ConformanceRecord(
                    passed: report.passed, harnessVersion: report.harnessVersion, date: report.date,
                    summary: report.summary)
                print("conformance (quick): \(report.summary)")
                if !report.passed {
                    print(report.table)
                    print("warning: '\(library)' fails conformance; it is pinned with that result recorded")
                }
            }
            let entry = RegistryEntry(
                id: entryId, library: recorded, name: plugin.name, version: plugin.version,
                abi: "\(plugin.abiMajor).\(plugin.abiMinor)", license: plugin.license,
                operators: plugin.operators.map(\.id), sha256: sha, conformance: conformance)
            catalogue.upsert(entry)
            try catalogue.save(path: path)
            print(
                "pinned '\(entryId)' (\(plugin.operators.map(\.id).joined(separator: ", "))) sha256 \(sha) in \(path)")
        }

        private func relativePath(_ url: URL, to registry: String) -> String {
            let base = URL(fileURLWithPath: registry).standardized.deletingLastPathComponent().path + "/"
            // "./" keeps a file beside the registry distinct from a bare name searched in the plugin directories.
            return url.path.hasPrefix(base) ? "./" + url.path.dropFirst(base.count) : url.path
        }
    }

    struct Pin: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Re-pin an existing entry to its library's current bytes (any kind; the way to pin a cfunction entry).",
            discussion: """
                Computes the sha256 of the entry's library and the ABI it speaks, runs the conformance harness (quick) on it unless told not \
                to, and records both in the entry. A cfunction entry is written by hand (its signature cannot be read \
                from the library); this is how its pin and conformance record are filled in after a build.
                """)

        @Argument(help: "The registry entry id.")
        var id: String

        @Flag(help: "Do not run the conformance harness (the entry then records no conformance result).")
        var skipConformance = false

        @OptionGroup var plugins: PluginOptions

        func run() throws {
            var search = plugins.searchPath
            search.allowUnpinned = true
            let host = try PluginHost(search: search)
            guard let registryPath = search.registryPath else {
                throw CLIError("no registry file found (use --registry)")
            }
            guard var entry = host.registry.entry(id: id) else {
                throw CLIError(
                    "registry '\(registryPath)' has no entry '\(id)' (it has: \(host.registry.entries.map(\.id).joined(separator: ", ")))"
                )
            }
            let path = try host.libraryPath(for: entry)
            entry.sha256 = try FileHash.sha256(path: path)
            let library = try host.loadEntry(entry)
            guard library.operators.map(\.id) == entry.operators else {
                throw CLIError(
                    "'\(path)' provides \(library.operators.map(\.id)), but entry '\(id)' lists \(entry.operators): use `zoo registry add` to rewrite a plugin entry"
                )
            }
            // The ABI the bytes speak (for a cfunction entry: the adapter's, which is this host's).
            entry.abi = "\(library.abiMajor).\(library.abiMinor)"
            if skipConformance {
                entry.conformance = nil
            } else {
                let target =
                    entry.kind == "cfunction" ? CFunctionReference(registry: registryPath, entry: id).description : path
                if let dir = plugins.pluginDir {
                    setenv(
                        "ZOO_PLUGIN_PATH",
                        dir + (ProcessInfo.processInfo.environment["ZOO_PLUGIN_PATH"].map { ":" + $0 } ?? ""), 1)
                }
                var runner = ConformanceRunner(executable: PluginSearchPath.executablePath)
                runner.quick = true
                let report = ConformanceReport(library: target, results: runner.run(library: target))
                entry.conformance = ConformanceRecord(
                    passed: report.passed, harnessVersion: report.harnessVersion, date: report.date,
                    summary: report.summary)
                print("conformance (quick): \(report.summary)")
                if !report.passed {
                    print(report.table)
                    print("warning: '\(id)' fails conformance; it is pinned with that result recorded")
                }
            }
            var catalogue = host.registry
            catalogue.upsert(entry)
            try catalogue.save(path: registryPath)
            print(
                "pinned '\(id)' (\(entry.operators.joined(separator: ", "))) sha256 \(entry.sha256) in \(registryPath)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every entry: the library exists, its sha256 matches, and its metadata agrees.")

        @OptionGroup var plugins: PluginOptions

        func run() throws {
            let host = try plugins.makeHost()
            print("registry: \(host.search.registryPath ?? "(none)")")
            var failures = 0
            for entry in host.registry.entries {
                do {
                    let path = try host.libraryPath(for: entry)
                    let sha = try FileHash.sha256(path: path)
                    guard sha == entry.sha256 else {
                        throw RegistryError.hashMismatch(
                            library: path, entry: entry.id, expected: entry.sha256, found: sha)
                    }
                    let plugin = try host.loadEntry(entry)
                    var problems: [String] = []
                    if plugin.operators.map(\.id) != entry.operators {
                        problems.append("operators are \(plugin.operators.map(\.id)), entry says \(entry.operators)")
                    }
                    if plugin.version != entry.version {
                        problems.append("version \(plugin.version), entry says \(entry.version)")
                    }
                    if plugin.name != entry.name { problems.append("name \(plugin.name), entry says \(entry.name)") }
                    guard problems.isEmpty else { throw CLIError(problems.joined(separator: "; ")) }
                    print("ok      \(entry.id): \(path)")
                } catch {
                    failures += 1
                    print("FAILED  \(entry.id): \(error)")
                }
            }
            if failures > 0 {
                throw CLIError("\(failures) of \(host.registry.entries.count) registry entries failed verification")
            }
            print("all \(host.registry.entries.count) entries verified")
        }
    }
}
