import ArgumentParser
import Foundation
import HostCore
import HostModel

/// `zoo vae`: the Stable Diffusion VAE decoder that turns a latent DiT's samples into pictures.
struct VAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae", abstract: "Decode latents with a Stable Diffusion VAE (diffusers AutoencoderKL).",
        subcommands: [Decode.self])

    /// `zoo vae decode`: latents (.npy) to a PNG grid.
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode latents [N, C, h, w] (.npy) into images and write them as a PNG grid.",
            discussion: """
                --vae is a diffusers AutoencoderKL state dict (safetensors or a PyTorch .pt), e.g. \
                stabilityai/sd-vae-ft-ema's diffusion_pytorch_model.safetensors; its configuration is read from the \
                tensor shapes and the encoder's tensors are ignored. The latents are raw DiT latents: they are \
                divided by --scaling-factor first, as DiT's sample.py does (vae.decode(samples / 0.18215).sample). \
                Images come out 8x larger for SD's VAE; the grid clamps them to [-1, 1], --npy keeps them as decoded.
                """)

        @OptionGroup var options: VAEOptions

        @Option(help: "Latents .npy [N, latent_channels, h, w] (float32; float64 is rounded).")
        var latents: String

        @Option(help: "Output PNG grid.")
        var out: String

        @Option(help: "Also write the decoded images [N, 3, H, W] (float32, not clamped) as .npy.")
        var npy: String?

        @Option(help: "Images per grid row.")
        var columns = 8

        func validate() throws {
            guard columns >= 1 else { throw ValidationError("--columns must be at least 1 (found \(columns))") }
        }

        func run() throws {
            let decoder = try options.open()
            let array = try NPY.read(path: latents)
            if case .int64 = array { throw CLIError("--latents '\(latents)' holds int64 values; expected float32") }
            let z = array.tensor(as: Float.self)
            try VAEOptions.check(latentShape: z.shape, of: decoder, source: "--latents '\(latents)'")
            let start = Date()
            let images = try VAEOptions.decode(z, with: decoder)
            let seconds = Date().timeIntervalSince(start)
            try ImageGrid.write(images, columns: columns, path: out)
            if let npy { try NPY.write(images, path: npy) }
            print(
                "wrote \(out): \(z.shape[0]) images \(images.shape[2])x\(images.shape[3]) from latents \(z.shape.map(String.init).joined(separator: "x")) in \(String(format: "%.2f", seconds)) s"
                    + (npy.map { ", and \($0)" } ?? ""))
        }
    }
}

/// The VAE options of `zoo vae decode` (`zoo sample` has the same ones as `--vae`, `--vae-norm-groups`,
/// `--vae-scaling-factor`).
struct VAEOptions: ParsableArguments {
    @Option(help: "The VAE weights: a diffusers AutoencoderKL state dict (safetensors or .pt).")
    var vae: String

    @Option(help: "GroupNorm groups of the VAE (norm_num_groups; not visible in the weights).")
    var normGroups = VAEDecoderConfig.defaultNormNumGroups

    @Option(help: "The latents are divided by this before decoding (DiT: 0.18215).")
    var scalingFactor = VAEDecoderConfig.defaultScalingFactor

    func open() throws -> VAEDecoder {
        try Self.open(
            vae, normGroups: normGroups, scalingFactor: scalingFactor, options: ("--norm-groups", "--scaling-factor"))
    }

    /// The decoder at `path`, after checking the two settings (`options` names them in errors).
    static func open(
        _ path: String, normGroups: Int, scalingFactor: Float, options: (groups: String, scaling: String)
    ) throws -> VAEDecoder {
        guard normGroups >= 1 else { throw CLIError("\(options.groups) must be at least 1 (found \(normGroups))") }
        guard scalingFactor.isFinite, scalingFactor > 0 else {
            throw CLIError("\(options.scaling) must be a positive number (found \(scalingFactor))")
        }
        return try VAEDecoder.open(path: path, normNumGroups: normGroups, scalingFactor: scalingFactor)
    }

    /// Refuses latents the decoder cannot take, naming `source` (the option or model they come from).
    static func check(latentShape shape: [Int], of decoder: VAEDecoder, source: String) throws {
        let channels = decoder.config.latentChannels
        guard shape.count == 4 else {
            throw CLIError(
                "\(source) has shape \(shape) (rank \(shape.count)); expected latents [N, \(channels), h, w] (rank 4)")
        }
        guard shape[1] == channels else {
            throw CLIError(
                "\(source) has \(shape[1]) channels (shape \(shape)); the VAE '\(decoder.path)' decodes \(channels)-channel latents"
            )
        }
    }

    /// `decoder.decode(latents)` with a progress bar.
    static func decode(_ latents: Tensor<Float>, with decoder: VAEDecoder) throws -> Tensor<Float> {
        var bar: ProgressBar?
        return try decoder.decode(latents) { done, total in
            if bar == nil { bar = ProgressBar("vae decode", total: total) }
            bar?.update(done)
        }
    }
}
