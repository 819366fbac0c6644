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
    /// Writes the initial parameters, deterministically from `seed`, into host-owned buffers.
    func initParams(_ instance: OpaquePointer, seed: UInt64, params: [TensorArgument]) throws(PluginCallError)
    /// Bytes of workspace `pass` (`OZ_PASS_*`) needs at batch B and length L.
    /// The instance's declared cost of one call at batch B and length L, or nil when it declares none.
    func cost(_ instance: OpaquePointer, batch: Int, length: Int) throws(PluginCallError) -> OperatorCost?
    func workspaceSize(_ instance: OpaquePointer, pass: Int32, batch: Int, length: Int) throws(PluginCallError) -> Int
    /// `y = op(x)`.
    func forward(
        _ instance: OpaquePointer, x: TensorArgument, params: [TensorArgument], y: TensorArgument,
        workspace: UnsafeMutableRawPointer?, workspaceSize: Int
    ) throws(PluginCallError)
    /// The vector-Jacobian product; a nil `dx`, nil `dparams` or a `dparams[k]` with nil data is not wanted.
    func backward(
        _ instance: OpaquePointer, x: TensorArgument, params: [TensorArgument], dy: TensorArgument,
        dx: TensorArgument?, dparams: [TensorArgument]?, workspace: UnsafeMutableRawPointer?, workspaceSize: Int
    ) throws(PluginCallError)
}

extension OperatorTable: OperatorBackend {}
