import HostCore

/// The decoder's tensors of an `AutoencoderKL` state dict, checked against the configuration their shapes imply.
///
/// The configuration is inferred from a few tensors (`decoder.conv_in`, each up block's first `conv1`, the number of
/// up blocks and of resnets in the first, `decoder.conv_out`); then every tensor the decoder needs must be present
/// with exactly the shape that configuration gives it. The mid-block attention's tensors may use diffusers' current
/// names (`to_q`, `to_k`, `to_v`, `to_out.0`) or the old ones (`query`, `key`, `value`, `proj_attn`), and its four
/// projection weights may be `[C, C]` or 1x1-convolution-shaped `[C, C, 1, 1]`. Encoder tensors (`encoder.*`,
/// `quant_conv.*`) are ignored; any other tensor is an error.
struct VAEWeights {
    let config: VAEDecoderConfig
    /// Every decoder tensor by its current diffusers name; attention projection weights reshaped to `[C, C]`.
    let tensors: [String: Tensor<Float>]

    /// The accepted shapes of one tensor.
    private struct Expected {
        let name: String
        let shapes: [[Int]]
        /// A GroupNorm scale, whose channel count the groups must divide.
        var isNormScale: Bool {
            ["norm1.weight", "norm2.weight", "group_norm.weight", "conv_norm_out.weight"].contains {
                name.hasSuffix(".\($0)")
            }
        }
        var text: String { shapes.map(\.shapeText).joined(separator: " or ") }
    }

    /// Old diffusers names of the attention projections (before 0.14's `Attention`), by current name.
    static let oldAttentionNames = ["to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"]

    static let attentionPrefix = "decoder.mid_block.attentions.0."

    init(file: SafetensorsFile, normNumGroups: Int, scalingFactor: Float) throws(VAEError) {
        let path = file.path
        guard normNumGroups >= 1 else {
            throw .config(path: path, field: "norm_num_groups", reason: "\(normNumGroups) is not a group count (>= 1)")
        }
        guard scalingFactor.isFinite, scalingFactor > 0 else {
            throw .config(path: path, field: "scaling_factor", reason: "\(scalingFactor) is not a positive number")
        }
        let config = try Self.inferConfig(file, normNumGroups: normNumGroups, scalingFactor: scalingFactor)
        var tensors: [String: Tensor<Float>] = [:]
        var used = Set<String>()
        for expected in Self.expectedTensors(config) {
            let old = Self.oldName(of: expected.name)
            let present = file.entry(named: expected.name) != nil
            if let old, file.entry(named: old) != nil {
                if present { throw .duplicateTensor(path: path, name: expected.name, alias: old) }
            }
            let stored = present ? expected.name : (old.flatMap { file.entry(named: $0) != nil ? $0 : nil })
            guard let stored, let entry = file.entry(named: stored) else {
                throw .missingTensor(path: path, name: expected.name, expected: expected.text)
            }
            guard expected.shapes.contains(entry.shape) else {
                throw .tensorShape(path: path, name: stored, expected: expected.text, found: entry.shape)
            }
            if expected.isNormScale, entry.shape[0] % normNumGroups != 0 {
                throw .config(
                    path: path, field: "norm_num_groups",
                    reason:
                        "\(normNumGroups) groups do not divide the \(entry.shape[0]) channels of '\(stored)' (SD VAEs use 32; give the file's value)"
                )
            }
            var tensor = try Self.read(file, stored)
            if tensor.shape != expected.shapes[0] {
                // [C, C, 1, 1] -> [C, C]: the same elements.
                guard let matrix = try? tensor.reshaped(expected.shapes[0]) else {
                    throw .tensorShape(path: path, name: stored, expected: expected.text, found: tensor.shape)
                }
                tensor = matrix
            }
            tensors[expected.name] = tensor
            used.insert(stored)
        }
        let unexpected = file.names.filter {
            !used.contains($0) && !$0.hasPrefix("encoder.") && !$0.hasPrefix("quant_conv.")
        }
        guard unexpected.isEmpty else { throw .unexpectedTensors(path: path, names: unexpected) }
        self.config = config
        self.tensors = tensors
    }

    /// The old diffusers name of a mid-block attention projection tensor, or nil for any other tensor.
    static func oldName(of name: String) -> String? {
        guard name.hasPrefix(attentionPrefix) else { return nil }
        let rest = name.dropFirst(attentionPrefix.count)
        for (current, old) in oldAttentionNames where rest.hasPrefix(current + ".") {
            return attentionPrefix + old + rest.dropFirst(current.count)
        }
        return nil
    }

    private static func read(_ file: SafetensorsFile, _ name: String) throws(VAEError) -> Tensor<Float> {
        do {
            return try file.tensor(named: name)
        } catch {
            if case .dtypeMismatch(_, _, let found, _) = error {
                throw .tensorType(path: file.path, name: name, found: found.rawValue)
            }
            throw .file(.safetensors(error))
        }
    }

    /// The shape of tensor `name` when it has `rank` dimensions; otherwise a missing-tensor or shape error that
    /// shows `expected`.
    private static func shape(
        _ file: SafetensorsFile, _ name: String, rank: Int, expected: String
    ) throws(VAEError) -> [Int] {
        guard let entry = file.entry(named: name) else {
            throw .missingTensor(path: file.path, name: name, expected: expected)
        }
        guard entry.shape.count == rank, entry.shape.allSatisfy({ $0 >= 1 }) else {
            throw .tensorShape(path: file.path, name: name, expected: expected, found: entry.shape)
        }
        return entry.shape
    }

    /// The configuration the tensor shapes imply (see the type's documentation).
    static func inferConfig(
        _ file: SafetensorsFile, normNumGroups: Int, scalingFactor: Float
    ) throws(VAEError) -> VAEDecoderConfig {
        let convIn = try shape(file, "decoder.conv_in.weight", rank: 4, expected: "[C, latent_channels, 3, 3]")
        let convOut = try shape(file, "decoder.conv_out.weight", rank: 4, expected: "[out_channels, C, 3, 3]")
        let blocks = indices(in: file.names, after: "decoder.up_blocks.")
        guard !blocks.isEmpty else {
            throw .missingTensor(
                path: file.path, name: "decoder.up_blocks.0.resnets.0.conv1.weight", expected: "[C, C_in, 3, 3]")
        }
        let resnets = indices(in: file.names, after: "decoder.up_blocks.0.resnets.")
        guard !resnets.isEmpty else {
            throw .missingTensor(
                path: file.path, name: "decoder.up_blocks.0.resnets.0.conv1.weight", expected: "[C, C_in, 3, 3]")
        }
        // Up block i has block_out_channels[n - 1 - i] channels, the output of its first resnet.
        var reversed: [Int] = []
        for i in 0...blocks.max()! {
            let conv1 = try shape(
                file, "decoder.up_blocks.\(i).resnets.0.conv1.weight", rank: 4, expected: "[C, C_in, 3, 3]")
            reversed.append(conv1[0])
        }
        return VAEDecoderConfig(
            blockOutChannels: reversed.reversed(), layersPerBlock: resnets.max()!, latentChannels: convIn[1],
            outChannels: convOut[0], normNumGroups: normNumGroups, scalingFactor: scalingFactor)
    }

    /// The integers `i` of names `prefix + "i." + ...`.
    private static func indices(in names: [String], after prefix: String) -> Set<Int> {
        var out = Set<Int>()
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            if let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]), i >= 0, i < 4096 { out.insert(i) }
        }
        return out
    }

    /// Every tensor of the decoder (current names), with its shape: diffusers' `AutoencoderKL` without the encoder.
    private static func expectedTensors(_ c: VAEDecoderConfig) -> [Expected] {
        var out: [Expected] = []
        func add(_ name: String, _ shapes: [Int]...) { out.append(Expected(name: name, shapes: shapes)) }
        func conv(_ name: String, _ cout: Int, _ cin: Int, _ k: Int) {
            add(name + ".weight", [cout, cin, k, k])
            add(name + ".bias", [cout])
        }
        func norm(_ name: String, _ channels: Int) {
            add(name + ".weight", [channels])
            add(name + ".bias", [channels])
        }
        func resnet(_ name: String, _ cin: Int, _ cout: Int) {
            norm(name + ".norm1", cin)
            conv(name + ".conv1", cout, cin, 3)
            norm(name + ".norm2", cout)
            conv(name + ".conv2", cout, cout, 3)
            if cin != cout { conv(name + ".conv_shortcut", cout, cin, 1) }
        }
        let l = c.latentChannels, top = c.blockOutChannels.last!
        conv("post_quant_conv", l, l, 1)
        conv("decoder.conv_in", top, l, 3)
        resnet("decoder.mid_block.resnets.0", top, top)
        norm(attentionPrefix + "group_norm", top)
        for projection in ["to_q", "to_k", "to_v", "to_out.0"] {
            add(attentionPrefix + projection + ".weight", [top, top], [top, top, 1, 1])
            add(attentionPrefix + projection + ".bias", [top])
        }
        resnet("decoder.mid_block.resnets.1", top, top)
        var previous = top
        let reversed = Array(c.blockOutChannels.reversed())
        for (i, channels) in reversed.enumerated() {
            for j in 0...c.layersPerBlock {
                resnet("decoder.up_blocks.\(i).resnets.\(j)", j == 0 ? previous : channels, channels)
            }
            if i < reversed.count - 1 { conv("decoder.up_blocks.\(i).upsamplers.0.conv", channels, channels, 3) }
            previous = channels
        }
        norm("decoder.conv_norm_out", c.blockOutChannels[0])
        conv("decoder.conv_out", c.outChannels, c.blockOutChannels[0], 3)
        return out
    }
}
