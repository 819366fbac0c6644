import PluginKit

/// The grafting convolutional MLP `mlp_hyena_x` (keshik6/grafting `src/operators/mlp/mlp_hyena_x.py`, "Hyena-X as
/// MLP"), with `H = r * D`:
///
///     u = Lin_in(x)                                                       (B, L, 3H)
///     uc[b, l, f] = short_b[l] + sum_j short_w[l, j] * u[b, l, f - (k-1) + j]   (0 where f - (k-1) + j < 0)
///     [q, k, v] = split_H(uc),  y = Lin_out(q * (k * v))
///
/// Upstream hands `u` to `causal_conv1d_fn` without a transpose, so the conv runs along the feature axis (crossing
/// the q | k | v boundaries), with the L token positions as its channels: one k-tap kernel per position, hence
/// L must equal `l_max`. Tokens never mix (receptive field 0).
///
/// Projections are single `gemm`s over all B*L tokens; the conv and the gate run on the host's `parallel_for`.
/// A train-mode forward (ABI 1.4) saves `u`, `uc` and the gated product in the host's buffer and backward starts
/// from them; otherwise backward recomputes them (nothing is kept between calls, so one instance is re-entrant).
final class MLPHyenaXKernel: OperatorKernel {
    let dim: Int
    /// Width `H = expansion_ratio * D` of each of q, k and v.
    let hidden: Int
    /// The one sequence length accepted (`l_max`), also the short filter's channel count.
    let length: Int
    /// Taps of `short_filter`.
    let taps: Int
    let parallel: ParallelFor

    /// Reported to the host (`fixed_length`), so callers and the conformance harness use L = l_max.
    var fixedLength: Int? { length }

    init(config: KernelConfig) throws(PluginFailure) {
        dim = config.dim
        let ratio = Int(config.int("expansion_ratio"))
        let (h, overflow) = dim.multipliedReportingOverflow(by: ratio)
        guard !overflow, h >= 1, h <= Int(Int32.max) / 3 else {
            throw .invalid(
                "attribute 'expansion_ratio' = \(ratio) gives in_proj width 3 * \(ratio) * \(dim), beyond OpenBLAS's 32-bit range"
            )
        }
        hidden = h
        length = Int(config.int("l_max"))
        taps = Int(config.int("short_filter_order"))
        try HyenaAttributes.checkStructure(config, dim: dim, maxLength: length)
        parallel = config.parallel
    }

    /// In data-flow order; names and shapes are the upstream `state_dict`'s.
    var parameters: [ParameterDecl] {
        [
            .init("in_proj.weight", [3 * hidden, dim]), .init("in_proj.bias", [3 * hidden]),
            .init("short_filter.weight", [length, 1, taps]), .init("short_filter.bias", [length]),
            .init("out_proj.weight", [dim, hidden]), .init("out_proj.bias", [dim]),
        ]
    }
    var isCausal: Bool { true }
    var receptiveField: (left: Int64, right: Int64)? { (0, 0) }

    /// PyTorch defaults: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` for weight and bias, `fan_in = D` (in_proj),
    /// `k` (the depthwise short_filter), `H` (out_proj).
    func initialize<S: KernelScalar>(_ params: [TensorView<S>], seed: UInt64) {
        typealias Stream = HyenaAttributes.Stream
        let plan = [
            (dim, Stream.inWeight), (dim, Stream.inBias), (taps, Stream.shortWeight), (taps, Stream.shortBias),
            (hidden, Stream.outWeight), (hidden, Stream.outBias),
        ]
        for (i, (fanIn, stream)) in plan.enumerated() {
            Initializer.linearUniform(params[i], fanIn: fanIn, seed: seed, index: stream)
        }
    }

    /// In units of `B*L*H`: forward keeps `u` (3), `uc` (3) and the gated product (1); backward adds `dg` (1) and
    /// `duc` (3). The gradient of `u` reuses the `uc` buffer.
    func workspaceElements(backward: Bool, batch: Int, length: Int) -> Int {
        let (perToken, o1) = hidden.multipliedReportingOverflow(by: backward ? 11 : 7)
        let (tokens, o2) = batch.multipliedReportingOverflow(by: length)
        let (total, o3) = perToken.multipliedReportingOverflow(by: tokens)
        return o1 || o2 || o3 ? -1 : total
    }

    private func checkShapes(batch: Int, length l: Int) throws(PluginFailure) {
        guard l == length else {
            throw .shape(
                "mlp_hyena_x needs L == l_max = \(length) tokens (its short filter has one kernel per token position), but x has L = \(l)"
            )
        }
        try checkBLASExtents(batch * l, 3 * hidden)
    }

    private func conv(batch: Int) -> CausalDepthwiseConv {
        .channelsFirst(batch: batch, channels: length, length: 3 * hidden, taps: taps)
    }

    /// `u` (3), `uc` (3) and the gated product (1), in units of `B*L*H`: what a train-mode forward saves.
    func savedElements(batch: Int, length: Int) -> Int {
        workspaceElements(backward: false, batch: batch, length: length)
    }

    /// `u = Lin_in(x)`, `uc = conv(u)`, `g = q * (k * v)`, taken from `ws` in that order.
    private func activations<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ ws: Workspace
    )
        throws(PluginFailure) -> (
            u: UnsafeMutablePointer<S>, uc: UnsafeMutablePointer<S>, gated: UnsafeMutablePointer<S>
        )
    {
        let b = x.shape[0]
        let rows = b * length
        let u: UnsafeMutablePointer<S> = try ws.take(rows * 3 * hidden)
        let uc: UnsafeMutablePointer<S> = try ws.take(rows * 3 * hidden)
        let gated: UnsafeMutablePointer<S> = try ws.take(rows * hidden)
        linear(
            x.base, rows: rows, inFeatures: dim, weight: p[0].base, bias: p[1].base, outFeatures: 3 * hidden, into: u,
            parallel: parallel)
        conv(batch: b).forward(u, weight: p[2].base, bias: p[3].base, into: uc, parallel: parallel)
        Gates.product(uc, rows: rows, width: hidden, into: gated, parallel: parallel)
        return (u, uc, gated)
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        try forward(x, p, y, activationsIn: ws)
    }

    /// The train-mode forward: the activations go to `saved` instead of the workspace.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace, saving saved: Workspace
    ) throws(PluginFailure) {
        try forward(x, p, y, activationsIn: saved)
    }

    private func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, activationsIn store: Workspace
    ) throws(PluginFailure) {
        try checkShapes(batch: x.shape[0], length: x.shape[1])
        let a = try activations(x, p, store)
        linear(
            a.gated, rows: x.shape[0] * length, inFeatures: hidden, weight: p[4].base, bias: p[5].base,
            outFeatures: dim,
            into: y.base, parallel: parallel)
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace
    ) throws(PluginFailure) {
        try checkShapes(batch: x.shape[0], length: x.shape[1])
        let a = try activations(x, p, ws)
        // du goes into the uc buffer, which is no longer read once the conv's backward has its output gradient.
        try backward(x, p, dy, dx: dx, dparams: dparams, ws, from: a, du: a.uc)
    }

    /// The backward from what a train-mode forward saved (read in the order forward took it, never written).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace, saved: Workspace
    ) throws(PluginFailure) {
        let b = x.shape[0]
        try checkShapes(batch: b, length: x.shape[1])
        let rows = b * length
        let a: (u: UnsafeMutablePointer<S>, uc: UnsafeMutablePointer<S>, gated: UnsafeMutablePointer<S>) = (
            try saved.take(rows * 3 * hidden), try saved.take(rows * 3 * hidden), try saved.take(rows * hidden)
        )
        try backward(x, p, dy, dx: dx, dparams: dparams, ws, from: a, du: try ws.take(rows * 3 * hidden))
    }

    /// The gradients from the forward's activations `a`; `du` receives the gradient of `u` (it may be `a.uc`'s
    /// buffer: `uc` is not read after the gate's backward).
    private func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace,
        from a: (u: UnsafeMutablePointer<S>, uc: UnsafeMutablePointer<S>, gated: UnsafeMutablePointer<S>),
        du: UnsafeMutablePointer<S>
    ) throws(PluginFailure) {
        let b = x.shape[0]
        let (rows, d, h) = (b * length, dim, hidden)

        // out_proj: dW = dy^T g, db = sum dy, dg = dy W.
        if let dW = dparams[4] {
            parallelGemm(
                transA: true, transB: false, m: d, n: h, k: rows, alpha: 1, a: dy.base, lda: d, b: a.gated, ldb: h,
                beta: 0, c: dW.base, ldc: h, parallel: parallel)
        }
        if let db = dparams[5] { columnSums(dy.base, rows: rows, columns: d, into: db.base) }
        let needInProj = dx != nil || dparams[0] != nil || dparams[1] != nil
        guard needInProj || dparams[2] != nil || dparams[3] != nil else { return }
        let dg: UnsafeMutablePointer<S> = try ws.take(rows * h)
        let duc: UnsafeMutablePointer<S> = try ws.take(rows * 3 * h)
        parallelGemm(
            transA: false, transB: false, m: rows, n: h, k: d, alpha: 1, a: dy.base, lda: d, b: p[4].base, ldb: h,
            beta: 0, c: dg, ldc: h, parallel: parallel)
        Gates.productBackward(a.uc, dg, rows: rows, width: h, into: duc, parallel: parallel)

        // short_filter.
        conv(batch: b).backward(
            input: a.u, weight: p[2].base, outputGradient: duc, inputGradient: needInProj ? du : nil,
            weightGradient: dparams[2]?.base, biasGradient: dparams[3]?.base, parallel: parallel)
        guard needInProj else { return }

        // in_proj: dW = du^T x, db = sum du, dx = du W.
        if let dW = dparams[0] {
            parallelGemm(
                transA: true, transB: false, m: 3 * h, n: d, k: rows, alpha: 1, a: du, lda: 3 * h, b: x.base, ldb: d,
                beta: 0, c: dW.base, ldc: d, parallel: parallel)
        }
        if let db = dparams[1] { columnSums(du, rows: rows, columns: 3 * h, into: db.base) }
        if let dx {
            parallelGemm(
                transA: false, transB: false, m: rows, n: d, k: 3 * h, alpha: 1, a: du, lda: 3 * h, b: p[0].base,
                ldb: d, beta: 0, c: dx.base, ldc: d, parallel: parallel)
        }
    }
}
