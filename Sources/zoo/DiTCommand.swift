import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

struct DiTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dit", abstract: "Run and inspect DiT models.",
        subcommands: [Forward.self, Info.self, Init.self, Probe.self])

    /// `zoo dit forward`: a firm contract that outside tools use to check this model against the original code.
    struct Forward: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The raw DiT output for given images, timesteps and labels (.npy in, .npy out).",
            discussion: """
                X is [N, C, H, W] float32 (float64 is rounded), T and Y are int64 [N] (Y = num_classes is the \
                null class), OUT is [N, C_out, H, W] float32, exactly DiT.forward of facebookresearch/DiT. \
                The checkpoint may use the original DiT names or the diffusers DiTTransformer2DModel names.
                """)

        @Option(help: "Model configuration JSON (DiT constructor names); default: the checkpoint's metadata.")
        var config: String?

        @Option(help: "Weights: safetensors or a PyTorch .pt (FILE.pt#KEY selects a state dict).")
        var checkpoint: String

        @Option(
            help:
                "A grafting plan naming the grafted slots' operators, attributes and layers, for a checkpoint saved without zoo's slot record (the grafting repository's model.pt)."
        )
        var plan: String?

        @Option(help: "Images X.npy [N, C, H, W].")
        var input: String

        @Option(help: "Timesteps T.npy, int64 [N].")
        var timesteps: String

        @Option(help: "Class labels Y.npy, int64 [N].")
        var labels: String

        @Option(help: "Output OUT.npy [N, C_out, H, W] (float32).")
        var output: String

        @OptionGroup var plugins: PluginOptions

        func run() throws {
            let model = try openCheckpoint(
                checkpoint, config: config, plan: plan, host: try plugins.makeHost(requireConformance: true))
            let xArray = try NPY.read(path: input)
            if case .int64 = xArray { throw CLIError("--input '\(input)' is int64; expected float32") }
            let t = try readVector(timesteps, option: "--timesteps")
            let y = try readVector(labels, option: "--labels")
            guard let yInts = Optional(y.map { Int(exactly: $0) }), yInts.allSatisfy({ $0 != nil }) else {
                throw CLIError("--labels '\(labels)' must hold integers")
            }
            let out = try model.forward(xArray.tensor(as: Float.self), timesteps: t, labels: yInts.map { $0! })
            try NPY.write(out, path: output)
            print(
                "dit forward: [\(xArray.shape.map(String.init).joined(separator: ", "))] -> \(output) [\(out.shape.map(String.init).joined(separator: ", "))]"
            )
        }

        private func readVector(_ path: String, option: String) throws -> [Double] {
            let array = try NPY.read(path: path)
            guard array.shape.count == 1 else {
                throw CLIError("\(option) '\(path)' has shape \(array.shape); expected [N]")
            }
            if let ints = array.int64 { return ints.scalars.map(Double.init) }
            return array.tensor(as: Double.self).scalars
        }
    }

    /// `zoo dit info`: the configuration, slot operators and parameter count of a checkpoint or preset.
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a DiT's configuration, slots and parameter count.")

        @Option(help: "A checkpoint (safetensors or PyTorch .pt) to describe.")
        var checkpoint: String?

        @Option(help: "Model configuration JSON, or a preset name such as DiT-XL/2.")
        var config: String?

        @OptionGroup var plugins: PluginOptions

        func validate() throws {
            if checkpoint == nil && config == nil { throw ValidationError("give --checkpoint and/or --config") }
        }

        func run() throws {
            let host = try plugins.makeHost()
            let model: DiTModel
            if let checkpoint {
                model = try DiTModel.open(checkpoint: checkpoint, configPath: config, host: host)
            } else {
                let name = config!
                let c = try DiTConfig.preset(name) ?? DiTConfig.load(path: name)
                model = try DiTModel(config: c) { key in try DiTSlotChoice.standard(key, config: c, host: host) }
            }
            let c = model.config
            print("config: \(c.jsonString())")
            print(
                "tokens: \(c.tokenCount) (\(c.gridSize)x\(c.gridSize) patches of \(c.patchSize)), out_channels \(c.outChannels)"
            )
            print("parameters: \(model.parameters.scalarCount) in \(model.parameters.count) tensors")
            var counts: [String: Int] = [:]
            for slot in model.slots { counts["\(slot.key.kind.rawValue): \(slot.op.descriptor.id)", default: 0] += 1 }
            for (k, v) in counts.sorted(by: { $0.key < $1.key }) { print("slots \(k) x\(v)") }
        }
    }

    /// `zoo dit init`: a freshly initialised checkpoint (DiT's initialize_weights) for a configuration or preset.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a DiT checkpoint initialised as DiT's initialize_weights does (adaLN-Zero).")

        @Option(help: "Model configuration JSON, or a preset name such as DiT-XL/2.")
        var config: String

        @Option(help: "Seed of the initialization.")
        var seed: UInt64 = 0

        @Option(help: "Storage dtype: f32, f16 or bf16.")
        var dtype = "f32"

        @Option(help: "Output checkpoint (safetensors).")
        var out: String

        @OptionGroup var plugins: PluginOptions

        func run() throws {
            guard let storage = ["f32": SafetensorsDType.float32, "f16": .float16, "bf16": .bfloat16][dtype] else {
                throw ValidationError("--dtype must be f32, f16 or bf16 (found '\(dtype)')")
            }
            let c = try DiTConfig.preset(config) ?? DiTConfig.load(path: config)
            let host = try plugins.makeHost()
            let model = try DiTModel(config: c) { key in try DiTSlotChoice.standard(key, config: c, host: host) }
            try model.initialize(seed: seed)
            try model.save(path: out, dtype: storage)
            print("wrote \(out): \(model.parameters.scalarCount) parameters, \(dtype)")
        }
    }
}
