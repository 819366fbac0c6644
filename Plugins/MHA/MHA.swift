import OperatorABI
import PluginKit

/// timm `Attention` as DiT uses it (`qkv_bias=True`, no qk-norm, no dropout):
/// `qkv = x Wqkv^T + b` split `(three, heads, head_dim)`, `P = softmax(q k^T / sqrt(head_dim))` per head
/// (rows masked to `j <= i` when `causal`), `O = P v`, heads concatenated, `y = O Wproj^T + bproj`.
///
/// Projections are single `gemm`s over all B*L tokens. Attention runs per (batch, head) pair in parallel on the
/// host's `parallel_for`, one block of ``queryBlock(_:)`` queries at a time: the block's scores against every key
/// (`Q_blk K^T`, a strip of `block x L`), their exact row softmax, and `P_blk V`, all `gemm`s on strided views of
/// the qkv buffer. So memory is O(B H L block), not O(B H L^2) (L = 16384 runs), and the strip stays in cache.
/// Backward walks the same blocks: `dV += P_blk^T dO_blk` and `dK += s dS_blk^T Q_blk` accumulate over the
/// blocks in order. Each pair writes only its own slices and every reduction has a fixed order, so results do
/// not depend on scheduling. A train-mode forward (ABI 1.4) saves the qkv projection and `O` into the host's
/// buffer, and all of `P` while it is small (``keptProbabilityLimit``), and backward starts from them; otherwise
/// backward recomputes them. Nothing is kept between calls, so
/// one instance is re-entrant.
final class MHAKernel: OperatorKernel {
    let dim: Int
    let heads: Int
    let headDim: Int
    let qkvBias: Bool
    let causal: Bool
    let parallel: ParallelFor

    init(config: KernelConfig) throws(PluginFailure) {
        dim = config.dim
        let h = config.int("num_heads")
        guard h >= 1, Int(h) <= dim, dim % Int(h) == 0 else {
            throw .invalid("attribute 'num_heads' = \(h) must divide the model width D = \(dim)")
        }
        heads = Int(h)
        headDim = dim / heads
        qkvBias = config.bool("qkv_bias")
        causal = config.bool("causal")
        parallel = config.parallel
    }

    var parameters: [ParameterDecl] {
        [.init("qkv.weight", [3 * dim, dim])] + (qkvBias ? [.init("qkv.bias", [3 * dim])] : [])
            + [.init("proj.weight", [dim, dim]), .init("proj.bias", [dim])]
    }
    var isCausal: Bool { causal }
    var receptiveField: (left: Int64, right: Int64)? { (-1, causal ? 0 : -1) }

    /// Indices of (qkv.weight, qkv.bias?, proj.weight, proj.bias) in `parameters`.
    private var index: (qkvW: Int, qkvB: Int?, projW: Int, projB: Int) {
        qkvBias ? (0, 1, 2, 3) : (0, nil, 1, 2)
    }

    func initialize<S: KernelScalar>(_ params: [TensorView<S>], seed: UInt64) {
        for (i, _) in parameters.enumerated() {
            Initializer.linearUniform(params[i], fanIn: dim, seed: seed, index: i)
        }
    }

    /// Queries per block: a score strip of about 256K elements (1 MiB in float32) per (batch, head) pair, at
    /// least 8 rows and at most L.
    static func queryBlock(_ length: Int) -> Int { min(max(1, length), max(8, 262_144 / max(1, length))) }

    func workspaceElements(backward: Bool, batch: Int, length: Int) -> Int {
        // Saturating: an absurd B or L must give "too large" (PluginKit refuses Int.max), never an overflow trap.
        let rows = saturatingProduct(batch, length)
        let scores = saturatingProduct(batch, heads, Self.queryBlock(length), length)
        let once = saturatingSum(saturatingProduct(rows, 4 * dim), scores)
        return backward ? saturatingProduct(once, 2) : once
    }

    /// Most probabilities (`B H L^2` elements) a train-mode forward keeps for backward: 2^24, 64 MiB in float32.
    /// Beyond it backward recomputes them block by block (memory stays O(L block)).
    static let keptProbabilityLimit = 1 << 24

    /// Whether a train-mode forward at batch B and length L keeps every head's `P` for backward.
    func keepsProbabilities(batch: Int, length: Int) -> Bool {
        saturatingProduct(batch, heads, length, length) <= Self.keptProbabilityLimit
    }

    /// `qkv` `[B*L, 3D]` and `O` `[B*L, D]`, and `P` `[B, H, L, L]` when it is small enough to keep.
    func savedElements(batch: Int, length: Int) -> Int {
        let projections = saturatingProduct(batch, length, 4 * dim)
        guard keepsProbabilities(batch: batch, length: length) else { return projections }
        return saturatingSum(projections, saturatingProduct(batch, heads, length, length))
    }

    /// Where the probabilities of each (batch, head) pair go: one reused `block x L` strip per pair, or all of
    /// `P` (`L x L` per pair) when a train-mode forward keeps it for backward.
    private struct ProbabilityStore<S> {
        let base: UnsafeMutablePointer<S>
        /// All of `P` is kept (else one strip per pair, overwritten block after block).
        let kept: Bool
        let block: Int
        let length: Int

        /// Rows `first ..< first + block` of pair `task`, `length` apart.
        func rows(task: Int, first: Int) -> UnsafeMutablePointer<S> {
            kept ? base + (task * length + first) * length : base + task * block * length
        }
    }

    /// The qkv projection, then every head's output `O` (heads concatenated), block by block, the probabilities
    /// in `store`.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    private func attention<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], qkv: UnsafeMutablePointer<S>, store: ProbabilityStore<S>,
        out: UnsafeMutablePointer<S>
    ) {
        let (b, l, d, dh) = (x.shape[0], x.shape[1], dim, headDim)
        let idx = index
        linear(
            x.base, rows: b * l, inFeatures: d, weight: p[idx.qkvW].base,
            bias: idx.qkvB.map { UnsafePointer(p[$0].base) },
            outFeatures: 3 * d, into: qkv, parallel: parallel)
        let block = Self.queryBlock(l)
        let heads = self.heads
        parallel(b * heads) { begin, end in
            for task in begin..<end {
                let (bi, h) = (task / heads, task % heads)
                let q = qkv + bi * l * 3 * d + h * dh
                for first in stride(from: 0, to: l, by: block) {
                    let rows = min(block, l - first)
                    let strip = store.rows(task: task, first: first)
                    self.probabilities(q: q, first: first, rows: rows, length: l, into: strip)
                    S.gemm(
                        transA: false, transB: false, m: rows, n: dh, k: l, alpha: 1, a: strip, lda: l, b: q + 2 * d,
                        ldb: 3 * d, beta: 0, c: out + (bi * l + first) * d + h * dh, ldc: d)
                }
            }
        }
    }

    /// Rows `first ..< first + rows` of one head's `P = softmax(s q k^T)` (causally masked when the operator is
    /// causal) into `strip` (`rows x length`); `q` is the head's query column in the qkv buffer (keys at `+ D`).
    @inline(__always)
    private func probabilities<S: KernelScalar>(
        q: UnsafeMutablePointer<S>, first: Int, rows: Int, length l: Int, into strip: UnsafeMutablePointer<S>
    ) {
        let d = dim
        S.gemm(
            transA: false, transB: true, m: rows, n: l, k: headDim, alpha: 1 / S(headDim).squareRoot(),
            a: q + first * 3 * d, lda: 3 * d, b: q + d, ldb: 3 * d, beta: 0, c: strip, ldc: l)
        for i in 0..<rows { S.softmaxRow(strip + i * l, visible: causal ? first + i + 1 : l, length: l) }
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        try forward(x, p, y, ws, projectionsIn: ws, keepProbabilities: false)
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace, saving saved: Workspace
    ) throws(PluginFailure) {
        try forward(
            x, p, y, ws, projectionsIn: saved,
            keepProbabilities: keepsProbabilities(batch: x.shape[0], length: x.shape[1]))
    }

    /// The forward with `qkv` and `O` (and all of `P` when `keepProbabilities`) taken from `store`: the workspace,
    /// or a train-mode forward's saved buffer.
    private func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace, projectionsIn store: Workspace,
        keepProbabilities: Bool
    ) throws(PluginFailure) {
        let (b, l) = (x.shape[0], x.shape[1])
        try checkBLASExtents(b * l, 3 * dim, Self.queryBlock(l) * l)
        let qkv: UnsafeMutablePointer<S> = try store.take(b * l * 3 * dim)
        let out: UnsafeMutablePointer<S> = try store.take(b * l * dim)
        let probabilities = try self.probabilities(
            b, l, keep: keepProbabilities, saved: store, scratch: ws, as: S.self)
        attention(x, p, qkv: qkv, store: probabilities, out: out)
        let idx = index
        linear(
            out, rows: b * l, inFeatures: dim, weight: p[idx.projW].base, bias: p[idx.projB].base, outFeatures: dim,
            into: y.base, parallel: parallel)
    }

    var attentionHeads: Int? { heads }

    /// Every head's `P` straight into `weights` `[B, H, L, L]` (its layout is the kept store's): the forward's qkv
    /// projection and blocks, without the output projection.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func attentionWeights<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], into weights: TensorView<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        let (b, l) = (x.shape[0], x.shape[1])
        try checkBLASExtents(b * l, 3 * dim, Self.queryBlock(l) * l)
        let qkv: UnsafeMutablePointer<S> = try ws.take(b * l * 3 * dim)
        let out: UnsafeMutablePointer<S> = try ws.take(b * l * dim)
        let store = ProbabilityStore(base: weights.base, kept: true, block: Self.queryBlock(l), length: l)
        attention(x, p, qkv: qkv, store: store, out: out)
    }

    /// The probability store of a call: all of `P` from the saved buffer when `keep`, else one strip per pair
    /// from the workspace.
    private func probabilities<S: KernelScalar>(
        _ b: Int, _ l: Int, keep: Bool, saved: Workspace, scratch: Workspace, as _: S.Type
    ) throws(PluginFailure) -> ProbabilityStore<S> {
        let block = Self.queryBlock(l)
        let base: UnsafeMutablePointer<S> =
            try keep ? saved.take(b * heads * l * l) : scratch.take(b * heads * block * l)
        return ProbabilityStore(base: base, kept: keep, block: block, length: l)
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace
    ) throws(PluginFailure) {
        let (b, l) = (x.shape[0], x.shape[1])
        try checkBLASExtents(b * l, 3 * dim, Self.queryBlock(l) * l)
        let qkv: UnsafeMutablePointer<S> = try ws.take(b * l * 3 * dim)
        let out: UnsafeMutablePointer<S> = try ws.take(b * l * dim)
        let strips = try probabilities(b, l, keep: false, saved: ws, scratch: ws, as: S.self)
        attention(x, p, qkv: qkv, store: strips, out: out)
        try backward(x, p, dy, dx: dx, dparams: dparams, qkv: qkv, out: out, probabilities: strips, ws)
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace, saved: Workspace
    ) throws(PluginFailure) {
        let (b, l) = (x.shape[0], x.shape[1])
        try checkBLASExtents(b * l, 3 * dim, Self.queryBlock(l) * l)
        let qkv: UnsafeMutablePointer<S> = try saved.take(b * l * 3 * dim)
        let out: UnsafeMutablePointer<S> = try saved.take(b * l * dim)
        let store = try probabilities(
            b, l, keep: keepsProbabilities(batch: b, length: l), saved: saved, scratch: ws, as: S.self)
        try backward(x, p, dy, dx: dx, dparams: dparams, qkv: qkv, out: out, probabilities: store, ws)
    }

    /// The backward from the qkv projection and `O` (read only) and the probability store: kept probabilities are
    /// read, strips are recomputed block by block.
    private func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        qkv: UnsafeMutablePointer<S>, out: UnsafeMutablePointer<S>, probabilities store: ProbabilityStore<S>,
        _ ws: Workspace
    ) throws(PluginFailure) {
        let (b, l, d, dh) = (x.shape[0], x.shape[1], dim, headDim)
        let rows = b * l
        let block = Self.queryBlock(l)
        let idx = index
        let dout: UnsafeMutablePointer<S> = try ws.take(rows * d)
        let dqkv: UnsafeMutablePointer<S> = try ws.take(rows * 3 * d)
        let dstrips: UnsafeMutablePointer<S> = try ws.take(b * heads * block * l)

        // proj: dWp = dy^T O, dbp = sum dy, dO = dy Wp.
        if let dWp = dparams[idx.projW] {
            parallelGemm(
                transA: true, transB: false, m: d, n: d, k: rows, alpha: 1, a: dy.base, lda: d, b: out, ldb: d, beta: 0,
                c: dWp.base, ldc: d, parallel: parallel)
        }
        if let dbp = dparams[idx.projB] { columnSums(dy.base, rows: rows, columns: d, into: dbp.base) }
        let needQKV = dx != nil || dparams[idx.qkvW] != nil || (idx.qkvB.map { dparams[$0] != nil } ?? false)
        guard needQKV else { return }
        parallelGemm(
            transA: false, transB: false, m: rows, n: d, k: d, alpha: 1, a: dy.base, lda: d, b: p[idx.projW].base,
            ldb: d,
            beta: 0, c: dout, ldc: d, parallel: parallel)

        // Per head and query block: P_blk (kept, or again), dP = dO_blk V^T, dV += P_blk^T dO_blk,
        // dS = P * (dP - rowsum(dP * P)), dQ_blk = s dS K, dK += s dS^T Q_blk (accumulated over blocks in order).
        let scale = 1 / S(dh).squareRoot()
        let heads = self.heads
        parallel(b * heads) { begin, end in
            for task in begin..<end {
                let (bi, h) = (task / heads, task % heads)
                let q = qkv + bi * l * 3 * d + h * dh
                let dq = dqkv + bi * l * 3 * d + h * dh
                let dpm = dstrips + task * block * l
                for first in stride(from: 0, to: l, by: block) {
                    let n = min(block, l - first)
                    let beta: S = first == 0 ? 0 : 1
                    let dO = dout + (bi * l + first) * d + h * dh
                    let pm = store.rows(task: task, first: first)
                    if !store.kept { self.probabilities(q: q, first: first, rows: n, length: l, into: pm) }
                    S.gemm(
                        transA: false, transB: true, m: n, n: l, k: dh, alpha: 1, a: dO, lda: d, b: q + 2 * d,
                        ldb: 3 * d, beta: 0, c: dpm, ldc: l)
                    S.gemm(
                        transA: true, transB: false, m: l, n: dh, k: n, alpha: 1, a: pm, lda: l, b: dO, ldb: d,
                        beta: beta, c: dq + 2 * d, ldc: 3 * d)
                    for i in 0..<n { S.softmaxBackwardRow(pm + i * l, dpm + i * l, count: l) }
                    S.gemm(
                        transA: false, transB: false, m: n, n: dh, k: l, alpha: scale, a: dpm, lda: l, b: q + d,
                        ldb: 3 * d, beta: 0, c: dq + first * 3 * d, ldc: 3 * d)
                    S.gemm(
                        transA: true, transB: false, m: l, n: dh, k: n, alpha: scale, a: dpm, lda: l,
                        b: q + first * 3 * d, ldb: 3 * d, beta: beta, c: dq + d, ldc: 3 * d)
                }
            }
        }
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

nonisolated(unsafe) private let table = makePlugin(
    name: "OZMHA", version: "1.0.0", license: "MIT",
    description: "Softmax multi-head self-attention, timm Attention as DiT uses it",
    operators: [
        OperatorDefinition(
            id: "mha", version: "1.0.0",
            summary: "timm Attention (DiT): softmax(q k^T / sqrt(head_dim)) v per head, qkv and proj Linear layers",
            role: .tokenMixer,
            capabilities: UInt32(
                OZ_CAP_BACKWARD | OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64 | OZ_CAP_SAVE_FOR_BACKWARD),
            attributes: [
                AttributeSpec(
                    "num_heads", default: .int(16), doc: "attention heads; must divide D (DiT-XL: 16)",
                    intRange: 1...4096),
                AttributeSpec("qkv_bias", default: .bool(true), doc: "bias on the qkv projection (DiT: true)"),
                AttributeSpec("causal", default: .bool(false), doc: "mask keys after the query (not used by DiT)"),
            ],
            complexity: .quadratic, kernel: MHAKernel.self)
    ])

/// The plugin's entry point (the ABI's one exported symbol).
@c(oz_plugin_entry)
public func ozPluginEntry() -> UnsafePointer<oz_plugin>? { table }
