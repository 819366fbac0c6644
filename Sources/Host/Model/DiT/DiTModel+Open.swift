import Foundation
import HostCore
import HostPlugins

extension DiTModel {
    /// Opens a checkpoint (safetensors or PyTorch `.pt`, see ``WeightsFile``) as a model: the configuration from
    /// `configPath` (a JSON file or a preset name such as `DiT-XL/2`) when given, else from the
    /// checkpoint's own metadata (``configMetadataKey``, which `zoo` writes). Slots named in the checkpoint's
    /// graft manifest (``SlotManifest``) get the operator it names, from a library with the recorded sha256
    /// (unless the host allows unpinned libraries); the others DiT's own operators, all through `host`.
    ///
    /// `choose`, when given, picks the operator of the slots it answers for (the others as above): how a grafted
    /// checkpoint saved without a manifest (the grafting repository's `{'ema': state_dict}`) is described by a plan.
    /// A checkpoint that records its grafted slots is refused with `choose`, so the two cannot disagree.
    /// - Throws: ``DiTError`` naming the file at fault, or the host's error resolving an operator.
    public static func open(
        checkpoint path: String, configPath: String?, host: PluginHost,
        choose: ((DiTSlotKey, DiTConfig) throws -> DiTSlotChoice?)? = nil
    ) throws -> DiTModel {
        let file: SafetensorsFile
        do { file = try WeightsFile.read(path: path) } catch {
            throw DiTError.checkpoint(path: path, reason: error.description)
        }
        let config: DiTConfig
        if let configPath {
            config = try DiTConfig.preset(configPath) ?? DiTConfig.load(path: configPath)
        } else if let json = file.metadata[configMetadataKey] {
            config = try DiTConfig.parse(Data(json.utf8), path: "\(path) (metadata '\(configMetadataKey)')")
        } else {
            throw DiTError.checkpoint(
                path: path, reason: "the checkpoint carries no configuration in its metadata; give --config MODEL.json")
        }
        let manifest =
            try file.metadata[SlotManifest.metadataKey].map { try SlotManifest.parse($0, path: path) } ?? SlotManifest()
        if choose != nil, !manifest.slots.isEmpty {
            throw DiTError.checkpoint(
                path: path,
                reason:
                    "it records its grafted slots (\(manifest.slots.keys.sorted().joined(separator: ", "))); a plan describes only checkpoints saved without them"
            )
        }
        let model = try DiTModel(config: config) { key in
            if let chosen = try choose?(key, config) { return chosen }
            guard let entry = manifest.slots[key.description] else {
                return try DiTSlotChoice.standard(key, config: config, host: host)
            }
            let descriptor = try host.resolveOperator(entry.operatorId)
            let hash = try FileHash.sha256(path: descriptor.libraryPath)
            guard hash == entry.librarySha256 || host.search.allowUnpinned else {
                throw DiTError.checkpoint(
                    path: path,
                    reason:
                        "slot \(key) was grafted with '\(entry.operatorId)' from a library with sha256 \(entry.librarySha256), but \(descriptor.libraryPath) now has \(hash); pass --allow-unpinned to load it anyway"
                )
            }
            let attributes = try descriptor.parseAssignments(
                entry.attributes.keys.sorted().map { "\($0)=\(entry.attributes[$0]!)" })
            return DiTSlotChoice(descriptor, attributes: attributes)
        }
        try model.load(file)
        return model
    }
}
