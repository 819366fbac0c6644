import Foundation
import PluginKit

/// The Mamba-2 token mixers `mamba2`, `mamba2_bidir` and `mamba2_2d` (one kernel type per ``Mamba2Variant``):
///
///     [z | xBC | dt_raw] = Lin_in(x)                                   (B, L, d_in_proj), no bias
///     for each scan k (its token order pi_k, its own conv1d, dt_bias, A_log, D):
///         xBC_k = silu(CC_{d_conv}(xBC[pi_k]; conv1d_k))  split into x (H, P), B (G, N), C (G, N)
///         dt_k  = softplus(dt_raw[pi_k] + dt_bias_k),  A_k = -exp(A_log_k)
///         y_k   = SSD(x, dt_k, A_k, B, C) + D_k x,    written back to each token's own position
///     y   = sum_k y_k
///     out = Lin_out(gated_rmsnorm(y, z; norm.weight))                  no bias
///
/// `mamba2` has one scan in token order with unprefixed names: exactly upstream `Mamba2` (docs/OPERATORS.md section 5).
/// `mamba2_bidir` adds a scan of the reversed sequence (`fwd.`, `bwd.`); `mamba2_2d` scans the `H x W` grid row-major
/// and column-major, each forward and reversed (`row_fwd.`, `row_bwd.`, `col_fwd.`, `col_bwd.`, VMamba's cross-scan).
/// The scans share `in_proj`, `z`, `dt_raw`, `norm` and `out_proj`; their outputs are summed before the gated norm.
///
/// The SSD is ``ChunkedSSD`` (linear in L); projections are `gemm`s over all B*L tokens. A train-mode forward (ABI
/// 1.4) keeps its state (``SavedState``: `Lin_in(x)`, the scan outputs and the gated norm's output, a single scan's
/// inputs and the SSD's shared products) in the host's buffer, and backward copies it into its workspace instead of
/// recomputing it; otherwise backward recomputes the forward. Nothing is kept between calls, so one instance is
/// re-entrant.
final class Mamba2Kernel<Tag: Mamba2VariantTag>: OperatorKernel {
    let dimensions: Mamba2Dimensions
    let directions: [ScanDirection]
    let layout: Mamba2Parameters
    let norm: GatedRMSNorm
    let parallel: ParallelFor

    init(config: KernelConfig) throws(PluginFailure) {
        dimensions = try Mamba2Dimensions(config: config)
        directions = Tag.variant.directions(height: config.gridHeight, width: config.gridWidth)
        layout = Mamba2Parameters(dimensions: dimensions, directions: directions)
        parallel = config.parallel
        norm = GatedRMSNorm(
            width: dimensions.dInner, groups: dimensions.groups, eps: dimensions.eps,
            normBeforeGate: dimensions.normBeforeGate, parallel: parallel)
    }

    var parameters: [ParameterDecl] { layout.declarations }
    /// `mamba2` is causal; the other two see every token.
    var isCausal: Bool { Tag.variant == .causal }
    /// Unbounded to the left (the state carries every earlier token); to the right 0 (`mamba2`) or unbounded.
    var receptiveField: (left: Int64, right: Int64)? { Tag.variant == .causal ? (-1, 0) : (-1, -1) }

    func initialize<S: KernelScalar>(_ params: [TensorView<S>], seed: UInt64) {
        layout.initialize(params, seed: seed)
    }

    private var hasReorderedScans: Bool { directions.count > 1 || !directions[0].isIdentity }

    /// Element counts of the buffers a pass takes (all `(B*L, width)` unless noted).
    private struct BufferSizes {
        /// `Lin_in(x)`, and in backward its gradient.
        var zx = 0
        /// The summed scan outputs, the gated norm's output (overwritten by its gradient in backward) and, in backward,
        /// the gradient of the summed outputs.
        var ys = 0
        /// A scan's `xBC`, its conv output before silu (backward), `u = silu(..)` and its gradient (backward).
        var xbc = 0
        /// A scan's `dt_raw`, `dt` (backward) and the gradient of `dt` (backward).
        var dt = 0
        /// `A` of a scan (H).
        var a = 0
        /// Scan outputs in their own order: one in forward; every scan's, and the output gradient in a scan's order, in
        /// backward (none for `mamba2`, whose single scan writes the summed outputs directly).
        var reordered = 0
        /// The shared `C B^T` products of ``ChunkedSSD``.
        var products = 0
        /// The SSD's per-thread scratch.
        var scratch = 0
        /// Backward: RMSNorm statistics (B*L x G), `dB`/`dC` accumulators, and `dD`, `dA` per batch entry.
        var rstd = 0, accumulators = 0, partials = 0

        /// The total, with 8 elements of alignment slack per buffer.
        var total: Int {
            [zx, ys, xbc, dt, a, reordered, products, scratch, rstd, accumulators, partials]
                .reduce(0) { saturatingSum($0, $1, 8) }
        }
    }

    private func bufferSizes(backward: Bool, batch: Int, length: Int) -> BufferSizes {
        let d = dimensions
        let rows = saturatingProduct(batch, length)
        let ssd = ChunkedSSD(batch: batch, length: length, dimensions: d, parallel: parallel)
        var sizes = BufferSizes()
        sizes.zx = saturatingProduct(backward ? 2 : 1, rows, d.inProjDim)
        sizes.ys = saturatingProduct(backward ? 3 : 2, rows, d.dInner)
        sizes.xbc = saturatingProduct(backward ? 4 : 2, rows, d.convDim)
        sizes.dt = saturatingProduct(backward ? 3 : 1, rows, d.heads)
        sizes.a = d.heads
        sizes.reordered = hasReorderedScans ? saturatingProduct(backward ? directions.count + 1 : 1, rows, d.dInner) : 0
        sizes.products = ssd.productElements
        sizes.scratch = saturatingProduct(
            ssd.slots, backward ? max(ssd.forwardSlotElements, ssd.backwardSlotElements) : ssd.forwardSlotElements)
        if backward {
            sizes.rstd = saturatingProduct(rows, d.groups)
            sizes.accumulators = ssd.accumulatorElements
            sizes.partials = saturatingProduct(2, batch, d.heads)
        }
        return sizes
    }

    func workspaceElements(backward: Bool, batch: Int, length: Int) -> Int {
        bufferSizes(backward: backward, batch: batch, length: length).total
    }

    /// What a train-mode forward keeps for backward, in this order: the leading parts of backward's buffers that the
    /// forward fills (element counts).
    private struct SavedState {
        /// `Lin_in(x)` (`B*L x d_in_proj`).
        var zx = 0
        /// The summed scan outputs and the gated norm's output.
        var ys = 0
        /// `xBC`, `u` and the conv output before silu (the last scan's; the only one for `mamba2`).
        var xbc = 0
        /// `dt_raw` and `dt`.
        var dt = 0
        var a = 0
        /// Every scan's output in its own order (when the scans are reordered).
        var reordered = 0
        var products = 0

        var pieces: [Int] { [zx, ys, xbc, dt, a, reordered, products] }
        /// The total, with 8 elements of alignment slack per piece.
        var total: Int { pieces.reduce(0) { saturatingSum($0, $1, 8) } }
    }

    /// Where the pieces of a ``SavedState`` lie in the saved buffer (`products` nil when the SSD shares none).
    private struct KeptState<S: KernelScalar> {
        let zx, ys, xbc, dt, a: UnsafeMutablePointer<S>
        let reordered, products: UnsafeMutablePointer<S>?
    }

    /// The pieces of `state` taken from `saved`, in ``SavedState``'s order.
    private func kept<S: KernelScalar>(
        _ saved: Workspace, _ state: SavedState
    ) throws(PluginFailure) -> KeptState<S> {
        KeptState(
            zx: try saved.take(state.zx), ys: try saved.take(state.ys), xbc: try saved.take(state.xbc),
            dt: try saved.take(state.dt), a: try saved.take(state.a),
            reordered: state.reordered > 0 ? try saved.take(state.reordered) : nil,
            products: state.products > 0 ? try saved.take(state.products) : nil)
    }

    private func savedState(batch: Int, length: Int) -> SavedState {
        let d = dimensions
        let rows = saturatingProduct(batch, length)
        var state = SavedState()
        state.zx = saturatingProduct(rows, d.inProjDim)
        state.ys = saturatingProduct(2, rows, d.dInner)
        state.xbc = saturatingProduct(3, rows, d.convDim)
        state.dt = saturatingProduct(2, rows, d.heads)
        state.a = d.heads
        state.reordered = hasReorderedScans ? saturatingProduct(directions.count, rows, d.dInner) : 0
        state.products = ChunkedSSD(batch: batch, length: length, dimensions: d, parallel: parallel).productElements
        return state
    }

    func savedElements(batch: Int, length: Int) -> Int { savedState(batch: batch, length: length).total }

    private func checkShapes(batch: Int, length: Int) throws(PluginFailure) {
        let d = dimensions
        try checkBLASExtents(batch * length, d.inProjDim, d.convDim)
    }

    // MARK: Scans

    /// The buffers of the scans (all `(B*L, width)`, rows in the scan's order unless noted).
    private struct ScanBuffers<S: KernelScalar> {
        /// `Lin_in(x)` in token order.
        let zx: UnsafeMutablePointer<S>
        /// The summed scan outputs in token order.
        let ys: UnsafeMutablePointer<S>
        /// The gated norm's output in token order.
        let normed: UnsafeMutablePointer<S>
        let xbc: UnsafeMutablePointer<S>
        let u: UnsafeMutablePointer<S>
        /// `xBC` after the conv, before silu (backward only; forward applies silu in place in `u`).
        let preActivation: UnsafeMutablePointer<S>?
        let dtRaw: UnsafeMutablePointer<S>
        /// `softplus(dt_raw + dt_bias)`: its own buffer in backward, `dtRaw` in forward.
        let dt: UnsafeMutablePointer<S>
        let a: UnsafeMutablePointer<S>
        /// Scan outputs in their own order (`(B*L, d_inner)` each: one in forward; one per scan, then the output
        /// gradient in a scan's order, in backward), when they are not written to `ys` directly.
        let reordered: UnsafeMutablePointer<S>?
        let products: UnsafeMutablePointer<S>
        let scratch: UnsafeMutablePointer<S>

        /// Where scan `k` writes its output in its own order.
        func output(_ k: Int, rows: Int, width: Int, keepAll: Bool) -> UnsafeMutablePointer<S> {
            guard let reordered else { return ys }
            return reordered + (keepAll ? k * rows * width : 0)
        }
    }

    /// The buffers in `ws` in backward's layout (`backward`) or forward's, sized by `sizes`; or, with `saved`, the
    /// state in backward's layout in a train-mode forward's saved buffer (``SavedState``) and only the scratch in `ws`.
    private func takeScanBuffers<S: KernelScalar>(
        _ ws: Workspace, _ sizes: BufferSizes, backward: Bool, rows: Int, saved: (Workspace, SavedState)? = nil
    )
        throws(PluginFailure) -> ScanBuffers<S>
    {
        let d = dimensions
        let state: KeptState<S>
        if let saved {
            state = try kept(saved.0, saved.1)
        } else {
            state = KeptState(
                zx: try ws.take(sizes.zx), ys: try ws.take(sizes.ys), xbc: try ws.take(sizes.xbc),
                dt: try ws.take(sizes.dt), a: try ws.take(sizes.a),
                reordered: hasReorderedScans ? try ws.take(sizes.reordered) : nil, products: nil)
        }
        let (zx, ys, xbc, dtRaw, a, reordered) = (state.zx, state.ys, state.xbc, state.dt, state.a, state.reordered)
        let scratch: UnsafeMutablePointer<S> = try ws.take(sizes.scratch)
        // Without shared products the SSD never reads the pointer.
        var products = state.products ?? scratch
        if saved == nil, sizes.products > 0 { products = try ws.take(sizes.products) }
        let convRows = rows * d.convDim
        return ScanBuffers(
            zx: zx, ys: ys, normed: ys + rows * d.dInner, xbc: xbc, u: xbc + convRows,
            preActivation: backward ? xbc + 2 * convRows : nil, dtRaw: dtRaw,
            dt: backward ? dtRaw + rows * d.heads : dtRaw, a: a, reordered: reordered, products: products,
            scratch: scratch)
    }

    private func conv(batch: Int, length: Int) -> CausalDepthwiseConv {
        .channelsLast(batch: batch, length: length, channels: dimensions.convDim, taps: dimensions.dConv)
    }

    /// Scan `k`'s inputs in its order: `xBC` and `dt_raw` gathered, the conv and silu, softplus, `A`, and the SSD's
    /// shared products.
    private func prepareScan<S: KernelScalar>(
        _ k: Int, order: TokenOrder, _ p: [TensorView<S>], _ buffers: ScanBuffers<S>, ssd: ChunkedSSD
    ) {
        let d = dimensions
        let (rows, heads) = (order.batch * order.length, d.heads)
        let i = layout.scan(k)
        order.gather(buffers.zx, stride: d.inProjDim, column: d.xBCOffset, width: d.convDim, into: buffers.xbc)
        order.gather(buffers.zx, stride: d.inProjDim, column: d.dtOffset, width: heads, into: buffers.dtRaw)
        Activations.softplus(
            buffers.dtRaw, bias: p[i.dtBias].base, rows: rows, heads: heads, into: buffers.dt, parallel: parallel)
        let convOut = buffers.preActivation ?? buffers.u
        conv(batch: order.batch, length: order.length).forward(
            buffers.xbc, weight: p[i.convWeight].base, bias: p[i.convBias].base, into: convOut, parallel: parallel)
        Activations.silu(convOut, rows: rows, width: d.convDim, into: buffers.u, parallel: parallel)
        for h in 0..<heads { buffers.a[h] = -S.exp(p[i.aLog].base[h]) }
        ssd.products(buffers.u, into: buffers.products)
    }

    private func inputs<S: KernelScalar>(
        _ k: Int, _ p: [TensorView<S>], _ buffers: ScanBuffers<S>
    ) -> ChunkedSSD.Inputs<S> {
        ChunkedSSD.Inputs(u: buffers.u, dt: buffers.dt, a: buffers.a, d: p[layout.scan(k).d].base)
    }

    /// `Lin_in(x)` and the summed outputs of every scan (`buffers.ys`); `keepAll` keeps each scan's output in its own
    /// order (for backward).
    private func runScans<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ buffers: ScanBuffers<S>, orders: [TokenOrder], ssd: ChunkedSSD,
        keepAll: Bool
    ) {
        let d = dimensions
        let rows = x.shape[0] * x.shape[1]
        linear(
            x.base, rows: rows, inFeatures: d.dim, weight: p[Mamba2Parameters.inProj].base, bias: nil,
            outFeatures: d.inProjDim, into: buffers.zx, parallel: parallel)
        for (k, order) in orders.enumerated() {
            prepareScan(k, order: order, p, buffers, ssd: ssd)
            let output = buffers.output(k, rows: rows, width: d.dInner, keepAll: keepAll)
            ssd.forward(inputs(k, p, buffers), y: output, shared: buffers.products, scratch: buffers.scratch)
            if buffers.reordered != nil {
                order.scatter(output, width: d.dInner, into: buffers.ys, stride: d.dInner, column: 0, accumulate: k > 0)
            }
        }
    }

    private func orders(batch: Int, length: Int) -> [TokenOrder] {
        directions.map {
            TokenOrder(batch: batch, length: length, tokens: $0.tokens(length: length), parallel: parallel)
        }
    }

    // MARK: Passes

    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace
    )
        throws(PluginFailure)
    {
        try forwardPass(x, p, y, ws, saved: nil)
    }

    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace, saving saved: Workspace
    )
        throws(PluginFailure)
    {
        try forwardPass(x, p, y, ws, saved: saved)
    }

    /// The forward; with `saved`, in backward's layout (each scan's output kept, the conv output before silu and
    /// `dt` in their own buffers) inside the saved buffer, the scratch in `ws`.
    private func forwardPass<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace, saved: Workspace?
    )
        throws(PluginFailure)
    {
        let (b, l, d) = (x.shape[0], x.shape[1], dimensions)
        try checkShapes(batch: b, length: l)
        let ssd = ChunkedSSD(batch: b, length: l, dimensions: d, parallel: parallel)
        let sizes = bufferSizes(backward: false, batch: b, length: l)
        let buffers: ScanBuffers<S> = try takeScanBuffers(
            ws, sizes, backward: saved != nil, rows: b * l, saved: saved.map { ($0, savedState(batch: b, length: l)) })
        runScans(x, p, buffers, orders: orders(batch: b, length: l), ssd: ssd, keepAll: saved != nil)
        norm.forward(
            buffers.ys, z: buffers.zx, zStride: d.inProjDim, weight: p[layout.norm].base, rows: b * l,
            into: buffers.normed)
        linear(
            buffers.normed, rows: b * l, inFeatures: d.dInner, weight: p[layout.outProj].base, bias: nil,
            outFeatures: d.dim, into: y.base, parallel: parallel)
    }

    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace
    ) throws(PluginFailure) {
        try backwardPass(x, p, dy, dx: dx, dparams: dparams, ws, saved: nil)
    }

    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace, saved: Workspace
    ) throws(PluginFailure) {
        try backwardPass(x, p, dy, dx: dx, dparams: dparams, ws, saved: saved)
    }

    /// The backward: its buffers in `ws`, the forward's state recomputed there, or copied from `saved` (read only).
    private func backwardPass<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace, saved: Workspace?
    ) throws(PluginFailure) {
        let (b, l, d) = (x.shape[0], x.shape[1], dimensions)
        let rows = b * l
        try checkShapes(batch: b, length: l)
        let ssd = ChunkedSSD(batch: b, length: l, dimensions: d, parallel: parallel)
        let sizes = bufferSizes(backward: true, batch: b, length: l)
        let buffers: ScanBuffers<S> = try takeScanBuffers(ws, sizes, backward: true, rows: rows)
        let orders = orders(batch: b, length: l)
        let normed = buffers.normed
        if let saved {
            let state = savedState(batch: b, length: l)
            let source: KeptState<S> = try kept(saved, state)
            // Each piece of the state into the leading part of the workspace buffer it was computed into.
            buffers.zx.update(from: source.zx, count: state.zx)
            buffers.ys.update(from: source.ys, count: state.ys)
            buffers.xbc.update(from: source.xbc, count: state.xbc)
            buffers.dtRaw.update(from: source.dt, count: state.dt)
            buffers.a.update(from: source.a, count: state.a)
            if let target = buffers.reordered, let from = source.reordered {
                target.update(from: from, count: state.reordered)
            }
            if let from = source.products { buffers.products.update(from: from, count: state.products) }
        } else {
            runScans(x, p, buffers, orders: orders, ssd: ssd, keepAll: true)
            norm.forward(
                buffers.ys, z: buffers.zx, zStride: d.inProjDim, weight: p[layout.norm].base, rows: rows, into: normed)
        }

        // out_proj: dW = dy^T normed; d(normed) = dy W (into the same buffer).
        if let dW = dparams[layout.outProj] {
            parallelGemm(
                transA: true, transB: false, m: d.dim, n: d.dInner, k: rows, alpha: 1, a: dy.base, lda: d.dim,
                b: normed, ldb: d.dInner, beta: 0, c: dW.base, ldc: d.dInner, parallel: parallel)
        }
        let needInProj = dx != nil || dparams[Mamba2Parameters.inProj] != nil
        let needScan = directions.indices.map { k in
            let i = layout.scan(k)
            return needInProj || [i.convWeight, i.convBias, i.dtBias, i.aLog, i.d].contains { dparams[$0] != nil }
        }
        guard needScan.contains(true) || dparams[layout.norm] != nil else { return }
        parallelGemm(
            transA: false, transB: false, m: rows, n: d.dInner, k: d.dim, alpha: 1, a: dy.base, lda: d.dim,
            b: p[layout.outProj].base, ldb: d.dInner, beta: 0, c: normed, ldc: d.dInner, parallel: parallel)

        // Gated norm: dys, dz (into dzx) and the norm weight.
        let dys = normed + rows * d.dInner
        let dzx = buffers.zx + rows * d.inProjDim
        let rstd: UnsafeMutablePointer<S> = try ws.take(sizes.rstd)
        norm.backward(
            buffers.ys, z: buffers.zx, zStride: d.inProjDim, weight: p[layout.norm].base, dOut: normed, rows: rows,
            dy: dys, dz: needInProj ? dzx : nil, dWeight: dparams[layout.norm]?.base, rstd: rstd)
        guard needScan.contains(true) else { return }

        let du = buffers.xbc + 3 * rows * d.convDim
        let ddt = buffers.dtRaw + 2 * rows * d.heads
        let accumulators: UnsafeMutablePointer<S> = try ws.take(sizes.accumulators)
        let partials: UnsafeMutablePointer<S> = try ws.take(sizes.partials)
        let (dDPartial, dAPartial) = (partials, partials + b * d.heads)
        for (k, order) in orders.enumerated() where needScan[k] {
            let i = layout.scan(k)
            // A single scan's inputs are still in place from the forward above.
            if directions.count > 1 { prepareScan(k, order: order, p, buffers, ssd: ssd) }
            var scanDy = UnsafePointer(dys)
            if let reordered = buffers.reordered {
                let target = reordered + directions.count * rows * d.dInner
                order.gather(dys, stride: d.dInner, column: 0, width: d.dInner, into: target)
                scanDy = UnsafePointer(target)
            }
            ssd.backward(
                inputs(k, p, buffers), y: buffers.output(k, rows: rows, width: d.dInner, keepAll: true), dy: scanDy,
                du: du, ddt: ddt, dD: dDPartial, dA: dAPartial, shared: buffers.products, accumulators: accumulators,
                scratch: buffers.scratch)
            scanParameterGradients(
                k, p, buffers, ddt: ddt, dD: dDPartial, dA: dAPartial, batch: b, rows: rows, dparams: dparams)

            // silu, then the conv (its input gradient into u, which is no longer read).
            Activations.siluBackward(
                buffers.preActivation!, rows: rows, width: d.convDim, gradient: du, parallel: parallel)
            conv(batch: b, length: l).backward(
                input: buffers.xbc, weight: p[i.convWeight].base, outputGradient: du,
                inputGradient: needInProj ? buffers.u : nil, weightGradient: dparams[i.convWeight]?.base,
                biasGradient: dparams[i.convBias]?.base, parallel: parallel)
            if needInProj {
                order.scatter(
                    buffers.u, width: d.convDim, into: dzx, stride: d.inProjDim, column: d.xBCOffset, accumulate: k > 0)
                order.scatter(
                    ddt, width: d.heads, into: dzx, stride: d.inProjDim, column: d.dtOffset, accumulate: k > 0)
            }
        }
        guard needInProj else { return }

        // in_proj: dW = dzx^T x, dx = dzx W.
        if let dW = dparams[Mamba2Parameters.inProj] {
            parallelGemm(
                transA: true, transB: false, m: d.inProjDim, n: d.dim, k: rows, alpha: 1, a: dzx, lda: d.inProjDim,
                b: x.base, ldb: d.dim, beta: 0, c: dW.base, ldc: d.dim, parallel: parallel)
        }
        if let dx {
            parallelGemm(
                transA: false, transB: false, m: rows, n: d.dim, k: d.inProjDim, alpha: 1, a: dzx,
                lda: d.inProjDim, b: p[Mamba2Parameters.inProj].base, ldb: d.dim, beta: 0, c: dx.base,
                ldc: d.dim, parallel: parallel)
        }
    }

    /// Turns `ddt` (the gradient of `dt`) into that of `dt_raw` in place, and writes the gradients of scan `k`'s
    /// `dt_bias` (summed over rows), `D` and `A_log` (`dA_log = A dA`, each summed over the batch in order).
    private func scanParameterGradients<S: KernelScalar>(
        _ k: Int, _ p: [TensorView<S>], _ buffers: ScanBuffers<S>, ddt: UnsafeMutablePointer<S>,
        dD: UnsafePointer<S>, dA: UnsafePointer<S>, batch: Int, rows: Int, dparams: [TensorView<S>?]
    ) {
        let (heads, i) = (dimensions.heads, layout.scan(k))
        Activations.softplusBackward(
            buffers.dtRaw, bias: p[i.dtBias].base, rows: rows, heads: heads, gradient: ddt, parallel: parallel)
        if let g = dparams[i.dtBias] { columnSums(ddt, rows: rows, columns: heads, into: g.base) }
        if let g = dparams[i.d] { columnSums(dD, rows: batch, columns: heads, into: g.base) }
        if let g = dparams[i.aLog] {
            columnSums(dA, rows: batch, columns: heads, into: g.base)
            for h in 0..<heads { g.base[h] *= buffers.a[h] }
        }
    }
}
