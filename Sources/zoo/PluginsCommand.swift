import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins", abstract: "List and inspect plugin libraries.",
        subcommands: [List.self, Inspect.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every library in the plugin directories, its pin status and its operators.")

        @OptionGroup var plugins: PluginOptions

        func run() throws {
            let host = try plugins.makeHost()
            print("registry: \(host.search.registryPath ?? "(none)")")
            print("plugin directories: \(host.search.directories.joined(separator: ", "))")
            let found = host.discover()
            if found.isEmpty { print("no plugin libraries found") }
            for library in found {
                let status: String
                switch library.trust {
                case .pinned(let id): status = "pinned (\(id))"
                case .hashMismatch(let id, _): status = "HASH MISMATCH with entry '\(id)' (refused)"
                case .unpinned: status = "unpinned (run `zoo registry add \(library.path)`)"
                }
                print("\n\(library.path)\n  sha256 \(library.sha256)\n  \(status)")
                let trusted = if case .pinned = library.trust { true } else { false }
                guard trusted || plugins.allowUnpinned else {
                    print("  not loaded (pass --allow-unpinned to load it)")
                    continue
                }
                do {
                    // A C function's library has no entry symbol: it loads through its registry entry.
                    if let entry = cfunctionEntry(library.trust, host.registry) {
                        printOperators(try host.loadEntry(entry), kind: "cfunction")
                    } else {
                        printOperators(try host.load(path: library.path), kind: "plugin")
                    }
                } catch {
                    print("  error: \(error)")
                }
            }
            // C functions whose libraries live outside the plugin directories (a path relative to the registry).
            let shown = Set(found.map(\.path))
            for entry in host.registry.entries where entry.kind == "cfunction" {
                guard let path = try? host.libraryPath(for: entry) else {
                    print(
                        "\n\(entry.library) (registry entry '\(entry.id)', kind cfunction)\n  error: library not found")
                    continue
                }
                guard !shown.contains(URL(fileURLWithPath: path).standardized.path) else { continue }
                let sha = (try? FileHash.sha256(path: path)) ?? "(unreadable)"
                let pinned = sha == entry.sha256
                print(
                    "\n\(path)\n  sha256 \(sha)\n  \(pinned ? "pinned (\(entry.id))" : "HASH MISMATCH with entry '\(entry.id)' (refused)")"
                )
                guard pinned || plugins.allowUnpinned else {
                    print("  not loaded (pass --allow-unpinned to load it)")
                    continue
                }
                do { printOperators(try host.loadEntry(entry), kind: "cfunction") } catch { print("  error: \(error)") }
            }
        }

        /// The cfunction entry a discovered library is pinned by (or mismatches), if any.
        private func cfunctionEntry(_ trust: DiscoveredLibrary.Trust, _ registry: Registry) -> RegistryEntry? {
            switch trust {
            case .pinned(let id), .hashMismatch(let id, _):
                registry.entry(id: id).flatMap { $0.kind == "cfunction" ? $0 : nil }
            case .unpinned: nil
            }
        }

        private func printOperators(_ plugin: PluginLibrary, kind: String) {
            let adapter = kind == "cfunction" ? " (cfunction through libffi)" : ""
            print(
                "  \(plugin.name) \(plugin.version), ABI \(plugin.abiMajor).\(plugin.abiMinor), \(plugin.license)\(adapter)"
            )
            for op in plugin.operators {
                print("  - \(op.id) [\(op.role)] v\(op.version): \(op.summary)")
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "An operator's metadata: attributes with defaults and docs, parameters with shapes, capabilities."
        )

        @Argument(help: "An operator id (found through the registry), or a library path (every operator in it).")
        var target: String

        @Option(help: "Model width D used to show the parameter shapes.")
        var dim = 384

        @Option(help: "Token grid HxW, for operators that need it.")
        var grid: GridSize?

        @Option(name: .customLong("set"), help: "Attribute NAME=VALUE for the example instance (repeatable).")
        var assignments: [String] = []

        @OptionGroup var plugins: PluginOptions

        func run() throws {
            let host = try plugins.makeHost()
            let descriptors: [OperatorDescriptor]
            if target.hasPrefix(CFunctionReference.prefix) {
                descriptors = try PluginLibrary.open(target).operators
            } else if target.contains("/") || target.hasSuffix(".so") {
                descriptors = try host.load(path: target).operators
            } else {
                descriptors = [try host.resolveOperator(target)]
            }
            for descriptor in descriptors {
                print("\(descriptor.id) v\(descriptor.version) [\(descriptor.role)]")
                print("  \(descriptor.summary)")
                print("  library: \(descriptor.libraryPath)")
                print("  capabilities: \(descriptor.capabilities)")
                print("  attributes:")
                if descriptor.attributes.isEmpty { print("    (none)") }
                for a in descriptor.attributes {
                    var bounds: [String] = []
                    if let r = a.intRange { bounds.append("range \(r.lowerBound)...\(r.upperBound)") }
                    if let r = a.floatRange { bounds.append("range \(r.lowerBound)...\(r.upperBound)") }
                    if let n = a.listLength { bounds.append("\(n) elements") }
                    if let c = a.choices { bounds.append("one of \(c.joined(separator: "|"))") }
                    let extra = bounds.isEmpty ? "" : ", \(bounds.joined(separator: ", "))"
                    print("    \(a.name): \(a.type) = \(a.defaultValue)\(extra)\n        \(a.doc)")
                }
                do {
                    let values = try descriptor.parseAssignments(assignments)
                    let needsGrid = descriptor.capabilities.contains(.needsGrid)
                    let g = grid.map { ($0.height, $0.width) } ?? (needsGrid ? (16, 16) : nil)
                    let op = try Operator(
                        descriptor, dim: dim, grid: g.map { (height: $0.0, width: $0.1) }, attributes: values)
                    let gridText = g.map { ", grid \($0.0)x\($0.1)" } ?? ""
                    print("  parameters (D = \(dim)\(gridText)):")
                    if op.parameters.isEmpty { print("    (none)") }
                    for p in op.parameters { print("    \(p.name) \(p.shape)") }
                    let rf =
                        op.receptiveField.map {
                            "[t - \($0.left.map(String.init) ?? "inf"), t + \($0.right.map(String.init) ?? "inf")]"
                        } ?? "not declared"
                    print("  causal: \(op.isCausal), receptive field: \(rf), time in L: \(op.complexity)")
                    // The declared cost at the example's length (the grid's tokens, else 256), for one sequence.
                    let length = g.map { $0.0 * $0.1 } ?? 256
                    if let cost = try op.cost(batch: 1, length: length) {
                        func giga(_ v: Int) -> String { String(format: "%.4g G", Double(v) / 1e9) }
                        print(
                            "  cost at B = 1, L = \(length): forward \(giga(cost.forwardFLOPs))FLOP, \(giga(cost.forwardBytes))B; "
                                + "backward \(giga(cost.backwardFLOPs))FLOP, \(giga(cost.backwardBytes))B")
                    } else {
                        print("  cost: not declared")
                    }
                } catch {
                    print("  parameters: cannot create an example instance with D = \(dim): \(error)")
                }
            }
        }
    }
}

/// `HxW`, e.g. `16x16`.
struct GridSize: ExpressibleByArgument {
    let height: Int
    let width: Int

    init?(argument: String) {
        let parts = argument.lowercased().split(separator: "x")
        guard parts.count == 2, let h = Int(parts[0]), let w = Int(parts[1]), h >= 1, w >= 1 else { return nil }
        height = h
        width = w
    }
}
