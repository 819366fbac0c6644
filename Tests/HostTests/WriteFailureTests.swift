import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// A full disk, a file size limit or an unwritable folder gives an error naming the file, never a truncated
/// file: the destination keeps its old contents (or stays absent) and no temporary file is left. Temporary files
/// of writers that were killed are removed by the next writer in their folder.
@Suite struct WriteFailureTests {
    /// A model checkpoint of about 185 KB (the tiny test DiT in float32).
    private func tinyModelArguments(_ ws: CLITests.Workspace, hiddenSize: Int? = nil) throws -> String {
        var model = TrainingTests.tinyConfig
        if let hiddenSize { model.hiddenSize = hiddenSize }
        let config = ws.path("tiny-\(model.hiddenSize).json")
        try Data(model.jsonString().utf8).write(to: URL(fileURLWithPath: config))
        return config
    }

    /// Runs `zoo arguments` under `ulimit -f kibibytes` (RLIMIT_FSIZE: writes past the limit fail).
    private func zooLimited(
        _ ws: CLITests.Workspace, fileSizeKiB kibibytes: Int, _ arguments: [String]
    ) throws -> CommandResult {
        try runCommand(
            "/bin/sh", ["-c", "ulimit -f \(kibibytes) && exec \"$0\" \"$@\"", try zooPath()] + arguments,
            environment: ["ZOO_REGISTRY": ws.registry])
    }

    private func hiddenFiles(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }
    }

    @Test func fileSizeLimitGivesAnErrorNamingTheFileAndKeepsTheOldOne() throws {
        // The limits stay at 1 MiB and the models are sized to pass it: ThreadSanitizer's runtime itself dies of
        // SIGBUS before `main` under an RLIMIT_FSIZE below about 768 KiB, so smaller limits would fail under
        // `scripts/sanitize thread` for a reason that is not ours.
        let ws = try CLITests.Workspace()
        let config = try tinyModelArguments(ws, hiddenSize: 128)  // about 2.4 MB of float32 weights
        let out = ws.path("model.safetensors")
        try SafetensorsFile.write(path: out, tensors: [("old", Tensor<Float>(shape: [4], repeating: 7))])
        let old = try Data(contentsOf: URL(fileURLWithPath: out))

        let refused = try zooLimited(ws, fileSizeKiB: 1024, ["dit", "init", "--config", config, "--out", out])
        // Not killed by SIGXFSZ (zoo ignores it): an exit status and a message naming the file and the cause.
        #expect(refused.status == 1, "status \(refused.status): \(refused.stderr)")
        #expect(refused.stderr.contains(out) && refused.stderr.contains("File too large"), "\(refused.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == old)
        let left = try hiddenFiles(ws.dir.path)
        #expect(left.isEmpty, "\(left)")

        // A training run stops at its first checkpoint with the checkpoint's name; nothing partial is left.
        // 0.6 MB of weights, so the EMA export fits and the training state (weights, EMA, two moments) does not.
        let run = ws.path("run")
        let trainingConfig = try tinyModelArguments(ws, hiddenSize: 64)
        let training = try zooLimited(
            ws, fileSizeKiB: 1024,
            [
                "pretrain", "--allow-unconformant", "--out", run, "--config", trainingConfig, "--steps", "2",
                "--batch-size", "2",
                "--checkpoint-every", "1", "--log-every", "1", "--held-out", "0", "--warmup", "1",
            ])
        #expect(training.status == 1, "status \(training.status): \(training.stderr)")
        #expect(
            training.stderr.contains(run + "/train-state.safetensors") && training.stderr.contains("File too large"),
            "\(training.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: run).isEmpty)
    }

    @Test(.enabled(if: ScratchMount.available, "needs root with CAP_SYS_ADMIN to mount a tmpfs"))
    func fullDiskGivesAnErrorNamingTheFileAndKeepsTheOldOne() throws {
        let disk = try ScratchMount(kibibytes: 64, readOnly: false)
        let big = Tensor<Float>.randomNormal([40_000], seed: 1)  // 160 KB: more than the disk holds
        var random = SplitMix64(seed: 2)
        let noise = (0..<300 * 300 * 3).map { _ in UInt8(truncatingIfNeeded: random.next()) }  // a PNG of 270 KB
        let expectations: [(String, () throws -> Void)] = [
            ("a.safetensors", { try SafetensorsFile.write(path: disk.file("a.safetensors"), tensors: [("w", big)]) }),
            ("a.npy", { try NPY.write(big, path: disk.file("a.npy")) }),
            ("a.png", { try PNGImage(width: 300, height: 300, pixels: noise).write(path: disk.file("a.png")) }),
            ("a.json", { try AtomicFile.write(Data(count: 100_000), to: disk.file("a.json")) }),
            (
                "registry.json",
                {
                    let entry = RegistryEntry(
                        id: "x", library: "libx.so", name: "x", version: String(repeating: "1", count: 100_000),
                        abi: "1.0",
                        license: "MIT", operators: ["x"], sha256: String(repeating: "0", count: 64))
                    try Registry(entries: [entry]).save(path: disk.file("registry.json"))
                }
            ),
        ]
        for (name, write) in expectations {
            let path = disk.file(name)
            try Data("old".utf8).write(to: URL(fileURLWithPath: path))
            do {
                try write()
                Issue.record("\(name): writing past a full disk succeeded")
            } catch {
                let text = "\(error)"
                #expect(text.contains(path) && text.contains("No space left on device"), "\(name): \(text)")
            }
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "old", "\(name) lost its old contents")
            let left = try hiddenFiles(disk.path)
            #expect(left.isEmpty, "\(name): \(left)")
        }

        // A training run on the full disk stops at its checkpoint with an error naming it.
        let ws = try CLITests.Workspace()
        let config = try tinyModelArguments(ws)
        let run = disk.file("run")
        let training = try ws.zoo([
            "pretrain", "--allow-unconformant", "--out", run, "--config", config, "--steps", "2", "--batch-size", "2",
            "--checkpoint-every", "1", "--log-every", "1", "--held-out", "0", "--warmup", "1",
        ])
        #expect(
            training.status == 1 && training.stderr.contains(run + "/train-state.safetensors")
                && training.stderr.contains("No space left on device"), "\(training.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: run).isEmpty)
    }

    @Test(.enabled(if: ScratchMount.available, "needs root with CAP_SYS_ADMIN to mount a tmpfs"))
    func unwritableFolderGivesAnErrorNamingIt() throws {
        let readOnly = try ScratchMount(kibibytes: 64, readOnly: true)
        let path = readOnly.file("x.safetensors")
        #expect {
            try SafetensorsFile.write(path: path, tensors: [("w", Tensor<Float>(zeros: [2]))])
        } throws: { error in
            "\(error)".contains(path) && "\(error)".contains("Read-only file system")
        }
        #expect(throws: AtomicFile.WriteError.self) { try OutputDirectory.create(readOnly.file("run/a")) }

        let ws = try CLITests.Workspace()
        let config = try tinyModelArguments(ws)
        let run = readOnly.file("run")
        let training = try ws.zoo([
            "pretrain", "--allow-unconformant", "--out", run, "--config", config, "--steps", "2",
        ])
        #expect(training.status == 1, "\(training.stderr)")
        #expect(
            training.stderr.contains("cannot create directory '\(run)': Read-only file system"), "\(training.stderr)")
        let plan = ws.path("plan.json")
        try Data(#"{"name": "p", "grafts": [{"slot": "attn", "layers": "all", "operator": "poolformer"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: plan))
        let init_ = try ws.zoo(["dit", "init", "--config", config, "--out", ws.path("t.safetensors")])
        #expect(init_.status == 0, "\(init_.stderr)")
        let graft = try ws.zoo([
            "graft", plan, "--allow-unconformant", "--teacher", ws.path("t.safetensors"), "--out", run,
        ])
        #expect(graft.status == 1 && graft.stderr.contains("cannot create directory '\(run)"), "\(graft.stderr)")
    }

    @Test func staleTemporaryFilesOfKilledWritersAreRemoved() throws {
        let directory = try TestDirectory()
        // A pid that no longer exists: a child that has been waited for.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = child.processIdentifier
        let files = [
            StaleTemporaryFiles.name(for: "m.safetensors", process: dead, nonce: 1),  // stale: removed
            StaleTemporaryFiles.name(for: "other.npy", process: dead, nonce: 2),  // stale, another file: removed
            StaleTemporaryFiles.name(for: "m.safetensors", process: getpid(), nonce: 3),  // this process: kept
            StaleTemporaryFiles.name(for: "m.safetensors", process: 1, nonce: 4),  // a live process: kept
            ".hidden", ".m.safetensors.x.5.tmp", "m.safetensors.\(dead).6.tmp",  // not ours: kept
        ]
        for file in files { try Data("partial".utf8).write(to: URL(fileURLWithPath: directory.file(file))) }
        try AtomicFile.write(Data("new".utf8), to: directory.file("m.safetensors"))
        #expect(
            Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
                == Set(files.dropFirst(2) + ["m.safetensors"]))

        #expect(StaleTemporaryFiles.writerProcess(ofTemporaryFile: ".a.b.c.123.4.tmp") == 123)
        #expect(StaleTemporaryFiles.writerProcess(ofTemporaryFile: ".a.123.4.tmp") == 123)
        for name in [".123.4.tmp", "a.123.4.tmp", ".a.123.x.tmp", ".a.-1.4.tmp", ".a.0.4.tmp", ".a.123.4.tmpx"] {
            #expect(StaleTemporaryFiles.writerProcess(ofTemporaryFile: name) == nil, "\(name)")
        }
    }
}
