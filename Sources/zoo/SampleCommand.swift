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
            channels unless --guided-channels says otherwise (DiT's sample.py guides 3). A latent model (such as \
            DiT-XL/2, 4 input channels) needs --vae, the Stable Diffusion VAE that decodes its samples into the grid \
            (DiT's sample.py: vae.decode(samples / 0.18215).sample); `zoo vae decode` does the same for saved latents.
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

    @Option(help: "Also write the raw samples [N, C, H, W] as .npy (for a latent model with --vae: the latents).")
    var npy: String?

    @Option(
        help:
            "For a latent model: decode the samples with this Stable Diffusion VAE (diffusers AutoencoderKL weights, safetensors or .pt) before writing the grid."
    )
    var vae: String?

    @Option(help: "GroupNorm groups of the --vae (norm_num_groups; not visible in the weights).")
    var vaeNormGroups = VAEDecoderConfig.defaultNormNumGroups

    @Option(help: "The samples are divided by this before --vae decodes them (DiT: 0.18215).")
    var vaeScalingFactor = VAEDecoderConfig.defaultScalingFactor

    @Flag(
        help:
            "Measure the samples with the shapes classifier: class accuracy, Fréchet distance in its feature space, Inception-Score analogue, precision and recall against held-out images of the same classes (95% intervals)."
    )
    var evaluate = false

    @Option(help: "With --evaluate: the classifier (default: the shipped models/shapes-classifier/model.safetensors).")
    var classifier: String?

    @Option(help: "With --evaluate: seed of the synthetic shapes the held-out reference images come from.")
    var referenceSeed: UInt64 = 0

    @Option(help: "With --evaluate: version of the drawing code of the reference images.")
    var referenceGenerator = SyntheticShapes.defaultGenerator

    @Option(help: "With --evaluate: also write the figures as JSON to this file.")
    var qualityJson: String?

    @OptionGroup var plugins: PluginOptions

    func validate() throws {
        guard perClass >= 1, perClass <= 1024 else { throw ValidationError("--per-class must be in 1...1024") }
        if !evaluate, classifier != nil || qualityJson != nil {
            throw ValidationError("--classifier and --quality-json apply only with --evaluate")
        }
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
            ids = try classIDs(classes, numClasses: model.config.numClasses)
        }
        let labels = ids.flatMap { [Int](repeating: $0, count: perClass) }
        // The classifier and the reference images are read and matched first, so a mistake costs no sampling time.
        let reference = try evaluate ? qualityReference(model: model, labels: labels) : nil
        // The VAE is read and matched to the model before sampling, so a mistake costs no sampling time.
        let decoder = try vae.map { path in
            let decoder = try VAEOptions.open(
                path, normGroups: vaeNormGroups, scalingFactor: vaeScalingFactor,
                options: ("--vae-norm-groups", "--vae-scaling-factor"))
            guard decoder.config.latentChannels == model.config.inChannels else {
                throw CLIError(
                    "--vae '\(path)' decodes \(decoder.config.latentChannels)-channel latents, but the model's in_channels is \(model.config.inChannels); give the VAE the model was trained with"
                )
            }
            return decoder
        }
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
        let samples = try s.sample(model, labels: labels) { done, _ in bar.update(done) }
        if let npy { try NPY.write(samples, path: npy) }
        let images: Tensor<Float>
        if let decoder {
            images = try VAEOptions.decode(samples, with: decoder)
        } else {
            guard model.config.inChannels == 3 else {
                throw CLIError(
                    "the model makes \(model.config.inChannels)-channel latents, not RGB images; \(npy.map { "wrote \($0); " } ?? "")give --vae to decode them (or decode the --npy latents with `zoo vae decode`)"
                )
            }
            images = samples
        }
        try ImageGrid.write(images, columns: perClass, path: out)
        print(
            "wrote \(out): \(ids.count) classes x \(perClass) images, \(sampler) \(steps) steps, cfg \(cfg), seed \(seed)"
                + (vae.map { ", decoded by \($0)" } ?? "")
        )
        if let reference {
            let quality = try SampleQuality.measure(
                samples: SampleQuality.clampedToImageRange(images), labels: labels, against: reference, seed: seed)
            print(
                "sample quality (\(labels.count) samples against \(quality.referenceImages) held-out images; 95% intervals):"
            )
            for (name, value) in quality.rows {
                print("  \(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(value)")
            }
            if let qualityJson {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(try encoder.encode(quality), to: qualityJson)
                print("wrote \(qualityJson)")
            }
        }
    }

    /// The classifier and the held-out reference images for `--evaluate`, checked against the model.
    private func qualityReference(model: DiTModel, labels: [Int]) throws -> SampleQuality.Reference {
        let path = try classifier ?? ShippedClassifier.path()
        let net = try ShapeClassifier.read(path: path)
        let side = vae == nil ? model.config.inputSize : model.config.inputSize * 8
        guard net.config.numClasses == model.config.numClasses, net.config.resolution == side else {
            throw CLIError(
                "--evaluate: the classifier '\(path)' knows \(net.config.numClasses) classes at \(net.config.resolution) px, but the model makes \(model.config.numClasses) classes at \(side) px; give --classifier one trained on the model's data (`zoo classifier train`)"
            )
        }
        let data = try SyntheticShapes(
            seed: referenceSeed, split: .heldOut, resolution: side, generator: referenceGenerator)
        try ClassifierTrainer.check(config: net.config, data: data)
        let (images, _) = try SampleQuality.matchingImages(in: data, labels: labels)
        return try SampleQuality.reference(classifier: net, images: images)
    }
}
