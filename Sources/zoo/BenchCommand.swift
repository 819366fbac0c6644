import ArgumentParser
import Foundation
import Host

/// `zoo bench`: measured speed, as tables and JSON, with every figure also a ratio to an in-run baseline.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark BLAS, the DiT and the operators; print a table and write JSON.",
        discussion: """
            Suites: blas (sgemm on DiT-S/2 linear shapes), dit (forward and forward+backward of a DiT with \
            randomly initialised weights, GFLOP/s against in-run sgemm), operators (each registered operator at \
            D=384 with 6 heads over L, fitted exponent of time against L, speed relative to mha). Figures are \
            medians over --repeats runs after a warm-up, with their spread; they are measurements, never pass/fail.
            """)

    @Argument(help: "Suite: all, blas, dit or operators.")
    var suite = "all"

    @Option(help: "Write the JSON report here.")
    var json: String?

    @Option(help: "DiT configuration for the dit suite (JSON file or preset).")
    var config = "DiT-S/2"

    @Option(help: "Batch of the dit suite.")
    var batch = 8

    @Option(help: "Sequence lengths of the operators suite (comma-separated).")
    var lengths = "256,1024,4096"

    @Option(help: "Operators of the operators suite (comma-separated ids; default: every registered one).")
    var operators: String?

    @Option(help: "Measured runs per figure.")
    var repeats = 5

    @OptionGroup var plugins: PluginOptions

    func validate() throws {
        guard ["all", "blas", "dit", "operators"].contains(suite) else {
            throw ValidationError("suite must be all, blas, dit or operators (found '\(suite)'); dispatch, train and graft are not built yet")
        }
        guard repeats >= 1, batch >= 1 else { throw ValidationError("--repeats and --batch must be at least 1") }
    }

    func run() throws {
        let host = try plugins.makeHost()
        var entries: [BenchEntry] = []
        if suite == "all" || suite == "blas" { entries += try BenchSuites.blas(repeats: repeats) }
        if suite == "all" || suite == "dit" {
            let c = try DiTConfig.preset(config) ?? DiTConfig.load(path: config)
            let model = try DiTModel(config: c) { key in try DiTSlotChoice.standard(key, config: c, host: host) }
            try model.initialize(seed: 0)
            // adaLN-Zero leaves the blocks inert; random modulations make every path do its real work.
            for (i, name) in model.parameters.names.enumerated() where name.contains("adaLN") || name.contains("final_layer") {
                model.parameters.tensors[i] = Tensor.randomNormal(model.parameters.tensors[i].shape, seed: UInt64(i), scale: 0.02)
            }
            entries += try BenchSuites.dit(model: model, batch: batch, repeats: repeats)
        }
        if suite == "all" || suite == "operators" {
            let ls = try lengths.split(separator: ",").map { text in
                guard let l = Int(text), l >= 1 else { throw ValidationError("--lengths: '\(text)' is not a positive integer") }
                return l
            }
            // Token mixers only (the comparison), mha first so the others can be given relative to it.
            let ids = operators.map { $0.split(separator: ",").map(String.init) } ?? host.registry.operatorIds
            var ops: [(descriptor: OperatorDescriptor, attributes: [String: AttributeValue])] = []
            for id in ["mha"] + ids.filter({ $0 != "mha" }) where ids.contains(id) {
                let d = try host.resolveOperator(id)
                guard d.role == .tokenMixer else { continue }
                var attributes: [String: AttributeValue] = [:]
                if d.attributes.contains(where: { $0.name == "num_heads" }) { attributes["num_heads"] = .int(6) }
                ops.append((d, attributes))
            }
            entries += try BenchSuites.operators(ops, dim: 384, lengths: ls, repeats: repeats) { print($0) }
        }
        let report = BenchReport(machine: BenchReport.currentMachine(), entries: entries)
        print(report.table)
        if let json {
            try AtomicFile.write(try report.json(), to: json)
            print("wrote \(json)")
        }
    }
}
