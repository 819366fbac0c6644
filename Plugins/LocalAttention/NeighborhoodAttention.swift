import OperatorABI
import PluginKit

/// 2D neighbourhood attention on the `H x W` token grid (token `i` is cell `(i / W, i % W)`): the math of `mha`
/// (`qkv`/`proj` parameters, softmax scale `1/sqrt(head_dim)`), each query attending a `kh x kw` window of keys.
///
/// - `border = shift` (NATTEN, dilation 1): the window's rows start at `clamp(r - kh/2, 0, H - kh)` (columns
///   likewise), so every query sees exactly `kh * kw` keys. A kernel larger than the grid is clamped to it on that
///   axis (NATTEN refuses that case; here the window is then the whole axis).
/// - `border = clip`: the keys `(r', c')` with `|r - r'| <= kh/2` and `|c - c'| <= kw/2`; the window shrinks at
///   the borders.
///
/// Cost O(L kh kw) per head (``WindowPlan``; a window holding more than half of the grid falls back to dense
/// per-head `gemm`s with the window as a mask). The declared receptive field in the 1D order is tight:
/// `reach_rows * W + reach_cols` on each side, where `reach = min(k, extent) - 1` for `shift` and
/// `min(k/2, extent - 1)` for `clip` (reached by a corner query). No state is kept between calls.
final class NeighborhoodAttentionKernel: OperatorKernel {
    let projections: AttentionProjections
    let geometry: WindowGeometry
    let attention: WindowedAttention

    init(config: KernelConfig) throws(PluginFailure) {
        let kernel = config.intList("kernel_size")
        guard kernel.count == 2, kernel.allSatisfy({ $0 >= 1 && $0 % 2 == 1 && $0 <= Int64(Int32.max) }) else {
            throw .invalid("attribute 'kernel_size' = \(kernel) must be two odd integers >= 1")
        }
        let (height, width) = (config.gridHeight, config.gridWidth)
        guard height >= 1, width >= 1, height <= Int(Int32.max) / width else {
            throw .invalid("the token grid \(height) x \(width) must be non-empty with H*W <= \(Int32.max)")
        }
        let border = config.string("border")
        let rule: (Int) -> AxisWindow.Rule
        switch border {
        case "shift": rule = { .shifted(size: $0) }
        case "clip": rule = { .offsets(before: $0 / 2, after: $0 / 2) }
        default: throw .invalid("attribute 'border' = '\(border)' is not one of shift, clip")
        }
        geometry = WindowGeometry(
            height: height, width: width, rows: AxisWindow(rule: rule(Int(kernel[0]))),
            cols: AxisWindow(rule: rule(Int(kernel[1]))))
        attention = WindowedAttention(plan: WindowPlan(geometry))
        projections = try AttentionProjections(config: config, names: .timm)
    }

    var parameters: [ParameterDecl] { projections.parameters }
    var isCausal: Bool { receptiveField?.right == 0 }
    var receptiveField: (left: Int64, right: Int64)? {
        let rows = geometry.rows.reach(extent: geometry.height)
        let cols = geometry.cols.reach(extent: geometry.width)
        return (Int64(rows.before * geometry.width + cols.before), Int64(rows.after * geometry.width + cols.after))
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
        let attention = self.attention
        try projections.weights(
            x, p, into: weights, ws, scratchPerHead: attention.scratchElements(backward: false)
        ) { head, dense in attention.weights(head, into: dense) }
    }

    func workspaceElements(backward: Bool, batch: Int, length: Int) -> Int {
        projections.workspaceElements(
            backward: backward, batch: batch, length: length,
            scratchPerHead: attention.scratchElements(backward: backward))
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace
    ) throws(PluginFailure) {
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
        try projections.backward(
            x, p, dy, dx: dx, dparams: dparams, ws, scratchPerHead: attention.scratchElements(backward: true),
            forwardHead: { attention.forward($0) }, backwardHead: { attention.backward($0) })
    }
}
