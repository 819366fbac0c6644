import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `zoo sample`: class-conditional samples from a DiT checkpoint as a PNG grid.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate class-conditional images from a checkpoint and write them as a PNG grid.",
        discussion: """
            Each class gets --per-class images (one grid row per class). DDIM is deterministic: the same \
            --seed gives the same images. Guidance (--cfg other than 1) uses the model's null class, on all \
            channels unless --guided-channels says otherwise (DiT's sample.py guides 3).
            """)

    @Option(help: "Checkpoint (safetensors or PyTorch .pt); without configuration metadata give --config.")
    var checkpoint: String

    @Option(help: "Model configuration JSON, for checkpoints without one in their metadata.")
    var config: String?

    @Option(help: "A grafting plan naming the grafted slots, for a checkpoint saved without zoo's slot record.")
    var plan: String?

    @Option(help: "Comma-separated class ids, or 'all'.")
    var classes = "all"

    @Option(help: "Images per class.")
    var perClass = 8

    @Option(help: "Sampling steps (the 1000 training steps respaced evenly).")
    var steps = 50

    @Option(help: "Classifier-free guidance scale (1 = off).")
    var cfg = 1.0

    @Option(help: "Guide only the first K output channels (DiT's sample.py: 3).")
    var guidedChannels: Int?

    @Option(help: "Sampler: ddim (deterministic) or ddpm (learned variance).")
    var sampler = "ddim"

    @Option(help: "Seed of the initial noise.")
    var seed: UInt64 = 0

    @Option(
        help:
            "Clip each step's predicted x0 to [-1, 1]: on or off (default: on for 3-channel pixel models, off for latents)."
    )
    var clipDenoised: String?

    @Option(help: "Output PNG grid.")
    var out: String

    @Option(
        help:
            "Start from this noise x_T.npy [N, C, H, W] (N = classes x per-class) instead of drawing it from --seed, e.g. to compare DDIM with another implementation."
    )
    var noise: String?

    @Option(help: "Also write the raw samples [N, C, H, W] as .npy.")
    var npy: String?

    @OptionGroup var plugins: PluginOptions

    func validate() throws {
        guard perClass >= 1, perClass <= 1024 else { throw ValidationError("--per-class must be in 1...1024") }
        guard DiTSampler.Kind(rawValue: sampler) != nil else {
            throw ValidationError("--sampler must be ddim or ddpm (found '\(sampler)')")
        }
    }

    func run() throws {
        let model = try openCheckpoint(
            checkpoint, config: config, plan: plan, host: try plugins.makeHost(requireConformance: true))
        let ids: [Int]
        if classes == "all" {
            ids = Array(0..<model.config.numClasses)
        } else {
            ids = try classes.split(separator: ",").map { text in
                guard let id = Int(text.trimmingCharacters(in: .whitespaces)), id >= 0, id < model.config.numClasses
                else {
                    throw ValidationError("--classes: '\(text)' is not a class id in 0..<\(model.config.numClasses)")
                }
                return id
            }
        }
        let labels = ids.flatMap { [Int](repeating: $0, count: perClass) }
        let clip: Bool?
        switch clipDenoised {
        case nil: clip = nil
        case "on": clip = true
        case "off": clip = false
        default: throw ValidationError("--clip-denoised must be on or off (found '\(clipDenoised!)')")
        }
        var s = DiTSampler(
            kind: DiTSampler.Kind(rawValue: sampler)!, steps: steps, cfgScale: cfg, guidedChannels: guidedChannels,
            seed: seed, clipDenoised: clip)
        if let noise {
            let x = try NPY.readTensor(path: noise, as: Float.self)
            let expected = [labels.count, model.config.inChannels, model.config.inputSize, model.config.inputSize]
            guard x.shape == expected else {
                throw CLIError(
                    "--noise '\(noise)' has shape \(x.shape); expected \(expected) (classes x per-class images)")
            }
            s.initialNoise = x
        }
        let bar = ProgressBar("sample", total: steps)
        let images = try s.sample(model, labels: labels) { done, _ in bar.update(done) }
        guard model.config.inChannels == 3 else {
            if let npy { try NPY.write(images, path: npy) }
            throw CLIError(
                "the model makes \(model.config.inChannels)-channel latents, not RGB images; \(npy.map { "wrote \($0); " } ?? "")use --npy and decode them with the matching VAE"
            )
        }
        try ImageGrid.write(images, columns: perClass, path: out)
        if let npy { try NPY.write(images, path: npy) }
        print(
            "wrote \(out): \(ids.count) classes x \(perClass) images, \(sampler) \(steps) steps, cfg \(cfg), seed \(seed)"
        )
    }
}
