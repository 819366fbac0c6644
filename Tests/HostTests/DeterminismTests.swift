import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// Results never depend on thread timing: every shipped operator's forward and backward, at sizes where its
/// `parallel_for` loops and matrix products really split, computes the same bits on a pool of 2, 3 and 8 threads
/// (more threads than this machine's cores, so the schedule varies) whether it runs alone or while other threads
/// call the same operator on the same pool (then some calls get the pool and the others run serially, decided by
/// timing). The training half is in `TrainingTests` and `DeterminismCLITests`.
@Suite struct DeterminismTests {
    /// Every operator of every shipped plugin, and `gated_conv` (built by its own Makefile).
    static let operators: [(library: String, id: String)] = [
        ("OZMHA", "mha"), ("OZMLP", "mlp"), ("OZLocalAttention", "swa"), ("OZLocalAttention", "swa2d"),
        ("OZLocalAttention", "linear_attn"), ("OZHyena", "hyena_x"), ("OZHyena", "hyena_se"), ("OZHyena", "hyena_y"),
        ("OZHyena", "mlp_hyena_x"), ("OZHyena", "hyena"), ("OZMamba2", "mamba2"), ("OZMamba2", "mamba2_bidir"),
        ("OZMamba2", "mamba2_2d"), ("OZPoolFormerC", "poolformer"), ("gated_conv", "gated_conv"),
    ]

    static func descriptor(_ library: String, _ id: String) throws -> OperatorDescriptor {
        let path = library == "gated_conv" ? try MadeLibraries.gatedConv() : try pluginPath(product: library)
        return try #require(try PluginLibrary(path: path).operator(id), "\(id) in \(path)")
    }

    /// The outputs of one create/initialise/forward/backward on `services`.
    struct Outputs {
        var y: Tensor<Float>
        var gradients: [Tensor<Float>?]
        /// The parameters' names, in order.
        var names: [String]

        /// Which output differs from `reference` (`"y"`, `"dx"` or a parameter's gradient), or nil.
        func firstDifference(from reference: Outputs) -> String? {
            if y != reference.y { return "y" }
            for (k, g) in gradients.enumerated() where g != reference.gradients[k] {
                return k == 0 ? "dx" : "d " + names[k - 1]
            }
            return nil
        }
    }

    /// B = 2 and 256 tokens (a 16 x 16 grid) at D = 64: 512 rows, so the projections (512 x 192 x 64) and the
    /// weight gradients (64 x 64 x 512: the shape whose row blocks OpenBLAS rounds differently even on AVX-512)
    /// are split by rows over the pool, and the convolutions and attention cores by channel and head.
    static func outputs(_ descriptor: OperatorDescriptor, services: HostServices) throws -> Outputs {
        let grid = descriptor.capabilities.contains(.needsGrid) ? (height: 16, width: 16) : nil
        let op = try Operator(descriptor, dim: 64, grid: grid, services: services)
        let length = op.fixedLength ?? 256
        let x = Tensor<Float>.randomNormal([2, length, 64], seed: 11)
        let dy = Tensor<Float>.randomNormal([2, length, 64], seed: 12)
        let parameters: [Tensor<Float>] = try op.initialParameters(seed: 13)
        let y = try op.forward(x, parameters: parameters)
        let names = op.parameters.map(\.name)
        guard descriptor.capabilities.contains(.backward) else { return Outputs(y: y, gradients: [], names: names) }
        let g = try op.backward(x, parameters: parameters, outputGradient: dy)
        return Outputs(y: y, gradients: [g.input] + g.parameters, names: names)
    }

    @Test(arguments: operators.indices)
    func sameBitsAloneAndUnderContention(index: Int) async throws {
        let (library, id) = Self.operators[index]
        let descriptor = try Self.descriptor(library, id)
        for threads in [2, 3, 8] {
            let pool = ThreadPool(threadCount: threads)
            let services = HostServices(pool: pool)
            let reference = try Self.outputs(descriptor, services: services)
            // The sizes were chosen so that the operator's loops really run on the pool.
            #expect(pool.parallelLoops > 0, "\(id): no loop ran in parallel on \(threads) threads")
            let again = try Self.outputs(descriptor, services: services).firstDifference(from: reference)
            #expect(again == nil, "\(id), \(threads) threads: a second call differs in \(again ?? "")")
            // Three callers at once, twice each: which of them holds the pool at any moment is up to the scheduler.
            let contended = try await withThrowingTaskGroup(of: [Outputs].self) { group in
                for _ in 0..<3 {
                    group.addTask { try (0..<2).map { _ in try Self.outputs(descriptor, services: services) } }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(contended.count == 6)
            for (k, outputs) in contended.enumerated() {
                let difference = outputs.firstDifference(from: reference)
                #expect(
                    difference == nil, "\(id), \(threads) threads: concurrent call \(k) differs in \(difference ?? "-")"
                )
            }
        }
    }
}

/// Training end to end: `zoo pretrain` of a tiny DiT, two runs at once for each of `ZOO_THREADS` = 2, 3 and 8 (the
/// two processes compete for the cores, so their schedules differ), must end with the same weights, EMA, optimizer
/// moments and losses, bit for bit.
@Suite struct DeterminismCLITests {
    @Test func pretrainingGivesTheSameBitsForOneThreadCount() async throws {
        let ws = try CLITests.Workspace()
        let config = ws.path("tiny.json")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: config))
        for threads in [2, 3, 8] {
            let runs = (0..<2).map { ws.path("t\(threads)-\($0)") }
            let results = try await withThrowingTaskGroup(of: CommandResult.self) { group in
                for out in runs {
                    group.addTask {
                        try runCommand(
                            try zooPath(),
                            [
                                "pretrain", "--allow-unconformant", "--out", out, "--config", config, "--steps", "6",
                                "--batch-size", "8", "--checkpoint-every", "6", "--log-every", "1", "--held-out", "8",
                                "--warmup", "2", "--seed", "3",
                            ], environment: ["ZOO_REGISTRY": ws.registry, "ZOO_THREADS": "\(threads)"])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for r in results { try #require(r.status == 0, "\(r.stderr)") }
            let a = try SafetensorsFile.read(path: runs[0] + "/train-state.safetensors")
            let b = try SafetensorsFile.read(path: runs[1] + "/train-state.safetensors")
            #expect(a.names == b.names && a.names.contains { $0.hasPrefix("adam.v/") })
            let differing = try a.names.filter { try a.tensor(named: $0) != (try b.tensor(named: $0)) }
            #expect(
                differing.isEmpty, "ZOO_THREADS=\(threads): \(differing.count) tensors differ: \(differing.prefix(3))")
            let losses = try runs.map { try String(contentsOfFile: $0 + "/loss.csv", encoding: .utf8) }
            #expect(losses[0] == losses[1], "ZOO_THREADS=\(threads): the losses differ")
        }
    }
}
