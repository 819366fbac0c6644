import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The short plugin soak (the long one is `scripts/soak`): every operator of every shipped plugin through many
/// create/forward/backward/destroy cycles, concurrently on the host thread pool, with flat memory, no threads
/// left behind and every cycle computing what the first did; and the soak itself catches a leaking plugin and a
/// drifting one. Memory is measured in a child `zoo _soak`, away from the other tests' allocations.
@Suite struct SoakTests {
    static let shipped = ["OZMHA", "OZMLP", "OZLocalAttention", "OZHyena", "OZMamba2", "OZPoolFormerC"]

    private func soak(_ libraries: [String], _ options: [String]) throws -> (CommandResult, PluginSoak.Report?) {
        let directory = try TestDirectory()
        let json = directory.file("soak.json")
        let result = try runCommand(
            try zooPath(), ["_soak"] + libraries + ["--allow-unpinned", "--json", json] + options)
        let report = try? JSONDecoder().decode(
            PluginSoak.Report.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        return (result, report)
    }

    @Test func shippedPluginsSoakWithFlatMemory() throws {
        let (result, report) = try soak(try Self.shipped.map { try pluginPath(product: $0) }, ["--cycles", "100"])
        // `zoo _soak` fails on any cycle that differs, on growth over 16 MiB (a leak of 16 KiB per cycle exceeds
        // it) and on threads left behind.
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let figures = try #require(report)
        #expect(figures.operators.count == 14 && figures.totalCycles == 100 * figures.operators.count)
        #expect(
            figures.failures.isEmpty && figures.threadsAfter <= figures.threadsBefore
                && figures.residentBytes.count == 11)
        #expect(result.stdout.contains("growth") && result.stdout.contains("threads:"), "\(result.stdout)")
    }

    @Test func soakCatchesALeakingPlugin() throws {
        let (result, report) = try soak(
            [try FixturePlugins.path("ConformLeaks")], ["--cycles", "40", "--max-growth-mib", "8"])
        #expect(result.status != 0 && result.stderr.contains("resident memory grew"), "\(result.stderr)")
        #expect(try #require(report).growthBytes >= 30 << 20, "1 MiB per instance over 40 cycles")
    }

    @Test func soakCatchesOutputsThatDriftBetweenCycles() throws {
        let drifting = try #require(
            try PluginLibrary(path: try FixturePlugins.path("ConformNondeterministic")).operator("conform_op"))
        let report = try PluginSoak.run(operators: [drifting], cyclesPerOperator: 10, warmupCycles: 0)
        #expect(
            !report.failures.isEmpty && report.failures.allSatisfy { $0.hasPrefix("conform_op: ") },
            "\(report.failures)")
    }
}
