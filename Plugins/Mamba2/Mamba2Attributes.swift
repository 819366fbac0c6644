import PluginKit

/// The attribute schema shared by `mamba2`, `mamba2_bidir` and `mamba2_2d`.
///
/// Names are the keyword arguments of upstream `Mamba2.__init__` (`state-spaces/mamba`, `mamba_ssm/modules/mamba2.py`);
/// `d_model` is the instance's width D instead. Defaults are the grafting configuration
/// (`configs/sequence_mixers/mamba2.yaml`: `d_state 64, d_conv 4, expand 2, headdim 16`) and, for the rest, upstream's
/// defaults (`ngroups 1, chunk_size 256, norm_before_gate False`, RMSNorm `eps 1e-5`). Upstream options that the
/// grafting configuration leaves at a value with no alternative here (`d_ssm = d_inner`, `D_has_hdim False`,
/// `rmsnorm True`, `dt_limit (0, inf)`, `bias False`, `conv_bias True`) are fixed.
enum Mamba2Attributes {
    static let all: [AttributeSpec] = [
        AttributeSpec(
            "d_state", default: .int(64), doc: "SSM state size N per group (grafting: 64)", intRange: 1...4096),
        AttributeSpec(
            "d_conv", default: .int(4), doc: "taps of the causal depthwise conv1d over x, B, C (grafting: 4)",
            intRange: 1...1024),
        AttributeSpec("expand", default: .int(2), doc: "d_inner = expand * D (grafting: 2)", intRange: 1...64),
        AttributeSpec(
            "headdim", default: .int(16), doc: "channels P per SSM head; must divide d_inner (grafting: 16)",
            intRange: 1...65536),
        AttributeSpec(
            "ngroups", default: .int(1), doc: "groups sharing B and C (and RMSNorm groups); must divide nheads",
            intRange: 1...65536),
        AttributeSpec(
            "chunk_size", default: .int(256),
            doc: "tokens per SSD chunk: quadratic (matrix products) inside a chunk, a recurrence across chunks",
            intRange: 1...2048),
        AttributeSpec(
            "norm_before_gate", default: .bool(false),
            doc: "false: rmsnorm(y * silu(z)) (upstream default); true: rmsnorm(y) * silu(z)"),
        AttributeSpec("eps", default: .float(1e-5), doc: "epsilon of the gated RMSNorm", floatRange: 1e-12...1),
    ]
}

/// The sizes of one instance, validated from the attributes (upstream names in backticks).
struct Mamba2Dimensions: Sendable {
    /// `d_model`.
    let dim: Int
    /// `d_state` (N).
    let dState: Int
    /// `d_conv`.
    let dConv: Int
    /// `d_inner = expand * d_model`.
    let dInner: Int
    /// `headdim` (P).
    let headDim: Int
    /// `nheads = d_inner / headdim` (H).
    let heads: Int
    /// `ngroups` (G).
    let groups: Int
    /// `chunk_size` (Q).
    let chunkSize: Int
    let normBeforeGate: Bool
    let eps: Double

    /// `conv_dim = d_inner + 2 G N`: the channels of `xBC`.
    var convDim: Int { dInner + 2 * groups * dState }
    /// `d_in_proj = 2 d_inner + 2 G N + H`: `[z | xBC | dt]`.
    var inProjDim: Int { 2 * dInner + 2 * groups * dState + heads }
    /// Heads that share one group's B and C.
    var headsPerGroup: Int { heads / groups }
    /// Column of `xBC` in `[z | xBC | dt]`.
    var xBCOffset: Int { dInner }
    /// Column of `dt` in `[z | xBC | dt]`.
    var dtOffset: Int { dInner + convDim }

    /// Reads and checks the attributes; every message names the attribute and what was expected.
    init(config: KernelConfig) throws(PluginFailure) {
        dim = config.dim
        dState = Int(config.int("d_state"))
        dConv = Int(config.int("d_conv"))
        let expand = Int(config.int("expand"))
        headDim = Int(config.int("headdim"))
        groups = Int(config.int("ngroups"))
        chunkSize = Int(config.int("chunk_size"))
        normBeforeGate = config.bool("norm_before_gate")
        eps = config.double("eps")
        let (inner, overflow) = expand.multipliedReportingOverflow(by: dim)
        guard !overflow, inner <= Int(Int32.max) else {
            throw .invalid(
                "attribute 'expand' = \(expand) gives d_inner = expand * D beyond \(Int32.max) at D = \(dim)")
        }
        dInner = inner
        guard dInner % headDim == 0 else {
            throw .invalid(
                "attribute 'headdim' = \(headDim) must divide d_inner = expand * D = \(expand) * \(dim) = \(dInner)")
        }
        heads = dInner / headDim
        guard heads % groups == 0 else {
            throw .invalid(
                "attribute 'ngroups' = \(groups) must divide nheads = d_inner / headdim = \(dInner) / \(headDim) = \(heads)"
            )
        }
        // Every parameter, and each projection's extents, must stay within OpenBLAS's 32-bit integers.
        let projection = saturatingProduct(saturatingSum(2 * dInner, 2 * groups * dState, heads), dim)
        guard projection <= Int(Int32.max) else {
            throw .invalid(
                "in_proj.weight would have \(projection) elements (d_in_proj x D), more than \(Int32.max); reduce 'expand' or 'd_state'"
            )
        }
    }
}
