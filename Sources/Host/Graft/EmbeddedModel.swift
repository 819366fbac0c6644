import Foundation
import HostModel
import HostPlugins

/// The embedded default model shipped in the repository (`models/dit-shapes/`): a small DiT pretrained by
/// this project on the synthetic shapes.
public enum EmbeddedModel {
    /// The folder, relative to the repository root.
    public static let folder = "models/dit-shapes"
    /// The checkpoint file name inside ``folder``.
    public static let checkpointName = "model.safetensors"

    /// The checkpoint: `$ZOO_MODEL` when set, else `models/dit-shapes/model.safetensors` found by
    /// ``findInRepository(_:)``.
    public static func checkpointPath() -> String? {
        if let env = ProcessInfo.processInfo.environment["ZOO_MODEL"], !env.isEmpty { return env }
        return findInRepository(folder + "/" + checkpointName)
    }

    /// `relative` (e.g. `plans/quick.json`) in the first of the executable's folder and its parents (the
    /// repository, for `.build/release/zoo`), then the current folder and its parents, that has it.
    public static func findInRepository(_ relative: String) -> String? {
        let starts = [
            URL(fileURLWithPath: PluginSearchPath.executablePath).deletingLastPathComponent(),
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
        ]
        for start in starts {
            var dir = start.standardizedFileURL
            while true {
                let candidate = dir.appendingPathComponent(relative).path
                if FileManager.default.fileExists(atPath: candidate) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        return nil
    }

    /// The data the embedded model was trained on (the synthetic shapes, seed 0) and its held-out split, at the
    /// input size of `config`.
    /// - Throws: ``SyntheticShapesError/incompatibleModel(inChannels:inputSize:)`` for a model that does not take
    ///   3-channel images of at least 16 pixels a side (a latent-space DiT, for one).
    public static func datasets(
        for config: DiTConfig
    ) throws(SyntheticShapesError) -> (train: SyntheticShapes, heldOut: SyntheticShapes) {
        try SyntheticShapes.splits(seed: 0, for: config)
    }
}
