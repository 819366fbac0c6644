import Foundation
import Testing

@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// A third-party operator is first-class: a plugin that exists only in a temporary folder (written by
/// `zoo plugin new`, built by its own Makefile, registered by `zoo registry add`) is grafted by `zoo graft`, and the
/// report counts its FLOPs from what it declares through the ABI, exactly as for a shipped operator.
@Suite struct ThirdPartyGraftTests {
    @Test func scaffoldedPluginIsGraftedAndCounted() throws {
        let ws = try CLITests.Workspace()
        let source = ws.path("third_party/shift_mixer")
        let new = try ws.zoo(["plugin", "new", "shift_mixer", "--language", "c", "--output", source])
        #expect(new.status == 0, "\(new.stderr)")
        let make = try runCommand("/usr/bin/env", ["make", "-C", source])
        try #require(make.status == 0, "\(make.stdout)\(make.stderr)")
        let add = try ws.zoo([
            "registry", "add", source + "/build/libshift_mixer.so", "--registry", ws.registry, "--skip-conformance",
        ])
        try #require(add.status == 0, "\(add.stderr)")

        let config = TrainingTests.tinyConfig
        let configPath = ws.path("tiny.json")
        try Data(config.jsonString().utf8).write(to: URL(fileURLWithPath: configPath))
        let pre = try ws.zoo([
            "pretrain", "--allow-unconformant", "--out", ws.path("teacher"), "--config", configPath, "--steps", "2",
            "--batch-size", "4", "--held-out", "0", "--warmup", "1",
        ])
        try #require(pre.status == 0, "\(pre.stderr)")
        let plan = ws.path("plan.json")
        try Data(
            #"""
            {"name": "third-party", "grafts": [{"slot": "attn", "layers": "interleave-50", "operator": "shift_mixer",
             "attributes": {"shift": 2}}],
             "stage1": {"samples": 8, "steps": 4, "batch_size": 4, "validate_every": 2},
             "stage2": {"steps": 2, "batch_size": 4, "warmup_steps": 1}, "seed": 1,
             "evaluation": {"samples_per_class": 8}}
            """#.utf8
        ).write(to: URL(fileURLWithPath: plan))
        let out = ws.path("graft")
        let graft = try ws.zoo([
            "graft", plan, "--allow-unconformant", "--teacher", ws.path("teacher/model.safetensors"), "--out", out,
        ])
        try #require(graft.status == 0, "\(graft.stderr)")

        let report = try JSONDecoder().decode(
            GraftReport.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/report.json")))
        #expect(report.slots.map(\.operatorId) == ["shift_mixer"])
        // By hand, per image (T tokens, width D): the teacher's attention (qkv, projection, scores and weighted sum)
        // against the scaffold's two-tap causal convolution with shift 2 (2 FLOPs per tap inside the sequence).
        let (t, d) = (config.tokenCount, config.hiddenSize)
        let attention = 2 * t * d * 3 * d + 2 * t * d * d + 2 * 2 * t * t * d
        let shiftMixer = 2 * (t + (t - 2)) * d
        let teacher = try #require(report.teacher.flops, "the teacher's FLOPs are counted")
        let student = try #require(
            report.student.flops, "the third-party slot's FLOPs are counted, not \"not counted\"")
        #expect(student == teacher - attention + shiftMixer)
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(!markdown.contains("not counted"), "\(markdown)")

        // `zoo analyze` measures the third-party slot like any other (its influence map comes from its own backward):
        // the scaffold's causal two-tap convolution with shift 2 reaches exactly offsets -2 and 0.
        let analyze = try ws.zoo([
            "analyze", "--allow-unconformant", "--checkpoint", out + "/grafted.safetensors", "--samples", "1",
            "--steps", "2", "--measured-steps", "1", "--queries", "4", "--out", ws.path("analyze"),
        ])
        try #require(analyze.status == 0, "\(analyze.stderr)")
        let analysis = try JSONDecoder().decode(
            AnalysisReport.self, from: Data(contentsOf: URL(fileURLWithPath: ws.path("analyze/analysis.json"))))
        let slot = try #require(analysis.slots.first { $0.operatorId == "shift_mixer" })
        let offsets = try #require(slot.timesteps.first?.influence.offsets)
        let l = (offsets.count + 1) / 2
        let reached = offsets.indices.filter { offsets[$0] > 0 }.map { $0 - (l - 1) }
        #expect(reached == [-2, 0], "\(reached)")
        // It reports no attention weights (an optional ABI 1.6 diagnostic); the remaining mha slots do, and the plots
        // of both are written.
        #expect(slot.attention == nil)
        #expect(analysis.slots.contains { $0.operatorId == "mha" && $0.attention != nil })
        for file in [
            "analysis.md", "histograms.png", "influence.png", "attention-band.png", "attention-neighbourhood.png",
        ] {
            #expect(FileManager.default.fileExists(atPath: ws.path("analyze/" + file)), "\(file)")
        }
    }
}
