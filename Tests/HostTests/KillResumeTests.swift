import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// Nothing is lost on a kill: `zoo pretrain` and `zoo graft` are killed with SIGKILL several times in a row at
/// seeded random moments (not only once a checkpoint exists), each time restarted on the same folder. After
/// every kill each file the run has left is complete and consistent (it loads, and its metadata agrees with the
/// other files), and the run finally finishes with the same result as an uninterrupted one.
@Suite struct KillResumeTests {
    /// How many times each run is killed before it is let finish.
    static let kills = 4

    @Test func pretrainKilledAtRandomMomentsEqualsAnUninterruptedRun() throws {
        let ws = try CLITests.Workspace()
        let config = ws.path("tiny.json")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: config))
        let (steps, every) = (32, 2)
        func arguments(_ out: String) -> [String] {
            [
                "pretrain", "--allow-unconformant", "--out", out, "--config", config, "--steps", "\(steps)",
                "--batch-size", "4",
                "--checkpoint-every", "\(every)", "--log-every", "1", "--held-out", "8", "--warmup", "2", "--seed", "5",
            ]
        }
        let whole = ws.path("whole")
        let marks = try ws.zooTimed(
            arguments(whole), until: [whole + "/train-state.safetensors", whole + "/model.safetensors"])
        let interval = (marks[1] - marks[0]) / Double(steps - every) * Double(every)

        // Each kill waits until the run has checkpointed a seeded random step it had not reached, then a seeded
        // random part of one checkpoint interval, so kills land anywhere in a step, in a checkpoint write or between.
        let killed = ws.path("killed")
        var random = SplitMix64(seed: 0x5EED_0008)
        var landed = 0
        for kill in 1...Self.kills {
            let resume = FileManager.default.fileExists(atPath: killed + "/train-state.safetensors")
            let done = resume ? try checkpointStep(killed + "/train-state.safetensors") : 0
            let target = min(steps, done + 1 + Int(random.next() % UInt64(max(1, steps - done - every))))
            let extra = interval * random.nextUnit()
            let reached = { (try? checkpointStep(killed + "/train-state.safetensors")).map { $0 >= target } ?? false }
            if try ws.zooKilled(arguments(killed) + (resume ? ["--resume"] : []), once: reached, after: extra) {
                landed += 1
            }
            print(
                "pretrain kill \(kill): from step \(done), once step \(target) was saved + \(String(format: "%.3f", extra)) s; left: \(try files(killed))"
            )
            try expectIntactPretrainRun(killed, steps: steps, every: every)
        }
        #expect(landed >= 2, "only \(landed) of \(Self.kills) kills landed before the run ended")
        let resume = FileManager.default.fileExists(atPath: killed + "/train-state.safetensors")
        let finished = try ws.zoo(arguments(killed) + (resume ? ["--resume"] : []))
        try #require(finished.status == 0, "\(finished.stderr)")

        for name in ["ema.safetensors", "model.safetensors", "train-state.safetensors"] {
            let a = try SafetensorsFile.read(path: whole + "/" + name),
                b = try SafetensorsFile.read(path: killed + "/" + name)
            #expect(a.names == b.names, "\(name)")
            for tensor in a.names {
                #expect(try a.tensor(named: tensor) == (try b.tensor(named: tensor)), "\(name): \(tensor)")
            }
        }
        for name in ["loss.csv", "samples.png"] {
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: whole + "/" + name))
                    == Data(contentsOf: URL(fileURLWithPath: killed + "/" + name)), "\(name)")
        }
        let stale = try FileManager.default.contentsOfDirectory(atPath: killed).filter { $0.hasSuffix(".tmp") }
        #expect(stale.isEmpty, "temporary files of killed writers were left behind: \(stale)")
    }

    @Test func graftKilledAtRandomMomentsEqualsAnUninterruptedRun() throws {
        let ws = try CLITests.Workspace()
        let config = ws.path("tiny.json")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: config))
        let teacher = ws.path("teacher.safetensors")
        let initialised = try ws.zoo(["dit", "init", "--config", config, "--out", teacher, "--seed", "4"])
        try #require(initialised.status == 0, "\(initialised.stderr)")
        let plan = ws.path("plan.json")
        try Data(
            #"""
            {"name": "kill-mlp", "grafts": [{"slot": "mlp", "layers": "all", "operator": "mlp", "attributes": {"expansion_ratio": 1}}],
             "stage1": {"samples": 64, "steps": 400, "batch_size": 8, "validate_every": 50, "loss": "l2"},
             "stage2": {"steps": 8, "batch_size": 4, "warmup_steps": 1}, "seed": 11,
             "evaluation": {"samples_per_class": 8}}
            """#.utf8
        ).write(to: URL(fileURLWithPath: plan))
        func arguments(_ out: String) -> [String] {
            ["graft", plan, "--allow-unconformant", "--teacher", teacher, "--out", out]
        }
        let whole = ws.path("whole")
        let (cache, unit, state) = (
            "/stage1/activations.safetensors", "/stage1/blocks.1.mlp.safetensors", "/stage2/train-state.safetensors"
        )
        let marks = try ws.zooTimed(arguments(whole), until: [whole + cache, whole + unit, whole + state])

        // Each kill picks a seeded random phase (collecting teacher activations, distilling the slots, stage 2 and
        // the files between) and lands a seeded random time into it, timed from the event that starts it in this
        // run: the process start, the activation cache appearing, a distilled slot appearing.
        // A kill counts only if it left the run unfinished (no grafted.safetensors yet). On a loaded machine a kill
        // can come after the run's end; the finished folder is then cleared and the kills start over, so the test
        // always interrupts real work, up to 3 * kills attempts.
        let killed = ws.path("killed")
        var random = SplitMix64(seed: 0x5EED_0006)
        var landed = 0
        for attempt in 1...(3 * Self.kills) where landed < Self.kills {
            let phase = Int(random.next() % 3)
            let (marker, span): (String?, TimeInterval) = [
                (nil, marks[0]), (cache, marks[1] - marks[0]), (unit, marks[2] - marks[1]),
            ][phase]
            let extra = span * random.nextUnit()
            let started = { marker.map { FileManager.default.fileExists(atPath: killed + $0) } ?? true }
            let interrupted = try ws.zooKilled(arguments(killed), once: started, after: extra)
            let finished = FileManager.default.fileExists(atPath: killed + "/grafted.safetensors")
            print(
                "graft kill \(attempt): \(String(format: "%.3f", extra)) s after \(marker ?? "the start"); \(finished ? "too late, the run had finished" : "landed"); left: \(try files(killed))"
            )
            try expectIntactGraftRun(killed, units: ["blocks.0.mlp", "blocks.1.mlp"])
            if interrupted && !finished { landed += 1 }
            if finished { try FileManager.default.removeItem(atPath: killed) }
        }
        #expect(landed >= 2, "only \(landed) kills landed before the run ended")
        let finished = try ws.zoo(arguments(killed))
        try #require(finished.status == 0, "\(finished.stderr)")

        let a = try SafetensorsFile.read(path: whole + "/grafted.safetensors")
        let b = try SafetensorsFile.read(path: killed + "/grafted.safetensors")
        #expect(a.names == b.names && a.metadata == b.metadata)
        for name in a.names { #expect(try a.tensor(named: name) == (try b.tensor(named: name)), "\(name)") }
        var stale: [String] = []
        for folder in [killed, killed + "/stage1", killed + "/stage2"]
        where FileManager.default.fileExists(atPath: folder) {
            stale += try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".tmp") }
        }
        #expect(stale.isEmpty, "temporary files of killed writers were left behind: \(stale)")
    }

    // MARK: What a killed run may leave

    /// The step of the training checkpoint at `path`.
    private func checkpointStep(_ path: String) throws -> Int {
        try #require(try SafetensorsFile.read(path: path).metadata["zoo.train.step"].flatMap(Int.init))
    }

    /// The files under `folder` with the step each checkpoint holds, for the log: `train-state.safetensors@6 ...`.
    private func files(_ folder: String) throws -> String {
        guard let names = FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] else {
            return "nothing"
        }
        return names.sorted().filter { !$0.hasSuffix("stage1") && !$0.hasSuffix("stage2") }.map { name in
            let step =
                name.hasSuffix(".safetensors")
                ? (try? SafetensorsFile.read(path: folder + "/" + name))?.metadata["zoo.train.step"].map { "@" + $0 }
                    ?? "" : ""
            return name + step
        }.joined(separator: " ")
    }

    /// Every file in a killed pretraining folder is complete: the training state resumes in-process at a
    /// checkpoint step, the EMA export is from that checkpoint or the one before, loss.csv has whole rows,
    /// and nothing else but temporary files of interrupted writes is there.
    private func expectIntactPretrainRun(_ folder: String, steps: Int, every: Int) throws {
        guard FileManager.default.fileExists(atPath: folder) else { return }
        let known: Set<String> = [
            "train-state.safetensors", "ema.safetensors", "model.safetensors", "loss.csv", "loss.png", "samples.png",
            "run.json",
        ]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            #expect(known.contains(name) || (name.hasPrefix(".") && name.hasSuffix(".tmp")), "unexpected file \(name)")
        }
        let statePath = folder + "/train-state.safetensors"
        guard FileManager.default.fileExists(atPath: statePath) else {
            #expect(
                !FileManager.default.fileExists(atPath: folder + "/ema.safetensors"),
                "an EMA export without a training state")
            return
        }
        let state = try SafetensorsFile.read(path: statePath)
        let step = try #require(state.metadata["zoo.train.step"].flatMap(Int.init), "\(state.metadata.keys.sorted())")
        #expect(step > 0 && step <= steps && (step % every == 0 || step == steps), "checkpoint at step \(step)")
        let settings = try JSONDecoder().decode(
            TrainingSettings.self, from: Data(try #require(state.metadata["zoo.train.settings"]).utf8))
        let model = try makeDiT(TrainingTests.tinyConfig)
        let data = try SyntheticShapes(seed: 0, split: .train, resolution: 16)
        let trainer = try DiffusionTrainer(model: model, data: data, heldOut: nil, settings: settings)
        try trainer.resume(from: statePath)
        #expect(
            trainer.step == step && trainer.history.count == step,
            "resumed at \(trainer.step) with \(trainer.history.count) records")

        if FileManager.default.fileExists(atPath: folder + "/ema.safetensors") {
            let ema = try SafetensorsFile.read(path: folder + "/ema.safetensors")
            let emaStep = try #require(ema.metadata["zoo.train.step"].flatMap(Int.init))
            #expect(
                emaStep == step || emaStep == step - every, "EMA export at step \(emaStep), training state at \(step)")
            #expect(Set(ema.names).isSuperset(of: model.parameters.names))
        }
        if FileManager.default.fileExists(atPath: folder + "/loss.csv") {
            let lines = try String(contentsOfFile: folder + "/loss.csv", encoding: .utf8).split(separator: "\n")
            #expect(lines.first == "step,loss,grad_norm,held_out_loss")
            for (i, line) in lines.dropFirst().enumerated() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                #expect(
                    fields.count == 4 && fields[0] == "\(i + 1)" && Double(fields[1]) != nil,
                    "loss.csv row \(i + 1): \(line)")
            }
            #expect(lines.count - 1 <= step, "loss.csv has \(lines.count - 1) rows, the state only \(step)")
        }
        for image in ["loss.png", "samples.png"] where FileManager.default.fileExists(atPath: folder + "/" + image) {
            _ = try PNGImage.read(path: folder + "/" + image)
        }
        if FileManager.default.fileExists(atPath: folder + "/model.safetensors") {
            _ = try SafetensorsFile.read(path: folder + "/model.safetensors")
        }
    }

    /// Every file in a killed graft folder is complete: the activation cache carries its signature, each
    /// distilled unit its best step and history, the stage-2 state its step, and the grafted checkpoint loads.
    private func expectIntactGraftRun(_ folder: String, units: [String]) throws {
        let cache = folder + "/stage1/activations.safetensors"
        if FileManager.default.fileExists(atPath: cache) {
            let file = try SafetensorsFile.read(path: cache)
            let signature = try #require(file.metadata[ActivationCache.signatureKey])
            #expect(signature.hasPrefix("f16 rows seed=11 ") && signature.hasSuffix(units.joined(separator: ",")))
            // One float16 row per (sample, unit), every byte of it present (the reader checked the data length).
            let rows = try #require(file.entry(named: ActivationCache.tensorName))
            #expect(rows.dtype == .float16 && rows.shape.count == 2 && rows.shape[0] % units.count == 0)
        }
        for unit in units where FileManager.default.fileExists(atPath: folder + "/stage1/\(unit).safetensors") {
            #expect(
                FileManager.default.fileExists(atPath: cache),
                "a distilled unit without the activations it was distilled on")
            let file = try SafetensorsFile.read(path: folder + "/stage1/\(unit).safetensors")
            let best = try #require(file.metadata["zoo.stage1.best_step"].flatMap(Int.init))
            let history = try JSONDecoder().decode(
                [SlotDistiller.Record].self, from: Data(try #require(file.metadata["zoo.stage1.history"]).utf8))
            #expect(
                best >= 0 && best <= 400 && !history.isEmpty, "\(unit): best step \(best), \(history.count) records")
        }
        let state = folder + "/stage2/train-state.safetensors"
        if FileManager.default.fileExists(atPath: state) {
            for unit in units {
                #expect(FileManager.default.fileExists(atPath: folder + "/stage1/\(unit).safetensors"))
            }
            let file = try SafetensorsFile.read(path: state)
            let step = try #require(file.metadata["zoo.train.step"].flatMap(Int.init))
            #expect(step >= 1 && step <= 8, "stage 2 state at step \(step)")
        }
        if FileManager.default.fileExists(atPath: folder + "/grafted.safetensors") {
            let file = try SafetensorsFile.read(path: folder + "/grafted.safetensors")
            #expect(file.metadata[SlotManifest.metadataKey] != nil)
        }
    }
}

extension CLITests.Workspace {
    /// Runs `zoo arguments` to completion (it must succeed) and returns the seconds from its start until each of
    /// `files` appeared.
    func zooTimed(_ arguments: [String], until files: [String]) throws -> [TimeInterval] {
        let process = try zooProcess(arguments)
        let errors = Pipe()
        process.standardError = errors
        let started = Date()
        try process.run()
        var seen: [TimeInterval?] = files.map { _ in nil }
        while process.isRunning {
            for (i, file) in files.enumerated() where seen[i] == nil && FileManager.default.fileExists(atPath: file) {
                seen[i] = Date().timeIntervalSince(started)
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try #require(
            process.terminationReason == .exit && process.terminationStatus == 0, "\(arguments[0]) failed: \(message)")
        return try zip(files, seen).map { file, time in try #require(time, "\(file) never appeared") }
    }

    /// Starts `zoo arguments`, kills it with SIGKILL after `seconds` unless it has ended by then, and returns
    /// whether the kill landed (the run was still going).
    func zooKilled(_ arguments: [String], after seconds: TimeInterval) throws -> Bool {
        let process = try zooProcess(arguments)
        try process.run()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(2_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal
    }

    /// Starts `zoo arguments`, waits until `condition` holds (or the run ends), then `seconds` more, kills it with
    /// SIGKILL unless it has ended, and returns whether the kill landed.
    func zooKilled(_ arguments: [String], once condition: () -> Bool, after seconds: TimeInterval) throws -> Bool {
        let process = try zooProcess(arguments)
        try process.run()
        while process.isRunning && !condition() { usleep(1_000) }
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(1_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal
    }
}
