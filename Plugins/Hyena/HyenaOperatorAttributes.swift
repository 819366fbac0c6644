import PluginKit

/// The attribute schema of `hyena` (safari `HyenaOperator`, `HyenaFilter`, `ExponentialModulation`): names are
/// the upstream constructor arguments, defaults upstream's; `d_model` is the instance's width D.
///
/// `num_heads`, `num_blocks`, `inner_factor`, `outer_mixing` and `post_order_ffn` accept only upstream's defaults
/// (1, 1, 1, false, false): the multi-head, blocked, widened and mixed variants are not implemented, and are
/// refused with an error naming the attribute rather than computed wrongly.
enum HyenaOperatorAttributes {
    /// `l_max` when none is given: long enough for every length `zoo conform`'s complexity check times
    /// (64 << 9); the grafting code passes the model's token count instead.
    static let defaultMaxLength: Int64 = 32768

    static let schema: [AttributeSpec] = [
        AttributeSpec(
            "l_max", default: .int(defaultMaxLength),
            doc:
                "longest sequence; sizes pos_emb.z (1, l_max, emb_dim) and the grids t, w; longer inputs are refused (grafting: the token count)",
            intRange: 1...1 << 24),
        AttributeSpec(
            "order", default: .int(2), doc: "depth of the Hyena recurrence (in_proj has (order+1)*D outputs)",
            intRange: 2...16),
        AttributeSpec("filter_order", default: .int(64), doc: "width of the implicit filter MLP", intRange: 1...4096),
        AttributeSpec(
            "short_filter_order", default: .int(3), doc: "taps of the causal depthwise short_filter", intRange: 1...1024
        ),
        AttributeSpec(
            "emb_dim", default: .int(3), doc: "positional embedding width fed to the filter MLP; odd, >= 3",
            intRange: 3...255),
        AttributeSpec(
            "num_inner_mlps", default: .int(2),
            doc: "inner Linear(filter_order, filter_order) + Sin layers of the filter MLP", intRange: 0...16),
        AttributeSpec(
            "w", default: .float(1), doc: "initial frequency of the shared Sin activation (HyenaFilter w)",
            floatRange: -1e6...1e6),
        AttributeSpec(
            "modulate", default: .bool(true),
            doc: "multiply the filter by exp(-t |delta|) + shift (ExponentialModulation)"),
        AttributeSpec(
            "fast_decay_pct", default: .float(0.3),
            doc: "ExponentialModulation: max decay = log(target) / fast_decay_pct", floatRange: 1e-6...1e6),
        AttributeSpec(
            "slow_decay_pct", default: .float(1.5),
            doc: "ExponentialModulation: min decay = log(target) / slow_decay_pct", floatRange: 1e-6...1e6),
        AttributeSpec(
            "target", default: .float(1e-2), doc: "ExponentialModulation: the decay target", floatRange: 1e-300...1e6),
        AttributeSpec(
            "shift", default: .float(0), doc: "ExponentialModulation: added to the decay", floatRange: -1e6...1e6),
        AttributeSpec(
            "num_heads", default: .int(1), doc: "only the upstream default 1 is implemented", intRange: 1...1),
        AttributeSpec(
            "num_blocks", default: .int(1), doc: "only the upstream default 1 is implemented", intRange: 1...1),
        AttributeSpec(
            "inner_factor", default: .int(1), doc: "only the upstream default 1 is implemented", intRange: 1...1),
        AttributeSpec("outer_mixing", default: .bool(false), doc: "only the upstream default false is implemented"),
        AttributeSpec("post_order_ffn", default: .bool(false), doc: "only the upstream default false is implemented"),
    ]

    /// The checks the schema's ranges cannot express.
    static func check(_ config: KernelConfig) throws(PluginFailure) {
        let emb = config.int("emb_dim")
        guard emb % 2 == 1 else {
            throw .invalid(
                "attribute 'emb_dim' = \(emb) must be odd (time, then cosine and sine bands), as upstream asserts")
        }
        for name in ["outer_mixing", "post_order_ffn"] where config.bool(name) {
            throw .invalid("attribute '\(name)' = true is not implemented; only the upstream default false is")
        }
    }

    /// Random streams of the `hyena` parameters that are drawn (the projections and short filter share
    /// ``HyenaAttributes/Stream``'s).
    enum Stream {
        static let filterBias = 16
        /// Filter MLP layer `i` uses `filterLayer + 2 i` (weight) and `+ 1` (bias); the output layer comes after them.
        static let filterLayer = 32
    }
}
