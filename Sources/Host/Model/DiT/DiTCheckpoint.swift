import Foundation
import HostCore
import HostPlugins

/// The tensor naming of a DiT checkpoint.
public enum DiTCheckpointNaming: String, Sendable {
    /// `facebookresearch/DiT`'s `state_dict` names (`blocks.0.attn.qkv.weight`, ...).
    case original
    /// diffusers' `DiTTransformer2DModel` names (`transformer_blocks.0.attn1.to_q.weight`, ...), as its
    /// `convert_dit_to_diffusers.py` writes them.
    case diffusers
}

extension DiTModel {
    /// Metadata key holding the model configuration JSON.
    public static let configMetadataKey = "zoo.dit.config"

    /// Loads every parameter from the safetensors file at `path`, detecting the naming. Float16, bfloat16
    /// and float64 tensors are converted to float32.
    /// - Returns: The naming the file uses.
    /// - Throws: ``DiTError`` naming the missing, extra or mis-shaped tensor, or the file's problem.
    @discardableResult
    public func load(checkpoint path: String) throws(DiTError) -> DiTCheckpointNaming {
        let file: SafetensorsFile
        do { file = try WeightsFile.read(path: path) } catch {
            throw .checkpoint(path: path, reason: error.description)
        }
        return try load(file)
    }

    /// Loads every parameter from `file` (see ``load(checkpoint:)``); the model is unchanged if this throws.
    @discardableResult
    public func load(_ file: SafetensorsFile) throws(DiTError) -> DiTCheckpointNaming {
        let names = Set(file.names)
        let naming: DiTCheckpointNaming
        if names.contains("x_embedder.proj.weight") {
            naming = .original
        } else if names.contains("pos_embed.proj.weight") {
            naming = .diffusers
        } else {
            throw .checkpoint(
                path: file.path,
                reason:
                    "not a DiT checkpoint: it has neither 'x_embedder.proj.weight' (DiT names) nor 'pos_embed.proj.weight' (diffusers names)"
            )
        }
        var used = Set<String>()
        func read(_ name: String, _ shape: [Int]) throws(DiTError) -> Tensor<Float> {
            guard let entry = file.entry(named: name) else {
                throw .missingTensor(path: file.path, name: name, expected: shape)
            }
            guard entry.dtype.isConvertibleToFloat else {
                throw .checkpoint(
                    path: file.path,
                    reason: "tensor '\(name)' has dtype \(entry.dtype), expected a floating-point dtype")
            }
            guard entry.shape == shape else {
                throw .tensorShape(path: file.path, name: name, expected: shape, found: entry.shape)
            }
            used.insert(name)
            do { return try file.tensor(named: name) } catch {
                throw .checkpoint(path: file.path, reason: error.description)
            }
        }
        var loaded = parameters
        var position = positionEmbedding
        let d = config.hiddenSize, t = config.tokenCount
        switch naming {
        case .original:
            // A slot whose operator declares upstream state entries (ABI 1.5: buffers, tied copies, parts) reads its
            // tensors through ParameterFile, which checks them; every other tensor is read by name.
            var throughOperator = Set<Int>()
            for slot in slots where !slot.op.stateEntries.isEmpty {
                let prefix = "\(slot.key)."
                let tensors: [Tensor<Float>]
                do { tensors = try ParameterFile.load(file, prefix: prefix, for: slot.op) } catch {
                    throw .checkpoint(path: file.path, reason: "\(error)")
                }
                for (tensor, position) in zip(tensors, slot.parameterPositions) { loaded.tensors[position] = tensor }
                throughOperator.formUnion(slot.parameterPositions)
                used.formUnion(file.names.filter { $0.hasPrefix(prefix) })
            }
            for (index, name) in parameters.names.enumerated() where !throughOperator.contains(index) {
                loaded.tensors[index] = try read(name, parameters.tensors[index].shape)
            }
            if names.contains("pos_embed") { position = try read("pos_embed", [1, t, d]).reshapedUnchecked([t, d]) }
        case .diffusers:
            for (index, name) in parameters.names.enumerated() {
                let shape = parameters.tensors[index].shape
                let sources = Self.diffusersNames(for: name, slots: slots)
                if sources.count == 1 {
                    loaded.tensors[index] = try read(sources[0], shape)
                } else {
                    // qkv: to_q, to_k, to_v stacked along the first axis.
                    let partShape = [shape[0] / sources.count] + shape.dropFirst()
                    var parts: [Float] = []
                    for source in sources { parts += try read(source, partShape).scalars }
                    loaded.tensors[index] = (try? Tensor(shape: shape, scalars: parts)) ?? loaded.tensors[index]
                }
            }
            try checkCopiedEmbedders(file, read: read)
            if names.contains("pos_embed.pos_embed") {
                position = try read("pos_embed.pos_embed", [1, t, d]).reshapedUnchecked([t, d])
            }
        }
        let extra = file.names.filter { !used.contains($0) }
        guard extra.isEmpty else { throw .unexpectedTensors(path: file.path, names: extra) }
        parameters = loaded
        positionEmbedding = position
        return naming
    }

    /// diffusers keeps a copy of the timestep and class embedders in every block (`norm1.emb`); the DiT has
    /// one. Block 0's are loaded; the others must be equal copies.
    private func checkCopiedEmbedders(
        _ file: SafetensorsFile, read: (String, [Int]) throws(DiTError) -> Tensor<Float>
    ) throws(DiTError) {
        let d = config.hiddenSize
        let embedders: [(String, [Int])] = [
            ("timestep_embedder.linear_1.weight", [d, DiTEmbeddings.timestepFrequencies]),
            ("timestep_embedder.linear_1.bias", [d]),
            ("timestep_embedder.linear_2.weight", [d, d]), ("timestep_embedder.linear_2.bias", [d]),
            ("class_embedder.embedding_table.weight", [config.labelTableRows, d]),
        ]
        for block in 1..<max(1, config.depth) {
            for (suffix, shape) in embedders {
                let name = "transformer_blocks.\(block).norm1.emb.\(suffix)"
                let first = try read("transformer_blocks.0.norm1.emb.\(suffix)", shape)
                let copy = try read(name, shape)
                guard copy == first else {
                    throw .checkpoint(
                        path: file.path,
                        reason:
                            "tensor '\(name)' differs from block 0's copy; a DiT has one shared timestep and class embedder"
                    )
                }
            }
        }
    }

    /// The diffusers tensor names that hold the DiT parameter `name` (three for `qkv`, stacked q, k, v).
    static func diffusersNames(for name: String, slots: [DiTSlot]) -> [String] {
        let fixed: [String: String] = [
            "x_embedder.proj.weight": "pos_embed.proj.weight", "x_embedder.proj.bias": "pos_embed.proj.bias",
            "t_embedder.mlp.0.weight": "transformer_blocks.0.norm1.emb.timestep_embedder.linear_1.weight",
            "t_embedder.mlp.0.bias": "transformer_blocks.0.norm1.emb.timestep_embedder.linear_1.bias",
            "t_embedder.mlp.2.weight": "transformer_blocks.0.norm1.emb.timestep_embedder.linear_2.weight",
            "t_embedder.mlp.2.bias": "transformer_blocks.0.norm1.emb.timestep_embedder.linear_2.bias",
            "y_embedder.embedding_table.weight": "transformer_blocks.0.norm1.emb.class_embedder.embedding_table.weight",
            "final_layer.adaLN_modulation.1.weight": "proj_out_1.weight",
            "final_layer.adaLN_modulation.1.bias": "proj_out_1.bias",
            "final_layer.linear.weight": "proj_out_2.weight", "final_layer.linear.bias": "proj_out_2.bias",
        ]
        if let mapped = fixed[name] { return [mapped] }
        let parts = name.split(separator: ".", maxSplits: 3).map(String.init)
        guard parts.count == 4, parts[0] == "blocks", let block = Int(parts[1]) else { return [name] }
        let prefix = "transformer_blocks.\(block)."
        let rest = parts[3]
        switch parts[2] {
        case "adaLN_modulation": return [prefix + "norm1.linear." + rest.replacingOccurrences(of: "1.", with: "")]
        case "attn" where slots[2 * block].op.descriptor.id == DiTConfig.defaultAttentionOperator:
            switch rest {
            case "qkv.weight": return ["to_q.weight", "to_k.weight", "to_v.weight"].map { prefix + "attn1." + $0 }
            case "qkv.bias": return ["to_q.bias", "to_k.bias", "to_v.bias"].map { prefix + "attn1." + $0 }
            default: return [prefix + "attn1." + rest.replacingOccurrences(of: "proj.", with: "to_out.0.")]
            }
        case "attn": return [prefix + "attn1." + rest]
        case "mlp" where slots[2 * block + 1].op.descriptor.id == DiTConfig.defaultMLPOperator:
            return [
                prefix + "ff.net."
                    + rest.replacingOccurrences(of: "fc1.", with: "0.proj.").replacingOccurrences(
                        of: "fc2.", with: "2.")
            ]
        case "mlp": return [prefix + "ff." + rest]
        default: return [name]
        }
    }

    /// Writes every parameter and `pos_embed` with the original DiT names, atomically, with the configuration
    /// (``configMetadataKey``) and, when a slot holds another operator than DiT's own, the graft manifest
    /// (``SlotManifest``) in the metadata beside `metadata`.
    /// - Parameter dtype: Storage dtype: `F32` (default), `F16` or `BF16` (rounded to nearest even).
    public func save(
        path: String, metadata: [String: String] = [:], dtype: SafetensorsDType = .float32
    ) throws(DiTError) {
        var tensors = zip(parameters.names, parameters.tensors).map { (name: $0, tensor: $1) }
        tensors.insert(
            (
                name: "pos_embed",
                tensor: positionEmbedding.reshapedUnchecked([1, config.tokenCount, config.hiddenSize])
            ), at: 0)
        var meta = metadata
        meta[Self.configMetadataKey] = config.jsonString()
        if slots.contains(where: { !$0.isDefault(for: config) }) {
            do { meta[SlotManifest.metadataKey] = try SlotManifest.of(self).jsonString() } catch {
                throw .checkpoint(path: path, reason: "cannot record the graft manifest: \(error)")
            }
        }
        do { try SafetensorsFile.write(path: path, tensors: tensors, metadata: meta, dtype: dtype) } catch {
            throw .checkpoint(path: path, reason: error.description)
        }
    }
}

extension Tensor {
    /// The same elements under a shape known to have the same count.
    func reshapedUnchecked(_ shape: [Int]) -> Tensor {
        guard let r = try? reshaped(shape) else { preconditionFailure("reshape \(self.shape) to \(shape)") }
        return r
    }
}
