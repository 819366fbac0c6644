import ArgumentParser
import Foundation
import HostCore
import HostGraft
import HostModel

/// `zoo analyze`: the grafting paper's testbed analyses of a DiT's slots.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract:
            "Measure each slot of a DiT over DDIM sampling: locality of its influence and its activation statistics.",
        discussion: """
            Samples --samples images by DDIM (--steps steps) and, at --measured-steps steps spread from the first \
            (noisiest) to the last, measures every slot: the statistics of its input and output (scale, kurtosis, \
            share of outliers beyond 6 standard deviations), and its influence map, from the slot operator's own \
            vector-Jacobian products (any operator, a third-party one included): how much each output token depends \
            on the input tokens at each offset, in the token order (band k: |s - q| <= k) and on the token grid \
            (neighbourhood k: k rows and k columns). Where a slot's operator reports its softmax attention weights \
            (ABI 1.6: mha, swa, swa2d), also the weights' band-k and neighbourhood-k mass per head, as the grafting \
            paper measures locality. Writes analysis.json, analysis.md, band.png and neighbourhood.png (band-k \
            curves of the token mixers' influence, light to dark by depth), attention-band.png and \
            attention-neighbourhood.png (the same for the attention weights), influence.png (each slot's influence \
            on the grid, blocks down, attention then MLP across) and histograms.png (each slot's output in standard \
            deviations, log scale, against a normal) in --out, and prints the tables with the stage-1 loss each \
            slot's output statistics recommend.
            """)

    @Option(help: "Checkpoint (safetensors or .pt; default: the embedded model).")
    var checkpoint: String?

    @Option(help: "Model configuration (JSON or preset), for checkpoints without one in their metadata.")
    var config: String?

    @Option(help: "A grafting plan naming the grafted slots, for a checkpoint saved without zoo's slot record.")
    var plan: String?

    @Option(help: "Images sampled.")
    var samples = 8

    @Option(help: "Comma-separated classes (default: spread over the model's classes).")
    var classes: String?

    @Option(help: "DDIM steps.")
    var steps = 25

    @Option(help: "Steps measured (spread evenly, first and last included).")
    var measuredSteps = 4

    @Option(help: "Query tokens per influence map.")
    var queries = 16

    @Option(help: "Seed of the noise and of the influence directions.")
    var seed: UInt64 = 0

    @Option(help: "Output folder for analysis.json and analysis.md.")
    var out = "runs/analyze"

    @OptionGroup var plugins: PluginOptions

    func validate() throws {
        for (name, value) in [("--samples", samples), ("--steps", steps), ("--measured-steps", measuredSteps)] {
            guard value >= 1 else { throw ValidationError("\(name) must be at least 1 (found \(value))") }
        }
        guard queries >= 1 else { throw ValidationError("--queries must be at least 1 (found \(queries))") }
    }

    func run() throws {
        guard let path = checkpoint ?? EmbeddedModel.checkpointPath() else {
            throw CLIError("no checkpoint: give --checkpoint (models/dit-shapes/model.safetensors was not found)")
        }
        let model = try openCheckpoint(
            path, config: config, plan: plan, host: try plugins.makeHost(requireConformance: true))
        var settings = AnalysisSettings()
        settings.samples = samples
        settings.steps = steps
        settings.measuredSteps = measuredSteps
        settings.queries = queries
        settings.seed = seed
        if let classes { settings.classes = try classIDs(classes, numClasses: model.config.numClasses) }
        let bar = ProgressBar("analyze", total: steps)
        let report = try ModelAnalysis.run(model, settings: settings) { done, _ in bar.update(done) }
        try OutputDirectory.create(out)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(report), to: out + "/analysis.json")
        let table = report.markdown()
        try AtomicFile.write(Data(table.utf8), to: out + "/analysis.md")
        try AnalysisPlots.bandCurves(report).write(path: out + "/band.png")
        try AnalysisPlots.bandCurves(report, tokenOrder: false).write(path: out + "/neighbourhood.png")
        try AnalysisPlots.influenceMaps(report).write(path: out + "/influence.png")
        try AnalysisPlots.histograms(report).write(path: out + "/histograms.png")
        var written = [
            "analysis.json", "analysis.md", "band.png", "neighbourhood.png", "influence.png", "histograms.png",
        ]
        if let band = AnalysisPlots.attentionBandCurves(report),
            let grid = AnalysisPlots.attentionBandCurves(report, tokenOrder: false)
        {
            try band.write(path: out + "/attention-band.png")
            try grid.write(path: out + "/attention-neighbourhood.png")
            written += ["attention-band.png", "attention-neighbourhood.png"]
        }
        print(
            "\(path): \(model.slots.count) slots at timesteps \(report.timesteps.map(String.init).joined(separator: ", "))"
        )
        print(table, terminator: "")
        print("wrote \(written.map { out + "/" + $0 }.joined(separator: ", "))")
    }
}
