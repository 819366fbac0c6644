import PluginKit

/// The grafting Hyena token mixers `hyena_x`, `hyena_se` and `hyena_y` (keshik6/grafting
/// `src/operators/hyena/hyena_{x,se,y}.py`, order 2), one kernel type per ``HyenaVariant``:
///
///     u = Lin_in(x)                                  (B, L, 3D)
///     [q, k, v] = split_D(CC_ks(u; short))           X, SE      ([q, k, v] = split_D(u) for Y)
///     y = Lin_out(q * (k * v))                       X
///     y = Lin_out(q * CC_ki(k * v; inner))           SE, Y
///
/// `CC_k` is the causal depthwise conv along the tokens (``CausalDepthwiseConv``). The gating order is upstream's:
/// `k * v` first, then the inner filter, then the product with `q`. Hyena-SE builds its inner filter with
/// `kernel_size = short_filter_order` (its `inner_filter_len` only sets an unused padding); Hyena-Y's inner filter
/// has `inner_filter_len` taps. Output token t therefore sees tokens `t - left ... t` with `left = ks - 1` (X),
/// `2 (ks - 1)` (SE) or `ki - 1` (Y).
///
/// Projections are single `gemm`s over all B*L tokens; convs and gates run on the host's `parallel_for`. A
/// train-mode forward (ABI 1.4) saves its intermediate tensors (``Activations``) into the host's buffer and backward
/// starts from them; otherwise backward recomputes them. Nothing is kept between calls, so one instance is
/// re-entrant.
final class HyenaMixerKernel<Tag: HyenaVariantTag>: OperatorKernel {
    let dim: Int
    /// Longest sequence accepted (upstream `l_max`: longer inputs are cut to `l_max` tokens, which would change the
    /// output's shape, so they are refused).
    let maxLength: Int
    /// Taps of `short_filter` (0 for Hyena-Y).
    let shortTaps: Int
    /// Taps of `inner_filter` (0 for Hyena-X).
    let innerTaps: Int
    let parallel: ParallelFor

    var variant: HyenaVariant { Tag.variant }

    init(config: KernelConfig) throws(PluginFailure) {
        dim = config.dim
        maxLength = Int(config.int("l_max"))
        try HyenaAttributes.checkStructure(config, dim: dim, maxLength: maxLength)
        switch Tag.variant {
        case .x:
            shortTaps = Int(config.int("short_filter_order"))
            innerTaps = 0
        case .se:
            shortTaps = Int(config.int("short_filter_order"))
            innerTaps = shortTaps  // upstream quirk: kernel_size=short_filter_order
        case .y:
            shortTaps = 0
            innerTaps = Int(config.int("inner_filter_len"))
        }
        parallel = config.parallel
    }

    /// Positions of each parameter in ``parameters`` (nil: the variant has no such filter).
    private var index:
        (inW: Int, inB: Int, shortW: Int?, shortB: Int?, innerW: Int?, innerB: Int?, outW: Int, outB: Int)
    {
        switch variant {
        case .x: (0, 1, 2, 3, nil, nil, 4, 5)
        case .se: (0, 1, 2, 3, 4, 5, 6, 7)
        case .y: (0, 1, nil, nil, 2, 3, 4, 5)
        }
    }

    /// In data-flow order: `in_proj`, `short_filter` (X, SE), `inner_filter` (SE, Y), `out_proj`; names and shapes
    /// are the upstream `state_dict`'s (conv weights `(C, 1, k)`).
    var parameters: [ParameterDecl] {
        let d = dim
        var list: [ParameterDecl] = [.init("in_proj.weight", [3 * d, d]), .init("in_proj.bias", [3 * d])]
        if variant.hasShortFilter {
            list += [.init("short_filter.weight", [3 * d, 1, shortTaps]), .init("short_filter.bias", [3 * d])]
        }
        if variant.hasInnerFilter {
            list += [.init("inner_filter.weight", [d, 1, innerTaps]), .init("inner_filter.bias", [d])]
        }
        return list + [.init("out_proj.weight", [d, d]), .init("out_proj.bias", [d])]
    }
    var isCausal: Bool { true }
    var receptiveField: (left: Int64, right: Int64)? {
        (Int64(max(0, shortTaps - 1) + max(0, innerTaps - 1)), 0)
    }

    /// PyTorch defaults: `nn.Linear` and `nn.Conv1d` draw weight and bias from `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`
    /// (`fan_in = D` for the projections, `k` for a depthwise conv); the inner filter is the identity (last tap 1,
    /// bias 0). Streams are keyed by parameter name, not position, so `hyena_x` and `hyena_se` created with the same
    /// seed share `in_proj`, `short_filter` and `out_proj`, and are then equal.
    func initialize<S: KernelScalar>(_ params: [TensorView<S>], seed: UInt64) {
        let idx = index
        Initializer.linearUniform(params[idx.inW], fanIn: dim, seed: seed, index: HyenaAttributes.Stream.inWeight)
        Initializer.linearUniform(params[idx.inB], fanIn: dim, seed: seed, index: HyenaAttributes.Stream.inBias)
        Initializer.linearUniform(params[idx.outW], fanIn: dim, seed: seed, index: HyenaAttributes.Stream.outWeight)
        Initializer.linearUniform(params[idx.outB], fanIn: dim, seed: seed, index: HyenaAttributes.Stream.outBias)
        if let w = idx.shortW, let b = idx.shortB {
            Initializer.linearUniform(
                params[w], fanIn: shortTaps, seed: seed, index: HyenaAttributes.Stream.shortWeight)
            Initializer.linearUniform(params[b], fanIn: shortTaps, seed: seed, index: HyenaAttributes.Stream.shortBias)
        }
        if let w = idx.innerW, let b = idx.innerB {
            HyenaAttributes.identityFilter(params[w], channels: dim, taps: innerTaps)
            Initializer.constant(params[b], 0)
        }
    }

    /// In units of `B*L*D`: forward keeps `u` (3), `uc` (3, X and SE), `k*v` and its filtered copy (2, SE and Y)
    /// and the gated product (1); backward adds `dg` (1), `d[q,k,v]` (3) and, with an inner filter, the gradients
    /// of its output and input (2). The gradient of `u` reuses the `uc` buffer.
    func workspaceElements(backward: Bool, batch: Int, length: Int) -> Int {
        let units =
            4 + (variant.hasShortFilter ? 3 : 0) + (variant.hasInnerFilter ? 2 : 0)
            + (backward ? 4 + (variant.hasInnerFilter ? 2 : 0) : 0)
        let (perToken, o1) = dim.multipliedReportingOverflow(by: units)
        let (tokens, o2) = batch.multipliedReportingOverflow(by: length)
        let (total, o3) = perToken.multipliedReportingOverflow(by: tokens)
        return o1 || o2 || o3 ? -1 : total
    }

    /// The forward's intermediate tensors, all of them saved by a train-mode forward.
    func savedElements(batch: Int, length: Int) -> Int {
        workspaceElements(backward: false, batch: batch, length: length)
    }

    /// The forward's intermediate tensors (rows = B*L).
    private struct Activations<S: KernelScalar> {
        /// `Lin_in(x)`, `rows x 3D`.
        let u: UnsafeMutablePointer<S>
        /// `[q, k, v]`: `CC(u; short)` in its own buffer (X, SE), or `u` itself (Y).
        let qkv: UnsafeMutablePointer<S>
        /// `k * v` (SE, Y).
        let kv: UnsafeMutablePointer<S>?
        /// `CC(k * v; inner)` (SE, Y).
        let filtered: UnsafeMutablePointer<S>?
        /// The gated product that `out_proj` reads, `rows x D`.
        let gated: UnsafeMutablePointer<S>
    }

    private func shortConv(batch: Int, length: Int) -> CausalDepthwiseConv {
        .channelsLast(batch: batch, length: length, channels: 3 * dim, taps: shortTaps)
    }

    private func innerConv(batch: Int, length: Int) -> CausalDepthwiseConv {
        .channelsLast(batch: batch, length: length, channels: dim, taps: innerTaps)
    }

    private func checkShapes(batch: Int, length: Int) throws(PluginFailure) {
        guard length <= maxLength else {
            throw .shape(
                "x has L = \(length) tokens, more than attribute 'l_max' = \(maxLength) (upstream cuts the sequence to l_max)"
            )
        }
        try checkBLASExtents(batch * length, 3 * dim)
    }

    /// Where the intermediate tensors of a call at B*L = `rows` live in `store` (the workspace, or a train-mode
    /// forward's saved buffer): always taken in this order.
    private func layout<S: KernelScalar>(rows: Int, in store: Workspace) throws(PluginFailure) -> Activations<S> {
        let d = dim
        let u: UnsafeMutablePointer<S> = try store.take(rows * 3 * d)
        let qkv: UnsafeMutablePointer<S> = variant.hasShortFilter ? try store.take(rows * 3 * d) : u
        let gated: UnsafeMutablePointer<S> = try store.take(rows * d)
        guard variant.hasInnerFilter else { return Activations(u: u, qkv: qkv, kv: nil, filtered: nil, gated: gated) }
        let kv: UnsafeMutablePointer<S> = try store.take(rows * d)
        let filtered: UnsafeMutablePointer<S> = try store.take(rows * d)
        return Activations(u: u, qkv: qkv, kv: kv, filtered: filtered, gated: gated)
    }

    /// Everything up to (and including) the gated product, into `a`.
    private func compute<S: KernelScalar>(_ x: TensorView<S>, _ p: [TensorView<S>], into a: Activations<S>) {
        let (b, l, d) = (x.shape[0], x.shape[1], dim)
        let rows = b * l
        let idx = index
        linear(
            x.base, rows: rows, inFeatures: d, weight: p[idx.inW].base, bias: p[idx.inB].base, outFeatures: 3 * d,
            into: a.u, parallel: parallel)
        if let w = idx.shortW, let bias = idx.shortB {
            shortConv(batch: b, length: l).forward(
                a.u, weight: p[w].base, bias: p[bias].base, into: a.qkv, parallel: parallel)
        }
        guard let w = idx.innerW, let bias = idx.innerB, let kv = a.kv, let filtered = a.filtered else {
            Gates.product(a.qkv, rows: rows, width: d, into: a.gated, parallel: parallel)
            return
        }
        Gates.keyValue(a.qkv, rows: rows, width: d, into: kv, parallel: parallel)
        innerConv(batch: b, length: l).forward(
            kv, weight: p[w].base, bias: p[bias].base, into: filtered, parallel: parallel)
        Gates.query(a.qkv, filtered, rows: rows, width: d, into: a.gated, parallel: parallel)
    }

    @_specialize(where S == Float, Tag == HyenaXTag)
    @_specialize(where S == Float, Tag == HyenaSETag)
    @_specialize(where S == Float, Tag == HyenaYTag)
    @_specialize(where S == Double, Tag == HyenaXTag)
    @_specialize(where S == Double, Tag == HyenaSETag)
    @_specialize(where S == Double, Tag == HyenaYTag)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        try forward(x, p, y, activationsIn: ws)
    }

    @_specialize(where S == Float, Tag == HyenaXTag)
    @_specialize(where S == Float, Tag == HyenaSETag)
    @_specialize(where S == Float, Tag == HyenaYTag)
    @_specialize(where S == Double, Tag == HyenaXTag)
    @_specialize(where S == Double, Tag == HyenaSETag)
    @_specialize(where S == Double, Tag == HyenaYTag)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace, saving saved: Workspace
    ) throws(PluginFailure) {
        try forward(x, p, y, activationsIn: saved)
    }

    /// The forward with its intermediate tensors in `store`.
    private func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, activationsIn store: Workspace
    ) throws(PluginFailure) {
        try checkShapes(batch: x.shape[0], length: x.shape[1])
        let a: Activations<S> = try layout(rows: x.shape[0] * x.shape[1], in: store)
        compute(x, p, into: a)
        let idx = index
        linear(
            a.gated, rows: x.shape[0] * x.shape[1], inFeatures: dim, weight: p[idx.outW].base, bias: p[idx.outB].base,
            outFeatures: dim, into: y.base, parallel: parallel)
    }

    @_specialize(where S == Float, Tag == HyenaXTag)
    @_specialize(where S == Float, Tag == HyenaSETag)
    @_specialize(where S == Float, Tag == HyenaYTag)
    @_specialize(where S == Double, Tag == HyenaXTag)
    @_specialize(where S == Double, Tag == HyenaSETag)
    @_specialize(where S == Double, Tag == HyenaYTag)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace
    ) throws(PluginFailure) {
        try checkShapes(batch: x.shape[0], length: x.shape[1])
        let a: Activations<S> = try layout(rows: x.shape[0] * x.shape[1], in: ws)
        compute(x, p, into: a)
        // The recomputed [q, k, v] buffer is the workspace's: the gradient of u may overwrite it.
        try backward(x, p, dy, dx: dx, dparams: dparams, from: a, du: a.qkv, ws)
    }

    @_specialize(where S == Float, Tag == HyenaXTag)
    @_specialize(where S == Float, Tag == HyenaSETag)
    @_specialize(where S == Float, Tag == HyenaYTag)
    @_specialize(where S == Double, Tag == HyenaXTag)
    @_specialize(where S == Double, Tag == HyenaSETag)
    @_specialize(where S == Double, Tag == HyenaYTag)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace, saved: Workspace
    ) throws(PluginFailure) {
        let rows = x.shape[0] * x.shape[1]
        try checkShapes(batch: x.shape[0], length: x.shape[1])
        let a: Activations<S> = try layout(rows: rows, in: saved)
        // The saved buffer is read-only: the gradient of u goes to the workspace.
        let du: UnsafeMutablePointer<S> = variant.hasShortFilter ? try ws.take(rows * 3 * dim) : a.qkv
        try backward(x, p, dy, dx: dx, dparams: dparams, from: a, du: du, ws)
    }

    /// The backward from the intermediate tensors `a` (read only, except that `du`, `rows x 3D`, receives the
    /// gradient of `u` when there is a short filter; it may be `a.qkv` when `a` is the workspace's).
    private func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        from a: Activations<S>, du duBuffer: UnsafeMutablePointer<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        let (b, l, d) = (x.shape[0], x.shape[1], dim)
        let rows = b * l
        let idx = index

        // out_proj: dW = dy^T g, db = sum dy, dg = dy W.
        if let dW = dparams[idx.outW] {
            parallelGemm(
                transA: true, transB: false, m: d, n: d, k: rows, alpha: 1, a: dy.base, lda: d, b: a.gated, ldb: d,
                beta: 0, c: dW.base, ldc: d, parallel: parallel)
        }
        if let db = dparams[idx.outB] { columnSums(dy.base, rows: rows, columns: d, into: db.base) }
        let needInProj = dx != nil || dparams[idx.inW] != nil || dparams[idx.inB] != nil
        let needShort = [idx.shortW, idx.shortB].contains { $0.map { dparams[$0] != nil } ?? false }
        let needInner = [idx.innerW, idx.innerB].contains { $0.map { dparams[$0] != nil } ?? false }
        let needQKV = needInProj || needShort
        guard needQKV || needInner else { return }
        let dg: UnsafeMutablePointer<S> = try ws.take(rows * d)
        parallelGemm(
            transA: false, transB: false, m: rows, n: d, k: d, alpha: 1, a: dy.base, lda: d, b: p[idx.outW].base,
            ldb: d,
            beta: 0, c: dg, ldc: d, parallel: parallel)

        // Gates (and the inner filter): d[q, k, v].
        let dqkv: UnsafeMutablePointer<S> = try ws.take(rows * 3 * d)
        if let w = idx.innerW, let bias = idx.innerB, let kv = a.kv, let filtered = a.filtered {
            let dFiltered: UnsafeMutablePointer<S> = try ws.take(rows * d)
            let dkv: UnsafeMutablePointer<S> = try ws.take(rows * d)
            Gates.queryBackward(
                a.qkv, filtered, dg, rows: rows, width: d, dqkv: dqkv, df: dFiltered, parallel: parallel)
            innerConv(batch: b, length: l).backward(
                input: kv, weight: p[w].base, outputGradient: dFiltered, inputGradient: needQKV ? dkv : nil,
                weightGradient: dparams[w]?.base, biasGradient: dparams[bias]?.base, parallel: parallel)
            guard needQKV else { return }
            Gates.keyValueBackward(a.qkv, dkv, rows: rows, width: d, into: dqkv, parallel: parallel)
        } else {
            Gates.productBackward(a.qkv, dg, rows: rows, width: d, into: dqkv, parallel: parallel)
        }

        // short_filter: d u (into `duBuffer`: [q, k, v] is no longer read).
        var du = dqkv
        if let w = idx.shortW, let bias = idx.shortB {
            du = duBuffer
            shortConv(batch: b, length: l).backward(
                input: a.u, weight: p[w].base, outputGradient: dqkv, inputGradient: needInProj ? du : nil,
                weightGradient: dparams[w]?.base, biasGradient: dparams[bias]?.base, parallel: parallel)
        }
        guard needInProj else { return }

        // in_proj: dW = du^T x, db = sum du, dx = du W.
        if let dW = dparams[idx.inW] {
            parallelGemm(
                transA: true, transB: false, m: 3 * d, n: d, k: rows, alpha: 1, a: du, lda: 3 * d, b: x.base, ldb: d,
                beta: 0, c: dW.base, ldc: d, parallel: parallel)
        }
        if let db = dparams[idx.inB] { columnSums(du, rows: rows, columns: 3 * d, into: db.base) }
        if let dx {
            parallelGemm(
                transA: false, transB: false, m: rows, n: d, k: 3 * d, alpha: 1, a: du, lda: 3 * d, b: p[idx.inW].base,
                ldb: d, beta: 0, c: dx.base, ldc: d, parallel: parallel)
        }
    }
}
