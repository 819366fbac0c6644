import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

#if canImport(Glibc)
    import Glibc
#endif

/// `zoo`: the OperatorZoo command line.
@main
struct Zoo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo",
        abstract: "Graft new operators into pretrained Diffusion Transformers, through a stable C plugin ABI.",
        subcommands: [
            PluginsCommand.self, PluginCommand.self, OpCommand.self, RegistryCommand.self, ConformCommand.self,
            DemoCommand.self,
            ConvertCommand.self, AnalyzeCommand.self, DiTCommand.self, DataCommand.self, PretrainCommand.self,
            SampleCommand.self, ClassifierCommand.self,
            VAECommand.self,
            GraftCommand.self,
            GraftTableCommand.self, BenchCommand.self,
            ProbeCommand.self, SoakCommand.self,
        ])

    /// Runs the command line with SIGXFSZ ignored: a write past the file size limit (`ulimit -f`) then fails with
    /// `EFBIG`, which the writers report as an error naming the file, instead of killing the process silently
    /// and leaving its temporary file behind.
    ///
    /// Under `mpirun`, a rank that finishes finalizes MPI (waiting for the others), and a rank that fails aborts the
    /// whole job after printing its error, so no rank is left waiting for it in a collective.
    static func main() {
        signal(SIGXFSZ, SIG_IGN)
        do {
            var command = try parseAsRoot(nil)
            try command.run()
        } catch {
            if ProcessGroup.started {
                FileHandle.standardError.write(
                    Data("Error (MPI rank \(ProcessGroup.startedRank)): \(fullMessage(for: error))\n".utf8))
                ProcessGroup.abortStarted(code: 1)
            }
            exit(withError: error)
        }
        ProcessGroup.finishStarted()
    }
}
