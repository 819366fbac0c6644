import Foundation
import Testing

@testable import Host

/// `zoo bench` writes a well-formed report (machine facts, medians, GFLOP/s, in-run ratios, fitted exponents).
/// Speeds are never asserted: the figures are measurements on a shared machine.
@Suite struct BenchTests {
    @Test func benchWritesJSONWithBaselinesAndExponents() throws {
        let ws = try CLITests.Workspace()
        let config = ws.path("tiny.json")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: config))
        let out = ws.path("bench.json")
        let r = try ws.zoo(["bench", "all", "--config", config, "--batch", "2", "--lengths", "16,64", "--operators", "mha,poolformer",
                            "--repeats", "1", "--json", out])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(report.machine.cores >= 1 && !report.machine.openblasCore.isEmpty && report.machine.openblasThreads == 1)
        let names = report.entries.map(\.name)
        #expect(names.contains("sgemm 2048x1536x384"))
        let forward = try #require(report.entries.first { $0.suite == "dit" && $0.name.hasPrefix("forward ") })
        #expect(forward.gflops.map { $0 > 0 } == true && forward.ratio.map { $0 > 0 } == true && forward.baseline?.hasPrefix("sgemm") == true)
        let pool = try #require(report.entries.first { $0.name == "poolformer forward D=384 L=64" })
        #expect(pool.baseline == "mha forward D=384 L=64" && pool.ratio.map { $0 > 0 } == true)
        #expect(pool.notes["exponent_forward"].flatMap(Double.init) != nil)
        #expect(report.entries.allSatisfy { $0.timing.median > 0 && $0.timing.min <= $0.timing.median && $0.timing.median <= $0.timing.max })
        #expect(r.stdout.contains("GFLOP/s"))
        let bad = try ws.zoo(["bench", "dispatch"])
        #expect(bad.status != 0 && bad.stderr.contains("not built yet"), "\(bad.stderr)")
    }

    @Test func exponentFitRecoversPowerLaws() {
        let quadratic = [256, 1024, 4096].map { ($0, 3e-9 * Double($0) * Double($0)) }
        #expect(abs(BenchSuites.exponent(quadratic) - 2) < 1e-9)
        let linear = [100, 1000].map { ($0, 0.5 * Double($0)) }
        #expect(abs(BenchSuites.exponent(linear) - 1) < 1e-9)
    }
}
