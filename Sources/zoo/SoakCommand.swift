import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `zoo _soak` (hidden): the plugin load test. Every operator of the given libraries (default: every operator in
/// the registry) through many create/forward/backward/destroy cycles, concurrently on the host thread pool, with
/// resident memory and thread counts measured (``PluginSoak``). Fails on a cycle whose outputs differ, on memory
/// growth over `--max-growth-mib`, or on threads left behind. `scripts/soak` runs it for the figures in
/// docs/RELIABILITY.md.
struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_soak", abstract: "Load-test plugins: many create/forward/backward/destroy cycles, concurrently.",
        shouldDisplay: false)

    @Argument(help: "Plugin libraries to soak (default: every operator in the registry).")
    var libraries: [String] = []

    @Option(help: "Measured cycles per operator (after the warm-up).")
    var cycles = 2000

    @Option(help: "Warm-up cycles per operator before the first measurement.")
    var warmup = 20

    @Option(help: "Largest resident-memory growth accepted over the measured cycles, in MiB.")
    var maxGrowthMib = 16.0

    @Option(help: "Write the report as JSON here.")
    var json: String?

    @OptionGroup var plugins: PluginOptions

    func validate() throws {
        guard cycles >= 1, warmup >= 0 else {
            throw ValidationError("--cycles must be at least 1 and --warmup at least 0")
        }
    }

    func run() throws {
        let host = try plugins.makeHost()
        let descriptors: [OperatorDescriptor] =
            libraries.isEmpty
            ? try host.registry.operatorIds.map { try host.resolveOperator($0) }
            : try libraries.flatMap { try host.load(path: $0).operators }
        guard !descriptors.isEmpty else { throw CLIError("no operators to soak (the registry lists none)") }
        print(
            "soak: \(descriptors.count) operators, \(cycles) cycles each after \(warmup) warm-up, on \(ThreadPool.shared.threadCount) pool threads"
        )
        let report = try PluginSoak.run(operators: descriptors, cyclesPerOperator: cycles, warmupCycles: warmup) {
            done, total in
            print("soak: \(done)/\(total) cycles")
        }
        print(report.summary)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(report), to: json)
        }
        var problems: [String] = []
        if !report.failures.isEmpty { problems.append("\(report.failures.count) cycle(s) failed") }
        if Double(report.growthBytes) > maxGrowthMib * 1_048_576 {
            problems.append(
                String(
                    format: "resident memory grew by %.1f MiB (limit %.1f)", Double(report.growthBytes) / 1_048_576,
                    maxGrowthMib))
        }
        if report.threadsAfter > report.threadsBefore {
            problems.append("\(report.threadsAfter - report.threadsBefore) thread(s) left behind")
        }
        guard problems.isEmpty else { throw CLIError("soak failed: " + problems.joined(separator: "; ")) }
    }
}
