import ArgumentParser
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// The image options of `zoo pretrain` and `zoo dit probe`: an ImageFolder, or the synthetic shapes by seed and
/// generator.
struct DataOptions: ParsableArguments {
    @Option(help: "An ImageFolder (one sub-folder of PNGs per class) instead of the synthetic shapes.")
    var data: String?

    @Option(help: "Seed of the synthetic dataset.")
    var dataSeed: UInt64 = 0

    @Option(
        help: """
            Version of the synthetic dataset's drawing code: \(SyntheticShapes.generatorChoices) (default: \
            \(SyntheticShapes.defaultGenerator), the embedded model's data).
            """)
    var dataGenerator: Int?

    /// The synthetic shapes' generator: `--data-generator`, else the default.
    var generator: Int { dataGenerator ?? SyntheticShapes.defaultGenerator }

    func validate() throws {
        try checkGenerator(generator, option: "--data-generator")
        if let data, dataGenerator != nil {
            throw ValidationError("--data-generator chooses the synthetic shapes; it cannot go with --data \(data)")
        }
    }

    /// The images for a model of configuration `config`: the folder (with no held-out split), or the synthetic
    /// shapes' training and held-out splits at the model's input size.
    /// - Throws: the folder's errors, or a ``CLIError`` when the shapes cannot feed the model.
    func datasets(for config: DiTConfig) throws -> (train: any ImageDataset, heldOut: (any ImageDataset)?) {
        if let data { return (try ImageFolder(root: data, resolution: config.inputSize), nil) }
        do {
            return try SyntheticShapes.splits(seed: dataSeed, generator: generator, for: config)
        } catch {
            throw CLIError("\(error); give --data, or another --config")
        }
    }

    /// The folder's path, or the shapes' seed and generator.
    var summary: String { data ?? "synthetic shapes, seed \(dataSeed), generator \(generator)" }
}
