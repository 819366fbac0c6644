import Foundation
import HostCore
import OperatorABI

/// The libffi adapter: runs a plain C function described by a `cfunction` registry entry behind the
/// ``OperatorBackend`` interface, so it is an ordinary ``Operator`` to the rest of the host.
///
/// It does what a careful plugin does at the ABI boundary: validates attributes at create and every tensor
/// (dtype, rank, shape, parameter shapes) before a call, refusing with an `OZ_ERR_*` status and a message.
/// Then it binds each C argument (x, y, B, L, D, H, W, attribute values, parameters, gradients, workspace)
/// and calls the function. Output buffers are zeroed before the call, so a function that accumulates (`+=`)
/// still overwrites, as the ABI requires; gradients the host did not ask for go to scratch buffers.
/// A `double` function also takes float32 tensors, converted to float64 around the call.
struct CFunctionBackend: OperatorBackend {
    let id: String
    /// The registry entry the description comes from.
    let entry: String
    let spec: CFunctionSpec
    let forwardFunction: ForeignFunction
    let vjpFunction: ForeignFunction?

    var hasBackward: Bool { vjpFunction != nil }
    var hasInitParams: Bool { true }

    // MARK: Instances

    func create(
        dim: Int, grid: (Int, Int)?, attributes: [(AttributeSchema, AttributeValue)], services: HostServices
    )
        throws(PluginCallError) -> OpaquePointer
    {
        func refuse(_ message: String) -> PluginCallError { error("create", OZ_ERR_INVALID_ARGUMENT, message) }
        guard dim >= 1 else { throw refuse("model width D = \(dim) must be at least 1") }
        var values: [String: AttributeValue] = [:]
        for (schema, value) in attributes {
            guard let declared = spec.attribute(schema.name) else {
                throw refuse(
                    "unknown attribute '\(schema.name)' (it has: \(spec.attributes.map(\.name).joined(separator: ", ")))"
                )
            }
            guard values[schema.name] == nil else { throw refuse("attribute '\(schema.name)' is given twice") }
            do { try declared.schema.validate(value) } catch { throw refuse(error.description) }
            values[schema.name] = declared.schema.normalized(value)
        }
        for attribute in spec.attributes where values[attribute.name] == nil {
            values[attribute.name] = attribute.schema.defaultValue
        }
        var sizes: [String: Int64] = ["D": Int64(dim)]
        var instanceGrid: (height: Int, width: Int)?
        if spec.needsGrid {
            guard let grid, grid.0 >= 1, grid.1 >= 1 else {
                throw refuse("operator '\(id)' needs the token grid (its description uses H or W), but none was given")
            }
            instanceGrid = (grid.0, grid.1)
            (sizes["H"], sizes["W"]) = (Int64(grid.0), Int64(grid.1))
        }
        for (name, value) in values { if case .int(let v) = value { sizes[name] = v } }
        try checkAttributeWidths(values, refuse: refuse)
        var shapes: [[Int]] = []
        for parameter in spec.parameters {
            var shape: [Int] = []
            for (axis, expression) in parameter.shape.enumerated() {
                let extent: Int64
                do { extent = try expression.evaluate(sizes) } catch {
                    throw refuse("parameter '\(parameter.name)' dimension \(axis) (\(expression)): \(error.reason)")
                }
                guard extent >= 1, extent <= 1 << 40 else {
                    throw refuse(
                        "parameter '\(parameter.name)' dimension \(axis) = \(expression) = \(extent) must be in 1...2^40"
                    )
                }
                shape.append(Int(extent))
            }
            let count = shape.reduce(1 as Int64) { $0.multipliedReportingOverflow(by: Int64($1)).partialValue }
            guard count > 0, count <= 1 << 40 else {
                throw refuse("parameter '\(parameter.name)' of shape \(shape) is too large")
            }
            shapes.append(shape)
        }
        var field: (left: Int64?, right: Int64?)?
        if let rf = spec.receptiveField {
            func bound(_ e: ShapeExpression?, _ side: String) throws(PluginCallError) -> Int64? {
                guard let e else { return nil }
                let v: Int64
                do { v = try e.evaluate(sizes) } catch {
                    throw refuse("receptive_field.\(side) (\(e)): \(error.reason)")
                }
                guard v >= 0 else { throw refuse("receptive_field.\(side) = \(e) = \(v) is negative") }
                return v
            }
            field = (try bound(rf.left, "left"), try bound(rf.right, "right"))
        }
        let instance = CFunctionInstance(
            dim: dim, grid: instanceGrid, attributes: values, sizes: sizes, parameterShapes: shapes,
            receptiveField: field)
        return ForeignMemory.handle(retaining: instance)
    }

    /// Every attribute value fits the C type of every argument it is passed as (the VJP may use a narrower type).
    private func checkAttributeWidths(
        _ values: [String: AttributeValue], refuse: (String) -> PluginCallError
    ) throws(PluginCallError) {
        for signature in [spec.forward] + (spec.vjp.map { [$0] } ?? []) {
            for (index, argument) in signature.arguments.enumerated() {
                guard case .attribute(let name) = argument.binding, let value = values[name] else { continue }
                switch (value, argument.type) {
                case (.int(let v), .integer(let c)) where !c.range.contains(v):
                    throw refuse(
                        "attribute '\(name)' = \(v) does not fit argument \(index) of \(signature.symbol) (\(c.rawValue))"
                    )
                case (.float(let v), .float) where abs(v) > Double(Float.greatestFiniteMagnitude):
                    throw refuse(
                        "attribute '\(name)' = \(v) does not fit argument \(index) of \(signature.symbol) (float)")
                default: break
                }
            }
        }
    }

    func destroy(_ instance: OpaquePointer) {
        ForeignMemory.releaseHandle(instance, as: CFunctionInstance.self)
    }

    func describe(_ instance: OpaquePointer) throws(PluginCallError) -> oz_instance_info {
        let state = ForeignMemory.object(instance, as: CFunctionInstance.self)
        var info = oz_instance_info()
        info.struct_size = ABIStruct.size(of: oz_instance_info.self)
        info.flags = spec.causal ? OZ_INSTANCE_CAUSAL : 0
        if let field = state.receptiveField {
            info.flags |= OZ_INSTANCE_RECEPTIVE_FIELD
            info.receptive_left = field.left ?? -1
            info.receptive_right = field.right ?? -1
        }
        info.num_params = UInt32(spec.parameters.count)
        info.complexity = spec.complexity.code
        return info
    }

    func parameter(_ instance: OpaquePointer, index: Int) throws(PluginCallError) -> (name: String?, shape: [Int]) {
        let state = ForeignMemory.object(instance, as: CFunctionInstance.self)
        guard spec.parameters.indices.contains(index) else {
            throw error(
                "get_param", OZ_ERR_INVALID_ARGUMENT,
                "parameter index \(index) is out of range (\(spec.parameters.count) parameters)")
        }
        return (spec.parameters[index].name, state.parameterShapes[index])
    }

    /// A plain C function's parameters are its whole state (`describe` reports no state entries).
    func stateEntry(_ instance: OpaquePointer, index: Int) throws(PluginCallError) -> UpstreamStateEntry {
        throw error("get_state_entry", OZ_ERR_INVALID_ARGUMENT, "a cfunction operator has no state entries")
    }

    func diagnose(
        _ instance: OpaquePointer, kind: UInt32, x: TensorArgument, params: [TensorArgument], out: TensorArgument,
        workspace: UnsafeMutableRawPointer?, workspaceSize: Int
    ) throws(PluginCallError) {
        throw error("diagnose", OZ_ERR_UNSUPPORTED, "a cfunction operator gives no diagnostics")
    }

    func initParams(_ instance: OpaquePointer, seed: UInt64, params: [TensorArgument]) throws(PluginCallError) {
        let state = ForeignMemory.object(instance, as: CFunctionInstance.self)
        _ = try checkDtypes(
            zip(spec.parameters, params).map { ("parameter '\($0.name)'", $1) }, function: "init_params")
        try checkParameters(params, state: state, function: "init_params", allowNullData: false)
        for (index, (parameter, tensor)) in zip(spec.parameters, params).enumerated() {
            let count = tensor.shape.reduce(1, *)
            // One stream per parameter, so adding a parameter does not change the others' values.
            var rng = SplitMix64(seed: seed ^ (UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15))
            let values: [Double]
            switch parameter.initializer {
            case .constant(let v): values = Array(repeating: v, count: count)
            case .normal(let std): values = (0..<count).map { _ in rng.nextNormal() * std }
            case .uniform(let bound): values = (0..<count).map { _ in (2 * rng.nextUnit() - 1) * bound }
            }
            if let data = tensor.data { ForeignMemory.store(values, into: data, bits: tensor.bits) }
        }
    }

    /// A `cfunction` description declares no cost.
    func cost(_ instance: OpaquePointer, batch: Int, length: Int) throws(PluginCallError) -> OperatorCost? { nil }

    func workspaceSize(_ instance: OpaquePointer, pass: Int32, batch: Int, length: Int) throws(PluginCallError) -> Int {
        let state = ForeignMemory.object(instance, as: CFunctionInstance.self)
        guard pass == OZ_PASS_FORWARD || pass == OZ_PASS_BACKWARD else {
            throw error("workspace_size", OZ_ERR_INVALID_ARGUMENT, "unknown pass \(pass)")
        }
        guard batch >= 0, length >= 0 else {
            throw error("workspace_size", OZ_ERR_SHAPE, "batch \(batch) and length \(length) must not be negative")
        }
        let signature = pass == OZ_PASS_FORWARD ? spec.forward : spec.vjp
        guard let signature else { return 0 }
        return try workspaceBytes(signature, state: state, batch: batch, length: length, function: "workspace_size")
    }

    // MARK: Compute

    func forward(
        _ instance: OpaquePointer, x: TensorArgument, params: [TensorArgument], y: TensorArgument,
        workspace: UnsafeMutableRawPointer?, workspaceSize: Int, saved: UnsafeMutableRawPointer?, savedSize: Int
    ) throws(PluginCallError) {
        let state = ForeignMemory.object(instance, as: CFunctionInstance.self)
        let function = "forward"
        let bits = try checkDtypes(
            [("x", x), ("y", y)] + params.indices.map { ("parameter '\(parameterName($0))'", params[$0]) },
            function: function)
        let (batch, length) = try checkActivation(x, name: "x", state: state, function: function)
        try checkSame(y, as: x, name: "y", function: function)
        try checkParameters(params, state: state, function: function, allowNullData: false)
        var inputs: [CFunctionBinding: TensorArgument] = [.input: x]
        for (parameter, tensor) in zip(spec.parameters, params) { inputs[.parameter(parameter.name)] = tensor }
        try invoke(
            spec.forward, forwardFunction, state: state, function: function, bits: bits, batch: batch, length: length,
            inputs: inputs, outputs: [.output: y], workspace: workspace, workspaceSize: workspaceSize)
    }

    func backward(
        _ instance: OpaquePointer, x: TensorArgument, params: [TensorArgument], dy: TensorArgument,
        dx: TensorArgument?, dparams: [TensorArgument]?, workspace: UnsafeMutableRawPointer?, workspaceSize: Int,
        saved: UnsafeRawPointer?, savedSize: Int
    ) throws(PluginCallError) {
        let function = "backward"
        guard let vjp = spec.vjp, let vjpFunction else {
            throw error(function, OZ_ERR_UNSUPPORTED, "the cfunction entry '\(entry)' describes no vjp")
        }
        let state = ForeignMemory.object(instance, as: CFunctionInstance.self)
        var named: [(String, TensorArgument)] = [("x", x), ("dy", dy)]
        if let dx { named.append(("dx", dx)) }
        for (i, p) in params.enumerated() { named.append(("parameter '\(parameterName(i))'", p)) }
        for (i, d) in (dparams ?? []).enumerated() where d.data != nil {
            named.append(("gradient of '\(parameterName(i))'", d))
        }
        let bits = try checkDtypes(named, function: function)
        let (batch, length) = try checkActivation(x, name: "x", state: state, function: function)
        try checkSame(dy, as: x, name: "dy", function: function)
        if let dx { try checkSame(dx, as: x, name: "dx", function: function) }
        try checkParameters(params, state: state, function: function, allowNullData: false)
        if let dparams {
            guard dparams.count == spec.parameters.count else {
                throw error(
                    function, OZ_ERR_INVALID_ARGUMENT,
                    "\(dparams.count) parameter gradients given, expected \(spec.parameters.count)")
            }
            try checkParameters(dparams, state: state, function: function, allowNullData: true)
        }
        var inputs: [CFunctionBinding: TensorArgument] = [.input: x, .outputGradient: dy]
        var outputs: [CFunctionBinding: TensorArgument] = [
            .inputGradient: dx ?? TensorArgument(data: nil, shape: x.shape, bits: bits)
        ]
        for (i, parameter) in spec.parameters.enumerated() {
            inputs[.parameter(parameter.name)] = params[i]
            outputs[.parameterGradient(parameter.name)] =
                dparams?[i] ?? TensorArgument(data: nil, shape: state.parameterShapes[i], bits: bits)
        }
        try invoke(
            vjp, vjpFunction, state: state, function: function, bits: bits, batch: batch, length: length,
            inputs: inputs, outputs: outputs, workspace: workspace, workspaceSize: workspaceSize)
    }

    // MARK: The call

    /// Binds every argument of `signature` and calls `foreign`. Inputs are read-only tensors; an output whose
    /// data is nil is not wanted and goes to a scratch buffer. With float32 tensors and a `double` function,
    /// every tensor goes through a float64 copy.
    private func invoke(
        _ signature: CFunctionSignature, _ foreign: ForeignFunction, state: CFunctionInstance, function: String,
        bits: UInt8, batch: Int, length: Int, inputs: [CFunctionBinding: TensorArgument],
        outputs: [CFunctionBinding: TensorArgument], workspace: UnsafeMutableRawPointer?, workspaceSize: Int
    ) throws(PluginCallError) {
        let required = try workspaceBytes(signature, state: state, batch: batch, length: length, function: function)
        guard workspaceSize >= required, required == 0 || workspace != nil else {
            throw error(
                function, OZ_ERR_INVALID_ARGUMENT,
                "the workspace has \(workspaceSize) bytes at \(workspace == nil ? "NULL" : "its address"); \(signature.symbol) needs \(required)"
            )
        }
        let convert = bits == 32 && spec.scalar == .double
        let element = Int(spec.scalar.bits) / 8
        var scratch: [UnsafeMutableRawPointer] = []
        defer { scratch.forEach(ForeignMemory.release) }
        var pointers: [CFunctionBinding: UnsafeMutableRawPointer] = [:]
        var copyBack: [(from: UnsafeMutableRawPointer, to: UnsafeMutableRawPointer, count: Int)] = []
        for (binding, tensor) in inputs {
            guard let data = tensor.data else { continue }
            if convert {
                let count = tensor.shape.reduce(1, *)
                let copy = ForeignMemory.scratch(bytes: count * element)
                scratch.append(copy)
                ForeignMemory.widen(data, into: copy, count: count)
                pointers[binding] = copy
            } else {
                pointers[binding] = data
            }
        }
        for (binding, tensor) in outputs {
            let count = tensor.shape.reduce(1, *)
            if let data = tensor.data, !convert {
                ForeignMemory.zero(data, bytes: count * element)
                pointers[binding] = data
            } else {
                let buffer = ForeignMemory.scratch(bytes: count * element)
                scratch.append(buffer)
                pointers[binding] = buffer
                if let data = tensor.data { copyBack.append((buffer, data, count)) }
            }
        }
        var values: [ForeignValue] = []
        for (index, argument) in signature.arguments.enumerated() {
            func integer(_ v: Int, _ what: String) throws(PluginCallError) -> ForeignValue {
                guard case .integer(let c) = argument.type, c.range.contains(Int64(v)) else {
                    throw error(
                        function, OZ_ERR_SHAPE,
                        "\(what) = \(v) does not fit argument \(index) of \(signature.symbol) (\(argument.type))")
                }
                return .integer(Int64(v))
            }
            switch argument.binding {
            case .input, .output, .outputGradient, .inputGradient, .parameter, .parameterGradient:
                values.append(.pointer(pointers[argument.binding]))
            case .batch: values.append(try integer(batch, "B"))
            case .length: values.append(try integer(length, "L"))
            case .dim: values.append(try integer(state.dim, "D"))
            case .gridHeight: values.append(try integer(state.grid?.height ?? 0, "H"))
            case .gridWidth: values.append(try integer(state.grid?.width ?? 0, "W"))
            case .workspace: values.append(.pointer(required == 0 ? nil : workspace))
            case .workspaceBytes: values.append(try integer(required, "the workspace size"))
            case .attribute(let name):
                switch state.attributes[name] {
                case .int(let v)?: values.append(.integer(v))
                case .float(let v)?: values.append(.real(v))
                case .bool(let b)?: values.append(.bool(b))
                default:
                    throw error(function, OZ_ERR_INTERNAL, "attribute '\(name)' has no scalar value in this instance")
                }
            }
        }
        let status = foreign.call(values)
        guard status == 0 else {
            throw error(
                function, OZ_ERR_INTERNAL,
                "the C function \(signature.symbol) returned status \(status) (the cfunction entry '\(entry)' treats non-zero as failure)"
            )
        }
        for (from, to, count) in copyBack { ForeignMemory.narrow(from, into: to, count: count) }
    }

    private func workspaceBytes(
        _ signature: CFunctionSignature, state: CFunctionInstance, batch: Int, length: Int, function: String
    )
        throws(PluginCallError) -> Int
    {
        guard let (type, count) = signature.workspace else { return 0 }
        var sizes = state.sizes
        (sizes["B"], sizes["L"]) = (Int64(batch), Int64(length))
        let elements: Int64
        do { elements = try count.evaluate(sizes) } catch {
            throw self.error(function, OZ_ERR_SHAPE, "workspace count \(count) of \(signature.symbol): \(error.reason)")
        }
        let width: Int64 = if case .pointer(let pointee?, _) = type { Int64(pointee.bits / 8) } else { 1 }
        let bytes = elements.multipliedReportingOverflow(by: width)
        guard elements >= 0, !bytes.overflow, bytes.partialValue <= Int64(Int.max / 2) else {
            throw self.error(
                function, OZ_ERR_SHAPE,
                "workspace count \(count) of \(signature.symbol) is \(elements) elements (must be 0 ... 2^62 bytes)")
        }
        return Int(bytes.partialValue)
    }

    // MARK: Checks

    /// Every tensor has one dtype the function can take: its own, or float32 for a `double` function.
    private func checkDtypes(_ tensors: [(String, TensorArgument)], function: String) throws(PluginCallError) -> UInt8 {
        let accepted: [UInt8] = spec.scalar == .double ? [64, 32] : [32]
        let names = accepted.map { "float\($0)" }.joined(separator: " or ")
        guard let first = tensors.first else { return spec.scalar.bits }
        for (name, tensor) in tensors {
            guard accepted.contains(tensor.bits) else {
                throw error(
                    function, OZ_ERR_DTYPE,
                    "tensor '\(name)' has \(tensor.bits)-bit floats; \(spec.forward.symbol) takes \(names)")
            }
            guard tensor.bits == first.1.bits else {
                throw error(
                    function, OZ_ERR_DTYPE,
                    "tensor '\(name)' is float\(tensor.bits) but '\(first.0)' is float\(first.1.bits): all tensors must have one dtype"
                )
            }
        }
        return first.1.bits
    }

    private func checkActivation(
        _ t: TensorArgument, name: String, state: CFunctionInstance, function: String
    )
        throws(PluginCallError) -> (Int, Int)
    {
        guard t.shape.count == 3, t.shape[2] == state.dim, t.shape[0] >= 1, t.shape[1] >= 1 else {
            throw error(
                function, OZ_ERR_SHAPE,
                "tensor '\(name)' has shape \(t.shape); expected [B, L, \(state.dim)] with B, L >= 1")
        }
        if let grid = state.grid, t.shape[1] != grid.height * grid.width {
            throw error(
                function, OZ_ERR_SHAPE,
                "tensor '\(name)' has L = \(t.shape[1]), but the \(grid.height)x\(grid.width) grid has \(grid.height * grid.width) tokens"
            )
        }
        guard t.data != nil else { throw error(function, OZ_ERR_INVALID_ARGUMENT, "tensor '\(name)' has NULL data") }
        return (t.shape[0], t.shape[1])
    }

    private func checkSame(
        _ t: TensorArgument, as x: TensorArgument, name: String, function: String
    ) throws(PluginCallError) {
        guard t.shape == x.shape else {
            throw error(
                function, OZ_ERR_SHAPE, "tensor '\(name)' has shape \(t.shape); expected \(x.shape), the shape of x")
        }
        guard t.data != nil else { throw error(function, OZ_ERR_INVALID_ARGUMENT, "tensor '\(name)' has NULL data") }
    }

    private func checkParameters(
        _ params: [TensorArgument], state: CFunctionInstance, function: String, allowNullData: Bool
    )
        throws(PluginCallError)
    {
        guard params.count == spec.parameters.count else {
            throw error(
                function, OZ_ERR_INVALID_ARGUMENT,
                "\(params.count) parameter tensors given, expected \(spec.parameters.count)")
        }
        for (i, (tensor, parameter)) in zip(params, spec.parameters).enumerated() {
            guard tensor.shape == state.parameterShapes[i] else {
                throw error(
                    function, OZ_ERR_SHAPE,
                    "parameter '\(parameter.name)' has shape \(tensor.shape); expected \(state.parameterShapes[i])")
            }
            guard allowNullData || tensor.data != nil else {
                throw error(function, OZ_ERR_INVALID_ARGUMENT, "parameter '\(parameter.name)' has NULL data")
            }
        }
    }

    /// The name of parameter `index`, or the index itself when the caller passed more tensors than there are.
    private func parameterName(_ index: Int) -> String {
        spec.parameters.indices.contains(index) ? spec.parameters[index].name : "\(index)"
    }

    private func error(_ function: String, _ status: Int32, _ message: String) -> PluginCallError {
        PluginCallError(operatorId: id, function: function, status: status, message: message)
    }
}
