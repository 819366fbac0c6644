import ArgumentParser
import Host

/// Where to find plugins and how much to trust them; shared by every command that loads plugins.
struct PluginOptions: ParsableArguments {
    @Option(help: "The registry file (default: $ZOO_REGISTRY, else the registry.json above the zoo executable).")
    var registry: String?

    @Option(help: "An extra directory to scan for plugin libraries (also: $ZOO_PLUGIN_PATH, colon-separated).")
    var pluginDir: String?

    @Flag(help: "Load libraries that are not pinned in the registry, or whose sha256 differs from their pin.")
    var allowUnpinned = false

    var searchPath: PluginSearchPath {
        .standard(registry: registry, pluginDirectory: pluginDir, allowUnpinned: allowUnpinned)
    }

    func makeHost() throws -> PluginHost { try PluginHost(search: searchPath) }
}
