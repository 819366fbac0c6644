import OperatorABI

/// What an ``Operator`` calls to create, describe and run instances: the operator ABI's entry points with
/// Swift-typed arguments.
///
/// Two implementations exist. ``OperatorTable`` calls a plugin's `oz_operator` table. `CFunctionBackend`
/// adapts a plain C function described by a `cfunction` registry entry and calls it through libffi. The rest
/// of the host (``Operator``, the conformance harness, `zoo op run`) sees no difference: every error is a
/// ``PluginCallError`` with an `OZ_ERR_*` status and a message, as a plugin would return it.
package protocol OperatorBackend: Sendable {
    /// The operator id, used in error messages.
    var id: String { get }
    /// A vector-Jacobian product is available.
    var hasBackward: Bool { get }
    /// Parameters can be initialised by the implementation.
    var hasInitParams: Bool { get }

    /// Creates an instance for width `dim`, the grid, and every schema attribute (defaults filled in).
    func create(
        dim: Int, grid: (Int, Int)?, attributes: [(AttributeSchema, AttributeValue)], services: HostServices
    )
        throws(PluginCallError) -> OpaquePointer
    /// Frees an instance that `create` returned.
    func destroy(_ instance: OpaquePointer)
    /// Flags, receptive field, parameter count and fixed length of an instance.
    func describe(_ instance: OpaquePointer) throws(PluginCallError) -> oz_instance_info
    /// Name and shape of parameter `index`.
    func parameter(_ instance: OpaquePointer, index: Int) throws(PluginCallError) -> (name: String?, shape: [Int])
    /// Upstream state entry `index` (ABI 1.5) of the `num_state_entries` that `describe` reported.
    func stateEntry(_ instance: OpaquePointer, index: Int) throws(PluginCallError) -> UpstreamStateEntry
    /// Writes the initial parameters, deterministically from `seed`, into host-owned buffers.
    func initParams(_ instance: OpaquePointer, seed: UInt64, params: [TensorArgument]) throws(PluginCallError)
    /// Bytes of workspace `pass` (`OZ_PASS_*`) needs at batch B and length L.
    /// The instance's declared cost of one call at batch B and length L, or nil when it declares none.
    func cost(_ instance: OpaquePointer, batch: Int, length: Int) throws(PluginCallError) -> OperatorCost?
    func workspaceSize(_ instance: OpaquePointer, pass: Int32, batch: Int, length: Int) throws(PluginCallError) -> Int
    /// `y = op(x)`; with a non-nil `saved` (ABI 1.4, `OZ_CAP_SAVE_FOR_BACKWARD`) also what backward needs.
    func forward(
        _ instance: OpaquePointer, x: TensorArgument, params: [TensorArgument], y: TensorArgument,
        workspace: UnsafeMutableRawPointer?, workspaceSize: Int, saved: UnsafeMutableRawPointer?, savedSize: Int
    ) throws(PluginCallError)
    /// Diagnostic `kind` (ABI 1.6 `OZ_DIAG_*`) at `x` into `out`; the workspace is the forward's.
    func diagnose(
        _ instance: OpaquePointer, kind: UInt32, x: TensorArgument, params: [TensorArgument], out: TensorArgument,
        workspace: UnsafeMutableRawPointer?, workspaceSize: Int
    ) throws(PluginCallError)
    /// The vector-Jacobian product; a nil `dx`, nil `dparams` or a `dparams[k]` with nil data is not wanted. A
    /// non-nil `saved` is what a train-mode forward of the same x and params left there.
    func backward(
        _ instance: OpaquePointer, x: TensorArgument, params: [TensorArgument], dy: TensorArgument,
        dx: TensorArgument?, dparams: [TensorArgument]?, workspace: UnsafeMutableRawPointer?, workspaceSize: Int,
        saved: UnsafeRawPointer?, savedSize: Int
    ) throws(PluginCallError)
}

extension OperatorBackend {
    /// `y = op(x)` without saving for backward.
    package func forward(
        _ instance: OpaquePointer, x: TensorArgument, params: [TensorArgument], y: TensorArgument,
        workspace: UnsafeMutableRawPointer?, workspaceSize: Int
    ) throws(PluginCallError) {
        try forward(
            instance, x: x, params: params, y: y, workspace: workspace, workspaceSize: workspaceSize, saved: nil,
            savedSize: 0)
    }

    /// The vector-Jacobian product, recomputing what it needs.
    package func backward(
        _ instance: OpaquePointer, x: TensorArgument, params: [TensorArgument], dy: TensorArgument,
        dx: TensorArgument?, dparams: [TensorArgument]?, workspace: UnsafeMutableRawPointer?, workspaceSize: Int
    ) throws(PluginCallError) {
        try backward(
            instance, x: x, params: params, dy: dy, dx: dx, dparams: dparams, workspace: workspace,
            workspaceSize: workspaceSize, saved: nil, savedSize: 0)
    }
}

extension OperatorTable: OperatorBackend {}
