import PluginKit

/// The attribute schemas of the Hyena operators and the checks and initialisers they share.
///
/// Attribute names are the keyword arguments of the upstream constructors, which the grafting yaml files
/// (`configs/sequence_mixers/hyena_{x,se,y}.yaml`, `configs/channel_mixers/mlp_hyena_x.yaml`) pass through
/// unchanged; only `d_model` is the instance's width D instead. Upstream arguments that change nothing in the math
/// (`num_heads`, `num_blocks`, and `order`/`inner_factor` where only one value runs) are accepted with the upstream
/// checks, so that a yaml maps one to one; `activation` (not in any yaml, never read upstream) and the
/// `fused_bias_fc` key of `mlp_hyena_x.yaml` (which `MLP_Hyena_X.__init__` does not accept) are not.
enum HyenaAttributes {
    /// Longest filter accepted (upstream's CUDA `causal_conv1d_fn` takes 2 to 4 taps; the math has no limit).
    static let maxTaps: Int64 = 1024

    static let shortFilterOrder = AttributeSpec(
        "short_filter_order", default: .int(4),
        doc: "taps of the causal featurizer conv short_filter (grafting: 4; upstream's CUDA kernel takes 2...4)",
        intRange: 1...maxTaps)

    /// Hyena-Y: the inner filter's taps.
    static let innerFilterLength = AttributeSpec(
        "inner_filter_len", default: .int(4), doc: "taps of the causal inner conv inner_filter (grafting: 4)",
        intRange: 1...maxTaps)

    /// Hyena-SE: accepted, but upstream builds the inner filter with short_filter_order taps.
    static let innerFilterLengthUnused = AttributeSpec(
        "inner_filter_len", default: .int(4),
        doc:
            "no effect: upstream Hyena_SE builds inner_filter with short_filter_order taps and uses this only for an unused padding",
        intRange: 1...maxTaps)

    /// Token mixers: upstream cuts longer sequences to `l_max` tokens, which would change the output's shape.
    static let maxLengthTokenMixer = AttributeSpec(
        "l_max", default: .int(1_000_000),
        doc: "longest sequence accepted; longer inputs are refused (grafting yaml: 1000000)",
        intRange: 1...Int64(Int32.max))

    /// `mlp_hyena_x`: the short filter has one kernel per token position.
    static let maxLengthChannelMixer = AttributeSpec(
        "l_max", default: .int(256),
        doc:
            "the sequence length L (the short filter has one kernel per token position); other L are refused (DiT-XL/2 256 px: 256)",
        intRange: 1...Int64(Int32.max))

    /// Token mixers: `[q, k, v]` is unpacked from `order + 1` chunks, so only 2 runs upstream.
    static let orderTokenMixer = AttributeSpec(
        "order", default: .int(2), doc: "Hyena recurrence depth; upstream unpacks exactly q, k, v, so only 2 runs",
        intRange: 2...2)

    /// `mlp_hyena_x`: asserted >= 2 upstream, never used (the split is always three-way).
    static let orderChannelMixer = AttributeSpec(
        "order", default: .int(2), doc: "no effect (upstream asserts order >= 2; the split is always q, k, v)",
        intRange: 2...64)

    /// Token mixers: any other width multiplier gives mismatched shapes upstream.
    static let innerFactorTokenMixer = AttributeSpec(
        "inner_factor", default: .int(1), doc: "width multiplier; only 1 gives consistent shapes upstream",
        intRange: 1...1)

    /// `mlp_hyena_x`: stored upstream, never used.
    static let innerFactorChannelMixer = AttributeSpec(
        "inner_factor", default: .int(1), doc: "no effect (stored, never used upstream)", intRange: 1...64)

    static let numHeads = AttributeSpec(
        "num_heads", default: .int(1), doc: "no effect beyond upstream's check that it divides D (grafting: 1)",
        intRange: 1...1 << 20)

    static let numBlocks = AttributeSpec(
        "num_blocks", default: .int(1), doc: "no effect beyond upstream's check that it divides l_max (grafting: 1)",
        intRange: 1...1 << 20)

    /// `mlp_hyena_x`: integer, as upstream multiplies it into `nn.Linear` widths.
    static let expansionRatio = AttributeSpec(
        "expansion_ratio", default: .int(2),
        doc: "hidden width r*D of q, k and v; in_proj has 3*r*D outputs (grafting: 2)",
        intRange: 1...64)

    /// The schema of `hyena_x`.
    static let hyenaX = [
        shortFilterOrder, maxLengthTokenMixer, orderTokenMixer, innerFactorTokenMixer, numHeads, numBlocks,
    ]
    /// The schema of `hyena_se`.
    static let hyenaSE = [
        shortFilterOrder, innerFilterLengthUnused, maxLengthTokenMixer, orderTokenMixer, innerFactorTokenMixer,
        numHeads, numBlocks,
    ]
    /// The schema of `hyena_y`.
    static let hyenaY = [
        innerFilterLength, maxLengthTokenMixer, orderTokenMixer, innerFactorTokenMixer, numHeads, numBlocks,
    ]
    /// The schema of `mlp_hyena_x`.
    static let mlpHyenaX = [
        expansionRatio, shortFilterOrder, maxLengthChannelMixer, orderChannelMixer, innerFactorChannelMixer, numHeads,
        numBlocks,
    ]

    /// Upstream's constructor assertions: `num_heads` divides D and `num_blocks` divides `l_max`.
    static func checkStructure(_ config: KernelConfig, dim: Int, maxLength: Int) throws(PluginFailure) {
        let heads = config.int("num_heads")
        guard heads >= 1, dim % Int(heads) == 0 else {
            throw .invalid("attribute 'num_heads' = \(heads) must divide the model width D = \(dim)")
        }
        let blocks = config.int("num_blocks")
        guard blocks >= 1, maxLength % Int(blocks) == 0 else {
            throw .invalid("attribute 'num_blocks' = \(blocks) must divide attribute 'l_max' = \(maxLength)")
        }
    }

    /// Random streams of ``Initializer/linearUniform(_:fanIn:seed:index:)``, keyed by parameter name so that the
    /// operators share them.
    enum Stream {
        static let inWeight = 0
        static let inBias = 1
        static let outWeight = 2
        static let outBias = 3
        static let shortWeight = 4
        static let shortBias = 5
    }

    /// Upstream `_initialize_inner_filter_as_identity`: `weight[:, 0, k-1] = 1`, every other tap 0.
    static func identityFilter<S: KernelScalar>(_ weight: TensorView<S>, channels: Int, taps: Int) {
        weight.fill(0)
        for c in 0..<channels { weight.base[c * taps + taps - 1] = 1 }
    }
}
