import Foundation
import Testing

@testable import HostCore
@testable import HostModel

/// Where Open MPI's launcher is.
enum OpenMPI {
    /// `mpirun` on the PATH, if any.
    static let mpirun: String? = {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(directory)/mpirun"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }()
}

/// Data parallelism on Open MPI (`mpirun -np 2 zoo ...`), run when `mpirun` is installed (scripts/install-mpi; CI
/// installs it) and skipped otherwise. Two ranks on this machine (oversubscribed, as root where CI runs as root).
///
/// Tolerances: a 2-rank step sums the two halves' gradients instead of one batch's, so it differs from the
/// one-process run by reassociation only. The logged losses agree within 1e-6 relative. The weights: AdamW divides
/// each gradient by its own running scale, so a weight whose gradient is near 0 moves by up to the learning rate
/// whichever way rounding tips it, and such differences grow as the runs go on; hence the difference of each set of
/// tensors (weights, EMA, moments) is at most 2e-5 of its norm per step taken apart, and no element differs by more
/// than the learning rate times those steps (measured with the tiny model: 6 steps 0.15 lr at worst; 60 steps 1.1e-4 of
/// the norm). Two runs with the same number of ranks agree bit for bit.
@Suite(.enabled(if: OpenMPI.mpirun != nil, "Open MPI's mpirun is not installed (scripts/install-mpi)"))
struct DistributedTests {
    static var mpirun: String? { OpenMPI.mpirun }

    /// `zoo arguments` on `ranks` ranks.
    static func mpi(_ ws: CLITests.Workspace, ranks: Int = 2, _ arguments: [String]) throws -> CommandResult {
        try runCommand(
            mpirun!,
            ["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", "-x", "ZOO_REGISTRY", try zooPath()]
                + arguments,
            environment: environment(ws))
    }

    /// The ranks' environment: the workspace's registry, and Open MPI's shared-memory transport told to copy through
    /// its own buffers (`single_copy_mechanism none`): the default cross-process read needs ptrace rights that a
    /// container may withhold.
    static func environment(_ ws: CLITests.Workspace) -> [String: String] {
        ["ZOO_REGISTRY": ws.registry, "OMPI_MCA_btl_vader_single_copy_mechanism": "none"]
    }

    static func tinyConfig(_ ws: CLITests.Workspace) throws -> String {
        let path = ws.path("tiny.json")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func pretrain(_ ws: CLITests.Workspace, out: String, steps: Int, resume: Bool = false) throws -> [String] {
        [
            "pretrain", "--allow-unconformant", "--out", out, "--config", try tinyConfig(ws), "--steps", "\(steps)",
            "--batch-size", "4", "--checkpoint-every", "2", "--log-every", "1", "--held-out", "8", "--warmup", "2",
            "--seed", "5", "--dtype", "f32",
        ] + (resume ? ["--resume"] : [])
    }

    /// How two safetensors files' tensors under `prefix` differ: the largest absolute difference, the norm of the
    /// difference over the norm of the first, and whether all are identical; nil when their names differ.
    static func difference(
        _ a: String, _ b: String, prefix: String = ""
    ) throws -> (worst: Float, relative: Double, bitwise: Bool)? {
        let x = try SafetensorsFile.read(path: a), y = try SafetensorsFile.read(path: b)
        let names = x.names.filter { $0.hasPrefix(prefix) }.sorted()
        guard names == y.names.filter({ $0.hasPrefix(prefix) }).sorted(), !names.isEmpty else { return nil }
        var worst: Float = 0
        var (difference, norm) = (0.0, 0.0)
        var bitwise = true
        for name in names {
            let p: Tensor<Float> = try x.tensor(named: name), q: Tensor<Float> = try y.tensor(named: name)
            bitwise = bitwise && p == q
            for (u, v) in zip(p.scalars, q.scalars) {
                worst = max(worst, abs(u - v))
                difference += Double(u - v) * Double(u - v)
                norm += Double(u) * Double(u)
            }
        }
        return (worst, (difference / max(norm, .leastNormalMagnitude)).squareRoot(), bitwise)
    }

    /// The tolerance of the type's notes, for `steps` steps at learning rate `lr`.
    static func agree(_ d: (worst: Float, relative: Double, bitwise: Bool), steps: Int, lr: Double) -> Bool {
        d.relative <= 2e-5 * Double(steps) && Double(d.worst) <= lr * Double(steps)
    }

    @Test func pretrainOnTwoRanksEqualsOneProcessAndRepeats() throws {
        let ws = try CLITests.Workspace()
        let one = try ws.zoo(try Self.pretrain(ws, out: ws.path("one"), steps: 6))
        try #require(one.status == 0, "\(one.stderr)")
        let two = try Self.mpi(ws, try Self.pretrain(ws, out: ws.path("two"), steps: 6))
        try #require(two.status == 0, "\(two.stdout)\n\(two.stderr)")
        #expect(two.stdout.contains("data parallel: 2 ranks"), "\(two.stdout)")
        let state = "/train-state.safetensors"
        for prefix in ["model/", "ema/", "adam.m/", "adam.v/"] {
            let d = try #require(try Self.difference(ws.path("one") + state, ws.path("two") + state, prefix: prefix))
            #expect(Self.agree(d, steps: 6, lr: 1e-3), "\(prefix): \(d)")
        }
        let losses = { (path: String) in
            try String(contentsOfFile: path + "/loss.csv", encoding: .utf8).split(separator: "\n").dropFirst().map {
                Double($0.split(separator: ",")[1])!
            }
        }
        for (a, b) in zip(try losses(ws.path("one")), try losses(ws.path("two"))) {
            #expect(abs(a - b) <= 1e-6 * abs(a), "\(a) vs \(b)")
        }
        // Rank 0 alone writes the run's files, the same set as one process writes.
        let files = { (path: String) in try FileManager.default.contentsOfDirectory(atPath: path).sorted() }
        #expect(try files(ws.path("one")) == files(ws.path("two")))
        // The same number of ranks repeats bit for bit.
        let again = try Self.mpi(ws, try Self.pretrain(ws, out: ws.path("again"), steps: 6))
        try #require(again.status == 0, "\(again.stderr)")
        let d = try #require(try Self.difference(ws.path("two") + state, ws.path("again") + state))
        #expect(d.bitwise, "two 2-rank runs differ by \(d.worst)")
    }

    /// Runs `zoo arguments` on 2 ranks, kills one rank with SIGKILL once `file` exists, and checks that `mpirun` ends
    /// the job on its own (within 60 s, with a failing status).
    static func killOneRank(_ ws: CLITests.Workspace, _ arguments: [String], once file: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun!)
        process.arguments =
            ["--allow-run-as-root", "--oversubscribe", "-np", "2", "-x", "ZOO_REGISTRY", try zooPath()] + arguments
        process.environment = childEnvironment(adding: environment(ws))
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: file) && Date() < deadline { usleep(5_000) }
        let children = try runCommand("/usr/bin/env", ["pgrep", "-P", "\(process.processIdentifier)", "zoo"])
        let victim = try #require(children.stdout.split(separator: "\n").last.flatMap { Int32($0) })
        kill(victim, SIGKILL)
        let stop = Date().addingTimeInterval(60)
        while process.isRunning && Date() < stop { usleep(10_000) }
        #expect(!process.isRunning, "the job did not stop within 60 s after a rank was killed")
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        #expect(process.terminationStatus != 0, "the killed job reported success")
    }

    /// A batch that does not split across the ranks is refused by name, and the job ends (no rank left waiting).
    @Test func unevenBatchIsRefused() throws {
        let ws = try CLITests.Workspace()
        var arguments = try Self.pretrain(ws, out: ws.path("uneven"), steps: 2)
        arguments[arguments.firstIndex(of: "--batch-size")! + 1] = "3"
        let result = try Self.mpi(ws, arguments)
        #expect(result.status != 0)
        #expect(result.stderr.contains("the batch size 3 does not split evenly across 2 ranks"), "\(result.stderr)")
    }

    /// A rank killed mid-run stops the job (no hang) and a resume on 2 ranks reaches the uninterrupted 2-rank result
    /// bit for bit; a 2-rank checkpoint also resumes in one process (same global batch), within the tolerance.
    @Test func killedRankStopsTheJobAndResumes() throws {
        let ws = try CLITests.Workspace()
        let steps = 120
        let whole = try Self.mpi(ws, try Self.pretrain(ws, out: ws.path("whole"), steps: steps))
        try #require(whole.status == 0, "\(whole.stderr)")

        let out = ws.path("killed")
        try Self.killOneRank(ws, try Self.pretrain(ws, out: out, steps: steps), once: out + "/train-state.safetensors")
        let left = try SafetensorsFile.read(path: out + "/train-state.safetensors").metadata["zoo.train.step"] ?? ""
        #expect((Int(left) ?? steps) < steps, "the kill came after the last step (\(left)): nothing was interrupted")
        let resumed = try Self.mpi(ws, try Self.pretrain(ws, out: out, steps: steps, resume: true))
        try #require(resumed.status == 0, "\(resumed.stderr)")
        let state = "/train-state.safetensors"
        let d = try #require(try Self.difference(ws.path("whole") + state, out + state))
        #expect(d.bitwise, "the resumed 2-rank run differs from the uninterrupted one by \(d.worst)")

        // From 2 ranks into one process: the first half on 2 ranks, the rest alone.
        let half = ws.path("half")
        let first = try Self.mpi(ws, try Self.pretrain(ws, out: half, steps: steps / 2))
        try #require(first.status == 0, "\(first.stderr)")
        let rest = try ws.zoo(try Self.pretrain(ws, out: half, steps: steps, resume: true))
        try #require(rest.status == 0, "\(rest.stderr)")
        #expect(rest.stderr.contains("2 ranks x"), "the note names the other arithmetic: \(rest.stderr)")
        let e = try #require(try Self.difference(ws.path("whole") + state, half + state, prefix: "model/"))
        #expect(Self.agree(e, steps: steps / 2, lr: 1e-3), "\(e)")
        // And back: the first half alone, the rest on 2 ranks.
        let back = ws.path("back")
        let alone = try ws.zoo(try Self.pretrain(ws, out: back, steps: steps / 2))
        try #require(alone.status == 0, "\(alone.stderr)")
        let joined = try Self.mpi(ws, try Self.pretrain(ws, out: back, steps: steps, resume: true))
        try #require(joined.status == 0, "\(joined.stderr)")
        let f = try #require(try Self.difference(ws.path("whole") + state, back + state, prefix: "model/"))
        #expect(Self.agree(f, steps: steps / 2, lr: 1e-3), "\(f)")
    }

    /// `mpirun -np 2 zoo graft PLAN`: stage 1 divides the slots between the ranks, stage 2 splits the batches; the
    /// grafted checkpoint equals the one-process run's within the tolerance, and only rank 0 reports.
    @Test func graftOnTwoRanksEqualsOneProcess() throws {
        let ws = try CLITests.Workspace()
        let config = try Self.tinyConfig(ws)
        let teacher = ws.path("teacher.safetensors")
        let initialised = try ws.zoo(["dit", "init", "--config", config, "--out", teacher, "--seed", "4"])
        try #require(initialised.status == 0, "\(initialised.stderr)")
        let plan = ws.path("plan.json")
        try Data(
            #"""
            {"name": "mpi-mlp", "grafts": [{"slot": "mlp", "layers": "all", "operator": "mlp", "attributes": {"expansion_ratio": 1}}],
             "stage1": {"samples": 32, "steps": 20, "batch_size": 8, "validate_every": 10, "loss": "l2"},
             "stage2": {"steps": 4, "batch_size": 4, "warmup_steps": 1}, "seed": 11,
             "evaluation": {"samples_per_class": 8}}
            """#.utf8
        ).write(to: URL(fileURLWithPath: plan))
        let arguments = { (out: String) in ["graft", plan, "--allow-unconformant", "--teacher", teacher, "--out", out] }
        let one = try ws.zoo(arguments(ws.path("one")))
        try #require(one.status == 0, "\(one.stderr)")
        let two = try Self.mpi(ws, arguments(ws.path("two")))
        try #require(two.status == 0, "\(two.stdout)\n\(two.stderr)")
        #expect(two.stdout.components(separatedBy: "report: ").count == 2, "one report line (rank 0)")
        // Each slot is distilled alone, as in one process (on one thread instead of two: the tolerance).
        for unit in ["blocks.0.mlp", "blocks.1.mlp"] {
            let path = "/stage1/\(unit).safetensors"
            let d = try #require(try Self.difference(ws.path("one") + path, ws.path("two") + path))
            #expect(Self.agree(d, steps: 20, lr: 1e-3), "\(unit): \(d)")
        }
        let grafted = "/grafted.safetensors"
        let d = try #require(try Self.difference(ws.path("one") + grafted, ws.path("two") + grafted))
        #expect(Self.agree(d, steps: 20 + 4, lr: 1e-3), "\(d)")

        // A rank killed in stage 2 stops the job; rerun on 2 ranks, the graft resumes (stage 1 done, stage 2 from its
        // last state) and ends where the uninterrupted 2-rank run ended, bit for bit.
        var longer = try String(contentsOfFile: plan, encoding: .utf8)
        longer = longer.replacingOccurrences(of: "\"steps\": 4,", with: "\"steps\": 120,")
        try Data(longer.utf8).write(to: URL(fileURLWithPath: plan))
        let whole = try Self.mpi(ws, arguments(ws.path("whole")))
        try #require(whole.status == 0, "\(whole.stderr)")
        let killed = ws.path("killed")
        try Self.killOneRank(ws, arguments(killed), once: killed + "/stage2/train-state.safetensors")
        #expect(!FileManager.default.fileExists(atPath: killed + grafted), "the kill came after the end")
        let resumed = try Self.mpi(ws, arguments(killed))
        try #require(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resumed"), "\(resumed.stdout)")
        let e = try #require(try Self.difference(ws.path("whole") + grafted, killed + grafted))
        #expect(e.bitwise, "the resumed 2-rank graft differs by \(e.worst)")
    }
}

/// The process group without `mpirun`: a group of one that never touches MPI, and a clear error when `mpirun` started
/// the process but the library cannot be opened.
@Suite struct ProcessGroupTests {
    @Test func withoutMPIrunIsAGroupOfOne() throws {
        let group = try ProcessGroup.current(environment: [:])
        #expect(group.rank == 0 && group.size == 1 && group.isRoot && !group.isDistributed)
        var values: [Float] = [1, 2, 3]
        try group.allReduceSum(&values)
        #expect(values == [1, 2, 3])
        #expect(try ProcessGroup.current(environment: ["OMPI_COMM_WORLD_SIZE": "1"]).size == 1)
    }

    /// As if `mpirun` had started `zoo` on a machine whose libmpi cannot be opened.
    @Test func missingLibraryIsNamed() throws {
        let ws = try CLITests.Workspace()
        let result = try runCommand(
            try zooPath(), try DistributedTests.pretrain(ws, out: ws.path("run"), steps: 1),
            environment: [
                "ZOO_REGISTRY": ws.registry, "OMPI_COMM_WORLD_SIZE": "2", "OZ_MPI_LIBRARY": "/nonexistent/libmpi.so.40",
            ])
        #expect(result.status != 0)
        #expect(
            result.stderr.contains("/nonexistent/libmpi.so.40") && result.stderr.contains("scripts/install-mpi"),
            "\(result.stderr)")
    }
}
