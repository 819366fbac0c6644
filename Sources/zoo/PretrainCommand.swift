import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `zoo pretrain`: trains a DiT from scratch with DiT's diffusion objective, resumably.
struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract:
            "Train a DiT from scratch on the synthetic shapes (or an ImageFolder of PNGs), or fine-tune one (--init).",
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
    @Option(help: "Steps between checkpoints (a multiple of --log-every).") var checkpointEvery = TrainingSettings()
        .checkpointEvery
    @Option(help: "Steps per logged loss point.") var logEvery = TrainingSettings().logEvery
    @Option(help: "Held-out images for the held-out loss (0 = none).") var heldOut = TrainingSettings().heldOutSamples
    @Option(help: "Storage dtype of model.safetensors: f32, f16 or bf16.") var dtype = "f16"
    @Flag(help: "Continue the run in --out from its last checkpoint.") var resume = false
    @Option(
        name: .customLong("init"),
        help:
            "Start from the weights of this DiT checkpoint instead of a random initialization (its configuration is the model's unless --config is given)."
    )
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
        let start = try initial.map { path in
            do { return try InitialWeights(path: path) } catch { throw CLIError("--init: \(error)") }
        }
        settings.initialWeightsSHA256 = start?.sha256
        let fromStart: DiTConfig?
        do { fromStart = try start?.config(given: config) } catch let error as TrainingError {
            throw CLIError("--init and --config \(config ?? ""): \(error)")
        }
        let modelConfig = try fromStart ?? config.map { try DiTConfig.load(path: $0) } ?? .embeddedDefault
        let host = try plugins.makeHost(requireConformance: true)
        let model = try DiTModel(config: modelConfig) { key in
            try DiTSlotChoice.standard(key, config: modelConfig, host: host)
        }
        try model.initialize(seed: seed)
        if let start { try model.load(start.file) }

        let (train, heldOutData) = try images.datasets(for: modelConfig)
        let group = try ProcessGroup.current()
        let trainer = try DiffusionTrainer(
            model: model, data: train, heldOut: heldOutData, settings: settings, group: group)
        let folder = RunFolder(path: out)
        if group.isRoot { try OutputDirectory.create(out) }
        let run = TrainingRun(trainer: trainer, folder: folder, exports: [.ema, .lossFiles])
        run.log = { line in
            guard group.isRoot else { return }
            if line.hasPrefix("note:") { FileHandle.standardError.write(Data((line + "\n").utf8)) } else { print(line) }
        }
        try run.start(resume ? .required : .forbidden)
        let started = Date()
        // Every rank takes the same steps; rank 0 alone reports and writes (the others stop after the last step).
        guard group.isRoot else {
            try run.run()
            return
        }
        print("model: \(modelConfig.jsonString()) (\(model.parameters.scalarCount) parameters)")
        print("data: \(images.summary) (\(train.count) images, \(train.numClasses) classes)")
        if group.isDistributed {
            print(
                "data parallel: \(group.size) ranks x \(ThreadPool.shared.threadCount) threads, \(settings.batchSize / group.size) images per rank per step"
            )
        }
        if let start { print("weights: from \(start.file.path) (sha256 \(start.sha256))") }

        let bar = ProgressBar("pretrain", total: settings.steps)
        run.onStep = { step, _, loss in bar.update(step, status: String(format: "loss %.4f", loss)) }
        let lastLoss = try run.run()
        let seconds = Date().timeIntervalSince(started)
        try run.writeEMA(path: folder.model, dtype: storage)
        model.parameters = trainer.ema
        let classes = Array(0..<min(train.numClasses, modelConfig.numClasses))
        let labels = classes.flatMap { [Int](repeating: $0, count: 8) }
        let sampler = DiTSampler(kind: .ddim, steps: 50, cfgScale: 1, seed: 0)
        let sampleBar = ProgressBar("samples", total: sampler.steps)
        let images = try sampler.sample(model, labels: labels) { done, _ in sampleBar.update(done) }
        try ImageGrid.write(images, columns: 8, path: folder.samples)
        let summary: [String: Any] = [
            "steps": trainer.step, "seconds_this_session": seconds,
            "final_train_loss": trainer.history.last?.loss ?? lastLoss,
            "final_held_out_loss": trainer.history.last(where: { $0.heldOut != nil })?.heldOut ?? NSNull(),
            "parameters": model.parameters.scalarCount, "config": modelConfig.jsonString(),
            "settings": settings.jsonString(), "ranks": group.size, "threads_per_rank": ThreadPool.shared.threadCount,
            "all_reduce_seconds": trainer.communicationSeconds,
            "all_reduce_bytes_per_step": group.isDistributed ? model.parameters.scalarCount * 4 + 8 : 0,
        ]
        try folder.writeJSON(summary, name: "run.json")
        print(
            "done: \(trainer.step) steps; held-out loss \(summary["final_held_out_loss"]!); \(folder.model), \(folder.samples), \(folder.lossPNG)"
        )
    }
}
