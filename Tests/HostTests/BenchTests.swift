import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// `zoo bench` writes a well-formed report (machine facts, medians, GFLOP/s, in-run ratios, fitted exponents).
/// Speeds are never asserted: the figures are measurements on a shared machine.
@Suite struct BenchTests {
    @Test func benchWritesJSONWithBaselinesAndExponents() throws {
        let ws = try CLITests.Workspace()
        let config = ws.path("tiny.json")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: config))
        for product in ["OZHyena", "OZLocalAttention"] {  // the train and graft suites use hyena_x and swa
            let added = try ws.zoo([
                "registry", "add", try pluginPath(product: product), "--registry", ws.registry, "--skip-conformance",
            ])
            #expect(added.status == 0, "\(added.stderr)")
        }
        let out = ws.path("bench.json")
        let r = try ws.zoo([
            "bench", "all", "--config", config, "--batch", "2", "--lengths", "16,64", "--operators", "mha,poolformer",
            "--replacements", "hyena_x,swa", "--tokens", "16,64", "--repeats", "1", "--json", out,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(
            report.machine.cores >= 1 && !report.machine.openblasCore.isEmpty && report.machine.openblasThreads == 1)
        let names = report.entries.map(\.name)
        #expect(names.contains("sgemm 2048x1536x384"))
        let forward = try #require(report.entries.first { $0.suite == "dit" && $0.name.hasPrefix("forward ") })
        #expect(
            forward.gflops.map { $0 > 0 } == true && forward.ratio.map { $0 > 0 } == true
                && forward.baseline?.hasPrefix("sgemm") == true)
        let pool = try #require(report.entries.first { $0.name == "poolformer forward D=384 L=64" })
        #expect(pool.baseline == "mha forward D=384 L=64" && pool.ratio.map { $0 > 0 } == true)
        #expect(pool.notes["exponent_forward"].flatMap(Double.init) != nil)
        let mha = try #require(report.entries.first { $0.name == "mha forward D=384 L=64" })
        #expect(
            mha.gflops != nil && mha.notes["gflops_over_sgemm"].flatMap(Double.init) != nil
                && mha.notes["sgemm_baseline"] == "sgemm 64x1152x384")
        #expect(pool.gflops == nil, "poolformer declares 0 FLOPs (pooling is additions only): no GFLOP/s")
        let mhaBackward = try #require(report.entries.first { $0.name == "mha backward D=384 L=64" })
        #expect(mhaBackward.gflops != nil, "the declared backward FLOPs give the backward's GFLOP/s")
        #expect(mhaBackward.notes["backward"]?.contains("saved") == true, "mha's backward runs from saved activations")
        let mhaStep = try #require(report.entries.first { $0.name == "mha forward+backward D=384 L=64" })
        #expect(mhaStep.timing.median > 0 && mhaStep.gflops != nil)
        #expect(
            report.entries.first { $0.name == "poolformer backward D=384 L=64" }?.notes["backward"]
                == "recomputes its forward")
        #expect(
            report.entries.allSatisfy {
                $0.timing.median > 0 && $0.timing.min <= $0.timing.median && $0.timing.median <= $0.timing.max
            })
        #expect(r.stdout.contains("GFLOP/s"))
        // dispatch: per-call time and its share of the forward; train: throughput; graft: payoff per token count.
        let call = try #require(
            report.entries.first { $0.suite == "dispatch" && $0.name.hasPrefix("one operator call") })
        #expect(
            call.notes["microseconds_per_call"].flatMap(Double.init).map { $0 > 0 } == true
                && call.ratio.map { $0 > 0 } == true)
        #expect(call.notes["calls_per_forward"] == "\(2 * TrainingTests.tinyConfig.depth)")
        let step = try #require(report.entries.first { $0.suite == "train" && $0.name.hasPrefix("pretraining step") })
        #expect(step.notes["images_per_second"].flatMap(Double.init).map { $0 > 0 } == true && step.gflops != nil)
        #expect(
            report.entries.contains {
                $0.suite == "train" && $0.name.hasPrefix("stage-1 step, one hyena_x slot") && $0.ratio != nil
            })
        for tokens in [16, 64] {
            for id in ["hyena_x-50", "swa-50"] {
                let e = report.entries.first {
                    $0.suite == "graft" && $0.name.hasPrefix("\(id) forward") && $0.name.contains("T=\(tokens) ")
                }
                #expect(
                    e?.ratio.map { $0 > 0 } == true && e?.baseline?.hasPrefix("original") == true,
                    "\(id) at T=\(tokens)")
            }
        }
        // Without --replacements the graft suite takes every registered token mixer other than the model's attention
        // that declares O(L) at the model's width: from the registry, not from a list in the host.
        let defaults = try ws.zoo([
            "bench", "graft", "--config", config, "--tokens", "16", "--repeats", "1", "--json", ws.path("graft.json"),
        ])
        #expect(defaults.status == 0, "\(defaults.stderr)")
        let graft = try JSONDecoder().decode(
            BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: ws.path("graft.json"))))
        let grafted = Set(
            graft.entries.compactMap { $0.name.split(separator: " ").first.map(String.init) }.filter {
                $0.hasSuffix("-50")
            })
        #expect(grafted.isSuperset(of: ["hyena_x-50", "poolformer-50"]), "\(grafted)")
        #expect(!grafted.contains("mha-50") && !grafted.contains("mlp-50"), "\(grafted)")
        #expect(!report.entries.contains { $0.suite == "threads" }, "all leaves the threads suite out")
        let bad = try ws.zoo(["bench", "fast"])
        #expect(bad.status != 0 && bad.stderr.contains("'fast'") && bad.stderr.contains("operators"), "\(bad.stderr)")

        // compare: a report against itself has no regression; a figure whose in-run ratio halves is one.
        let same = try ws.zoo(["bench", "compare", out, out])
        #expect(same.status == 0 && same.stdout.contains("no regression"), "\(same.stdout)\(same.stderr)")
        var worse = report
        let index = try #require(worse.entries.firstIndex { $0.suite == "dit" && $0.name.hasPrefix("forward ") })
        worse.entries[index].ratio! /= 2
        let worseFile = ws.path("worse.json")
        try worse.json().write(to: URL(fileURLWithPath: worseFile))
        let regressed = try ws.zoo(["bench", "compare", out, worseFile])
        #expect(
            regressed.status == 1 && regressed.stdout.contains("REGRESSED")
                && regressed.stdout.contains("1 regression"), "\(regressed.stdout)")
        let notReport = try ws.zoo(["bench", "compare", out, config])
        #expect(notReport.status != 0 && notReport.stderr.contains(config), "\(notReport.stderr)")
    }

    /// The threads suite runs the dit forward in two children (ZOO_THREADS=1 and 2) within one invocation.
    @Test func threadsSuiteComparesOneAndTwoThreads() throws {
        let ws = try CLITests.Workspace()
        let config = ws.path("tiny.json")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: config))
        let out = ws.path("threads.json")
        let r = try ws.zoo(["bench", "threads", "--config", config, "--batch", "2", "--repeats", "1", "--json", out])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(report.entries.map { $0.name.prefix(9) } == ["1 thread:", "2 threads"])
        #expect(report.entries[1].ratio.map { $0 > 0 } == true && report.entries[1].notes["speedup"] != nil)
    }

    /// The memory suite: a fresh `zoo dit forward` child's peak resident memory against the weights' size.
    @Test func memorySuiteReportsPeakResidentMemory() throws {
        let ws = try CLITests.Workspace()
        let config = ws.path("tiny.json")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: config))
        let out = ws.path("memory.json")
        let r = try ws.zoo([
            "bench", "memory", "--memory-config", config, "--repeats", "1", "--json", out, "--allow-unconformant",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        let entry = try #require(report.entries.first { $0.suite == "memory" })
        let peak = try #require(entry.notes["peak_resident_bytes"].flatMap(Int.init))
        let weights = try #require(entry.notes["weights_bytes"].flatMap(Int.init))
        // A process that maps the zoo executable and its libraries is several MB; the tiny model is ~200 KB.
        #expect(peak > 1 << 20 && weights > 100_000 && weights < 1 << 20, "peak \(peak), weights \(weights)")
        #expect(entry.ratio == Double(peak) / Double(weights))
    }

    /// Ratios are judged by their change, plain times by theirs; figures in one report only are listed.
    @Test func comparisonFlagsRegressionsBeyondTolerance() {
        let machine = BenchReport.Machine(
            cores: 2, hostThreads: 2, openblasCore: "X", openblasThreads: 1, openblasCoretypeEnv: nil, date: "")
        func entry(_ name: String, _ seconds: Double, ratio: Double? = nil) -> BenchEntry {
            BenchEntry(
                suite: "s", name: name, timing: Timing(median: seconds, min: seconds, max: seconds, repeats: 1),
                ratio: ratio)
        }
        let old = BenchReport(
            machine: machine,
            entries: [entry("a", 1, ratio: 0.8), entry("b", 1), entry("c", 1), entry("gone", 1), entry("c", 3)])
        let new = BenchReport(
            machine: machine,
            entries: [entry("a", 5, ratio: 0.75), entry("b", 1.2), entry("c", 0.5), entry("added", 1), entry("c", 3)])
        let comparison = BenchComparison(old: old, new: new, tolerance: 0.1)
        #expect(comparison.rows.map(\.measure) == ["ratio", "time", "time", "time"])
        #expect(
            BenchComparison(old: new, new: new, tolerance: 0).regressions.isEmpty, "repeated names pair by occurrence")
        #expect(
            comparison.regressions.map(\.name) == ["b"],
            "a's ratio fell 6% (within 10%) though its time rose; b is 20% slower")
        #expect(comparison.onlyOld == ["s/gone"] && comparison.onlyNew == ["s/added"])
        #expect(comparison.table.contains("REGRESSED"))
    }

    @Test func exponentFitRecoversPowerLaws() {
        let quadratic = [256, 1024, 4096].map { ($0, 3e-9 * Double($0) * Double($0)) }
        #expect(abs(ScalingFit.exponent(quadratic) - 2) < 1e-9)
        let linear = [100, 1000].map { ($0, 0.5 * Double($0)) }
        #expect(abs(ScalingFit.exponent(linear) - 1) < 1e-9)
    }

    /// A peer report (scripts/bench-peers) pairs with a run by entry name; speed_vs_peer is the peer's median over
    /// ours. A file that is not one is refused with its path.
    @Test func peerReportPairsByName() throws {
        let dir = try makeTemporaryDirectory("zoo-peer")
        let path = dir.appendingPathComponent("peers.json").path
        try Data(
            #"""
            {"peer": "pytorch", "torch_version": "2.13.0", "threads": 2, "entries": [
             {"name": "forward 12x384 p2 T=256 batch 8", "suite": "dit", "timing": {"median": 0.8, "min": 0.7, "max": 0.9, "repeats": 3}},
             {"name": "not in zoo", "timing": {"median": 1, "min": 1, "max": 1, "repeats": 1}}]}
            """#.utf8
        ).write(to: URL(fileURLWithPath: path))
        let peer = try PeerReport.read(path: path)
        let timing = Timing(median: 0.4, min: 0.4, max: 0.5, repeats: 3)
        var report = BenchReport(
            machine: BenchReport.currentMachine(),
            entries: [
                BenchEntry(suite: "dit", name: "forward 12x384 p2 T=256 batch 8", timing: timing),
                BenchEntry(suite: "dit", name: "forward+backward 12x384 p2 T=256 batch 8", timing: timing),
            ])
        #expect(report.pair(with: peer) == 1)
        #expect(
            report.entries[0].notes["speed_vs_peer"] == "2.00" && report.entries[0].notes["peer_median_ms"] == "800.000"
        )
        #expect(report.entries[0].notes["peer"] == "pytorch 2.13.0, 2 threads")
        #expect(report.entries[1].notes["speed_vs_peer"] == nil)
        #expect(report.peerTable.contains("forward 12x384") && !report.peerTable.contains("forward+backward"))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            try PeerReport.read(path: path)
        } throws: { error in
            "\(error)".contains(path) && "\(error)".contains("not a peer report")
        }
    }
}
