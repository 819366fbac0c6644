import Foundation
import HostCore
import HostPlugins

/// The checkpoint a fine-tuning run starts from (`zoo pretrain --init`): its tensors and its sha256, which the run
/// records so that a resume needs the same file.
public struct InitialWeights: Sendable {
    public let file: SafetensorsFile
    public let sha256: String

    /// Reads `path`. - Throws: ``TrainingError/checkpoint(path:reason:)`` naming the file.
    public init(path: String) throws(TrainingError) {
        do {
            file = try WeightsFile.read(path: path)
            sha256 = try FileHash.sha256(path: file.path)
        } catch { throw .checkpoint(path: path, reason: "cannot be read as initial weights (\(error))") }
    }

    /// The model's configuration: `configPath` when given (it must agree with the checkpoint's own, when the
    /// checkpoint records one), else the checkpoint's (nil when it records none).
    public func config(given configPath: String?) throws -> DiTConfig? {
        let key = DiTModel.configMetadataKey
        let own = try file.metadata[key].map {
            try DiTConfig.parse(Data($0.utf8), path: "\(file.path) (metadata '\(key)')")
        }
        guard let configPath else { return own }
        let given = try DiTConfig.load(path: configPath)
        if let own, own != given {
            throw TrainingError.checkpoint(
                path: file.path,
                reason:
                    "it holds the model \(own.jsonString()), but the configuration \(configPath) gives \(given.jsonString())"
            )
        }
        return given
    }
}
