import OperatorABI
import PluginKit

/// Non-causal linear attention (Katharopoulos et al. 2020) as fast-transformers' `AttentionLayer` around
/// `LinearAttention` builds it: query/key/value projections, `phi(u) = elu(u) + 1`, per head
/// `O_l = phi(q_l)^T [sum_s phi(k_s) v_s^T] / (phi(q_l)^T sum_s phi(k_s) + 1e-6)` (no `1/sqrt(d)` scale), heads
/// concatenated, output projection; every projection has a bias.
///
/// Parameters are named and laid out as `mha`'s: fast-transformers' separate `query_projection`,
/// `key_projection` and `value_projection` (each `(D, D)` plus bias) are stacked in that order as `qkv.weight`
/// `(3D, D)` / `qkv.bias` `(3D,)`, which is timm's `'(three h d)'` split; `out_projection` is `proj.weight` /
/// `proj.bias`; fast-transformers' own names are declared as parts of these (ABI 1.5 state entries), so its
/// `AttentionLayer` state dict loads unchanged. Cost O(L D dh): per head, `KV` and `phi(Q) KV` are `gemm`s of L x dh by dh x dh
/// (``LinearAttentionCore``). A train-mode forward (ABI 1.4) saves `qkv` and `O` for backward (the per-head sums are
/// recomputed). No state is kept between calls, so one instance is re-entrant.
final class LinearAttentionKernel: OperatorKernel {
    let projections: AttentionProjections
    let core: LinearAttentionCore

    init(config: KernelConfig) throws(PluginFailure) {
        projections = try AttentionProjections(config: config, names: .timm)
        core = LinearAttentionCore(headDim: projections.headDim)
    }

    var parameters: [ParameterDecl] { projections.parameters }
    /// fast-transformers' `AttentionLayer` names: the three input projections are rows of `qkv`, the output
    /// projection is all of `proj`.
    var stateEntries: [StateEntryDecl] {
        let d = projections.dim
        var entries: [StateEntryDecl] = []
        for (k, name) in ["query", "key", "value"].enumerated() {
            entries.append(.part(name: "\(name)_projection.weight", parameter: 0, rows: k * d..<(k + 1) * d))
        }
        for (k, name) in ["query", "key", "value"].enumerated() {
            entries.append(.part(name: "\(name)_projection.bias", parameter: 1, rows: k * d..<(k + 1) * d))
        }
        entries.append(.part(name: "out_projection.weight", parameter: 2, rows: 0..<d))
        entries.append(.part(name: "out_projection.bias", parameter: 3, rows: 0..<d))
        return entries
    }
    var isCausal: Bool { false }
    var receptiveField: (left: Int64, right: Int64)? { (-1, -1) }

    func initialize<S: KernelScalar>(_ params: [TensorView<S>], seed: UInt64) {
        projections.initialize(params, seed: seed)
    }

    func workspaceElements(backward: Bool, batch: Int, length: Int) -> Int {
        projections.workspaceElements(
            backward: backward, batch: batch, length: length,
            scratchPerHead: core.scratchElements(backward: backward, length: length))
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        let scratch = core.scratchElements(backward: false, length: x.shape[1])
        try projections.forward(x, p, y, ws, scratchPerHead: scratch) { head in core.forward(head) }
    }

    /// `qkv` and `O` (``AttentionProjections/savedElements(batch:length:)``).
    func savedElements(batch: Int, length: Int) -> Int { projections.savedElements(batch: batch, length: length) }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace, saving saved: Workspace
    ) throws(PluginFailure) {
        let scratch = core.scratchElements(backward: false, length: x.shape[1])
        try projections.forward(x, p, y, ws, saving: saved, scratchPerHead: scratch) { head in core.forward(head) }
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace, saved: Workspace
    ) throws(PluginFailure) {
        try projections.backward(
            x, p, dy, dx: dx, dparams: dparams, ws, saved: saved,
            scratchPerHead: core.scratchElements(backward: true, length: x.shape[1]),
            forwardHead: { core.forward($0) }, backwardHead: { core.backward($0) })
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace
    ) throws(PluginFailure) {
        try projections.backward(
            x, p, dy, dx: dx, dparams: dparams, ws,
            scratchPerHead: core.scratchElements(backward: true, length: x.shape[1]),
            forwardHead: { core.forward($0) }, backwardHead: { core.backward($0) })
    }
}
