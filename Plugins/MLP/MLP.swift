import OperatorABI
import PluginKit

/// timm `Mlp` as DiT uses it: `y = fc2(gelu_tanh(fc1(x)))`, `fc1: D -> H`, `fc2: H -> D`, `H = int(D * r)`.
///
/// `gelu_tanh(u) = 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3)))`. Every matrix product is one `gemm` over
/// all B*L tokens; the elementwise work runs on the host's `parallel_for`. A train-mode forward (ABI 1.4) saves
/// the hidden pre-activations and activations into the host's buffer and backward starts from them; otherwise
/// backward recomputes them. The instance keeps nothing between calls, so it is re-entrant.
final class MLPKernel: OperatorKernel {
    let dim: Int
    let hidden: Int
    let parallel: ParallelFor

    init(config: KernelConfig) throws(PluginFailure) {
        dim = config.dim
        let ratio = config.double("expansion_ratio")
        let h = (Double(dim) * ratio).rounded(.towardZero)
        guard h >= 1, h <= Double(1 << 24) else {
            throw .invalid(
                "attribute 'expansion_ratio' = \(ratio) gives hidden width int(\(dim) * \(ratio)) = \(Int(max(0, min(h, 1e18)))); it must be >= 1"
            )
        }
        hidden = Int(h)
        parallel = config.parallel
    }

    var parameters: [ParameterDecl] {
        [
            .init("fc1.weight", [hidden, dim]), .init("fc1.bias", [hidden]), .init("fc2.weight", [dim, hidden]),
            .init("fc2.bias", [dim]),
        ]
    }
    var isCausal: Bool { true }
    var receptiveField: (left: Int64, right: Int64)? { (0, 0) }

    func initialize<S: KernelScalar>(_ params: [TensorView<S>], seed: UInt64) {
        for (i, fanIn) in [dim, dim, hidden, hidden].enumerated() {
            Initializer.linearUniform(params[i], fanIn: fanIn, seed: seed, index: i)
        }
    }

    func workspaceElements(backward: Bool, batch: Int, length: Int) -> Int {
        saturatingProduct(backward ? 3 : 2, batch, length, hidden)
    }

    /// `pre` and `act`, `[B*L, H]` each.
    func savedElements(batch: Int, length: Int) -> Int { saturatingProduct(2, batch, length, hidden) }

    /// `pre = x W1^T + b1`, `act = gelu(pre)`.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    private func hiddenActivations<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], rows: Int, pre: UnsafeMutablePointer<S>, act: UnsafeMutablePointer<S>
    ) {
        let h = hidden
        linear(
            x.base, rows: rows, inFeatures: dim, weight: p[0].base, bias: p[1].base, outFeatures: h, into: pre,
            parallel: parallel)
        parallel(rows, grain: max(1, 16384 / h)) { begin, end in
            S.geluTanh(act + begin * h, pre + begin * h, count: (end - begin) * h)
        }
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        try forward(x, p, y, hiddenIn: ws)
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, _ ws: Workspace, saving saved: Workspace
    ) throws(PluginFailure) {
        try forward(x, p, y, hiddenIn: saved)
    }

    /// The forward with `pre` and `act` taken from `store` (the workspace, or the saved buffer of a train-mode
    /// forward).
    private func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ y: TensorView<S>, hiddenIn store: Workspace
    ) throws(PluginFailure) {
        let rows = x.shape[0] * x.shape[1]
        try checkBLASExtents(rows, hidden, dim)
        let pre: UnsafeMutablePointer<S> = try store.take(rows * hidden)
        let act: UnsafeMutablePointer<S> = try store.take(rows * hidden)
        hiddenActivations(x, p, rows: rows, pre: pre, act: act)
        linear(
            act, rows: rows, inFeatures: hidden, weight: p[2].base, bias: p[3].base, outFeatures: dim, into: y.base,
            parallel: parallel)
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace
    ) throws(PluginFailure) {
        let rows = x.shape[0] * x.shape[1]
        try checkBLASExtents(rows, hidden, dim)
        let pre: UnsafeMutablePointer<S> = try ws.take(rows * hidden)
        let act: UnsafeMutablePointer<S> = try ws.take(rows * hidden)
        hiddenActivations(x, p, rows: rows, pre: pre, act: act)
        try backward(x, p, dy, dx: dx, dparams: dparams, pre: pre, act: act, ws)
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        _ ws: Workspace, saved: Workspace
    ) throws(PluginFailure) {
        let rows = x.shape[0] * x.shape[1]
        try checkBLASExtents(rows, hidden, dim)
        let pre: UnsafeMutablePointer<S> = try saved.take(rows * hidden)
        let act: UnsafeMutablePointer<S> = try saved.take(rows * hidden)
        try backward(x, p, dy, dx: dx, dparams: dparams, pre: pre, act: act, ws)
    }

    /// The backward from the hidden pre-activations `pre` and activations `act` (read only).
    private func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ p: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?, dparams: [TensorView<S>?],
        pre: UnsafeMutablePointer<S>, act: UnsafeMutablePointer<S>, _ ws: Workspace
    ) throws(PluginFailure) {
        let rows = x.shape[0] * x.shape[1]
        let h = hidden
        let dpre: UnsafeMutablePointer<S> = try ws.take(rows * h)
        // fc2: dW2 = dy^T act, db2 = sum dy, dact = dy W2.
        if let dW2 = dparams[2] {
            parallelGemm(
                transA: true, transB: false, m: dim, n: h, k: rows, alpha: 1, a: dy.base, lda: dim, b: act, ldb: h,
                beta: 0, c: dW2.base, ldc: h, parallel: parallel)
        }
        if let db2 = dparams[3] { columnSums(dy.base, rows: rows, columns: dim, into: db2.base) }
        let needFirst = dx != nil || dparams[0] != nil || dparams[1] != nil
        guard needFirst else { return }
        parallelGemm(
            transA: false, transB: false, m: rows, n: h, k: dim, alpha: 1, a: dy.base, lda: dim, b: p[2].base, ldb: h,
            beta: 0, c: dpre, ldc: h, parallel: parallel)
        parallel(rows, grain: max(1, 16384 / h)) { begin, end in
            S.geluTanhBackward(dpre + begin * h, pre + begin * h, count: (end - begin) * h)
        }
        // fc1: dW1 = dpre^T x, db1 = sum dpre, dx = dpre W1.
        if let dW1 = dparams[0] {
            parallelGemm(
                transA: true, transB: false, m: h, n: dim, k: rows, alpha: 1, a: dpre, lda: h, b: x.base, ldb: dim,
                beta: 0, c: dW1.base, ldc: dim, parallel: parallel)
        }
        if let db1 = dparams[1] { columnSums(dpre, rows: rows, columns: h, into: db1.base) }
        if let dx {
            parallelGemm(
                transA: false, transB: false, m: rows, n: dim, k: h, alpha: 1, a: dpre, lda: h, b: p[0].base, ldb: dim,
                beta: 0, c: dx.base, ldc: dim, parallel: parallel)
        }
    }
}

nonisolated(unsafe) private let table = makePlugin(
    name: "OZMLP", version: "1.0.0", license: "MIT",
    description: "timm Mlp (GELU-tanh) as DiT uses it, with configurable expansion ratio",
    operators: [
        OperatorDefinition(
            id: "mlp", version: "1.0.0",
            summary:
                "timm Mlp: fc2(gelu_tanh(fc1(x))), hidden = int(D * expansion_ratio) (DiT; grafting mlp_ratio_{3,4,6})",
            role: .channelMixer,
            capabilities: UInt32(
                OZ_CAP_BACKWARD | OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64 | OZ_CAP_SAVE_FOR_BACKWARD),
            attributes: [
                AttributeSpec(
                    "expansion_ratio", default: .float(4),
                    doc: "hidden width = int(D * expansion_ratio) (timm mlp_ratio)",
                    floatRange: 0.001...64)
            ],
            complexity: .linear, kernel: MLPKernel.self)
    ])

/// The plugin's entry point (the ABI's one exported symbol).
@c(oz_plugin_entry)
public func ozPluginEntry() -> UnsafePointer<oz_plugin>? { table }
