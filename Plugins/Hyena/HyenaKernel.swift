import Foundation
import PluginKit

/// safari's original `HyenaOperator` (`src/models/sequence/hyena.py`, docs/OPERATORS.md section 7), with `o = order`,
/// `P = o + 1` and the implicit filter `h = HyenaFilter.filter(L)` of ``ImplicitFilter`` (`C = D (o - 1)` channels):
///
///     [x_0, ..., x_{o-1}, v] = split_D(CC_ks(Lin_in(x); short_filter))
///     for j = 0 ... o-2 (i = o-1-j):  a = v * x_i,  v = LC(a; k_j) + bias_j * a
///     y = Lin_out(v * x_0)
///
/// where `k_j[c] = h[:, c (o-1) + j]` and `bias_j[c] = filter_fn.bias[c (o-1) + j]` (upstream's
/// `'c l (v o) -> c o v l'` interleaving) and `LC` is the causal long convolution of ``LongConvolution``, through
/// FFTs: KISS FFT for float32, ``RadixTwoRealFFT`` for float64. Upstream cuts inputs longer than `l_max`; they are
/// refused here. The filter uses the first `L` rows of `z` and of `t` (upstream `z[:, :L]`).
///
/// Backward recomputes the forward, unless a train-mode forward (ABI 1.4) saved its tensors (`u`, `uc`, the gate
/// products and convolution outputs, the gated product, the filter's float64 weights and activations) for it. FFT
/// plans live in the call's workspace (one set per parallel task), so an instance keeps no mutable state and is
/// re-entrant.
final class HyenaKernel: OperatorKernel {
    let dim: Int
    let order: Int
    let maxLength: Int
    let shortTaps: Int
    let initialFrequency: Double
    let filter: ImplicitFilter
    let parallel: ParallelFor

    init(config: KernelConfig) throws(PluginFailure) {
        try HyenaOperatorAttributes.check(config)
        dim = config.dim
        order = Int(config.int("order"))
        maxLength = Int(config.int("l_max"))
        shortTaps = Int(config.int("short_filter_order"))
        initialFrequency = config.double("w")
        try checkBLASExtents((order + 1) * dim, (order - 1) * dim)
        filter = ImplicitFilter(
            embedding: Int(config.int("emb_dim")), width: Int(config.int("filter_order")),
            inner: Int(config.int("num_inner_mlps")), channels: (order - 1) * dim, maxLength: maxLength,
            modulate: config.bool("modulate"), shift: config.double("shift"),
            fastDecay: config.double("fast_decay_pct"),
            slowDecay: config.double("slow_decay_pct"), target: config.double("target"))
        parallel = config.parallel
    }

    /// Positions of the parameters in ``parameters``.
    private struct Index {
        let inner: Int
        let inW = 0, inB = 1, shortW = 2, shortB = 3, z = 4, freq = 7
        /// Filter MLP layer `i` (0 ... inner): weight and bias.
        func layer(_ i: Int) -> (weight: Int, bias: Int) { i == 0 ? (5, 6) : (6 + 2 * i, 7 + 2 * i) }
        var filterOut: Int { 8 + 2 * inner }
        var filterBias: Int { 9 + 2 * inner }
        var outW: Int { 10 + 2 * inner }
        var outB: Int { 11 + 2 * inner }
    }
    private var index: Index { Index(inner: filter.inner) }

    /// Upstream `state_dict` names and shapes. The shared `Sin` sits at `implicit_filter.1`, `.3`, `.5`, ...; its one
    /// tensor is reported under its first name, `filter_fn.implicit_filter.1.freq` (the others are aliases).
    var parameters: [ParameterDecl] {
        let (d, p, c, f, e) = (dim, (order + 1) * dim, filter.channels, filter.width, filter.embedding)
        var list: [ParameterDecl] = [
            .init("in_proj.weight", [p, d]), .init("in_proj.bias", [p]),
            .init("short_filter.weight", [p, 1, shortTaps]), .init("short_filter.bias", [p]),
            .init("filter_fn.pos_emb.z", [1, maxLength, e]),
            .init("filter_fn.implicit_filter.0.weight", [f, e]), .init("filter_fn.implicit_filter.0.bias", [f]),
            .init("filter_fn.implicit_filter.1.freq", [1, f]),
        ]
        for i in stride(from: 1, through: filter.inner, by: 1) {
            list += [
                .init("filter_fn.implicit_filter.\(2 * i).weight", [f, f]),
                .init("filter_fn.implicit_filter.\(2 * i).bias", [f]),
            ]
        }
        list += [
            .init("filter_fn.implicit_filter.\(2 * (filter.inner + 1)).weight", [c, f]), .init("filter_fn.bias", [c]),
            .init("out_proj.weight", [d, d]), .init("out_proj.bias", [d]),
        ]
        return list
    }
    /// Upstream's other `state_dict` entries (ABI 1.5): the buffers `filter_fn.pos_emb.t` (`linspace(0, 1, l_max)`,
    /// `(1, l_max, 1)`) and `filter_fn.modulation.deltas` (`(1, 1, C)`), and the shared `Sin`'s `freq` under the
    /// names of its later uses (`implicit_filter.3.freq`, ...), tied to `implicit_filter.1.freq`.
    var stateEntries: [StateEntryDecl] {
        var entries: [StateEntryDecl] = [
            .buffer(name: "filter_fn.pos_emb.t", shape: [1, maxLength, 1], values: (0..<maxLength).map(filter.time)),
            .buffer(name: "filter_fn.modulation.deltas", shape: [1, 1, filter.channels], values: filter.deltas),
        ]
        for i in stride(from: 1, through: filter.inner, by: 1) {
            entries.append(.alias(name: "filter_fn.implicit_filter.\(2 * i + 1).freq", parameter: index.freq))
        }
        return entries
    }
    /// Causal, as the math is. The FFT mixes every position of the padded signal, so a change to token s still moves
    /// outputs t < s by rounding (~1e-16 of the output's scale in float64, ~1e-7 in float32); `zoo conform`'s
    /// `receptive_field` check allows 16 ulp of the output's scale for exactly this, and nothing more.
    var isCausal: Bool { true }
    /// Unbounded to the left (the long filter spans the whole sequence), none to the right (causal).
    var receptiveField: (left: Int64, right: Int64)? { nil }

    /// Upstream initialisation: `nn.Linear`/`nn.Conv1d` defaults `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` (fan_in D for
    /// in_proj and out_proj, `short_filter_order` for the depthwise conv, E or F for the filter MLP),
    /// `filter_fn.bias ~ N(0, 1)` (`torch.randn`), `freq = w`, `z` from the positional-embedding formula.
    func initialize<S: KernelScalar>(_ params: [TensorView<S>], seed: UInt64) {
        typealias Stream = HyenaAttributes.Stream
        let idx = index
        Initializer.linearUniform(params[idx.inW], fanIn: dim, seed: seed, index: Stream.inWeight)
        Initializer.linearUniform(params[idx.inB], fanIn: dim, seed: seed, index: Stream.inBias)
        Initializer.linearUniform(params[idx.shortW], fanIn: shortTaps, seed: seed, index: Stream.shortWeight)
        Initializer.linearUniform(params[idx.shortB], fanIn: shortTaps, seed: seed, index: Stream.shortBias)
        Initializer.linearUniform(params[idx.outW], fanIn: dim, seed: seed, index: Stream.outWeight)
        Initializer.linearUniform(params[idx.outB], fanIn: dim, seed: seed, index: Stream.outBias)
        filter.positionalEmbedding(into: params[idx.z].base)
        let first = HyenaOperatorAttributes.Stream.filterLayer
        for i in 0...filter.inner {
            let fanIn = i == 0 ? filter.embedding : filter.width
            Initializer.linearUniform(params[idx.layer(i).weight], fanIn: fanIn, seed: seed, index: first + 2 * i)
            Initializer.linearUniform(params[idx.layer(i).bias], fanIn: fanIn, seed: seed, index: first + 2 * i + 1)
        }
        Initializer.linearUniform(
            params[idx.filterOut], fanIn: filter.width, seed: seed, index: first + 2 * (filter.inner + 1))
        Initializer.constant(params[idx.freq], initialFrequency)
        // torch.randn: Box-Muller on the parameter's own stream.
        var rng = Initializer.generator(seed: seed, index: HyenaOperatorAttributes.Stream.filterBias)
        let bias = params[idx.filterBias]
        for i in 0..<bias.count {
            let (u1, u2) = (1 - rng.unit(), rng.unit())
            bias.base[i] = S((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
        }
    }

    // MARK: Workspace

    /// Float64 scalars of the filter parameters converted for one call (z[:L], the MLP, W_out).
    private func weightCount(length l: Int) -> Int {
        let (e, f, c) = (filter.embedding, filter.width, filter.channels)
        return saturatingSum(
            saturatingProduct(l, e), f * e + f, saturatingProduct(filter.inner, f * f + f), f, saturatingProduct(c, f))
    }

    /// FFT tasks: one per host thread.
    private var tasks: Int { max(1, parallel.threads) }

    private func fftBytes(length l: Int) -> Int {
        max(LongConvolution<KissRealFFT>.taskBytes(length: l), LongConvolution<RadixTwoRealFFT>.taskBytes(length: l))
    }

    /// In 8-byte units, the tensors forward computes and backward reads (see ``layout(_:rows:length:in:scratchFrom:computed:)``): `u` and
    /// `uc` (`P D` per token each), `o - 1` gate products `a_j` and convolution outputs `v_{j+1}`, the gated product;
    /// the filter's float64 weights and activations. A call with L > l_max is refused with a shape error naming
    /// l_max; the filter's part is sized for at most l_max, the per-token buffers for the L asked (absurd B*L
    /// saturate).
    private func activationElements(batch: Int, length requested: Int) -> Int {
        let length = min(requested, maxLength)
        let perToken = saturatingSum(2 * (order + 1) * dim, 2 * (order - 1) * dim, dim)
        return saturatingSum(
            saturatingProduct(saturatingProduct(batch, requested), perToken), weightCount(length: length),
            filter.activationCount(length: length))
    }

    /// In 8-byte units. Forward: the activations and FFT scratch per task. Backward adds `d g`, two `d v` buffers and
    /// `d a` (`D` per token each), `d uc` (`P D`), the filter's float64 gradients and gradient activations; from a
    /// saved buffer it takes `d u` (`P D` per token) instead of the activations.
    func workspaceElements(backward: Bool, batch: Int, length requested: Int) -> Int {
        let length = min(requested, maxLength)
        let rows = saturatingProduct(batch, requested)
        var total = saturatingSum(
            activationElements(batch: batch, length: requested),
            saturatingProduct(tasks, fftBytes(length: length)) / 8 + 8)
        if backward {
            total = saturatingSum(
                total, saturatingProduct(rows, (order + 5) * dim), filter.gradientCount(length: length),
                weightCount(length: length))
        }
        return total == Int.max ? -1 : total
    }

    /// The activations, which a train-mode forward saves.
    func savedElements(batch: Int, length: Int) -> Int {
        let total = activationElements(batch: batch, length: length)
        return total == Int.max ? -1 : total
    }

    // MARK: Forward

    /// The filter's float64 parameters in `memory` (``weightCount(length:)`` scalars), each `view`'s elements at their
    /// place; `copy` true copies them there from the call's tensors, false only points at what a train-mode forward
    /// copied.
    private func weights<S: KernelScalar>(
        _ p: [TensorView<S>], length l: Int, in memory: UnsafeMutablePointer<Double>, copy: Bool
    )
        -> ImplicitFilter.Weights
    {
        let idx = index
        var cursor = memory
        func place(_ view: TensorView<S>, count: Int) -> UnsafePointer<Double> {
            let start = cursor
            if copy { for i in 0..<count { start[i] = Double(view.base[i]) } }
            cursor += count
            return UnsafePointer(start)
        }
        let z = place(p[idx.z], count: l * filter.embedding)
        let layers = (0...filter.inner).map { i in
            (
                weight: place(p[idx.layer(i).weight], count: p[idx.layer(i).weight].count),
                bias: place(p[idx.layer(i).bias], count: filter.width)
            )
        }
        let freq = place(p[idx.freq], count: filter.width)
        let output = place(p[idx.filterOut], count: p[idx.filterOut].count)
        return ImplicitFilter.Weights(z: z, layers: layers, freq: freq, output: output)
    }

    /// Everything the forward computes, kept for the backward.
    private struct Activations<S: KernelScalar> {
        let u: UnsafeMutablePointer<S>
        let uc: UnsafeMutablePointer<S>
        /// `a_j`, `rows x D` each, `o - 1` of them.
        let products: UnsafeMutablePointer<S>
        /// `v_{j+1}`, `rows x D` each, `o - 1` of them.
        let outputs: UnsafeMutablePointer<S>
        let gated: UnsafeMutablePointer<S>
        let weights: ImplicitFilter.Weights
        let filterActivations: UnsafeMutablePointer<Double>
        let h: UnsafeMutablePointer<Double>
        let scratch: UnsafeMutableRawPointer
    }

    private func checkShapes(batch: Int, length: Int) throws(PluginFailure) {
        guard length <= maxLength else {
            throw .shape(
                "x has L = \(length) tokens, more than attribute 'l_max' = \(maxLength) (pos_emb.z has l_max positions; upstream would cut the sequence)"
            )
        }
        try checkBLASExtents(batch * length, (order + 1) * dim)
    }

    /// Row `r` of `x_i` (`i < o`) or of `v_0` (`i = o`) inside `uc`.
    private func slice<S>(_ uc: UnsafeMutablePointer<S>, _ i: Int) -> ChannelProduct.Rows<UnsafePointer<S>> {
        .init(base: UnsafePointer(uc + i * dim), stride: (order + 1) * dim)
    }

    /// `v_j`: `v_0` inside `uc`, later ones in `outputs`.
    private func state<S>(_ a: Activations<S>, _ j: Int, rows: Int) -> ChannelProduct.Rows<UnsafePointer<S>> {
        j == 0 ? slice(a.uc, order) : .init(base: UnsafePointer(a.outputs + (j - 1) * rows * dim), stride: dim)
    }

    /// Where the activations of a call at B*L = `rows` live in `store` (the workspace, or a train-mode forward's saved
    /// buffer), always taken in this order, with the FFT scratch from `ws`. `computed` false: `store` already holds
    /// them (a saved buffer), so the filter's weights are only located, not copied.
    private func layout<S: KernelScalar>(
        _ p: [TensorView<S>], rows: Int, length l: Int, in store: Workspace, scratchFrom ws: Workspace,
        computed: Bool
    ) throws(PluginFailure) -> Activations<S> {
        let (d, width) = (dim, (order + 1) * dim)
        let u: UnsafeMutablePointer<S> = try store.take(rows * width)
        let uc: UnsafeMutablePointer<S> = try store.take(rows * width)
        let products: UnsafeMutablePointer<S> = try store.take(max(1, (order - 1) * rows * d))
        let outputs: UnsafeMutablePointer<S> = try store.take(max(1, (order - 1) * rows * d))
        let gated: UnsafeMutablePointer<S> = try store.take(rows * d)
        let memory: UnsafeMutablePointer<Double> = try store.take(weightCount(length: l))
        let filterActivations: UnsafeMutablePointer<Double> = try store.take(filter.activationCount(length: l))
        let scratch = UnsafeMutableRawPointer(try ws.take(tasks * fftBytes(length: l) / 8 + 8, as: Double.self))
        return Activations(
            u: u, uc: uc, products: products, outputs: outputs, gated: gated,
            weights: weights(p, length: l, in: memory, copy: computed), filterActivations: filterActivations,
            h: filterActivations + filter.filterOffset(length: l), scratch: scratch)
    }

    /// Computes the activations into `store` (see ``layout(_:rows:length:in:scratchFrom:computed:)``).
    private func activations<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], in store: Workspace, scratchFrom ws: Workspace
    )
        throws(PluginFailure) -> Activations<S>
    {
        let (b, l, d) = (x.shape[0], x.shape[1], dim)
        let (rows, width) = (b * l, (order + 1) * dim)
        let idx = index
        let a: Activations<S> = try layout(p, rows: rows, length: l, in: store, scratchFrom: ws, computed: true)
        let (uc, h) = (a.uc, a.h)
        linear(
            x.base, rows: rows, inFeatures: d, weight: p[idx.inW].base, bias: p[idx.inB].base, outFeatures: width,
            into: a.u, parallel: parallel)
        CausalDepthwiseConv.channelsLast(batch: b, length: l, channels: width, taps: shortTaps)
            .forward(a.u, weight: p[idx.shortW].base, bias: p[idx.shortB].base, into: uc, parallel: parallel)
        filter.forward(a.weights, length: l, activations: a.filterActivations, parallel: parallel)
        for j in 0..<order - 1 {
            let product = a.products + j * rows * d
            ChannelProduct.multiply(
                state(a, j, rows: rows), slice(uc, order - 1 - j), into: .init(base: product, stride: d),
                rows: rows, width: d, parallel: parallel)
            try convolve(b, l, as: S.self) { (conv) throws(PluginFailure) in
                conv.forward(
                    product, filter: longFilter(h, p, order: j), into: a.outputs + j * rows * d, scratch: a.scratch)
            }
        }
        ChannelProduct.multiply(
            state(a, order - 1, rows: rows), slice(uc, 0), into: .init(base: a.gated, stride: d),
            rows: rows, width: d, parallel: parallel)
        return a
    }

    /// Order `j`'s long filter and bias: channel `c` at `c (o - 1) + j`.
    private func longFilter<S>(
        _ h: UnsafePointer<Double>, _ p: [TensorView<S>], order j: Int
    ) -> LongConvolution<KissRealFFT>.Filter<S> {
        .init(
            taps: h + j, timeStride: filter.channels, channelStride: order - 1,
            bias: UnsafePointer(p[index.filterBias].base + j), biasStride: order - 1)
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        try forward(x, p, y, activationsIn: ws, scratchFrom: ws)
    }

    /// The train-mode forward: the activations go to `saved` instead of the workspace.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace, saving saved: Workspace
    ) throws(PluginFailure) {
        try forward(x, p, y, activationsIn: saved, scratchFrom: ws)
    }

    private func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, activationsIn store: Workspace,
        scratchFrom ws: Workspace
    ) throws(PluginFailure) {
        try checkShapes(batch: x.shape[0], length: x.shape[1])
        let a = try activations(x, p, in: store, scratchFrom: ws)
        let idx = index
        linear(
            a.gated, rows: x.shape[0] * x.shape[1], inFeatures: dim, weight: p[idx.outW].base, bias: p[idx.outB].base,
            outFeatures: dim, into: y.base, parallel: parallel)
    }

    // MARK: Backward

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace
    ) throws(PluginFailure) {
        try checkShapes(batch: x.shape[0], length: x.shape[1])
        let a: Activations<S> = try activations(x, p, in: ws, scratchFrom: ws)
        // The recomputed uc is the workspace's: d u may overwrite it once it is read no more.
        try backward(x, p, dy, dx: dx, dparams: dparams, from: a, du: a.uc, ws)
    }

    /// The backward from what a train-mode forward saved (read-only: d u goes to the workspace).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace, saved: Workspace
    ) throws(PluginFailure) {
        let (b, l) = (x.shape[0], x.shape[1])
        try checkShapes(batch: b, length: l)
        let a: Activations<S> = try layout(p, rows: b * l, length: l, in: saved, scratchFrom: ws, computed: false)
        let du: UnsafeMutablePointer<S> = try ws.take(b * l * (order + 1) * dim)
        try backward(x, p, dy, dx: dx, dparams: dparams, from: a, du: du, ws)
    }

    /// The chain rule from the activations `a` (read only); `du` (`rows x P D`) receives the gradient of `u` after
    /// the last read of `a.uc`, so it may be `a.uc` when `a` is the workspace's.
    private func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        from a: Activations<S>, du: UnsafeMutablePointer<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        let (b, l, d) = (x.shape[0], x.shape[1], dim)
        let (rows, width) = (b * l, (order + 1) * dim)
        let idx = index

        // out_proj: dW = dy^T g, db = sum dy, dg = dy W.
        if let dW = dparams[idx.outW] {
            parallelGemm(
                transA: true, transB: false, m: d, n: d, k: rows, alpha: 1, a: dy.base, lda: d, b: a.gated, ldb: d,
                beta: 0, c: dW.base, ldc: d, parallel: parallel)
        }
        if let db = dparams[idx.outB] { columnSums(dy.base, rows: rows, columns: d, into: db.base) }
        let dg: UnsafeMutablePointer<S> = try ws.take(rows * d)
        let dv: UnsafeMutablePointer<S> = try ws.take(2 * rows * d)
        let da: UnsafeMutablePointer<S> = try ws.take(rows * d)
        let duc: UnsafeMutablePointer<S> = try ws.take(rows * width)
        let dh: UnsafeMutablePointer<Double> = try ws.take(filter.gradientCount(length: l))
        let filterGradients: UnsafeMutablePointer<Double> = try ws.take(weightCount(length: l))
        parallelGemm(
            transA: false, transB: false, m: rows, n: d, k: d, alpha: 1, a: dy.base, lda: d, b: p[idx.outW].base,
            ldb: d, beta: 0, c: dg, ldc: d, parallel: parallel)

        // g = v_{o-1} * x_0.
        let gate = ChannelProduct.Rows<UnsafePointer<S>>(base: UnsafePointer(dg), stride: d)
        ChannelProduct.multiply(
            gate, state(a, order - 1, rows: rows), into: .init(base: duc, stride: width), rows: rows,
            width: d, parallel: parallel)
        var current = dv
        ChannelProduct.multiply(
            gate, slice(a.uc, 0), into: .init(base: current, stride: d), rows: rows, width: d,
            parallel: parallel)
        for j in (0..<order - 1).reversed() {
            // v_{j+1} = LC(a_j; k_j) + bias_j a_j.
            let i = order - 1 - j
            let product = a.products + j * rows * d
            let upstream = current
            try convolve(b, l, as: S.self) { (conv) throws(PluginFailure) in
                conv.backward(
                    product, filter: longFilter(a.h, p, order: j), outputGradient: upstream, inputGradient: da,
                    filterGradient: dh + j, biasGradient: dparams[idx.filterBias].map { $0.base + j },
                    scratch: a.scratch)
            }
            // a_j = v_j * x_i.
            let dProduct = ChannelProduct.Rows<UnsafePointer<S>>(base: UnsafePointer(da), stride: d)
            ChannelProduct.multiply(
                dProduct, state(a, j, rows: rows), into: .init(base: duc + i * d, stride: width),
                rows: rows, width: d, parallel: parallel)
            let next =
                j == 0
                ? ChannelProduct.Rows(base: duc + order * d, stride: width)
                : ChannelProduct.Rows(base: current == dv ? dv + rows * d : dv, stride: d)
            ChannelProduct.multiply(dProduct, slice(a.uc, i), into: next, rows: rows, width: d, parallel: parallel)
            current = next.base
        }

        // The implicit filter.
        try filterBackward(a, p, dparams, length: l, dh: dh, gradients: filterGradients)

        // short_filter, then in_proj (uc is read no more).
        CausalDepthwiseConv.channelsLast(batch: b, length: l, channels: width, taps: shortTaps).backward(
            input: a.u, weight: p[idx.shortW].base, outputGradient: duc, inputGradient: du,
            weightGradient: dparams[idx.shortW]?.base, biasGradient: dparams[idx.shortB]?.base, parallel: parallel)
        if let dW = dparams[idx.inW] {
            parallelGemm(
                transA: true, transB: false, m: width, n: d, k: rows, alpha: 1, a: du, lda: width, b: x.base, ldb: d,
                beta: 0, c: dW.base, ldc: d, parallel: parallel)
        }
        if let db = dparams[idx.inB] { columnSums(du, rows: rows, columns: width, into: db.base) }
        if let dx {
            parallelGemm(
                transA: false, transB: false, m: rows, n: d, k: width, alpha: 1, a: du, lda: width,
                b: p[idx.inW].base, ldb: d, beta: 0, c: dx.base, ldc: d, parallel: parallel)
        }
    }

    /// The filter MLP's VJP from `dh` (all orders' filter gradients), converted into the requested `dparams`.
    private func filterBackward<S: KernelScalar>(
        _ a: Activations<S>, _ p: [TensorView<S>], _ dparams: [TensorView<S>?], length l: Int,
        dh: UnsafeMutablePointer<Double>, gradients memory: UnsafeMutablePointer<Double>
    ) throws(PluginFailure) {
        let idx = index
        let (e, f) = (filter.embedding, filter.width)
        var cursor = memory
        func take(_ count: Int) -> UnsafeMutablePointer<Double> {
            defer { cursor += count }
            return cursor
        }
        let gz = take(l * e)
        let layers = (0...filter.inner).map { i in (weight: take(p[idx.layer(i).weight].count), bias: take(f)) }
        let g = ImplicitFilter.Gradients(z: gz, layers: layers, freq: take(f), output: take(p[idx.filterOut].count))
        filter.backward(
            a.weights, length: l, activations: a.filterActivations, dh: dh,
            scratch: dh + l * filter.channels, into: g, parallel: parallel)
        func store(_ index: Int, _ values: UnsafePointer<Double>, count: Int) {
            guard let out = dparams[index] else { return }
            for i in 0..<count { out.base[i] = S(values[i]) }
            for i in count..<out.count { out.base[i] = 0 }
        }
        store(idx.z, gz, count: l * e)  // z's rows at and after L do not reach the output
        for i in 0...filter.inner {
            store(idx.layer(i).weight, layers[i].weight, count: p[idx.layer(i).weight].count)
            store(idx.layer(i).bias, layers[i].bias, count: f)
        }
        store(idx.freq, g.freq, count: f)
        store(idx.filterOut, g.output, count: p[idx.filterOut].count)
    }

    // MARK: FFT engine

    /// The long convolution of a call, bound to its precision's FFT engine: KISS FFT (float) for float32,
    /// ``RadixTwoRealFFT`` for float64.
    private struct BoundConvolution<S: KernelScalar> {
        let kiss: LongConvolution<KissRealFFT>?
        let radix: LongConvolution<RadixTwoRealFFT>?
        let parallel: ParallelFor

        func forward(
            _ a: UnsafePointer<S>, filter: LongConvolution<KissRealFFT>.Filter<S>, into out: UnsafeMutablePointer<S>,
            scratch: UnsafeMutableRawPointer
        ) {
            if let kiss { kiss.forward(a, filter: filter, into: out, scratch: scratch, parallel: parallel) }
            if let radix {
                radix.forward(a, filter: Self.rebind(filter), into: out, scratch: scratch, parallel: parallel)
            }
        }

        func backward(
            _ a: UnsafePointer<S>, filter: LongConvolution<KissRealFFT>.Filter<S>, outputGradient: UnsafePointer<S>,
            inputGradient: UnsafeMutablePointer<S>?, filterGradient: UnsafeMutablePointer<Double>?,
            biasGradient: UnsafeMutablePointer<S>?, scratch: UnsafeMutableRawPointer
        ) {
            if let kiss {
                kiss.backward(
                    a, filter: filter, outputGradient: outputGradient, inputGradient: inputGradient,
                    filterGradient: filterGradient, biasGradient: biasGradient, scratch: scratch, parallel: parallel)
            }
            if let radix {
                radix.backward(
                    a, filter: Self.rebind(filter), outputGradient: outputGradient, inputGradient: inputGradient,
                    filterGradient: filterGradient, biasGradient: biasGradient, scratch: scratch, parallel: parallel)
            }
        }

        static func rebind(_ f: LongConvolution<KissRealFFT>.Filter<S>) -> LongConvolution<RadixTwoRealFFT>.Filter<S> {
            .init(
                taps: f.taps, timeStride: f.timeStride, channelStride: f.channelStride, bias: f.bias,
                biasStride: f.biasStride)
        }
    }

    private func convolve<S: KernelScalar>(
        _ batch: Int, _ length: Int, as _: S.Type, _ body: (BoundConvolution<S>) throws(PluginFailure) -> Void
    ) throws(PluginFailure) {
        let channels = dim
        if S.self == Float.self {
            try body(
                BoundConvolution(
                    kiss: LongConvolution(batch: batch, length: length, channels: channels, tasks: tasks), radix: nil,
                    parallel: parallel))
        } else {
            try body(
                BoundConvolution(
                    kiss: nil, radix: LongConvolution(batch: batch, length: length, channels: channels, tasks: tasks),
                    parallel: parallel))
        }
    }
}
