import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

extension DiTCommand {
    /// `zoo dit probe`: per class, how much of the layout a checkpoint has learnt (``LayoutProbe``).
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per class, the model's noise-prediction error over that of a mean-colour predictor.",
            discussion: """
                The first --per-class images of each class are noised to --timestep with fixed noise, and the \
                model's epsilon error (given the true label) is divided by the error of the best predictor that \
                knows each image's mean colour but not its layout. About 1: only the palette is learnt; below 1: \
                some of the layout; 0: a perfect denoiser. The images are the synthetic shapes' held-out split \
                (or --data), so they were never trained on. Deterministic: the same arguments give the same figures.
                """)

        @Option(help: "Weights: safetensors or a PyTorch .pt (FILE.pt#KEY selects a state dict).")
        var checkpoint: String

        @Option(help: "Model configuration JSON; default: the checkpoint's metadata.")
        var config: String?

        @OptionGroup var images: DataOptions

        @Option(help: "Images per class.")
        var perClass = 16

        @Option(help: "Diffusion timestep the images are noised to (0..<1000).")
        var timestep = 500

        @Option(help: "Seed of the noise.")
        var noiseSeed: UInt64 = 0

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        @OptionGroup var plugins: PluginOptions

        func validate() throws {
            guard perClass >= 1 else { throw ValidationError("--per-class must be at least 1, got \(perClass)") }
            guard (0..<1000).contains(timestep) else {
                throw ValidationError("--timestep must be in 0..<1000, got \(timestep)")
            }
        }

        func run() throws {
            let model = try DiTModel.open(
                checkpoint: checkpoint, configPath: config, host: try plugins.makeHost(requireConformance: true))
            let c = model.config
            // The synthetic shapes' held-out split, never trained on; a folder is used whole.
            let (train, heldOut) = try images.datasets(for: c)
            let dataset = heldOut ?? train
            if let why = dataset.mismatch(with: c) {
                throw CLIError("\(images.summary) cannot be probed with \(checkpoint): \(why)")
            }
            let probe = try LayoutProbe(timestep: timestep, samplesPerClass: perClass, noiseSeed: noiseSeed)
            let scores = try probe.scores(
                model: model, data: dataset, diffusion: try GaussianDiffusion(learnSigma: c.learnSigma))
            let meanRatio = scores.map(\.ratio).reduce(0, +) / Double(scores.count)
            if json {
                struct Report: Encodable {
                    let checkpoint: String, data: String, timestep: Int, noise_seed: UInt64,
                        classes: [LayoutProbe.ClassScore], mean_ratio: Double
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                // A class of flat images has no mean-colour error: its ratio is infinite unless the model is exact.
                encoder.nonConformingFloatEncodingStrategy = .convertToString(
                    positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                let report = Report(
                    checkpoint: checkpoint, data: dataset.identity, timestep: timestep, noise_seed: noiseSeed,
                    classes: scores, mean_ratio: meanRatio)
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            print("layout probe of \(checkpoint) at t = \(timestep), noise seed \(noiseSeed), on \(dataset.identity)")
            let width = max(5, scores.map(\.name.count).max() ?? 0)
            print(
                "class".padding(toLength: width, withPad: " ", startingAt: 0)
                    + "  images  model error  mean-colour error  ratio")
            for s in scores {
                print(
                    s.name.padding(toLength: width, withPad: " ", startingAt: 0)
                        + String(
                            format: "  %6d  %11.5f  %17.5f  %5.2f", s.samples, s.modelError, s.meanColourError, s.ratio)
                )
            }
            print(String(format: "mean ratio %.3f", meanRatio))
        }
    }
}
