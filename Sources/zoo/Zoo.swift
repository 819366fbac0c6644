import ArgumentParser
import Host

/// `zoo`: the OperatorZoo command line.
@main
struct Zoo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo",
        abstract: "Graft new operators into pretrained Diffusion Transformers, through a stable C plugin ABI.",
        subcommands: [
            PluginsCommand.self, PluginCommand.self, OpCommand.self, RegistryCommand.self, ConformCommand.self, DemoCommand.self,
            DiTCommand.self, DataCommand.self, PretrainCommand.self, SampleCommand.self, GraftCommand.self, GraftTableCommand.self, BenchCommand.self,
            ProbeCommand.self,
        ])
}
