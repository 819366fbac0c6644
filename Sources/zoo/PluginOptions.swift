import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// Where to find plugins and how much to trust them; shared by every command that loads plugins.
struct PluginOptions: ParsableArguments {
    @Option(help: "The registry file (default: $ZOO_REGISTRY, else the registry.json above the zoo executable).")
    var registry: String?

    @Option(help: "An extra directory to scan for plugin libraries (also: $ZOO_PLUGIN_PATH, colon-separated).")
    var pluginDir: String?

    @Flag(help: "Load libraries that are not pinned in the registry, or whose sha256 differs from their pin.")
    var allowUnpinned = false

    @Flag(
        help:
            "Commands that run models (graft, sample, pretrain, dit forward): also use operators whose registry entry has not passed conformance."
    )
    var allowUnconformant = false

    var searchPath: PluginSearchPath {
        .standard(registry: registry, pluginDirectory: pluginDir, allowUnpinned: allowUnpinned)
    }

    /// These options as command-line arguments, for a child `zoo` that must load the same plugins.
    var forwardedArguments: [String] {
        (registry.map { ["--registry", $0] } ?? []) + (pluginDir.map { ["--plugin-dir", $0] } ?? [])
            + (allowUnpinned ? ["--allow-unpinned"] : []) + (allowUnconformant ? ["--allow-unconformant"] : [])
    }

    /// A host; with `requireConformance`, operators resolve only from entries that passed conformance,
    /// unless `--allow-unconformant` was given.
    /// Every command that runs operators makes its host here, so this is also where a slow OpenBLAS kernel
    /// choice is reported (``BLAS/kernelAdvice``, on stderr).
    func makeHost(requireConformance: Bool = false) throws -> PluginHost {
        if let advice = BLAS.kernelAdvice { FileHandle.standardError.write(Data((advice + "\n").utf8)) }
        var search = searchPath
        search.requireConformance = requireConformance && !allowUnconformant
        return try PluginHost(search: search)
    }
}
