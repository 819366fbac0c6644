import OperatorABI
import PluginKit

/// flash-attn `MHA` with `window_size=(left, right)`, as grafting's `swa` configures it: the math of `mha`
/// (`Wqkv` split `'(three h d)'`, softmax scale `1/sqrt(head_dim)`, heads concatenated, `out_proj`) with query `i`
/// attending only the keys `i - left <= j <= i + right` of the 1D row-major token order (bounds included, `-1`
/// unbounded on that side; `causal` adds `j <= i`, i.e. `right = 0`, as flash-attn does).
///
/// Each query is scored only against its window's keys (``WindowPlan``): O(L (left + right + 1)) per head, not
/// O(L^2). A window holding more than half of the tokens (e.g. `(-1, -1)`) falls back to dense per-head `gemm`s
/// with the window as a mask, still O(L w). A train-mode forward saves `qkv` and `O` for backward (ABI 1.4). No state is kept between calls, so one
/// instance is re-entrant.
final class SlidingWindowAttentionKernel: OperatorKernel {
    let projections: AttentionProjections
    /// Keys before / after the query; `nil` is unbounded.
    let left: Int?
    let right: Int?

    init(config: KernelConfig) throws(PluginFailure) {
        let window = config.intList("window_size")
        guard window.count == 2, window.allSatisfy({ $0 >= -1 && $0 <= Int64(Int32.max) }) else {
            throw .invalid("attribute 'window_size' = \(window) must be two integers, each -1 (unbounded) or >= 0")
        }
        left = window[0] < 0 ? nil : Int(window[0])
        right = config.bool("causal") ? 0 : (window[1] < 0 ? nil : Int(window[1]))
        projections = try AttentionProjections(
            config: config,
            names: ProjectionNames(
                qkvWeight: "Wqkv.weight", qkvBias: config.bool("qkv_proj_bias") ? "Wqkv.bias" : nil,
                outWeight: "out_proj.weight", outBias: config.bool("out_proj_bias") ? "out_proj.bias" : nil))
    }

    var parameters: [ParameterDecl] { projections.parameters }
    var isCausal: Bool { right == 0 }
    var receptiveField: (left: Int64, right: Int64)? { (Int64(left ?? -1), Int64(right ?? -1)) }
    /// O(L w): linear when both sides of the window are bounded (`causal` bounds the right), quadratic when one is
    /// unbounded (w grows with L).
    var complexity: ComplexityClass? { left != nil && right != nil ? .linear : .quadratic }

    /// The window over L tokens, as the grid `1 x L`.
    private func attention(length: Int) -> WindowedAttention {
        WindowedAttention(
            plan: WindowPlan(
                WindowGeometry(
                    height: 1, width: length, rows: AxisWindow(rule: .offsets(before: 0, after: 0)),
                    cols: AxisWindow(rule: .offsets(before: left, after: right)))))
    }

    func initialize<S: KernelScalar>(_ params: [TensorView<S>], seed: UInt64) {
        projections.initialize(params, seed: seed)
    }

    var attentionHeads: Int? { projections.heads }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func attentionWeights<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], into weights: TensorView<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        let attention = attention(length: x.shape[1])
        try projections.weights(
            x, p, into: weights, ws, scratchPerHead: attention.scratchElements(backward: false)
        ) { head, dense in attention.weights(head, into: dense) }
    }

    func workspaceElements(backward: Bool, batch: Int, length: Int) -> Int {
        projections.workspaceElements(
            backward: backward, batch: batch, length: length,
            scratchPerHead: attention(length: length).scratchElements(backward: backward))
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        let attention = attention(length: x.shape[1])
        try projections.forward(x, p, y, ws, scratchPerHead: attention.scratchElements(backward: false)) { head in
            attention.forward(head)
        }
    }

    /// `qkv` and `O` (``AttentionProjections/savedElements(batch:length:)``).
    func savedElements(batch: Int, length: Int) -> Int { projections.savedElements(batch: batch, length: length) }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace, saving saved: Workspace
    ) throws(PluginFailure) {
        let attention = attention(length: x.shape[1])
        try projections.forward(
            x, p, y, ws, saving: saved, scratchPerHead: attention.scratchElements(backward: false)
        ) { head in attention.forward(head) }
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace, saved: Workspace
    ) throws(PluginFailure) {
        let attention = attention(length: x.shape[1])
        try projections.backward(
            x, p, dy, dx: dx, dparams: dparams, ws, saved: saved,
            scratchPerHead: attention.scratchElements(backward: true), forwardHead: { attention.forward($0) },
            backwardHead: { attention.backward($0) })
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace
    ) throws(PluginFailure) {
        let attention = attention(length: x.shape[1])
        try projections.backward(
            x, p, dy, dx: dx, dparams: dparams, ws, scratchPerHead: attention.scratchElements(backward: true),
            forwardHead: { attention.forward($0) }, backwardHead: { attention.backward($0) })
    }
}
