import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `zoo bench`: measured speed, as tables and JSON, with every figure also a ratio to an in-run baseline.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract:
            "Benchmark BLAS, dispatch, the operators, the DiT, training and grafting; print a table and write JSON.",
        discussion: """
            Suites: blas (sgemm on DiT-S/2 linear shapes), dispatch (one operator call through the ABI, and its \
            share of a DiT forward), dit (forward and forward+backward of a DiT with random weights, GFLOP/s \
            against in-run sgemm), threads (the dit forward in child processes with ZOO_THREADS=1 and 2), \
            operators (each registered token mixer, or each operator --operators names, at D=384 with 6 heads \
            over L: forward, backward as training runs it, and train-mode forward+backward; fitted exponent of \
            time against L, speed relative to mha), train (images/s of a pretraining step on the synthetic shapes and of a \
            stage-1 step of one hyena_x slot; a --config without 3 input channels trains the embedded model's \
            architecture), graft (forward of the interleave-50 hyena_x and swa models against the original at 256, 1024 \
            and 4096 tokens), memory (peak resident memory of zoo dit forward, batch 1, in a fresh process on a \
            random float32 checkpoint of --memory-config, default DiT-XL/2: 2.7 GB on disk and in memory, against \
            the weights' size). 'all' runs every suite but threads and memory. Figures are medians over --repeats runs after a \
            warm-up, with their spread; they are measurements, never pass/fail.
            `zoo bench compare OLD.json NEW.json` compares two reports and exits 1 when a figure regressed by \
            more than --tolerance (judged by its in-run ratio when it has one, else by its median time).
            """)

    /// What `zoo bench` runs: one suite, every default suite, or a comparison of two reports.
    enum Suite: String, CaseIterable, ExpressibleByArgument {
        case all, blas, dispatch, dit, threads, operators, train, graft, memory, compare

        /// Whether `all` includes the suite: every one but threads and memory (child processes, a large file).
        var inAll: Bool { ![.all, .threads, .memory, .compare].contains(self) }
    }

    @Argument(help: "Suite: all, blas, dispatch, dit, threads, operators, train, graft, memory; or compare.")
    var suite = Suite.all

    @Argument(help: "With compare: the old and the new JSON report.")
    var files: [String] = []

    @Option(help: "Write the JSON report here.")
    var json: String?

    @Option(help: "DiT configuration of the dispatch, dit, threads, train and graft suites (JSON file or preset).")
    var config = "DiT-S/2"

    @Option(help: "Batch of the dispatch, dit, threads and train suites.")
    var batch = 8

    @Option(help: "Sequence lengths of the operators suite (comma-separated).")
    var lengths = "256,1024,4096"

    @Option(help: "Token counts of the graft suite (comma-separated squares).")
    var tokens = "256,1024,4096"

    @Option(help: "Operators of the operators suite (comma-separated ids; default: every registered one).")
    var operators: String?

    @Option(
        help: """
            Replacement token mixers of the train suite (its stage-1 slot: the first) and the graft suite (comma-separated \
            ids; default: every registered token mixer that declares linear complexity at the model's width).
            """)
    var replacements: String?

    @Option(
        help: """
            A peer report of the same workloads (scripts/bench-peers: PyTorch eager on this machine) to pair with this \
            run by entry name: each paired entry gets the peer's median and speed_vs_peer (above 1: zoo is faster).
            """)
    var peer: String?

    @Option(help: "DiT configuration of the memory suite (JSON file or preset).")
    var memoryConfig = "DiT-XL/2"

    @Option(help: "Measured runs per figure.")
    var repeats = 5

    @Option(help: "compare: the relative change counted as a regression.")
    var tolerance = 0.10

    @OptionGroup var plugins: PluginOptions

    func validate() throws {
        if suite == .compare {
            guard files.count == 2 else {
                throw ValidationError("compare takes two reports: zoo bench compare OLD.json NEW.json")
            }
            guard tolerance >= 0, tolerance < 1 else {
                throw ValidationError("--tolerance must be in [0, 1) (found \(tolerance))")
            }
            return
        }
        guard files.isEmpty else { throw ValidationError("unexpected arguments \(files): only compare takes files") }
        guard repeats >= 1, batch >= 1 else { throw ValidationError("--repeats and --batch must be at least 1") }
    }

    /// `--replacements`, or every registered token mixer other than the model's attention that declares O(L) at the
    /// model's width and heads: the operators a graft would swap in, taken from the registry, not from a list here.
    private func replacementOperators(_ host: PluginHost, config c: DiTConfig) throws -> NonEmptyOperators {
        if let replacements {
            return try NonEmptyOperators(
                replacements.split(separator: ",").map { try host.resolveOperator(String($0)) },
                option: "--replacements")
        }
        var found: [OperatorDescriptor] = []
        for id in host.registry.operatorIds where id != c.attnOperator {
            guard let d = try? host.resolveOperator(id), d.role == .tokenMixer else { continue }
            let attributes = d.completing([:], heads: c.numHeads, tokens: c.tokenCount)
            guard let op = try? Operator(d, dim: c.hiddenSize, grid: (c.gridSize, c.gridSize), attributes: attributes),
                op.complexity == .linear
            else { continue }
            found.append(d)
        }
        return try NonEmptyOperators(found, option: "the registry's linear token mixers")
    }

    func run() throws {
        if suite == .compare { return try compare() }
        let host = try plugins.makeHost()
        let c = try DiTConfig.preset(config) ?? DiTConfig.load(path: config)
        func standard(_ key: DiTSlotKey, _ config: DiTConfig) throws -> DiTSlotChoice {
            try DiTSlotChoice.standard(key, config: config, host: host)
        }
        func randomModel(_ c: DiTConfig = c) throws -> DiTModel {
            let model = try DiTModel(config: c) { key in try standard(key, c) }
            try model.initialize(seed: 0)
            // adaLN-Zero leaves the blocks inert; random modulations make every path do its real work.
            for (i, name) in model.parameters.names.enumerated()
            where name.contains("adaLN") || name.contains("final_layer") {
                model.parameters.tensors[i] = Tensor.randomNormal(
                    model.parameters.tensors[i].shape, seed: UInt64(i), scale: 0.02)
            }
            return model
        }
        func wants(_ s: Suite) -> Bool { suite == s || (suite == .all && s.inAll) }
        var entries: [BenchEntry] = []
        if wants(.blas) { entries += try BenchSuites.blas(repeats: repeats) }
        if wants(.dispatch) {
            entries += try BenchSuites.dispatch(
                attention: try host.resolveOperator(c.attnOperator), model: try randomModel(), batch: batch,
                repeats: repeats)
        }
        if wants(.dit) { entries += try BenchSuites.dit(model: try randomModel(), batch: batch, repeats: repeats) }
        if wants(.threads) { entries += try threads() }
        if wants(.operators) {
            let ls = try integers(lengths, option: "--lengths")
            // By default the registry's token mixers; operators named with --operators whatever their role (a channel
            // mixer such as mlp_hyena_x too). The model's own attention first, so token mixers can be given relative
            // to it.
            let named = operators.map { $0.split(separator: ",").map(String.init) }
            let ids = named ?? host.registry.operatorIds
            let ordered = ids.filter { $0 == c.attnOperator } + ids.filter { $0 != c.attnOperator }
            let ops = try ordered.map { try host.resolveOperator($0) }.filter { named != nil || $0.role == .tokenMixer }
            entries += try BenchSuites.operators(
                ops, dim: 384, heads: 6, lengths: ls, repeats: repeats, baseline: c.attnOperator
            ) { print($0) }
        }
        if wants(.train) {
            // Pretraining draws the synthetic RGB shapes: a model with other input channels (DiT's latent presets
            // take 4) trains the embedded default's architecture instead, the model `zoo pretrain` makes.
            let trained = c.inChannels == 3 ? c : DiTConfig.embeddedDefault
            let slot = try replacementOperators(host, config: trained).first
            entries += try BenchSuites.training(
                model: try randomModel(trained), slotOperator: slot,
                slotAttributes: slot.completing([:], heads: trained.numHeads, tokens: trained.tokenCount),
                batch: batch, repeats: repeats)
        }
        if wants(.graft) {
            func replacement(_ id: String) -> (name: String, choice: (DiTConfig) throws -> DiTSlotChoice) {
                (
                    "\(id)-50",
                    { config in
                        try Grafting.choice(
                            for: GraftPlan.Graft(kind: .attn, layers: .interleave50, operatorId: id, attributes: [:]),
                            config: config, host: host)
                    }
                )
            }
            entries += try BenchSuites.graftPayoff(
                config: c, standard: standard,
                replacements: try replacementOperators(host, config: c).map { replacement($0.id) },
                tokens: try integers(tokens, option: "--tokens"), repeats: min(repeats, 3)
            ) { print($0) }
        }
        if wants(.memory) {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-bench-memory-\(getpid())")
                .path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let mc = try DiTConfig.preset(memoryConfig) ?? DiTConfig.load(path: memoryConfig)
            entries += try BenchSuites.memory(
                executable: PluginSearchPath.executablePath, config: mc, configName: memoryConfig, folder: folder,
                pluginArguments: plugins.forwardedArguments, repeats: min(repeats, 3))
        }
        var report = BenchReport(machine: BenchReport.currentMachine(), entries: entries)
        print(report.table)
        if let peer {
            let paired = report.pair(with: try PeerReport.read(path: peer))
            print(paired > 0 ? "\n" + report.peerTable : "\nno entry of \(peer) has the name of one of this run's")
        }
        if let json {
            try AtomicFile.write(try report.json(), to: json)
            print("wrote \(json)")
        }
    }

    private func integers(_ text: String, option: String) throws -> [Int] {
        try text.split(separator: ",").map { item in
            guard let value = Int(item), value >= 1 else {
                throw ValidationError("\(option): '\(item)' is not a positive integer")
            }
            return value
        }
    }

    /// The dit suite's forward in two child processes, with the host pool at 1 and at 2 threads (OpenBLAS is
    /// single-threaded here: the pool does all the parallel work), so both run in this one invocation.
    private func threads() throws -> [BenchEntry] {
        var forwards: [Int: BenchEntry] = [:]
        for count in [1, 2] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent(
                "zoo-bench-threads-\(getpid())-\(count).json"
            ).path
            defer { try? FileManager.default.removeItem(atPath: file) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: PluginSearchPath.executablePath)
            process.arguments =
                ["bench", "dit", "--config", config, "--batch", "\(batch)", "--repeats", "\(repeats)", "--json", file]
                + plugins.forwardedArguments
            var environment = ProcessInfo.processInfo.environment
            environment["ZOO_THREADS"] = "\(count)"
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw CLIError(
                    "bench threads: the child with ZOO_THREADS=\(count) failed (status \(process.terminationStatus))")
            }
            let report = try JSONDecoder().decode(BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
            guard let forward = report.entries.first(where: { $0.name.hasPrefix("forward ") }) else {
                throw CLIError("bench threads: no forward figure")
            }
            forwards[count] = forward
        }
        var one = forwards[1]!, two = forwards[2]!
        one.suite = "threads"
        two.suite = "threads"
        one.name = "1 thread: " + one.name
        two.name = "2 threads: " + two.name
        one.baseline = nil
        one.ratio = nil
        two.baseline = one.name
        two.ratio = one.timing.median / two.timing.median
        two.notes["speedup"] = String(format: "%.2f", two.ratio!)
        return [one, two]
    }

    private func compare() throws {
        func load(_ path: String) throws -> BenchReport {
            do {
                return try JSONDecoder().decode(BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw CLIError("\(path): not a zoo bench JSON report (\(error))")
            }
        }
        let comparison = BenchComparison(old: try load(files[0]), new: try load(files[1]), tolerance: tolerance)
        print(comparison.table)
        let regressions = comparison.regressions
        if regressions.isEmpty {
            print("no regression beyond \(Int(tolerance * 100))% in \(comparison.rows.count) figures")
        } else {
            print("\(regressions.count) regression(s) beyond \(Int(tolerance * 100))%")
            throw ExitCode(1)
        }
    }
}

/// At least one operator, for the suites that need a replacement.
private struct NonEmptyOperators {
    let first: OperatorDescriptor
    let all: [OperatorDescriptor]

    init(_ operators: [OperatorDescriptor], option: String) throws {
        guard let first = operators.first else { throw CLIError("\(option): no token mixer to benchmark") }
        self.first = first
        self.all = operators
    }

    func map<T>(_ transform: (OperatorDescriptor) throws -> T) rethrows -> [T] { try all.map(transform) }
}
