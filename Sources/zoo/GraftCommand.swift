import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `zoo graft`: turn a pretrained DiT into a hybrid by a plan, and report what it cost and kept.
struct GraftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graft",
        abstract: "Graft new operators into a pretrained DiT (stage 1: activation distillation, stage 2: fine-tuning).",
        discussion: """
            Without arguments, runs plans/quick.json on the embedded model (models/dit-shapes). The run folder \
            receives grafted.safetensors (its metadata names each grafted slot's operator, version, attributes \
            and library sha256), stage1/ (teacher activations, each slot's best weights), stage2/ (training \
            state) and the report. Rerunning the same command resumes where a killed run stopped.
            """)

    @Argument(help: "Plan JSON (default: plans/quick.json).")
    var plan: String?

    @Option(help: "Run folder (default: runs/graft-<plan name>).")
    var out: String?

    @Option(help: "Teacher checkpoint (default: the plan's model, else the embedded model).")
    var teacher: String?

    @OptionGroup var plugins: PluginOptions

    func run() throws {
        let planPath = try plan ?? Self.defaultPlanPath()
        let graftPlan = try GraftPlan.load(path: planPath)
        guard let teacherPath = teacher ?? graftPlan.model ?? EmbeddedModel.checkpointPath() else {
            throw CLIError(
                "no teacher checkpoint: give --teacher, a 'model' in the plan, or set ZOO_MODEL (models/dit-shapes/model.safetensors was not found)"
            )
        }
        let host = try plugins.makeHost(requireConformance: true)
        let teacherModel = try DiTModel.open(checkpoint: teacherPath, configPath: nil, host: host)
        let train: SyntheticShapes, heldOut: SyntheticShapes
        do {
            (train, heldOut) = try EmbeddedModel.datasets(for: teacherModel.config)
        } catch {
            throw CLIError(
                "teacher \(teacherPath): \(error); zoo graft trains on the synthetic shapes, so its teacher must take them"
            )
        }
        let folder = out ?? "runs/graft-\(graftPlan.name)"
        let run = try GraftRun(
            plan: graftPlan, teacher: teacherModel, host: host, train: train, heldOut: heldOut, folder: folder)
        run.group = try ProcessGroup.current()
        // Every rank distils its share of stage 1 and takes every stage-2 step; rank 0 alone reports and writes the
        // grafted checkpoint and the report.
        guard run.group.isRoot else {
            try run.runStage1()
            try run.runStage2()
            return
        }
        let units = run.units
        print(
            "plan \(graftPlan.name) (\(planPath)): \(units.count) \(run.strategy.unitNoun)(s) to distil: "
                + units.map { "\($0.name)=\($0.holds)" }.joined(separator: ", "))
        print("teacher \(teacherPath); run folder \(folder)")
        if run.group.isDistributed {
            print(
                "data parallel: \(run.group.size) ranks x \(ThreadPool.shared.threadCount) threads; stage 1 units divided among them, stage 2 batches split"
            )
        }
        var bars: [String: ProgressBar] = [:]
        run.progress = { label, done, total in
            let bar = bars[label] ?? ProgressBar(label, total: total)
            bars[label] = bar
            bar.update(done)
        }
        run.log = { print($0) }
        let started = Date()
        try run.runStage1()
        for unit in run.units {
            if let r = run.stage1Results[unit.name] {
                print(
                    String(
                        format: "stage 1 %@: validation loss %.4f -> %.4f (best at step %d)", unit.name,
                        r.initialValidationLoss, r.bestValidationLoss, r.bestStep))
            }
        }
        try run.runStage2()
        try run.saveCheckpoint()
        let report = try GraftReport.make(run: run, seconds: Date().timeIntervalSince(started)) { label, done, total in
            run.progress?(label, done, total)
        }
        try report.write(folder: folder)
        print(report.summary)
        print("report: \(folder)/report.md (and report.json, loss and sample PNGs); checkpoint: \(run.checkpointPath)")
    }

    /// plans/quick.json beside the repository the executable was built in, or under the current folder.
    static func defaultPlanPath() throws -> String {
        guard let path = EmbeddedModel.findInRepository("plans/quick.json") else {
            throw CLIError(
                "plans/quick.json was not found beside the zoo executable or the current folder; give a plan file")
        }
        return path
    }
}
