import PluginKit

/// The upstream `state_dict` names of an attention module's two projections, `qkv: D -> 3D` and `out: D -> D`
/// (a `nil` bias name: that projection has no bias).
struct ProjectionNames {
    let qkvWeight: String
    let qkvBias: String?
    let outWeight: String
    let outBias: String?

    /// timm `Attention` (and `mha`): `qkv.weight`, `qkv.bias`, `proj.weight`, `proj.bias`.
    static let timm = ProjectionNames(
        qkvWeight: "qkv.weight", qkvBias: "qkv.bias", outWeight: "proj.weight", outBias: "proj.bias")
}

/// One (batch, head) pair's slices of the shared buffers. Row `t` of `q`, `k`, `v`, `dq`, `dk`, `dv` starts at
/// `t * qkvStride`, row `t` of `out` and `dOut` at `t * outStride`; each row holds `headDim` contiguous channels.
/// `scratch` belongs to this pair alone. The gradient slices are only valid in a backward head call.
struct HeadSlices<S: KernelScalar> {
    let length: Int
    let headDim: Int
    let qkvStride: Int
    let outStride: Int
    let q: UnsafeMutablePointer<S>
    let k: UnsafeMutablePointer<S>
    let v: UnsafeMutablePointer<S>
    let out: UnsafeMutablePointer<S>
    let dOut: UnsafeMutablePointer<S>
    let dq: UnsafeMutablePointer<S>
    let dk: UnsafeMutablePointer<S>
    let dv: UnsafeMutablePointer<S>
    let scratch: UnsafeMutablePointer<S>
}

/// The part the three operators share: `qkv = x Wqkv^T + b` split `'(three h d)'` as timm does (channel `c` is
/// `(which, head, d) = (c / D, (c % D) / dh, c % dh)`), a per-(batch, head) attention core run in parallel on the
/// host's `parallel_for`, heads concatenated (channel `head * dh + d`), and `y = O Wout^T + bout`.
///
/// Projections are single `gemm`s over all B*L tokens. Each (batch, head) pair writes only its own slices of the
/// shared buffers and its own scratch, so results do not depend on scheduling. Nothing is kept between calls: a
/// train-mode forward (ABI 1.4) saves `qkv` and `O` into the host's buffer, and backward starts from them (the
/// attention core still recomputes its probabilities block by block); otherwise backward recomputes them from `x`.
///
/// PluginKit calls a kernel's generic `forward`/`backward` through its protocol witness, where `S` is unknown,
/// so the kernels mark them `@_specialize(where S == Float)` / `(where S == Double)`: the scalar loops (softmax,
/// feature map) then run specialized instead of through value witnesses, several times faster.
struct AttentionProjections {
    let dim: Int
    let heads: Int
    let headDim: Int
    let names: ProjectionNames
    let parallel: ParallelFor

    /// Reads `num_heads` from `config` and checks it divides D.
    init(config: KernelConfig, names: ProjectionNames) throws(PluginFailure) {
        dim = config.dim
        let h = config.int("num_heads")
        guard h >= 1, h <= Int64(dim), dim % Int(h) == 0 else {
            throw .invalid("attribute 'num_heads' = \(h) must divide the model width D = \(dim)")
        }
        heads = Int(h)
        headDim = dim / heads
        self.names = names
        parallel = config.parallel
    }

    var parameters: [ParameterDecl] {
        [.init(names.qkvWeight, [3 * dim, dim])] + (names.qkvBias.map { [.init($0, [3 * dim])] } ?? [])
            + [.init(names.outWeight, [dim, dim])] + (names.outBias.map { [.init($0, [dim])] } ?? [])
    }

    /// Indices of (qkv weight, qkv bias?, out weight, out bias?) in `parameters`.
    private var index: (qkvW: Int, qkvB: Int?, outW: Int, outB: Int?) {
        let qkvB = names.qkvBias == nil ? nil : 1
        let outW = qkvB == nil ? 1 : 2
        return (0, qkvB, outW, names.outBias == nil ? nil : outW + 1)
    }

    /// PyTorch's `nn.Linear` default for every weight and bias (both projections have fan-in D).
    func initialize<S: KernelScalar>(_ params: [TensorView<S>], seed: UInt64) {
        for i in params.indices {
            Initializer.linearUniform(params[i], fanIn: dim, seed: seed, index: i)
        }
    }

    /// Elements of workspace for one pass, given the scratch each (batch, head) pair needs.
    func workspaceElements(backward: Bool, batch: Int, length: Int, scratchPerHead: Int) -> Int {
        let rows = saturatingProduct(batch, length)
        let qkv = saturatingProduct(rows, 3 * dim)
        let out = saturatingProduct(rows, dim)
        let scratch = saturatingProduct(batch, heads, scratchPerHead)
        return backward ? saturatingSum(qkv, out, out, qkv, scratch) : saturatingSum(qkv, out, scratch)
    }

    /// `qkv` and `O` (`B*L x 3D` and `B*L x D`), what a train-mode forward saves.
    func savedElements(batch: Int, length: Int) -> Int { saturatingProduct(batch, length, 4 * dim) }

    /// The slices of (batch, head) pair `task`; the gradient pointers are `qkv`/`out` when there are none.
    private func slices<S: KernelScalar>(
        task: Int, length l: Int, qkv: UnsafeMutablePointer<S>, out: UnsafeMutablePointer<S>,
        dout: UnsafeMutablePointer<S>?, dqkv: UnsafeMutablePointer<S>?, scratch: UnsafeMutablePointer<S>,
        scratchPerHead: Int
    ) -> HeadSlices<S> {
        let (bi, h) = (task / heads, task % heads)
        let (d, dh) = (dim, headDim)
        let q = qkv + bi * l * 3 * d + h * dh
        let o = out + bi * l * d + h * dh
        let dq = (dqkv ?? qkv) + bi * l * 3 * d + h * dh
        return HeadSlices(
            length: l, headDim: dh, qkvStride: 3 * d, outStride: d, q: q, k: q + d, v: q + 2 * d, out: o,
            dOut: dout.map { $0 + bi * l * d + h * dh } ?? o, dq: dq, dk: dq + d, dv: dq + 2 * d,
            scratch: scratch + task * scratchPerHead)
    }

    /// `y = Lin_out(concat_h head(Lin_qkv(x)))`; `head` fills its pair's `out` rows. `qkv` and `O` go to `saved`
    /// when given (a train-mode forward), else to the workspace.
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace, saving saved: Workspace? = nil,
        scratchPerHead: Int, head: (HeadSlices<S>) -> Void
    ) throws(PluginFailure) {
        let out = try projectAndRunHeads(
            x, p, store: saved ?? ws, scratch: ws, scratchPerHead: scratchPerHead
        ) { slices, _ in head(slices) }
        let (b, l, d) = (x.shape[0], x.shape[1], dim)
        let idx = index
        linear(
            out, rows: b * l, inFeatures: d, weight: p[idx.outW].base, bias: idx.outB.map { UnsafePointer(p[$0].base) },
            outFeatures: d, into: y.base, parallel: parallel)
    }

    /// The attention weights `[B, H, L, L]` (ABI 1.6 diagnostic): `qkv` as forward computes it, then `head` writes
    /// its pair's `L x L` block of `weights` (pair `b * H + h`); no output projection. Takes the forward's workspace.
    func weights<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], into weights: TensorView<S>, _ ws: Workspace, scratchPerHead: Int,
        head: (HeadSlices<S>, UnsafeMutablePointer<S>) -> Void
    ) throws(PluginFailure) {
        let l = x.shape[1]
        _ = try projectAndRunHeads(x, p, store: ws, scratch: ws, scratchPerHead: scratchPerHead) { slices, task in
            head(slices, weights.base + task * l * l)
        }
    }

    /// `qkv = Lin_qkv(x)` and the `O` rows taken from `store`, each pair's scratch from `scratch`, then `head` on
    /// every (batch, head) pair in parallel with the pair's index; returns `O`.
    private func projectAndRunHeads<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], store: Workspace, scratch ws: Workspace, scratchPerHead: Int,
        head: (HeadSlices<S>, Int) -> Void
    ) throws(PluginFailure) -> UnsafeMutablePointer<S> {
        let (b, l, d) = (x.shape[0], x.shape[1], dim)
        try checkBLASExtents(b * l, 3 * d)
        let qkv: UnsafeMutablePointer<S> = try store.take(b * l * 3 * d)
        let out: UnsafeMutablePointer<S> = try store.take(b * l * d)
        let scratch: UnsafeMutablePointer<S> = try ws.take(b * heads * scratchPerHead)
        let idx = index
        linear(
            x.base, rows: b * l, inFeatures: d, weight: p[idx.qkvW].base,
            bias: idx.qkvB.map { UnsafePointer(p[$0].base) },
            outFeatures: 3 * d, into: qkv, parallel: parallel)
        parallel(b * heads) { begin, end in
            for task in begin..<end {
                head(
                    slices(
                        task: task, length: l, qkv: qkv, out: out, dout: nil, dqkv: nil, scratch: scratch,
                        scratchPerHead: scratchPerHead), task)
            }
        }
        return out
    }

    /// The vector-Jacobian product. `backwardHead` fills its pair's `out` rows (for the out-projection's weight
    /// gradient) and overwrites its `dq`, `dk`, `dv` rows from `dOut`; `forwardHead` only fills `out`, for a call
    /// that wants no gradient below the attention. With `saved` (what a train-mode forward saved), `qkv` and `O` are
    /// read from it (never written): the heads' recomputed `out` rows go to the workspace.
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace, saved: Workspace? = nil, scratchPerHead: Int, forwardHead: (HeadSlices<S>) -> Void,
        backwardHead: (HeadSlices<S>) -> Void
    ) throws(PluginFailure) {
        let (b, l, d) = (x.shape[0], x.shape[1], dim)
        let rows = b * l
        try checkBLASExtents(rows, 3 * d)
        let idx = index
        var qkv: UnsafeMutablePointer<S> = try ws.take(rows * 3 * d)
        let out: UnsafeMutablePointer<S> = try ws.take(rows * d)
        let dout: UnsafeMutablePointer<S> = try ws.take(rows * d)
        let dqkv: UnsafeMutablePointer<S> = try ws.take(rows * 3 * d)
        let scratch: UnsafeMutablePointer<S> = try ws.take(b * heads * scratchPerHead)
        var savedOut: UnsafeMutablePointer<S>?
        if let saved {
            qkv = try saved.take(rows * 3 * d)
            savedOut = try saved.take(rows * d)
        } else {
            linear(
                x.base, rows: rows, inFeatures: d, weight: p[idx.qkvW].base,
                bias: idx.qkvB.map { UnsafePointer(p[$0].base) },
                outFeatures: 3 * d, into: qkv, parallel: parallel)
        }
        let needQKV = dx != nil || dparams[idx.qkvW] != nil || (idx.qkvB.map { dparams[$0] != nil } ?? false)
        let needOut = dparams[idx.outW] != nil
        if needQKV {
            // dO = dy Wout.
            parallelGemm(
                transA: false, transB: false, m: rows, n: d, k: d, alpha: 1, a: dy.base, lda: d, b: p[idx.outW].base,
                ldb: d,
                beta: 0, c: dout, ldc: d, parallel: parallel)
        }
        if needQKV || needOut {
            parallel(b * heads) { begin, end in
                for task in begin..<end {
                    let head = slices(
                        task: task, length: l, qkv: qkv, out: out, dout: dout, dqkv: dqkv, scratch: scratch,
                        scratchPerHead: scratchPerHead)
                    if needQKV { backwardHead(head) } else { forwardHead(head) }
                }
            }
        }
        // out: dWout = dy^T O, dbout = sum dy.
        if let dW = dparams[idx.outW] {
            parallelGemm(
                transA: true, transB: false, m: d, n: d, k: rows, alpha: 1, a: dy.base, lda: d, b: savedOut ?? out,
                ldb: d, beta: 0,
                c: dW.base, ldc: d, parallel: parallel)
        }
        if let bi = idx.outB, let db = dparams[bi] { columnSums(dy.base, rows: rows, columns: d, into: db.base) }
        guard needQKV else { return }
        // qkv: dW = dqkv^T x, db = sum dqkv, dx = dqkv Wqkv.
        if let dW = dparams[idx.qkvW] {
            parallelGemm(
                transA: true, transB: false, m: 3 * d, n: d, k: rows, alpha: 1, a: dqkv, lda: 3 * d, b: x.base, ldb: d,
                beta: 0, c: dW.base, ldc: d, parallel: parallel)
        }
        if let bi = idx.qkvB, let db = dparams[bi] { columnSums(dqkv, rows: rows, columns: 3 * d, into: db.base) }
        if let dx {
            parallelGemm(
                transA: false, transB: false, m: rows, n: d, k: 3 * d, alpha: 1, a: dqkv, lda: 3 * d,
                b: p[idx.qkvW].base,
                ldb: d, beta: 0, c: dx.base, ldc: d, parallel: parallel)
        }
    }
}
