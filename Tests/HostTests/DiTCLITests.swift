import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// `zoo dit forward`, `zoo pretrain` (including a SIGKILL in the middle of a run and `--resume`) and
/// `zoo sample`, end to end through the built executable.
@Suite struct DiTCLITests {
    private func zoo(_ ws: CLITests.Workspace, _ arguments: [String]) throws -> CommandResult {
        try ws.zoo(arguments)
    }

    @Test func ditForwardReproducesTheGoldenOutput() throws {
        let ws = try CLITests.Workspace()
        let out = ws.path("out.npy")
        let r = try zoo(
            ws,
            [
                "dit", "forward", "--allow-unconformant", "--config", ditFixture("config.json"), "--checkpoint",
                ditFixture("weights_diffusers.safetensors"),
                "--input", ditFixture("x.npy"), "--timesteps", ditFixture("t.npy"), "--labels", ditFixture("y.npy"),
                "--output", out,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let expected = try NPY.readTensor(path: ditFixture("out_fp64.npy"), as: Double.self)
        expectClose(
            try NPY.readTensor(path: out, as: Float.self), expected.scalars, rtol: 1e-3, atol: 2e-4, "zoo dit forward")
        let bad = try zoo(
            ws,
            [
                "dit", "forward", "--allow-unconformant", "--config", ditFixture("config.json"), "--checkpoint",
                ditFixture("x.npy"), "--input", ditFixture("x.npy"),
                "--timesteps", ditFixture("t.npy"), "--labels", ditFixture("y.npy"), "--output", out,
            ])
        #expect(bad.status != 0 && bad.stderr.contains("x.npy"), "\(bad.stderr)")
    }

    private func writeTinyConfig(_ ws: CLITests.Workspace) throws -> String {
        let path = ws.path("tiny.json")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func pretrainArguments(_ ws: CLITests.Workspace, out: String, steps: Int) throws -> [String] {
        [
            "pretrain", "--allow-unconformant", "--out", out, "--config", try writeTinyConfig(ws), "--steps",
            "\(steps)", "--batch-size", "4",
            "--checkpoint-every", "2", "--log-every", "1", "--held-out", "8", "--warmup", "2", "--seed", "5",
        ]
    }

    @Test func pretrainKilledAndResumedEqualsAnUninterruptedRun() throws {
        let ws = try CLITests.Workspace()
        let steps = 24
        let whole = ws.path("whole")
        let r = try zoo(ws, try pretrainArguments(ws, out: whole, steps: steps))
        #expect(r.status == 0, "\(r.stderr)")
        for file in [
            "train-state.safetensors", "ema.safetensors", "model.safetensors", "loss.csv", "loss.png", "samples.png",
            "run.json",
        ] {
            #expect(FileManager.default.fileExists(atPath: whole + "/" + file), "\(file) missing")
        }

        // Kill a second run with SIGKILL once it has written a checkpoint, then resume it.
        let killed = ws.path("killed")
        let ended = try ws.zooKilled(
            try pretrainArguments(ws, out: killed, steps: steps), onceExists: killed + "/train-state.safetensors")
        #expect(ended == .uncaughtSignal, "the run finished before it could be killed")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: killed).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty || leftovers.allSatisfy { $0.contains("tmp") }, "\(leftovers)")
        let refused = try zoo(ws, try pretrainArguments(ws, out: killed, steps: steps))
        #expect(refused.status != 0 && refused.stderr.contains("--resume"), "\(refused.stderr)")
        let resumed = try zoo(ws, try pretrainArguments(ws, out: killed, steps: steps) + ["--resume"])
        #expect(resumed.status == 0 && resumed.stdout.contains("resumed"), "\(resumed.stderr)")
        let a = try SafetensorsFile.read(path: whole + "/ema.safetensors"),
            b = try SafetensorsFile.read(path: killed + "/ema.safetensors")
        for name in a.names {
            #expect(try a.tensor(named: name) == (try b.tensor(named: name)), "\(name) differs after kill and resume")
        }
        #expect(
            try String(contentsOfFile: whole + "/loss.csv", encoding: .utf8)
                == (try String(contentsOfFile: killed + "/loss.csv", encoding: .utf8)))

        // Sampling from the trained checkpoint: deterministic DDIM, a PNG grid of the right size.
        let grid1 = ws.path("g1.png"), grid2 = ws.path("g2.png")
        for grid in [grid1, grid2] {
            let s = try zoo(
                ws,
                [
                    "sample", "--allow-unconformant", "--checkpoint", whole + "/model.safetensors", "--classes", "0,3",
                    "--per-class", "2", "--steps", "4",
                    "--cfg", "1.5", "--out", grid,
                ])
            #expect(s.status == 0, "\(s.stderr)")
        }
        let image = try PNGImage.read(path: grid1)
        #expect(image.width == 2 * 16 + 3 * 2 && image.height == 2 * 16 + 3 * 2)
        #expect(image == (try PNGImage.read(path: grid2)))
        let badClass = try zoo(
            ws,
            [
                "sample", "--allow-unconformant", "--checkpoint", whole + "/model.safetensors", "--classes", "11",
                "--out", grid1,
            ])
        #expect(badClass.status != 0 && badClass.stderr.contains("--classes"), "\(badClass.stderr)")
    }

    /// `--init` fine-tunes: the weights start at the checkpoint's (with EMA decay 1 the EMA never moves, so the
    /// export equals it exactly), the model's configuration comes from its metadata, and its sha256 is a setting
    /// that `--resume` checks.
    @Test func pretrainInitStartsFromTheCheckpointsWeights() throws {
        let ws = try CLITests.Workspace()
        let teacher = ws.path("teacher")
        let first = try zoo(ws, try pretrainArguments(ws, out: teacher, steps: 2) + ["--dtype", "f32"])
        #expect(first.status == 0, "\(first.stderr)")
        let start = teacher + "/model.safetensors"
        let tune = ws.path("tune")
        let tuneArguments = [
            "pretrain", "--allow-unconformant", "--out", tune, "--init", start, "--steps", "2", "--batch-size", "4",
            "--checkpoint-every", "1", "--log-every", "1", "--held-out", "4", "--ema", "1", "--dtype", "f32",
        ]
        let tuned = try zoo(ws, tuneArguments)
        #expect(tuned.status == 0 && tuned.stdout.contains("weights: from \(start)"), "\(tuned.stderr)")
        let a = try SafetensorsFile.read(path: start), b = try SafetensorsFile.read(path: tune + "/model.safetensors")
        #expect(a.names.sorted() == b.names.sorted())
        for name in a.names {
            #expect(try a.tensor(named: name) == (try b.tensor(named: name)), "\(name) is not the --init weight")
        }
        let state = try SafetensorsFile.read(path: tune + "/train-state.safetensors")
        #expect(
            try state.tensor(named: "model/final_layer.linear.weight")
                != (try a.tensor(named: "final_layer.linear.weight")), "no training happened")

        // Resuming needs the same starting weights.
        var longer = tuneArguments
        longer[longer.firstIndex(of: "--steps")! + 1] = "3"
        var noInit = longer
        noInit.removeSubrange(noInit.firstIndex(of: "--init")!...noInit.firstIndex(of: start)!)
        let withoutInit = try zoo(ws, noInit + ["--config", try writeTinyConfig(ws), "--resume"])
        #expect(
            withoutInit.status != 0 && withoutInit.stderr.contains("initial_weights_sha256"), "\(withoutInit.stderr)")
        let resumed = try zoo(ws, longer + ["--resume"])
        #expect(resumed.status == 0 && resumed.stdout.contains("resumed"), "\(resumed.stderr)")

        // A --config that disagrees with the checkpoint's own, or a file that is not there, is refused by name.
        var other = TrainingTests.tinyConfig
        other.numHeads = other.numHeads == 1 ? 2 : 1
        let otherPath = ws.path("other.json")
        try Data(other.jsonString().utf8).write(to: URL(fileURLWithPath: otherPath))
        let clash = try zoo(
            ws,
            [
                "pretrain", "--allow-unconformant", "--out", ws.path("clash"), "--init", start, "--config", otherPath,
                "--steps", "1",
            ])
        #expect(clash.status != 0 && clash.stderr.contains("--config \(otherPath)"), "\(clash.stderr)")
        let missing = try zoo(
            ws,
            [
                "pretrain", "--allow-unconformant", "--out", ws.path("missing"), "--init", ws.path("nope.safetensors"),
                "--steps", "1",
            ])
        #expect(
            missing.status != 0 && missing.stderr.contains("--init") && missing.stderr.contains("nope.safetensors"),
            "\(missing.stderr)")
        let unknown = try zoo(ws, ["pretrain", "--out", ws.path("g"), "--data-generator", "2"])
        #expect(unknown.status != 0 && unknown.stderr.contains("--data-generator must be 1 or 3"), "\(unknown.stderr)")
        for generator in SyntheticShapes.generators.map(String.init) {  // the default too, when given
            let folder = try zoo(
                ws, ["pretrain", "--out", ws.path("g"), "--data", ws.path("."), "--data-generator", generator])
            #expect(folder.status != 0 && folder.stderr.contains("cannot go with --data"), "\(folder.stderr)")
        }
    }

    /// Without `--data`, pretraining draws the synthetic shapes: a model they cannot feed is refused by name, and
    /// no run folder is made.
    @Test func pretrainRefusesAModelTheShapesCannotFeed() throws {
        let ws = try CLITests.Workspace()
        var latent = TrainingTests.tinyConfig
        latent.inChannels = 4
        let config = ws.path("latent.json")
        try Data(latent.jsonString().utf8).write(to: URL(fileURLWithPath: config))
        let out = ws.path("run")
        let refused = try zoo(
            ws, ["pretrain", "--allow-unconformant", "--out", out, "--config", config, "--steps", "2"])
        #expect(
            refused.status == 1 && refused.stderr.contains("in_channels is 4") && refused.stderr.contains("--data"),
            "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
