import OperatorABI

/// A parameter tensor an instance declares: its upstream PyTorch `state_dict` name and shape.
public struct ParameterDecl: Sendable {
    public let name: String
    public let shape: [Int]
    public init(_ name: String, _ shape: [Int]) {
        self.name = name
        self.shape = shape
    }
}

/// Scratch memory lent by the host for one call, handed out in 64-byte-aligned pieces.
public final class Workspace {
    private let base: UnsafeMutableRawPointer?
    private let size: Int
    private var used = 0

    init(base: UnsafeMutableRawPointer?, size: Int) {
        self.base = base
        self.size = size
    }

    /// `count` elements of `S`; the kernel's ``OperatorKernel/workspaceElements(backward:batch:length:)``
    /// must have asked for them (PluginKit adds the alignment slack).
    public func take<S: KernelScalar>(
        _ count: Int, as _: S.Type = S.self
    ) throws(PluginFailure) -> UnsafeMutablePointer<S> {
        let start = (used + 63) / 64 * 64
        let bytes = count * MemoryLayout<S>.stride
        guard let base, start + bytes <= size else {
            throw .invalid("workspace too small: need at least \(start + bytes) bytes, got \(size)")
        }
        used = start + bytes
        return (base + start).bindMemory(to: S.self, capacity: count)
    }
}

/// One operator instance written in Swift. PluginKit validates every argument before calling these, so a
/// kernel sees tensors of the right dtype and shape and never touches a C pointer.
public protocol OperatorKernel: AnyObject {
    /// Creates an instance; throws (with a message naming the attribute) when the configuration is invalid.
    init(config: KernelConfig) throws(PluginFailure)
    /// Parameters in a fixed order.
    var parameters: [ParameterDecl] { get }
    /// Output token t depends only on tokens <= t.
    var isCausal: Bool { get }
    /// Tokens `[t - left, t + right]` bound what output t sees (-1: unbounded side); `nil`: not declared.
    var receptiveField: (left: Int64, right: Int64)? { get }
    /// The one sequence length every call must have, or nil for any (reported as `fixed_length`, ABI 1.1).
    var fixedLength: Int? { get }
    /// This instance's time complexity in L when its attributes decide it (e.g. a window that may be unbounded);
    /// nil reports the definition's ``OperatorDefinition/complexity`` (`oz_instance_info.complexity`, ABI 1.2).
    var complexity: ComplexityClass? { get }
    /// The upstream `state_dict`'s entries that are not parameters (ABI 1.5); the default, none.
    var stateEntries: [StateEntryDecl] { get }
    /// The number of attention heads whose softmax weights ``attentionWeights(_:_:into:_:)`` gives (ABI 1.6
    /// `OZ_DIAG_ATTENTION_WEIGHTS`); nil (the default): the instance gives none.
    var attentionHeads: Int? { get }
    /// The softmax attention weights of a forward at `x`, into `weights` `[B, H, L, L]` (H = ``attentionHeads``):
    /// `weights[b, h, q, s]` is what query q gives key s in head h, each row non-negative and summing to 1, exactly 0
    /// outside the query's window. Overwrite every element. `workspace` is the forward's
    /// (``workspaceElements(backward:batch:length:)`` with `backward: false`).
    func attentionWeights<S: KernelScalar>(
        _ x: TensorView<S>, _ params: [TensorView<S>], into weights: TensorView<S>, _ workspace: Workspace
    ) throws(PluginFailure)
    /// Writes the upstream initialisation of every parameter, deterministically from `seed`.
    func initialize<S: KernelScalar>(_ params: [TensorView<S>], seed: UInt64)
    /// Scratch elements (sized for float64, 8 bytes each) one pass needs at batch B and length L.
    func workspaceElements(backward: Bool, batch: Int, length: Int) -> Int
    /// The FLOPs (and optionally bytes) of one forward and one backward at batch B and length L, reported through ABI
    /// 1.3's `oz_operator.cost` (see ``OperatorCost`` for the counting convention); `nil` (the default): not declared.
    ///
    /// PluginKit always sets the table's `cost` entry. Before calling this it refuses B or L outside `1 ... 2^31 - 1`,
    /// an L other than H*W for a grid operator (`OZ_CAP_NEEDS_GRID`) and an L other than ``fixedLength`` with
    /// `OZ_ERR_SHAPE`; a kernel throws ``PluginFailure/shape(_:)`` itself for any other L it can never take (e.g. one
    /// above an `l_max`). A `nil` answer fails the call with `OZ_ERR_UNSUPPORTED` ("does not declare its cost"), as
    /// does a count that saturates (``SaturatingCount``). Bytes left `nil` are PluginKit's minimum traffic.
    func cost(batch: Int, length: Int) throws(PluginFailure) -> OperatorCost?
    /// y = op(x); `y` must be overwritten entirely.
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ params: [TensorView<S>], _ y: TensorView<S>, _ workspace: Workspace
    ) throws(PluginFailure)
    /// The vector-Jacobian product; overwrite (never accumulate) `dx` and each non-nil `dparams[k]`.
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ params: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?,
        dparams: [TensorView<S>?], _ workspace: Workspace
    ) throws(PluginFailure)

    /// Elements (sized for float64, 8 bytes each) of the buffer a train-mode forward fills for backward at batch B
    /// and length L (ABI 1.4, `OZ_PASS_SAVED`). Asked only when the definition declares
    /// `OZ_CAP_SAVE_FOR_BACKWARD`; the default, 0, saves nothing.
    func savedElements(batch: Int, length: Int) -> Int
    /// A train-mode forward: `y` exactly as ``forward(_:_:_:_:)`` computes it, and in `saved` what
    /// ``backward(_:_:_:dx:dparams:_:saved:)`` reads instead of recomputing. `saved` is the host's, of unspecified
    /// contents: write every element backward reads. The default ignores `saved` (for kernels that save nothing).
    func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ params: [TensorView<S>], _ y: TensorView<S>, _ workspace: Workspace,
        saving saved: Workspace
    ) throws(PluginFailure)
    /// The vector-Jacobian product from what a train-mode forward of the same `x` and `params` saved (read-only:
    /// take the pieces in the order forward took them). Results must equal the recomputing backward's.
    func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ params: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?,
        dparams: [TensorView<S>?], _ workspace: Workspace, saved: Workspace
    ) throws(PluginFailure)
}

/// An operator's static description: what `oz_operator` carries, plus the Swift kernel type.
public struct OperatorDefinition {
    public enum Role { case tokenMixer, channelMixer }

    public let id: String
    public let version: String
    public let summary: String
    public let role: Role
    /// `OZ_CAP_*` flags.
    public let capabilities: UInt32
    public let attributes: [AttributeSpec]
    /// The time complexity in L of every instance, unless the kernel's ``OperatorKernel/complexity`` says
    /// otherwise for an instance.
    public let complexity: ComplexityClass
    public let kernel: any OperatorKernel.Type

    public init(
        id: String, version: String, summary: String, role: Role, capabilities: UInt32, attributes: [AttributeSpec],
        complexity: ComplexityClass = .undeclared, kernel: any OperatorKernel.Type
    ) {
        self.id = id
        self.version = version
        self.summary = summary
        self.role = role
        self.capabilities = capabilities
        self.attributes = attributes
        self.complexity = complexity
        self.kernel = kernel
    }
}

extension OperatorKernel {
    /// The parameters are the whole upstream state dict, unless a kernel says otherwise.
    public var stateEntries: [StateEntryDecl] { [] }
    /// No diagnostics, unless a kernel says otherwise.
    public var attentionHeads: Int? { nil }
    /// Refused: the kernel gives no attention weights.
    public func attentionWeights<S: KernelScalar>(
        _ x: TensorView<S>, _ params: [TensorView<S>], into weights: TensorView<S>, _ workspace: Workspace
    ) throws(PluginFailure) {
        throw .unsupported("this operator gives no attention weights")
    }
    /// Any length, unless a kernel says otherwise.
    public var fixedLength: Int? { nil }
    /// The definition's complexity, unless a kernel says otherwise.
    public var complexity: ComplexityClass? { nil }
    /// Not declared, unless a kernel says otherwise.
    public func cost(batch: Int, length: Int) throws(PluginFailure) -> OperatorCost? { nil }
    /// Nothing saved, unless a kernel says otherwise.
    public func savedElements(batch: Int, length: Int) -> Int { 0 }
    /// The plain forward, for kernels that save nothing.
    public func forward<S: KernelScalar>(
        _ x: TensorView<S>, _ params: [TensorView<S>], _ y: TensorView<S>, _ workspace: Workspace,
        saving saved: Workspace
    ) throws(PluginFailure) {
        try forward(x, params, y, workspace)
    }
    /// The recomputing backward, for kernels that save nothing.
    public func backward<S: KernelScalar>(
        _ x: TensorView<S>, _ params: [TensorView<S>], _ dy: TensorView<S>, dx: TensorView<S>?,
        dparams: [TensorView<S>?], _ workspace: Workspace, saved: Workspace
    ) throws(PluginFailure) {
        try backward(x, params, dy, dx: dx, dparams: dparams, workspace)
    }
}
