import ArgumentParser
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `zoo plugin new`: scaffolds a plugin that builds and passes `zoo conform` as generated.
struct PluginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin", abstract: "Create new plugins.", subcommands: [New.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write a plugin folder (source, build script, a working example operator with forward and backward).")

        @Argument(help: "Plugin and operator name, [a-z][a-z0-9_]*.")
        var name: String

        @Option(help: "Language: \(PluginScaffold.Language.allCases.map(\.rawValue).joined(separator: ", ")).")
        var language = "c"

        @Option(help: "Folder to create (default: ./NAME).")
        var output: String?

        @Option(help: "C: the folder holding OperatorABI.h (default: found above the zoo executable).")
        var abiInclude: String?

        @Option(
            help:
                "Swift: the OperatorZoo checkout the plugin package depends on for PluginKit (default: found above the zoo executable)."
        )
        var packagePath: String?

        func run() throws {
            guard let lang = PluginScaffold.Language(rawValue: language) else {
                throw CLIError(
                    "--language '\(language)' is not supported (available: \(PluginScaffold.Language.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            let directory = output ?? name
            let files = try PluginScaffold.create(
                name: name, language: lang, directory: directory, abiInclude: abiInclude, packageRoot: packagePath)
            print("wrote \(files.map { directory + "/" + $0 }.joined(separator: ", "))")
            switch lang {
            case .c: print("next: make -C \(directory) && zoo conform \(directory)/build/lib\(name).so")
            case .swift: print("next: zoo conform \"$(\(directory)/build.sh)\"")
            }
        }
    }
}
