import ArgumentParser
import Foundation
import HostCore
import HostPlugins
import HostModel
import HostGraft
import HostConformance
import HostBench

/// `zoo pretrain`: trains a DiT from scratch with DiT's diffusion objective, resumably.
struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Train a DiT from scratch on the synthetic shapes (or an ImageFolder of PNGs), or fine-tune one (--init).",
        discussion: """
            With --init CK.safetensors the run starts from that DiT checkpoint's weights (its EMA starts there too) \
            with fresh AdamW moments, instead of a random initialization; the checkpoint's sha256 is one of the \
            run's settings, so --resume needs the same file. The run folder receives train-state.safetensors (weights, EMA, AdamW moments: resume with --resume \
            after a kill, bit for bit), ema.safetensors (the EMA weights as a DiT checkpoint, float32), \
            model.safetensors (the EMA weights in --dtype, at the end), loss.csv, loss.png, samples.png and \
            run.json. Every file is written to a temporary file and renamed.
            """)

    @Option(help: "Run folder.")
    var out = "runs/pretrain"

    @Option(help: "Model configuration JSON (default: the embedded default's architecture).")
    var config: String?

    @OptionGroup var images: DataOptions

    @Option(help: "Training steps.") var steps = TrainingSettings().steps
    @Option(help: "Images per step.") var batchSize = TrainingSettings().batchSize
    @Option(help: "Peak learning rate (AdamW).") var lr = TrainingSettings().learningRate
    @Option(help: "Linear warm-up steps.") var warmup = TrainingSettings().warmupSteps
    @Option(help: "AdamW weight decay.") var weightDecay = TrainingSettings().weightDecay
    @Option(help: "Gradient-norm clip (0 = off).") var clip = TrainingSettings().maxGradNorm
    @Option(help: "EMA decay.") var ema = TrainingSettings().emaDecay
    @Option(help: "Seed of initialization, batches, timesteps and noise.") var seed: UInt64 = 0
    @Option(help: "Steps between checkpoints (a multiple of --log-every).") var checkpointEvery = TrainingSettings().checkpointEvery
    @Option(help: "Steps per logged loss point.") var logEvery = TrainingSettings().logEvery
    @Option(help: "Held-out images for the held-out loss (0 = none).") var heldOut = TrainingSettings().heldOutSamples
    @Option(help: "Storage dtype of model.safetensors: f32, f16 or bf16.") var dtype = "f16"
    @Flag(help: "Continue the run in --out from its last checkpoint.") var resume = false
    @Option(
        name: .customLong("init"),
        help: "Start from the weights of this DiT checkpoint instead of a random initialization (its configuration is the model's unless --config is given).")
    var initial: String?

    @OptionGroup var plugins: PluginOptions

    func run() throws {
        var settings = TrainingSettings()
        settings.steps = steps
        settings.batchSize = batchSize
        settings.learningRate = lr
        settings.warmupSteps = warmup
        settings.weightDecay = weightDecay
        settings.maxGradNorm = clip
        settings.emaDecay = ema
        settings.seed = seed
        settings.checkpointEvery = checkpointEvery
        settings.logEvery = logEvery
        settings.heldOutSamples = heldOut
        try settings.validate(source: "zoo pretrain options")
        guard let storage = ["f32": SafetensorsDType.float32, "f16": .float16, "bf16": .bfloat16][dtype] else {
            throw ValidationError("--dtype must be f32, f16 or bf16 (found '\(dtype)')")
        }
        let start = try initial.map { try InitialWeights(path: $0) }
        settings.initialWeightsSHA256 = start?.sha256
        let modelConfig = try start?.config(given: config) ?? config.map { try DiTConfig.load(path: $0) } ?? .embeddedDefault
        let host = try plugins.makeHost(requireConformance: true)
        let model = try DiTModel(config: modelConfig) { key in try DiTSlotChoice.standard(key, config: modelConfig, host: host) }
        try model.initialize(seed: seed)
        if let start { try model.load(start.file) }

        let (train, heldOutData) = try images.datasets(for: modelConfig)
        let trainer = try DiffusionTrainer(model: model, data: train, heldOut: heldOutData, settings: settings)
        let run = RunFolder(path: out)
        try OutputDirectory.create(out)
        if FileManager.default.fileExists(atPath: run.state) {
            guard resume else {
                throw CLIError("\(out) already holds a run (\(run.state)); pass --resume to continue it, or choose another --out")
            }
            if let note = try trainer.resume(from: run.state) { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
            // The EMA export and loss files are written after the training state at each checkpoint; a kill between
            // the writes leaves them one checkpoint behind. They derive from the state, so rewrite them now: a run
            // resumed at its last step would otherwise keep the stale export.
            try writeEMA(trainer, path: run.ema, dtype: .float32)
            try run.writeLossFiles(trainer.history)
            print("resumed \(run.state) at step \(trainer.step) of \(settings.steps)")
        } else if resume {
            throw CLIError("--resume: \(run.state) does not exist")
        }
        print("model: \(modelConfig.jsonString()) (\(model.parameters.scalarCount) parameters)")
        print("data: \(images.summary) (\(train.count) images, \(train.numClasses) classes)")
        if let start { print("weights: from \(start.file.path) (sha256 \(start.sha256))") }

        let started = Date()
        let bar = ProgressBar("pretrain", total: settings.steps)
        var lastLoss = Double.nan
        while !trainer.isFinished {
            lastLoss = try trainer.trainStep()
            let s = trainer.step
            bar.update(s, status: String(format: "loss %.4f", trainer.history.last?.loss ?? lastLoss))
            if s % settings.checkpointEvery == 0 || trainer.isFinished {
                if let h = try trainer.heldOutLoss() { trainer.recordHeldOut(h) }
                try trainer.saveCheckpoint(path: run.state)
                try writeEMA(trainer, path: run.ema, dtype: .float32)
                try run.writeLossFiles(trainer.history)
            }
        }
        let seconds = Date().timeIntervalSince(started)
        try writeEMA(trainer, path: run.model, dtype: storage)
        model.parameters = trainer.ema
        let classes = Array(0..<min(train.numClasses, modelConfig.numClasses))
        let labels = classes.flatMap { [Int](repeating: $0, count: 8) }
        let sampler = DiTSampler(kind: .ddim, steps: 50, cfgScale: 1, seed: 0)
        let sampleBar = ProgressBar("samples", total: sampler.steps)
        let images = try sampler.sample(model, labels: labels) { done, _ in sampleBar.update(done) }
        try ImageGrid.write(images, columns: 8, path: run.samples)
        let summary: [String: Any] = [
            "steps": trainer.step, "seconds_this_session": seconds, "final_train_loss": trainer.history.last?.loss ?? lastLoss,
            "final_held_out_loss": trainer.history.last(where: { $0.heldOut != nil })?.heldOut ?? NSNull(),
            "parameters": model.parameters.scalarCount, "config": modelConfig.jsonString(), "settings": settings.jsonString(),
        ]
        try run.writeJSON(summary, name: "run.json")
        print("done: \(trainer.step) steps; held-out loss \(summary["final_held_out_loss"]!); \(run.model), \(run.samples), \(run.lossPNG)")
    }

    private func writeEMA(_ trainer: DiffusionTrainer, path: String, dtype: SafetensorsDType) throws {
        let model = trainer.model
        let live = model.parameters
        model.parameters = trainer.ema
        defer { model.parameters = live }
        try model.save(path: path, metadata: ["zoo.train.step": "\(trainer.step)", "zoo.weights": "ema"], dtype: dtype)
    }
}

/// The checkpoint a fine-tuning run (`--init`) starts from.
struct InitialWeights {
    let file: SafetensorsFile
    let sha256: String

    init(path: String) throws {
        do { file = try SafetensorsFile.read(path: path) } catch { throw CLIError("--init: \(error)") }
        sha256 = try FileHash.sha256(path: path)
    }

    /// The model's configuration: `--config` when given (it must agree with the checkpoint's own, when the
    /// checkpoint records one), else the checkpoint's.
    func config(given configPath: String?) throws -> DiTConfig? {
        let key = DiTModel.configMetadataKey
        let own = try file.metadata[key].map { try DiTConfig.parse(Data($0.utf8), path: "\(file.path) (metadata '\(key)')") }
        guard let configPath else { return own }
        let given = try DiTConfig.load(path: configPath)
        if let own, own != given {
            throw CLIError("--init \(file.path) holds the model \(own.jsonString()), but --config \(configPath) gives \(given.jsonString())")
        }
        return given
    }
}

/// The files of a training run folder.
struct RunFolder {
    let path: String
    var state: String { path + "/train-state.safetensors" }
    var ema: String { path + "/ema.safetensors" }
    var model: String { path + "/model.safetensors" }
    var lossCSV: String { path + "/loss.csv" }
    var lossPNG: String { path + "/loss.png" }
    var samples: String { path + "/samples.png" }

    /// loss.csv and loss.png (training loss in blue, held-out loss in orange, log scale).
    func writeLossFiles(_ history: [LossRecord]) throws {
        var csv = "step,loss,grad_norm,held_out_loss\n"
        for r in history { csv += "\(r.step),\(r.loss),\(r.gradNorm),\(r.heldOut.map { "\($0)" } ?? "")\n" }
        try writeText(csv, name: "loss.csv")
        var plot = LinePlot(width: 640, height: 360, logY: true)
        plot.add(x: history.map { Double($0.step) }, y: history.map(\.loss), color: (31, 119, 180))
        let held = history.filter { $0.heldOut != nil }
        plot.add(x: held.map { Double($0.step) }, y: held.map { $0.heldOut! }, color: (255, 127, 14))
        try plot.write(path: lossPNG)
    }

    func writeJSON(_ object: [String: Any], name: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try writeText(String(decoding: data, as: UTF8.self) + "\n", name: name)
    }

    /// Writes a text file atomically (temporary file, then rename).
    func writeText(_ text: String, name: String) throws {
        try AtomicFile.write(Data(text.utf8), to: path + "/" + name)
    }
}
