import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// `zoo graft` end to end on a tiny teacher: the report files hold the measured figures, and a run killed
/// with SIGKILL after stage 1 started and then rerun gives the same grafted checkpoint as an uninterrupted run.
@Suite struct GraftRunTests {
    @Test func graftKilledAndResumedEqualsAnUninterruptedRunAndReports() throws {
        let ws = try CLITests.Workspace()
        let config = ws.path("tiny.json")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: config))
        let pre = try ws.zoo([
            "pretrain", "--allow-unconformant", "--out", ws.path("teacher"), "--config", config, "--steps", "6",
            "--batch-size", "4",
            "--checkpoint-every", "2", "--log-every", "1", "--held-out", "0", "--warmup", "1",
        ])
        #expect(pre.status == 0, "\(pre.stderr)")
        let teacher = ws.path("teacher/model.safetensors")
        let plan = ws.path("plan.json")
        try Data(
            #"""
            {"name": "tiny-pool", "grafts": [{"slot": "attn", "layers": "interleave-50", "operator": "poolformer"}],
             "stage1": {"samples": 24, "steps": 30, "batch_size": 4, "validate_every": 10, "loss": "l1"},
             "stage2": {"steps": 6, "batch_size": 4, "warmup_steps": 2}, "seed": 3,
             "evaluation": {"samples_per_class": 8}}
            """#.utf8
        ).write(to: URL(fileURLWithPath: plan))

        let whole = ws.path("whole")
        let r = try ws.zoo(["graft", plan, "--allow-unconformant", "--teacher", teacher, "--out", whole])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("held-out loss") && r.stdout.contains("report.md"), "\(r.stdout)")
        for file in [
            "grafted.safetensors", "report.json", "report.md", "samples.png", "stage1_loss.png", "stage2_loss.png",
            "stage1/activations.safetensors", "stage1/blocks.1.attn.safetensors", "stage2/train-state.safetensors",
        ] {
            #expect(FileManager.default.fileExists(atPath: whole + "/" + file), "\(file) missing")
        }
        let report = try JSONDecoder().decode(
            GraftReport.self, from: Data(contentsOf: URL(fileURLWithPath: whole + "/report.json")))
        #expect(
            report.plan == "tiny-pool" && report.slots.map(\.slot) == ["blocks.1.attn"]
                && report.slots[0].operatorId == "poolformer")
        let slot = report.slots[0]
        #expect(try #require(slot.bestValidationLoss) <= (try #require(slot.initialValidationLoss)))
        #expect(report.teacher.heldOutLoss.isFinite && report.student.heldOutLoss.isFinite && report.samplePSNR > 0)
        // The shipped classifier knows 32 px shapes; this 16 px model's samples are not measured, and the report says why.
        #expect(report.teacher.quality == nil && report.evaluation?.skipped?.contains("32 px") == true)
        #expect(r.stdout.contains("classifier metrics: not measured"), "\(r.stdout)")
        #expect(report.student.parameters < report.teacher.parameters, "poolformer has no parameters, mha has")
        #expect(report.stage2Losses.last?.step == 6)
        let markdown = try String(contentsOfFile: whole + "/report.md", encoding: .utf8)
        #expect(
            markdown.contains("blocks.1.attn") && markdown.contains(String(format: "%.4f", report.student.heldOutLoss)))
        let table = try ws.zoo(["graft-table", whole, "--out", ws.path("table.md"), "--plots", ws.path("study")])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("blue: 1 x poolformer"), "\(table.stdout)")
        for chart in ["study-held-out.png", "study-class-accuracy.png"] {
            #expect(try PNGImage.read(path: ws.path(chart)).width == 720, "\(chart)")
        }
        let rows = try String(contentsOfFile: ws.path("table.md"), encoding: .utf8).split(separator: "\n")
        #expect(
            rows.count == 4 && rows[2].hasPrefix("| teacher |")
                && rows[3].hasPrefix(
                    "| tiny-pool | 1 x poolformer | \(String(format: "%.4f", report.student.heldOutLoss)) | n/a | n/a |"
                ),
            "\(rows)")
        let notReport = try ws.zoo(["graft-table", plan])
        #expect(
            notReport.status != 0 && notReport.stderr.contains(plan) && notReport.stderr.contains("report.json"),
            "\(notReport.stderr)")
        let samples = try PNGImage.read(path: whole + "/samples.png")
        #expect(samples.height == 2 * 11 * 16 + (2 * 11 + 1) * 2, "one teacher and one grafted row per class")

        // Killed once stage 1 has cached the teacher activations, then rerun: the same checkpoint.
        let killed = ws.path("killed")
        _ = try ws.zooKilled(
            ["graft", plan, "--allow-unconformant", "--teacher", teacher, "--out", killed],
            onceExists: killed + "/stage1/activations.safetensors")
        let again = try ws.zoo(["graft", plan, "--allow-unconformant", "--teacher", teacher, "--out", killed])
        #expect(again.status == 0, "\(again.stderr)")
        let a = try SafetensorsFile.read(path: whole + "/grafted.safetensors"),
            b = try SafetensorsFile.read(path: killed + "/grafted.safetensors")
        #expect(a.names == b.names)
        for name in a.names {
            #expect(try a.tensor(named: name) == (try b.tensor(named: name)), "\(name) differs after kill and rerun")
        }
        #expect(a.metadata[SlotManifest.metadataKey] == b.metadata[SlotManifest.metadataKey])

        // The grafted checkpoint samples and runs forward through the standard commands.
        let grid = ws.path("g.png")
        let s = try ws.zoo([
            "sample", "--allow-unconformant", "--checkpoint", whole + "/grafted.safetensors", "--classes", "1",
            "--per-class", "1", "--steps", "3", "--out", grid,
        ])
        #expect(s.status == 0, "\(s.stderr)")
    }

    /// `zoo sample --evaluate` on the embedded model (the classifier's data) prints the classifier metrics and writes
    /// them as JSON; on a model the classifier does not know it refuses before sampling. (A graft report runs the same
    /// `SampleQuality` code; a graft of the embedded model takes minutes in a debug build, so `zoo graft` with the
    /// metrics is checked by the README's quick start rather than here.)
    @Test func sampleEvaluateMeasuresWithTheClassifier() throws {
        let ws = try CLITests.Workspace()
        let r = try ws.zoo(
            [
                "sample", "--allow-unconformant", "--checkpoint", "models/dit-shapes/model.safetensors", "--per-class",
                "2",
                "--steps", "2", "--evaluate", "--out", ws.path("g.png"), "--quality-json", ws.path("q.json"),
            ].map { $0.hasPrefix("models/") ? packageRoot.appendingPathComponent($0).path : $0 })
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("class accuracy") && r.stdout.contains("recall (k=3)"), "\(r.stdout)")
        let quality = try JSONDecoder().decode(
            SampleQuality.self, from: Data(contentsOf: URL(fileURLWithPath: ws.path("q.json"))))
        #expect(quality.samples == 22 && quality.referenceImages == 22 && quality.perClassAccuracy.count == 11)
        let stray = try ws.zoo([
            "sample", "--checkpoint", "x.safetensors", "--out", "g.png", "--quality-json", "q.json",
        ])
        #expect(stray.status != 0 && stray.stderr.contains("only with --evaluate"), "\(stray.stderr)")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: ws.path("tiny.json")))
        _ = try ws.zoo(["dit", "init", "--config", ws.path("tiny.json"), "--out", ws.path("t.safetensors")])
        let refused = try ws.zoo([
            "sample", "--allow-unconformant", "--checkpoint", ws.path("t.safetensors"), "--evaluate", "--out",
            ws.path("t.png"),
        ])
        #expect(
            refused.status != 0 && refused.stderr.contains("--evaluate") && refused.stderr.contains("32 px")
                && !FileManager.default.fileExists(atPath: ws.path("t.png")), "\(refused.stderr)")
    }

    @Test func graftRefusesBadPlansAndMissingTeachers() throws {
        let ws = try CLITests.Workspace()
        let plan = ws.path("bad.json")
        try Data(#"{"name": "x", "grafts": [{"slot": "attn", "layers": "all", "operator": "no_such_op"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: plan))
        let missing = try ws.zoo(["graft", plan, "--allow-unconformant", "--teacher", ws.path("nope.safetensors")])
        #expect(missing.status != 0 && missing.stderr.contains("nope.safetensors"), "\(missing.stderr)")
        // The workspace registry pins its plugins without conformance records: models are not run on them.
        let good = ws.path("good.json")
        try Data(#"{"name": "x", "grafts": [{"slot": "attn", "layers": "all", "operator": "poolformer"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: good))
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: ws.path("tiny.json")))
        let initialised = try ws.zoo([
            "dit", "init", "--config", ws.path("tiny.json"), "--out", ws.path("t.safetensors"),
        ])
        #expect(initialised.status == 0, "\(initialised.stderr)")
        for arguments in [
            ["graft", good, "--teacher", ws.path("t.safetensors"), "--out", ws.path("run")],
            ["sample", "--checkpoint", ws.path("t.safetensors"), "--out", ws.path("g.png")],
        ] {
            let refused = try ws.zoo(arguments)
            #expect(
                refused.status != 0 && refused.stderr.contains("conformance")
                    && refused.stderr.contains("--allow-unconformant"),
                "\(arguments[0]): \(refused.stderr)")
        }
        try Data("{\"name\": 3}".utf8).write(to: URL(fileURLWithPath: plan))
        let bad = try ws.zoo(["graft", plan])
        #expect(bad.status != 0 && bad.stderr.contains("bad.json") && bad.stderr.contains("name"), "\(bad.stderr)")
    }

    /// `zoo graft` trains on the synthetic shapes (3-channel, at least 16 pixels): a teacher they cannot feed (8 pixels
    /// a side, which once stopped the process on a precondition; 4 latent channels) is refused with an error that
    /// names its configuration, before the run folder is made.
    @Test func graftRefusesTeachersTheShapesCannotFeed() throws {
        let ws = try CLITests.Workspace()
        let plan = ws.path("plan.json")
        try Data(#"{"name": "x", "grafts": [{"slot": "mlp", "layers": [0], "operator": "mlp"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: plan))
        var small = TrainingTests.tinyConfig
        small.inputSize = 8
        var latent = TrainingTests.tinyConfig
        latent.inChannels = 4
        for (name, config) in [("small", small), ("latent", latent)] {
            try Data(config.jsonString().utf8).write(to: URL(fileURLWithPath: ws.path("\(name).json")))
            let teacher = ws.path("\(name).safetensors")
            let initialised = try ws.zoo(["dit", "init", "--config", ws.path("\(name).json"), "--out", teacher])
            #expect(initialised.status == 0, "\(initialised.stderr)")
            let run = ws.path("run-\(name)")
            let refused = try ws.zoo(["graft", plan, "--allow-unconformant", "--teacher", teacher, "--out", run])
            #expect(
                refused.status == 1 && refused.stderr.contains(teacher)
                    && refused.stderr.contains(
                        "in_channels is \(config.inChannels) and its input_size \(config.inputSize)"),
                "\(name): \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: run), "\(name): the refused run left \(run)")
        }
    }
}
