import ArgumentParser
import Foundation
import HostCore
import HostModel

/// `zoo convert`: a PyTorch checkpoint (or safetensors file) written out as safetensors.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write the state dict of a PyTorch .pt checkpoint (or a safetensors file) as safetensors.",
        discussion: """
            The .pt file is read weights-only: its pickle may build dicts, lists, tuples, strings, numbers and \
            tensors; any other global is refused by name and nothing in the file runs. Every tensor keeps its \
            storage type (float32, float16, bfloat16, float64, int64), bit for bit. With --config, the DiT \
            configuration is stored in the output's metadata, so `zoo dit forward`, `zoo sample` and `zoo graft` \
            need no --config for it.
            """)

    @Argument(help: "Input: a torch.save checkpoint (.pt, .pth, .bin) or a safetensors file.")
    var input: String

    @Argument(help: "Output safetensors file (written atomically).")
    var output: String

    @Option(
        help:
            "For a checkpoint holding several state dicts (e.g. {'model': ..., 'ema': ...}): the key to convert (dotted for nested dicts)."
    )
    var select: String?

    @Option(help: "A DiT configuration (JSON file or preset such as DiT-XL/2) to record in the output's metadata.")
    var config: String?

    func run() throws {
        let file = try WeightsFile.read(path: input, select: select)
        guard URL(fileURLWithPath: file.path).standardized != URL(fileURLWithPath: output).standardized else {
            throw CLIError("the output '\(output)' is the input; give another path")
        }
        var metadata = ["zoo.converted_from": URL(fileURLWithPath: file.path).lastPathComponent]
        if let select { metadata["zoo.converted_select"] = select }
        if let config {
            let dit = try DiTConfig.preset(config) ?? DiTConfig.load(path: config)
            metadata[DiTModel.configMetadataKey] = dit.jsonString()
        }
        let tensors = try file.storedTensors()
        try SafetensorsFile.write(path: output, tensors: tensors, metadata: metadata)
        let elements = tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
        let types = Dictionary(grouping: tensors, by: \.dtype).map { "\($0.value.count) \($0.key)" }.sorted()
        print(
            "wrote \(output): \(tensors.count) tensors, \(elements) elements (\(types.joined(separator: ", "))) from \(file.path)"
        )
    }
}
