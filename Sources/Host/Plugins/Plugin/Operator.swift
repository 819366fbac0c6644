import Foundation
import HostCore
import OperatorABI

/// A parameter tensor an operator instance declares: upstream `state_dict` name and shape.
public struct ParameterSpec: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let shape: [Int]
    public var description: String { "\(name) \(shape)" }
}

/// Why a call on an ``Operator`` was refused before or by the plugin.
public enum OperatorError: Error, Equatable, CustomStringConvertible {
    /// An argument's shape does not fit the instance (`argument` names it: `x`, `dy`, a parameter name ...).
    case shape(operatorId: String, argument: String, expected: String, found: [Int])
    /// A configuration the operator does not support (float64 without the capability, no backward ...).
    case unsupported(operatorId: String, reason: String)
    /// The instance reported inconsistent metadata.
    case invalidInstance(operatorId: String, reason: String)
    /// An attribute was refused by the host's schema check.
    case attribute(AttributeError)
    /// The plugin returned an error status.
    case plugin(PluginCallError)
    /// The workspace the plugin asked for could not be allocated.
    case workspace(operatorId: String, bytes: Int)

    public var description: String {
        switch self {
        case .shape(let id, let argument, let expected, let found):
            "operator '\(id)': \(argument) has shape \(found), expected \(expected)"
        case .unsupported(let id, let reason): "operator '\(id)': \(reason)"
        case .invalidInstance(let id, let reason): "operator '\(id)' instance is invalid: \(reason)"
        case .attribute(let e): e.description
        case .plugin(let e): e.description
        case .workspace(let id, let bytes):
            "operator '\(id)': its workspace of \(bytes) bytes (\(String(format: "%.1f", Double(bytes) / Double(1 << 30))) GiB) cannot be allocated"
        }
    }
}

/// A created operator instance: a typed wrapper that validates attributes at create and tensor shapes
/// before every call, then calls the plugin through the ABI.
///
/// ```swift
/// let op = try Operator(descriptor, dim: 384, attributes: ["num_heads": .int(6)])
/// let params = try op.initialParameters(seed: 0)
/// let y = try op.forward(x, parameters: params)
/// ```
public final class Operator: @unchecked Sendable {
    public let descriptor: OperatorDescriptor
    /// Model width D.
    public let dim: Int
    /// The token grid (H, W), when given.
    public let grid: (height: Int, width: Int)?
    /// Every attribute's value, defaults filled in, in schema order.
    public let attributes: [(name: String, value: AttributeValue)]
    /// The instance's parameters, in the plugin's order.
    public let parameters: [ParameterSpec]
    /// The upstream state dict's entries that are not parameters (ABI 1.5; empty for older plugins).
    public let stateEntries: [UpstreamStateEntry]
    /// Output token t depends only on tokens <= t.
    public let isCausal: Bool
    /// Bounds on the tokens each output sees (`nil` side = unbounded); `nil` when not declared.
    public let receptiveField: (left: Int?, right: Int?)?
    /// The one sequence length every call must have, when the instance declares one (ABI 1.1).
    public let fixedLength: Int?
    /// How the instance's time grows with L, as it declares it (ABI 1.2; ``OperatorComplexity/undeclared`` for
    /// an older plugin).
    public let complexity: OperatorComplexity
    /// The number of heads of the softmax attention weights the instance gives for analysis
    /// (``attentionWeights(_:parameters:)``, ABI 1.6), or nil when it gives none.
    public let attentionHeads: Int?

    package let instance: OpaquePointer
    private let services: HostServices
    package var table: any OperatorBackend { descriptor.table }
    private let workspaceLock = NSLock()
    private var cachedWorkspace: (pointer: UnsafeMutableRawPointer, size: Int)?

    /// Creates an instance of `descriptor` for width `dim` (and grid, when the operator needs it).
    /// - Throws: ``OperatorError`` for bad attributes or when the plugin refuses.
    public init(
        _ descriptor: OperatorDescriptor, dim: Int, grid: (height: Int, width: Int)? = nil,
        attributes: [String: AttributeValue] = [:], services: HostServices = .shared
    ) throws(OperatorError) {
        self.descriptor = descriptor
        self.dim = dim
        self.grid = grid
        self.services = services
        let id = descriptor.id
        guard dim >= 1 else { throw .shape(operatorId: id, argument: "D", expected: ">= 1", found: [dim]) }
        if descriptor.capabilities.contains(.needsGrid) {
            guard let grid, grid.height >= 1, grid.width >= 1 else {
                throw .unsupported(operatorId: id, reason: "needs the token grid (--grid HxW)")
            }
        }
        let resolved: [(AttributeSchema, AttributeValue)]
        do { resolved = try descriptor.resolve(attributes) } catch { throw .attribute(error) }
        self.attributes = resolved.map { ($0.0.name, $0.1) }
        let table = descriptor.table
        do {
            instance = try table.create(
                dim: dim, grid: grid.map { ($0.height, $0.width) }, attributes: resolved, services: services)
        } catch { throw .plugin(error) }
        do {
            let info = try table.describe(instance)
            isCausal = info.flags & OZ_INSTANCE_CAUSAL != 0
            if info.flags & OZ_INSTANCE_RECEPTIVE_FIELD != 0 {
                receptiveField = (
                    info.receptive_left < 0 ? nil : Int(info.receptive_left),
                    info.receptive_right < 0 ? nil : Int(info.receptive_right)
                )
            } else {
                receptiveField = nil
            }
            fixedLength = info.fixed_length > 0 ? Int(info.fixed_length) : nil
            complexity = OperatorComplexity(code: info.complexity)
            if info.diagnostics & OZ_DIAG_ATTENTION_WEIGHTS != 0 {
                guard (1...4096).contains(info.attention_heads) else {
                    throw OperatorError.invalidInstance(
                        operatorId: id,
                        reason: "it gives attention weights with \(info.attention_heads) heads (expected 1 ... 4096)")
                }
                attentionHeads = Int(info.attention_heads)
            } else {
                attentionHeads = nil
            }
            guard info.num_params <= 4096 else {
                throw OperatorError.invalidInstance(operatorId: id, reason: "\(info.num_params) parameters")
            }
            var specs: [ParameterSpec] = []
            for index in 0..<Int(info.num_params) {
                let (name, shape) = try table.parameter(instance, index: index)
                guard let name, !name.isEmpty else {
                    throw OperatorError.invalidInstance(operatorId: id, reason: "parameter \(index) has no name")
                }
                guard shape.allSatisfy({ $0 >= 1 }),
                    shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) < 1 << 40
                else {
                    throw OperatorError.invalidInstance(
                        operatorId: id, reason: "parameter '\(name)' has shape \(shape)")
                }
                if specs.contains(where: { $0.name == name }) {
                    throw OperatorError.invalidInstance(operatorId: id, reason: "parameter name '\(name)' repeats")
                }
                specs.append(ParameterSpec(name: name, shape: shape))
            }
            parameters = specs
            guard info.num_state_entries <= 4096 else {
                throw OperatorError.invalidInstance(operatorId: id, reason: "\(info.num_state_entries) state entries")
            }
            var entries: [UpstreamStateEntry] = []
            for index in 0..<Int(info.num_state_entries) {
                entries.append(try table.stateEntry(instance, index: index))
            }
            if let problem = UpstreamStateEntry.problem(in: entries, parameters: specs) {
                throw OperatorError.invalidInstance(operatorId: id, reason: problem)
            }
            stateEntries = entries
        } catch let error as OperatorError {
            table.destroy(instance)
            throw error
        } catch let error as PluginCallError {
            table.destroy(instance)
            throw .plugin(error)
        } catch {
            table.destroy(instance)
            throw .invalidInstance(operatorId: id, reason: "\(error)")
        }
    }

    deinit {
        table.destroy(instance)
        if let cachedWorkspace { free(cachedWorkspace.pointer) }
    }

    /// The value of attribute `name`.
    public func attribute(_ name: String) -> AttributeValue? {
        attributes.first { $0.name == name }?.value
    }

    // MARK: Parameters

    /// Fresh parameters, initialised by the plugin (its upstream initialisation) from `seed`.
    public func initialParameters<S: TensorScalar>(
        seed: UInt64, as _: S.Type = Float.self
    ) throws(OperatorError) -> [Tensor<S>] {
        try checkScalar(S.self)
        var tensors = parameters.map { Tensor<S>(zeros: $0.shape) }
        guard !tensors.isEmpty else { return [] }
        guard table.hasInitParams else {
            throw .unsupported(operatorId: descriptor.id, reason: "the plugin has parameters but no init_params")
        }
        let args = tensors.indices.map { i in
            TensorArgument(
                data: UnsafeMutableRawPointer(tensors[i].baseAddressForWriting()), shape: tensors[i].shape, bits: S.bits
            )
        }
        do {
            try withExtendedLifetime(tensors) { () throws(PluginCallError) in
                try table.initParams(instance, seed: seed, params: args)
            }
        } catch { throw .plugin(error) }
        return tensors
    }

    // MARK: Compute

    /// `y = op(x)` for `x` of shape `[B, L, D]`.
    public func forward<S: TensorScalar>(
        _ x: Tensor<S>, parameters params: [Tensor<S>]
    ) throws(OperatorError) -> Tensor<S> {
        try checkScalar(S.self)
        let (batch, length) = try checkInput(x, name: "x")
        try checkParameters(params, name: "parameter")
        var y = Tensor<S>(zeros: x.shape)
        let yArg = TensorArgument(
            data: UnsafeMutableRawPointer(y.baseAddressForWriting()), shape: y.shape, bits: S.bits)
        try withWorkspace(pass: OZ_PASS_FORWARD, batch: batch, length: length) { (ws, size) throws(PluginCallError) in
            try withExtendedLifetime((x, params)) { () throws(PluginCallError) in
                try table.forward(
                    instance, x: argument(x), params: params.map(argument), y: yArg, workspace: ws, workspaceSize: size)
            }
        }
        return y
    }

    /// A train-mode forward: `y = op(x)` as ``forward(_:parameters:)`` computes it, and, when `saving` and the
    /// operator declares ``OperatorCapabilities/saveForBackward`` (ABI 1.4), what its backward needs, in a buffer the
    /// host owns. Pass that to ``backward(_:parameters:outputGradient:needInputGradient:parameterGradients:saved:)``
    /// with the same `x` and parameters, and backward skips recomputing the forward. `saved` is nil when the
    /// operator saves nothing.
    public func forward<S: TensorScalar>(
        _ x: Tensor<S>, parameters params: [Tensor<S>], saving: Bool
    ) throws(OperatorError) -> (output: Tensor<S>, saved: SavedActivations?) {
        guard saving, descriptor.capabilities.contains(.saveForBackward) else {
            return (try forward(x, parameters: params), nil)
        }
        try checkScalar(S.self)
        let (batch, length) = try checkInput(x, name: "x")
        try checkParameters(params, name: "parameter")
        let bytes = try savedSize(batch: batch, length: length)
        guard bytes > 0 else { return (try forward(x, parameters: params), nil) }
        var buffer = Tensor<Double>(uninitialized: [(bytes + 7) / 8])
        let savedPointer = UnsafeMutableRawPointer(buffer.baseAddressForWriting())
        var y = Tensor<S>(zeros: x.shape)
        let yArg = TensorArgument(
            data: UnsafeMutableRawPointer(y.baseAddressForWriting()), shape: y.shape, bits: S.bits)
        try withWorkspace(pass: OZ_PASS_FORWARD, batch: batch, length: length) { (ws, size) throws(PluginCallError) in
            try withExtendedLifetime((x, params, buffer)) { () throws(PluginCallError) in
                try table.forward(
                    instance, x: argument(x), params: params.map(argument), y: yArg, workspace: ws, workspaceSize: size,
                    saved: savedPointer, savedSize: bytes)
            }
        }
        let saved = SavedActivations(
            buffer: buffer, bytes: bytes, batch: batch, length: length, bits: S.bits, owner: ObjectIdentifier(self))
        return (y, saved)
    }

    /// The vector-Jacobian product at `x`: `dx = d<y, dy>/dx` and `dparams[k] = d<y, dy>/dparams[k]`.
    /// - Parameters:
    ///   - needInputGradient: compute `dx` (else it is `nil` and the plugin gets a NULL `dx`).
    ///   - parameterGradients: which `dparams[k]` to compute (`nil`: all); the others are `nil`.
    ///   - saved: what ``forward(_:parameters:saving:)`` of this instance saved for the same `x` and parameters
    ///     (nil: the plugin recomputes); refused when it came from another instance, batch, length or dtype.
    public func backward<S: TensorScalar>(
        _ x: Tensor<S>, parameters params: [Tensor<S>], outputGradient dy: Tensor<S>, needInputGradient: Bool = true,
        parameterGradients: Set<Int>? = nil, saved: SavedActivations? = nil
    ) throws(OperatorError) -> (input: Tensor<S>?, parameters: [Tensor<S>?]) {
        try checkScalar(S.self)
        guard descriptor.capabilities.contains(.backward), table.hasBackward else {
            throw .unsupported(
                operatorId: descriptor.id, reason: "the operator has no backward (vector-Jacobian product)")
        }
        let (batch, length) = try checkInput(x, name: "x")
        guard dy.shape == x.shape else {
            throw .shape(
                operatorId: descriptor.id, argument: "dy", expected: "\(x.shape) (the shape of x)", found: dy.shape)
        }
        try checkParameters(params, name: "parameter")
        var dx: Tensor<S>? = needInputGradient ? Tensor<S>(zeros: x.shape) : nil
        let wanted = parameterGradients ?? Set(params.indices)
        var dparams: [Tensor<S>?] = params.indices.map {
            wanted.contains($0) ? Tensor<S>(zeros: params[$0].shape) : nil
        }
        let dxArg: TensorArgument? =
            dx == nil
            ? nil
            : TensorArgument(data: UnsafeMutableRawPointer(dx!.baseAddressForWriting()), shape: x.shape, bits: S.bits)
        let dparamArgs: [TensorArgument]? =
            wanted.isEmpty
            ? nil
            : dparams.indices.map { i in
                TensorArgument(
                    data: dparams[i] == nil ? nil : UnsafeMutableRawPointer(dparams[i]!.baseAddressForWriting()),
                    shape: params[i].shape, bits: S.bits)
            }
        if let saved {
            guard saved.owner == ObjectIdentifier(self), saved.batch == batch, saved.length == length,
                saved.bits == S.bits
            else {
                throw .unsupported(
                    operatorId: descriptor.id,
                    reason:
                        "the saved activations come from another instance or call (B = \(saved.batch), L = \(saved.length), float\(saved.bits)), not this backward's (B = \(batch), L = \(length), float\(S.bits))"
                )
            }
        }
        try withWorkspace(pass: OZ_PASS_BACKWARD, batch: batch, length: length) { (ws, size) throws(PluginCallError) in
            try withExtendedLifetime((x, params, dy, dx, dparams, saved)) { () throws(PluginCallError) in
                try table.backward(
                    instance, x: argument(x), params: params.map(argument), dy: argument(dy), dx: dxArg,
                    dparams: dparamArgs, workspace: ws, workspaceSize: size,
                    saved: saved.map { UnsafeRawPointer($0.buffer.baseAddressForReading) }, savedSize: saved?.bytes ?? 0
                )
            }
        }
        return (dx, dparams)
    }

    /// The softmax attention weights of a forward at `x` `[B, L, D]`, `[B, H, L, L]`: entry `(b, h, q, s)` is the
    /// weight query token q gives key token s in head h (ABI 1.6 `OZ_DIAG_ATTENTION_WEIGHTS`, for analysis).
    /// - Throws: ``OperatorError/unsupported(operatorId:reason:)`` when the instance gives none (``attentionHeads``
    ///   is nil), ``OperatorError/workspace(operatorId:bytes:)`` when `B H L^2` values cannot be held.
    public func attentionWeights<S: TensorScalar>(
        _ x: Tensor<S>, parameters params: [Tensor<S>]
    ) throws(OperatorError) -> Tensor<S> {
        guard let heads = attentionHeads else {
            throw .unsupported(operatorId: descriptor.id, reason: "it gives no attention weights (ABI 1.6 diagnostic)")
        }
        try checkScalar(S.self)
        let (batch, length) = try checkInput(x, name: "x")
        try checkParameters(params, name: "parameter")
        let (count, overflow) = (batch * heads).multipliedReportingOverflow(by: length * length)
        guard !overflow, count <= 1 << 31 else {
            throw .workspace(operatorId: descriptor.id, bytes: overflow ? Int.max : count * Int(S.bits) / 8)
        }
        var out = Tensor<S>(zeros: [batch, heads, length, length])
        let outArg = TensorArgument(
            data: UnsafeMutableRawPointer(out.baseAddressForWriting()), shape: out.shape, bits: S.bits)
        try withWorkspace(pass: OZ_PASS_FORWARD, batch: batch, length: length) { (ws, size) throws(PluginCallError) in
            try withExtendedLifetime((x, params)) { () throws(PluginCallError) in
                try table.diagnose(
                    instance, kind: OZ_DIAG_ATTENTION_WEIGHTS, x: argument(x), params: params.map(argument),
                    out: outArg,
                    workspace: ws, workspaceSize: size)
            }
        }
        return out
    }

    /// The work of one call at batch B and length L as the plugin declares it (ABI 1.3 `cost`), or nil when
    /// it declares none (an older plugin, a C function, or one that cannot count this configuration).
    public func cost(batch: Int, length: Int) throws(OperatorError) -> OperatorCost? {
        do { return try table.cost(instance, batch: batch, length: length) } catch { throw .plugin(error) }
    }

    /// Bytes of workspace the plugin asks for one pass at batch B and length L.
    public func workspaceSize(backward: Bool, batch: Int, length: Int) throws(OperatorError) -> Int {
        do {
            return try table.workspaceSize(
                instance, pass: backward ? OZ_PASS_BACKWARD : OZ_PASS_FORWARD, batch: batch, length: length)
        } catch { throw .plugin(error) }
    }

    /// Bytes of the buffer a train-mode forward fills for backward at batch B and length L (ABI 1.4
    /// `OZ_PASS_SAVED`); 0 when the operator does not declare ``OperatorCapabilities/saveForBackward``.
    public func savedSize(batch: Int, length: Int) throws(OperatorError) -> Int {
        guard descriptor.capabilities.contains(.saveForBackward) else { return 0 }
        do { return try table.workspaceSize(instance, pass: OZ_PASS_SAVED, batch: batch, length: length) } catch {
            throw .plugin(error)
        }
    }

    // MARK: Checks

    private func checkScalar<S: TensorScalar>(_: S.Type) throws(OperatorError) {
        if S.bits == 64 && !descriptor.capabilities.contains(.float64) {
            throw .unsupported(
                operatorId: descriptor.id,
                reason: "float64 tensors need the float64 capability, which it does not declare")
        }
    }

    private func checkInput<S: TensorScalar>(_ x: Tensor<S>, name: String) throws(OperatorError) -> (Int, Int) {
        guard x.rank == 3, x.shape[2] == dim, x.shape[0] >= 1, x.shape[1] >= 1 else {
            throw .shape(
                operatorId: descriptor.id, argument: name, expected: "[B, L, \(dim)] with B, L >= 1", found: x.shape)
        }
        if let fixedLength, x.shape[1] != fixedLength {
            throw .shape(
                operatorId: descriptor.id, argument: name,
                expected: "[B, \(fixedLength), \(dim)] (the instance takes L = \(fixedLength) only)",
                found: x.shape)
        }
        if let grid, descriptor.capabilities.contains(.needsGrid), x.shape[1] != grid.height * grid.width {
            throw .shape(
                operatorId: descriptor.id, argument: name,
                expected: "[B, \(grid.height * grid.width), \(dim)] (L = H*W of the \(grid.height)x\(grid.width) grid)",
                found: x.shape)
        }
        return (x.shape[0], x.shape[1])
    }

    private func checkParameters<S: TensorScalar>(_ params: [Tensor<S>], name: String) throws(OperatorError) {
        guard params.count == parameters.count else {
            throw .shape(
                operatorId: descriptor.id, argument: "parameters", expected: "\(parameters.count) tensors",
                found: [params.count])
        }
        for (tensor, spec) in zip(params, parameters) where tensor.shape != spec.shape {
            throw .shape(
                operatorId: descriptor.id, argument: "\(name) '\(spec.name)'", expected: "\(spec.shape)",
                found: tensor.shape)
        }
    }

    private func argument<S: TensorScalar>(_ t: Tensor<S>) -> TensorArgument {
        TensorArgument(data: UnsafeMutableRawPointer(t.baseAddressForReading), shape: t.shape, bits: S.bits)
    }

    /// Lends the call a workspace of the size the plugin asks: the instance's cached buffer when it is free,
    /// a fresh one when another thread holds it. A size that cannot be allocated is an error, not a crash.
    private func withWorkspace(
        pass: Int32, batch: Int, length: Int, _ body: (UnsafeMutableRawPointer?, Int) throws(PluginCallError) -> Void
    ) throws(OperatorError) {
        let size: Int
        do { size = try table.workspaceSize(instance, pass: pass, batch: batch, length: length) } catch {
            throw .plugin(error)
        }
        guard size > 0 else {
            do { return try body(nil, 0) } catch { throw .plugin(error) }
        }
        if workspaceLock.try() {
            defer { workspaceLock.unlock() }
            if let cached = cachedWorkspace, cached.size >= size {
                do { return try body(cached.pointer, cached.size) } catch { throw .plugin(error) }
            }
            cachedWorkspace.map { free($0.pointer) }
            cachedWorkspace = nil
            guard let fresh = Self.allocateWorkspace(size) else {
                throw .workspace(operatorId: descriptor.id, bytes: size)
            }
            cachedWorkspace = (fresh, size)
            do { return try body(fresh, size) } catch { throw .plugin(error) }
        }
        guard let temporary = Self.allocateWorkspace(size) else {
            throw .workspace(operatorId: descriptor.id, bytes: size)
        }
        defer { free(temporary) }
        do { try body(temporary, size) } catch { throw .plugin(error) }
    }

    /// `size` bytes aligned to 64 (released with `free`), or nil when the system cannot provide them.
    private static func allocateWorkspace(_ size: Int) -> UnsafeMutableRawPointer? {
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 64, size) == 0 else { return nil }
        return pointer
    }
}
