import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `zoo data`: look at and export the synthetic shapes dataset.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Preview or export the synthetic shapes dataset.",
        subcommands: [Preview.self, Export.self])

    /// `zoo data preview`: a PNG grid with one row per class.
    struct Preview: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a PNG grid of training samples, one row per class (2-pixel black padding).")

        @Option(help: "Dataset seed.")
        var seed: UInt64 = 0

        @Option(help: "Samples per class (columns).")
        var perClass = 8

        @Option(help: "Image side in pixels (at least 16).")
        var resolution = 32

        @Flag(help: "Render without noise (exactly two colours per image).")
        var noNoise = false

        @Option(help: "Version of the drawing code: \(SyntheticShapes.generatorChoices).")
        var generator = SyntheticShapes.defaultGenerator

        @Option(help: "Output PNG file.")
        var out: String

        func validate() throws {
            guard perClass >= 1 else { throw ValidationError("--per-class must be at least 1, got \(perClass)") }
            guard resolution >= 16 else { throw ValidationError("--resolution must be at least 16, got \(resolution)") }
            try checkGenerator(generator, option: "--generator")
        }

        func run() throws {
            let data = try SyntheticShapes(seed: seed, resolution: resolution, noise: !noNoise, generator: generator)
            // Labels cycle with the index, so class c's k-th sample is index c + k * numClasses.
            let indices = (0..<data.numClasses).flatMap { c in (0..<perClass).map { k in c + k * data.numClasses } }
            guard let last = indices.max(), last < data.count else {
                throw CLIError("--per-class \(perClass) needs more than the \(data.count) training samples")
            }
            let (images, _) = try data.batch(indices)
            try ImageGrid.write(images, columns: perClass, path: out)
            print(
                "wrote \(out): \(data.numClasses) rows (\(data.classNames.joined(separator: ", "))) x \(perClass) samples, seed \(seed), generator \(generator)"
            )
        }
    }

    /// `zoo data export`: the dataset as an ImageFolder of PNG files.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write training samples as PNG files in one sub-folder per class (the ImageFolder layout).",
            discussion: "Files are OUT/<class>/<index>.png, index zero-padded; OUT must be new or empty.")

        @Option(help: "Output folder (created; must be empty if it exists).")
        var out: String

        @Option(help: "Number of samples, from index 0 (at least one per class).")
        var count = 1100

        @Option(help: "Dataset seed.")
        var seed: UInt64 = 0

        @Option(help: "Image side in pixels (at least 16).")
        var resolution = 32

        @Option(help: "Version of the drawing code: \(SyntheticShapes.generatorChoices).")
        var generator = SyntheticShapes.defaultGenerator

        func validate() throws {
            let classes = SyntheticShapes.ShapeClass.allCases.count
            guard count >= classes else {
                throw ValidationError("--count must be at least \(classes) (one image per class), got \(count)")
            }
            guard resolution >= 16 else { throw ValidationError("--resolution must be at least 16, got \(resolution)") }
            try checkGenerator(generator, option: "--generator")
        }

        func run() throws {
            let data = try SyntheticShapes(
                seed: seed, trainCount: max(count, 50_000), resolution: resolution, generator: generator)
            let perClass = try ImageFolder.export(data, count: count, to: out)
            print(
                "wrote \(count) images to \(out): "
                    + zip(data.classNames, perClass).map { "\($0) \($1)" }.joined(separator: ", "))
        }
    }
}

/// Refuses a synthetic-shapes generator that does not exist; `option` names the flag that gave it.
func checkGenerator(_ generator: Int, option: String) throws {
    guard SyntheticShapes.generators.contains(generator) else {
        throw ValidationError("\(option) must be \(SyntheticShapes.generatorChoices), got \(generator)")
    }
}
