import ArgumentParser
import Host

/// `zoo plugin new`: scaffolds a plugin that builds and passes `zoo conform` as generated.
struct PluginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin", abstract: "Create new plugins.", subcommands: [New.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a plugin folder (source, build script, a working example operator with forward and backward).")

        @Argument(help: "Plugin and operator name, [a-z][a-z0-9_]*.")
        var name: String

        @Option(help: "Language: \(PluginScaffold.Language.allCases.map(\.rawValue).joined(separator: ", ")).")
        var language = "c"

        @Option(help: "Folder to create (default: ./NAME).")
        var output: String?

        @Option(help: "Folder holding OperatorABI.h (default: found above the zoo executable).")
        var abiInclude: String?

        func run() throws {
            guard let lang = PluginScaffold.Language(rawValue: language) else {
                throw CLIError("--language '\(language)' is not supported (available: \(PluginScaffold.Language.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let directory = output ?? name
            let files = try PluginScaffold.create(
                name: name, language: lang, directory: directory,
                headerDirectory: try PluginScaffold.headerDirectory(override: abiInclude))
            print("wrote \(files.map { directory + "/" + $0 }.joined(separator: ", "))")
            print("next: make -C \(directory) && zoo conform \(directory)/build/lib\(name).so")
        }
    }
}
