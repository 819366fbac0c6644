import Foundation

extension DiTModel {
    /// Opens a checkpoint as a model: the configuration from `configPath` when given, else from the
    /// checkpoint's own metadata (``configMetadataKey``, which `zoo` writes); slots filled with DiT's own
    /// operators through `host`.
    /// - Throws: ``DiTError`` naming the file at fault, or the host's error resolving an operator.
    public static func open(checkpoint path: String, configPath: String?, host: PluginHost) throws -> DiTModel {
        let file: SafetensorsFile
        do { file = try SafetensorsFile.read(path: path) } catch { throw DiTError.checkpoint(path: path, reason: error.description) }
        let config: DiTConfig
        if let configPath {
            config = try DiTConfig.load(path: configPath)
        } else if let json = file.metadata[configMetadataKey] {
            config = try DiTConfig.parse(Data(json.utf8), path: "\(path) (metadata '\(configMetadataKey)')")
        } else {
            throw DiTError.checkpoint(
                path: path, reason: "the checkpoint carries no configuration in its metadata; give --config MODEL.json")
        }
        let model = try DiTModel(config: config) { key in try DiTSlotChoice.standard(key, config: config, host: host) }
        try model.load(file)
        return model
    }
}
