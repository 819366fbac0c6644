import Foundation
import OperatorABI

/// Builds the plugin's static C tables: the only code in PluginKit that builds or reads ABI structs.
///
/// ```swift
/// nonisolated(unsafe) private let table = makePlugin(name: "OZMLP", version: "1.0.0", license: "MIT",
///     description: "...", operators: [mlpDefinition])
/// @c(oz_plugin_entry) public func ozPluginEntry() -> UnsafePointer<oz_plugin>? { table }
/// ```
/// Everything is allocated once and never freed (the table must outlive every host call).
public func makePlugin(
    name: String, version: String, license: String, description: String?, operators: [OperatorDefinition]
) -> UnsafePointer<oz_plugin> {
    let list = UnsafeMutablePointer<UnsafePointer<oz_operator>?>.allocate(capacity: operators.count)
    for (index, definition) in operators.enumerated() {
        let table = UnsafeMutablePointer<oz_operator>.allocate(capacity: 1)
        table.initialize(to: operatorTable(definition))
        list[index] = UnsafePointer(table)
        Registry.definitions[UnsafeRawPointer(table)] = definition
    }
    let plugin = UnsafeMutablePointer<oz_plugin>.allocate(capacity: 1)
    plugin.initialize(
        to: oz_plugin(
            struct_size: UInt32(MemoryLayout<oz_plugin>.stride), abi_major: UInt32(OZ_ABI_MAJOR),
            abi_minor: UInt32(OZ_ABI_MINOR), num_operators: UInt32(operators.count), name: cString(name),
            version: cString(version), license: cString(license), description: description.map(cString),
            operators: UnsafePointer(list)))
    return UnsafePointer(plugin)
}

/// Definitions by table address, written once while the tables are built and only read afterwards.
private enum Registry {
    nonisolated(unsafe) static var definitions: [UnsafeRawPointer: OperatorDefinition] = [:]
}

/// A NUL-terminated copy that is never freed.
private func cString(_ s: String) -> UnsafePointer<CChar> { UnsafePointer(strdup(s)!) }

private func attributeValue(_ value: AttributeValue) -> oz_attr_value {
    var v = oz_attr_value()
    v.struct_size = UInt32(MemoryLayout<oz_attr_value>.stride)
    v.type = value.code
    func ints(_ xs: [Int64]) -> UnsafePointer<Int64> {
        let p = UnsafeMutablePointer<Int64>.allocate(capacity: xs.count)
        p.initialize(from: xs, count: xs.count)
        return UnsafePointer(p)
    }
    func floats(_ xs: [Double]) -> UnsafePointer<Double> {
        let p = UnsafeMutablePointer<Double>.allocate(capacity: xs.count)
        p.initialize(from: xs, count: xs.count)
        return UnsafePointer(p)
    }
    switch value {
    case .int(let i): (v.count, v.ints) = (1, ints([i]))
    case .bool(let b): (v.count, v.ints) = (1, ints([b ? 1 : 0]))
    case .float(let f): (v.count, v.floats) = (1, floats([f]))
    case .string(let s): (v.count, v.string) = (0, cString(s))
    case .intList(let l): (v.count, v.ints) = (UInt32(l.count), ints(l))
    case .floatList(let l): (v.count, v.floats) = (UInt32(l.count), floats(l))
    }
    return v
}

private func operatorTable(_ d: OperatorDefinition) -> oz_operator {
    let defs = UnsafeMutablePointer<UnsafePointer<oz_attr_def>?>.allocate(capacity: max(1, d.attributes.count))
    for (i, a) in d.attributes.enumerated() {
        var def = oz_attr_def()
        def.struct_size = UInt32(MemoryLayout<oz_attr_def>.stride)
        def.type = a.defaultValue.code
        def.name = cString(a.name)
        def.doc = cString(a.doc)
        def.default_value = attributeValue(a.defaultValue)
        (def.min_int, def.max_int) = a.intRange.map { ($0.lowerBound, $0.upperBound) } ?? (1, 0)
        (def.min_float, def.max_float) = a.floatRange.map { ($0.lowerBound, $0.upperBound) } ?? (1, 0)
        def.list_length = UInt32(a.listLength ?? 0)
        def.choices = a.choices.map { cString($0.joined(separator: "|")) }
        let p = UnsafeMutablePointer<oz_attr_def>.allocate(capacity: 1)
        p.initialize(to: def)
        defs[i] = UnsafePointer(p)
    }
    var t = oz_operator()
    t.struct_size = UInt32(MemoryLayout<oz_operator>.stride)
    t.role = UInt32(d.role == .tokenMixer ? OZ_ROLE_TOKEN_MIXER : OZ_ROLE_CHANNEL_MIXER)
    t.id = cString(d.id)
    t.version = cString(d.version)
    t.summary = cString(d.summary)
    t.capabilities = UInt64(d.capabilities)
    t.num_attrs = UInt32(d.attributes.count)
    t.attrs = UnsafePointer(defs)
    t.create = createTrampoline
    t.destroy = { instance in
        guard let instance else { return }
        Unmanaged<InstanceBox>.fromOpaque(UnsafeRawPointer(instance)).release()
    }
    t.describe = { instance, info, err in
        guarded(err) { () throws(PluginFailure) in try box(instance).describe(info) }
    }
    t.get_param = { instance, index, info, err in
        guarded(err) { () throws(PluginFailure) in try box(instance).parameter(Int(index), into: info) }
    }
    t.get_state_entry = { instance, index, entry, err in
        guarded(err) { () throws(PluginFailure) in try box(instance).stateEntry(Int(index), into: entry) }
    }
    t.init_params = { instance, seed, params, count, err in
        guarded(err) { () throws(PluginFailure) in
            try box(instance).initialize(seed: seed, params: params, count: Int(count))
        }
    }
    t.workspace_size = { instance, pass, batch, length, bytes, err in
        guarded(err) { () throws(PluginFailure) in
            guard batch >= 1, length >= 1, batch <= Int64(Int32.max), length <= Int64(Int32.max) else {
                throw .shape("workspace query for B = \(batch), L = \(length): both must be >= 1")
            }
            let b = try box(instance)
            switch Int32(pass) {
            case OZ_PASS_FORWARD, OZ_PASS_BACKWARD:
                bytes.pointee = UInt64(
                    try b.workspaceBytes(backward: pass == OZ_PASS_BACKWARD, batch: Int(batch), length: Int(length)))
            case OZ_PASS_SAVED where b.saves:
                bytes.pointee = UInt64(try b.savedBytes(batch: Int(batch), length: Int(length)))
            default:
                throw .invalid(
                    "workspace query for pass \(pass): this operator knows passes 0 (forward), 1 (backward)\(b.saves ? " and 2 (saved)" : "")"
                )
            }
        }
    }
    t.forward = { instance, args, err in
        guarded(err) { () throws(PluginFailure) in try box(instance).forward(args) }
    }
    // Always set (ABI 1.3): a kernel that declares no cost answers OZ_ERR_UNSUPPORTED
    // (``OperatorKernel/cost(batch:length:)``).
    t.cost = { instance, batch, length, cost, err in
        guarded(err) { () throws(PluginFailure) in
            guard batch >= 1, length >= 1, batch <= Int64(Int32.max), length <= Int64(Int32.max) else {
                throw .shape("cost query for B = \(batch), L = \(length): both must be 1 ... \(Int32.max)")
            }
            try box(instance).cost(batch: Int(batch), length: Int(length), into: cost)
        }
    }
    // Always set (ABI 1.6): an instance lists what it gives in `diagnostics`; other kinds are OZ_ERR_UNSUPPORTED.
    t.diagnose = { instance, args, err in
        guarded(err) { () throws(PluginFailure) in try box(instance).diagnose(args) }
    }
    if d.capabilities & UInt32(OZ_CAP_BACKWARD) != 0 {
        t.backward = { instance, args, err in
            guarded(err) { () throws(PluginFailure) in try box(instance).backward(args) }
        }
    }
    return t
}

/// Writes `shape` into an ABI shape array (`int64_t[OZ_MAX_PARAM_DIMS]`), zero past its rank.
private func writeShape<Dims>(_ shape: [Int], into dims: inout Dims) {
    withUnsafeMutableBytes(of: &dims) { bytes in
        let d = bytes.bindMemory(to: Int64.self)
        for i in 0..<d.count { d[i] = i < shape.count ? Int64(shape[i]) : 0 }
    }
}

/// Runs `body`, turning a ``PluginFailure`` into its status and message (nothing else can escape).
private func guarded(_ err: UnsafeMutablePointer<oz_error>?, _ body: () throws(PluginFailure) -> Void) -> oz_status {
    do {
        try body()
        return OZ_OK
    } catch {
        if let err, err.pointee.struct_size >= UInt32(MemoryLayout<oz_error>.stride), let buffer = err.pointee.message,
            err.pointee.capacity > 0
        {
            let bytes = Array(error.message.utf8.prefix(Int(err.pointee.capacity) - 1))
            for (i, b) in bytes.enumerated() { buffer[i] = CChar(bitPattern: b) }
            buffer[bytes.count] = 0
        }
        return error.status
    }
}

private func box(_ instance: OpaquePointer?) throws(PluginFailure) -> InstanceBox {
    guard let instance else { throw .invalid("instance is NULL") }
    return Unmanaged<InstanceBox>.fromOpaque(UnsafeRawPointer(instance)).takeUnretainedValue()
}

private let createTrampoline:
    @convention(c) (
        UnsafePointer<oz_operator>, UnsafePointer<oz_create_args>, UnsafeMutablePointer<OpaquePointer?>,
        UnsafeMutablePointer<oz_error>
    ) -> oz_status = { op, args, out, err in
        out.pointee = nil
        return guarded(err) { () throws(PluginFailure) in
            guard let definition = Registry.definitions[UnsafeRawPointer(op)] else {
                throw .invalid("create was called with an operator table this plugin did not make")
            }
            let instance = try InstanceBox(definition: definition, args: args)
            out.pointee = OpaquePointer(Unmanaged.passRetained(instance).toOpaque())
        }
    }

/// One live instance: the kernel plus the C strings it reports.
private final class InstanceBox {
    let definition: OperatorDefinition
    let kernel: any OperatorKernel
    let dim: Int
    let parameters: [ParameterDecl]
    let parameterNames: [UnsafeMutablePointer<CChar>]
    /// The kernel's upstream state entries (ABI 1.5), their names and buffer values as C memory owned here.
    let stateEntries: [StateEntryDecl]
    let stateEntryNames: [UnsafeMutablePointer<CChar>]
    let stateEntryValues: [UnsafeMutableBufferPointer<Double>?]
    let float64: Bool
    /// The token grid, when the operator needs it (then every call has L == H*W).
    let grid: (height: Int, width: Int)?
    /// The operator declares `OZ_CAP_SAVE_FOR_BACKWARD` (ABI 1.4): forward may save for backward.
    let saves: Bool

    init(definition: OperatorDefinition, args: UnsafePointer<oz_create_args>) throws(PluginFailure) {
        let a = args.pointee
        let minimum = MemoryLayout<oz_create_args>.offset(of: \oz_create_args.host)! + 8
        guard Int(a.struct_size) >= minimum else {
            throw .invalid("oz_create_args.struct_size is \(a.struct_size), expected at least \(minimum)")
        }
        guard a.dim >= 1, a.dim <= 1 << 20 else { throw .invalid("model width D = \(a.dim) must be 1 ... 1048576") }
        let needsGrid = definition.capabilities & UInt32(OZ_CAP_NEEDS_GRID) != 0
        if needsGrid, a.grid_h < 1 || a.grid_w < 1 {
            throw .invalid("operator '\(definition.id)' needs the token grid (H, W); got \(a.grid_h) x \(a.grid_w)")
        }
        var given: [String: AttributeValue] = [:]
        if a.num_attrs > 0 {
            guard let attrs = a.attrs, a.num_attrs <= 1024 else {
                throw .invalid("attrs is NULL with num_attrs = \(a.num_attrs)")
            }
            // Elements are `attrs[0].struct_size` apart (a newer host's oz_attr may be larger than ours).
            let stride = Int(attrs.pointee.struct_size)
            guard stride >= MemoryLayout<oz_attr>.stride else {
                throw .invalid("oz_attr.struct_size is \(stride), expected at least \(MemoryLayout<oz_attr>.stride)")
            }
            for i in 0..<Int(a.num_attrs) {
                let attr = UnsafeRawPointer(attrs).advanced(by: i * stride).assumingMemoryBound(to: oz_attr.self)
                    .pointee
                guard let cName = attr.name, let name = String(validatingCString: cName) else {
                    throw .invalid("attribute \(i) has no valid name")
                }
                guard let spec = definition.attributes.first(where: { $0.name == name }) else {
                    throw .invalid("operator '\(definition.id)' has no attribute '\(name)'")
                }
                given[name] = try Self.read(attr.value, spec: spec)
            }
        }
        var values: [String: AttributeValue] = [:]
        for spec in definition.attributes {
            let value = given[spec.name] ?? spec.defaultValue
            try spec.validate(value)
            values[spec.name] = value
        }
        var parallel = ParallelFor.serial
        if let host = a.host?.pointee,
            Int(host.struct_size) >= MemoryLayout<oz_host_services>.offset(of: \oz_host_services.parallel_for)! + 8,
            host.parallel_for != nil
        {
            parallel = ParallelFor(
                function: host.parallel_for, hostContext: host.host_context, threads: max(1, Int(host.num_threads)))
        }
        let config = KernelConfig(
            dim: Int(a.dim), gridHeight: Int(max(0, a.grid_h)), gridWidth: Int(max(0, a.grid_w)), attributes: values,
            parallel: parallel)
        self.definition = definition
        self.kernel = try definition.kernel.init(config: config)
        self.dim = Int(a.dim)
        self.parameters = kernel.parameters
        self.parameterNames = parameters.map { strdup($0.name)! }
        self.stateEntries = kernel.stateEntries
        self.stateEntryNames = stateEntries.map { strdup($0.name)! }
        self.stateEntryValues = stateEntries.map { entry in
            guard case .buffer(_, _, let values) = entry else { return nil }
            let buffer = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(1, values.count))
            _ = buffer.initialize(from: values)
            return buffer
        }
        self.float64 = definition.capabilities & UInt32(OZ_CAP_FLOAT64) != 0
        self.grid = needsGrid ? (Int(a.grid_h), Int(a.grid_w)) : nil
        self.saves = definition.capabilities & UInt32(OZ_CAP_SAVE_FOR_BACKWARD) != 0
    }

    deinit {
        parameterNames.forEach { free($0) }
        stateEntryNames.forEach { free($0) }
        stateEntryValues.forEach { $0?.deallocate() }
    }

    private static func read(_ v: oz_attr_value, spec: AttributeSpec) throws(PluginFailure) -> AttributeValue {
        let expected = spec.defaultValue.code
        guard v.type == expected else {
            throw .invalid("attribute '\(spec.name)' has type code \(v.type), expected \(expected)")
        }
        let n = Int(v.count)
        func ints() throws(PluginFailure) -> [Int64] {
            guard let p = v.ints, n >= 1, n <= 64 else {
                throw .invalid("attribute '\(spec.name)' has \(n) ints or a NULL pointer")
            }
            return Array(UnsafeBufferPointer(start: p, count: n))
        }
        func floats() throws(PluginFailure) -> [Double] {
            guard let p = v.floats, n >= 1, n <= 64 else {
                throw .invalid("attribute '\(spec.name)' has \(n) floats or a NULL pointer")
            }
            return Array(UnsafeBufferPointer(start: p, count: n))
        }
        switch spec.defaultValue {
        case .int: return .int(try ints()[0])
        case .bool:
            let b = try ints()[0]
            guard b == 0 || b == 1 else { throw .invalid("attribute '\(spec.name)' = \(b) is not a bool (0 or 1)") }
            return .bool(b == 1)
        case .float: return .float(try floats()[0])
        case .intList: return .intList(try ints())
        case .floatList: return .floatList(try floats())
        case .string:
            guard let p = v.string, let s = String(validatingCString: p) else {
                throw .invalid("attribute '\(spec.name)' is not a valid UTF-8 string")
            }
            return .string(s)
        }
    }

    func describe(_ info: UnsafeMutablePointer<oz_instance_info>) throws(PluginFailure) {
        let size = Int(info.pointee.struct_size)
        let raw = UnsafeMutableRawPointer(info)
        func put<T>(_ key: KeyPath<oz_instance_info, T>, _ value: T) {
            let offset = MemoryLayout<oz_instance_info>.offset(of: key)!
            if offset + MemoryLayout<T>.size <= size { raw.storeBytes(of: value, toByteOffset: offset, as: T.self) }
        }
        var flags: UInt32 = kernel.isCausal ? OZ_INSTANCE_CAUSAL : 0
        if kernel.receptiveField != nil { flags |= OZ_INSTANCE_RECEPTIVE_FIELD }
        put(\.flags, flags)
        put(\.num_params, UInt32(parameters.count))
        put(\.receptive_left, kernel.receptiveField?.left ?? -1)
        put(\.receptive_right, kernel.receptiveField?.right ?? -1)
        put(\.fixed_length, Int64(kernel.fixedLength ?? 0))
        put(\.complexity, (kernel.complexity ?? definition.complexity).code)
        put(\.num_state_entries, UInt32(stateEntries.count))
        if let heads = kernel.attentionHeads {
            put(\.diagnostics, OZ_DIAG_ATTENTION_WEIGHTS)
            put(\.attention_heads, UInt32(heads))
        }
    }

    /// Fills `entry` with upstream state entry `index` (ABI 1.5).
    func stateEntry(_ index: Int, into entry: UnsafeMutablePointer<oz_state_entry>) throws(PluginFailure) {
        guard index >= 0, index < stateEntries.count else {
            throw .invalid("state entry index \(index) out of range 0..<\(stateEntries.count)")
        }
        let size = Int(entry.pointee.struct_size)
        guard size >= MemoryLayout<oz_state_entry>.stride else {
            throw .invalid(
                "oz_state_entry.struct_size is \(size), expected at least \(MemoryLayout<oz_state_entry>.stride)")
        }
        entry.pointee.name = UnsafePointer(stateEntryNames[index])
        switch stateEntries[index] {
        case .buffer(_, let shape, _):
            entry.pointee.kind = OZ_STATE_BUFFER
            entry.pointee.ndim = UInt32(shape.count)
            writeShape(shape, into: &entry.pointee.shape)
            entry.pointee.values = UnsafePointer(stateEntryValues[index]?.baseAddress)
        case .alias(_, let parameter):
            entry.pointee.kind = OZ_STATE_ALIAS
            entry.pointee.param = UInt32(parameter)
        case .part(_, let parameter, let rows):
            entry.pointee.kind = OZ_STATE_PART
            entry.pointee.param = UInt32(parameter)
            entry.pointee.row_begin = Int64(rows.lowerBound)
            entry.pointee.row_end = Int64(rows.upperBound)
        }
    }

    /// Fills the fields of `out` that its `struct_size` covers (at least `forward_flops`) with the kernel's declared
    /// cost, the bytes PluginKit's minimum traffic where the kernel leaves them `nil` (see ``OperatorCost``).
    func cost(batch: Int, length: Int, into out: UnsafeMutablePointer<oz_cost>) throws(PluginFailure) {
        let size = Int(out.pointee.struct_size)
        let minimum = MemoryLayout<oz_cost>.offset(of: \oz_cost.forward_flops)! + 8
        guard size >= minimum else { throw .invalid("oz_cost.struct_size is \(size), expected at least \(minimum)") }
        if let grid, length != grid.height * grid.width {
            let (h, w) = grid
            throw .shape("cost query for L = \(length), but the instance's grid is \(h) x \(w) = \(h * w) tokens")
        }
        if let fixed = kernel.fixedLength, length != fixed {
            throw .shape("cost query for L = \(length), but operator '\(definition.id)' takes only L = \(fixed)")
        }
        guard let declared = try kernel.cost(batch: batch, length: length) else {
            throw .unsupported("operator '\(definition.id)' does not declare its cost")
        }
        let hasBackward = definition.capabilities & UInt32(OZ_CAP_BACKWARD) != 0
        // Minimum traffic at float32: x and y (and dy, dx) are B*L*D each, params (and dparams) P.
        let activations = SaturatingCount(batch) * SaturatingCount(length) * SaturatingCount(dim)
        let params = parameters.reduce(SaturatingCount(0)) { sum, p in
            sum + p.shape.reduce(SaturatingCount(1)) { $0 * SaturatingCount($1) }
        }
        let element = SaturatingCount(MemoryLayout<Float>.size)
        let values = (
            forwardFLOPs: declared.forwardFLOPs,
            backwardFLOPs: hasBackward ? declared.backwardFLOPs : 0,
            forwardBytes: declared.forwardBytes ?? element * (2 * activations + params),
            backwardBytes: hasBackward ? declared.backwardBytes ?? element * (3 * activations + 2 * params) : 0
        )
        let counts = [values.forwardFLOPs, values.backwardFLOPs, values.forwardBytes, values.backwardBytes]
        guard !counts.contains(where: \.isSaturated) else {
            throw .unsupported("the cost of '\(definition.id)' at B = \(batch), L = \(length) overflows 64 bits")
        }
        let raw = UnsafeMutableRawPointer(out)
        func put(_ key: KeyPath<oz_cost, UInt64>, _ value: SaturatingCount) {
            let offset = MemoryLayout<oz_cost>.offset(of: key)!
            if offset + 8 <= size { raw.storeBytes(of: UInt64(value.value), toByteOffset: offset, as: UInt64.self) }
        }
        put(\.forward_flops, values.forwardFLOPs)
        put(\.backward_flops, values.backwardFLOPs)
        put(\.forward_bytes, values.forwardBytes)
        put(\.backward_bytes, values.backwardBytes)
    }

    func parameter(_ index: Int, into info: UnsafeMutablePointer<oz_param_info>) throws(PluginFailure) {
        guard index >= 0, index < parameters.count else {
            throw .invalid("parameter index \(index) out of range 0..<\(parameters.count)")
        }
        let size = Int(info.pointee.struct_size)
        guard size >= MemoryLayout<oz_param_info>.stride else {
            throw .invalid(
                "oz_param_info.struct_size is \(size), expected at least \(MemoryLayout<oz_param_info>.stride)")
        }
        let p = parameters[index]
        info.pointee.ndim = UInt32(p.shape.count)
        info.pointee.name = UnsafePointer(parameterNames[index])
        writeShape(p.shape, into: &info.pointee.shape)
    }

    func workspaceBytes(backward: Bool, batch: Int, length: Int) throws(PluginFailure) -> Int {
        let elements = kernel.workspaceElements(backward: backward, batch: batch, length: length)
        guard elements >= 0 else { throw .unsupported("workspace size overflows") }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: 8)
        guard !overflow, bytes < Int.max - 4096 else {
            throw .unsupported("workspace for B = \(batch), L = \(length) is too large")
        }
        return elements == 0 ? 0 : bytes + 64 * 32  // alignment slack for up to 32 pieces
    }

    /// Bytes of the saved-activations buffer at batch B and length L (0 when the kernel saves nothing).
    func savedBytes(batch: Int, length: Int) throws(PluginFailure) -> Int {
        let elements = kernel.savedElements(batch: batch, length: length)
        guard elements >= 0 else { throw .unsupported("saved-activations size overflows") }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: 8)
        guard !overflow, bytes < Int.max - 4096 else {
            throw .unsupported("saved activations for B = \(batch), L = \(length) are too large")
        }
        return elements == 0 ? 0 : bytes + 64 * 32  // alignment slack for up to 32 pieces
    }

    /// The `saved` buffer of a 1.4 call, when the struct covers it, the operator saves, and the host passed one:
    /// checked against the size this B and L need.
    private func savedBuffer(
        _ raw: UnsafeRawPointer, structSize: UInt32, offset: Int, batch: Int, length: Int
    ) throws(PluginFailure) -> Workspace? {
        guard saves, Int(structSize) >= offset + 16 else { return nil }
        guard let base = raw.load(fromByteOffset: offset, as: UnsafeMutableRawPointer?.self) else { return nil }
        let size = raw.load(fromByteOffset: offset + 8, as: UInt64.self)
        let needed = try savedBytes(batch: batch, length: length)
        guard size >= UInt64(needed), size <= UInt64(Int.max) else {
            throw .invalid("saved is \(size) bytes, but B = \(batch), L = \(length) needs \(needed)")
        }
        return Workspace(base: base, size: Int(size))
    }

    private func dtypeBits(_ x: UnsafePointer<oz_tensor>?) throws(PluginFailure) -> UInt8 {
        guard let x else { throw .invalid("x is NULL") }
        let bits = try TensorReader.bits(x, name: "x")
        if bits == 64 && !float64 {
            throw .dtype("operator '\(definition.id)' computes in float32 only (it does not declare OZ_CAP_FLOAT64)")
        }
        return bits
    }

    private func views<S: KernelScalar>(
        _ params: UnsafePointer<oz_tensor>?, count: Int, as _: S.Type, name: String
    )
        throws(PluginFailure) -> [TensorView<S>]
    {
        guard count == parameters.count else {
            throw .invalid("num_params is \(count), but this instance has \(parameters.count) parameters")
        }
        guard count == 0 || params != nil else { throw .invalid("\(name) is NULL") }
        var out: [TensorView<S>] = []
        for (i, p) in parameters.enumerated() {
            out.append(
                try TensorReader.view(params! + i, as: S.self, shape: p.shape, name: "\(name)[\(i)] ('\(p.name)')"))
        }
        return out
    }

    func initialize(seed: UInt64, params: UnsafeMutablePointer<oz_tensor>?, count: Int) throws(PluginFailure) {
        guard count == parameters.count else {
            throw .invalid("num_params is \(count), but this instance has \(parameters.count) parameters")
        }
        guard count > 0, let params else { return }
        if try TensorReader.bits(params, name: "params[0]") == 64 {
            guard float64 else { throw .dtype("operator '\(definition.id)' does not declare OZ_CAP_FLOAT64") }
            kernel.initialize(try views(params, count: count, as: Double.self, name: "params"), seed: seed)
        } else {
            kernel.initialize(try views(params, count: count, as: Float.self, name: "params"), seed: seed)
        }
    }

    func forward(_ args: UnsafePointer<oz_forward_args>) throws(PluginFailure) {
        let a = args.pointee
        let minimum = MemoryLayout<oz_forward_args>.offset(of: \oz_forward_args.workspace_size)! + 8
        guard Int(a.struct_size) >= minimum else {
            throw .invalid("oz_forward_args.struct_size is \(a.struct_size), expected at least \(minimum)")
        }
        let offset = MemoryLayout<oz_forward_args>.offset(of: \oz_forward_args.saved)!
        if try dtypeBits(a.x) == 64 {
            try forward(a, raw: UnsafeRawPointer(args), savedOffset: offset, as: Double.self)
        } else {
            try forward(a, raw: UnsafeRawPointer(args), savedOffset: offset, as: Float.self)
        }
    }

    private func forward<S: KernelScalar>(
        _ a: oz_forward_args, raw: UnsafeRawPointer, savedOffset: Int, as _: S.Type
    ) throws(PluginFailure) {
        let (b, l) = try TensorReader.inputShape(a.x, dim: dim)
        let shape = [b, l, dim]
        try checkGrid(l)
        let x = try TensorReader.view(a.x, as: S.self, shape: shape, name: "x")
        let y = try TensorReader.view(UnsafePointer(a.y), as: S.self, shape: shape, name: "y")
        let params = try views(a.params, count: Int(a.num_params), as: S.self, name: "params")
        let workspace = try lend(a.workspace, Int(a.workspace_size), backward: false, batch: b, length: l)
        if let saved = try savedBuffer(raw, structSize: a.struct_size, offset: savedOffset, batch: b, length: l) {
            try kernel.forward(x, params, y, workspace, saving: saved)
        } else {
            try kernel.forward(x, params, y, workspace)
        }
    }

    func backward(_ args: UnsafePointer<oz_backward_args>) throws(PluginFailure) {
        let a = args.pointee
        let minimum = MemoryLayout<oz_backward_args>.offset(of: \oz_backward_args.workspace_size)! + 8
        guard Int(a.struct_size) >= minimum else {
            throw .invalid("oz_backward_args.struct_size is \(a.struct_size), expected at least \(minimum)")
        }
        let offset = MemoryLayout<oz_backward_args>.offset(of: \oz_backward_args.saved)!
        if try dtypeBits(a.x) == 64 {
            try backward(a, raw: UnsafeRawPointer(args), savedOffset: offset, as: Double.self)
        } else {
            try backward(a, raw: UnsafeRawPointer(args), savedOffset: offset, as: Float.self)
        }
    }

    private func backward<S: KernelScalar>(
        _ a: oz_backward_args, raw: UnsafeRawPointer, savedOffset: Int, as _: S.Type
    ) throws(PluginFailure) {
        let (b, l) = try TensorReader.inputShape(a.x, dim: dim)
        let shape = [b, l, dim]
        try checkGrid(l)
        let x = try TensorReader.view(a.x, as: S.self, shape: shape, name: "x")
        let dy = try TensorReader.view(a.dy, as: S.self, shape: shape, name: "dy")
        let dx = try a.dx.map { (p) throws(PluginFailure) in
            try TensorReader.view(UnsafePointer(p), as: S.self, shape: shape, name: "dx")
        }
        let params = try views(a.params, count: Int(a.num_params), as: S.self, name: "params")
        var dparams = [TensorView<S>?](repeating: nil, count: parameters.count)
        if let d = a.dparams {
            for (i, p) in parameters.enumerated() where d[i].data != nil {
                dparams[i] = try TensorReader.view(
                    UnsafePointer(d + i), as: S.self, shape: p.shape, name: "dparams[\(i)] ('\(p.name)')")
            }
        }
        let workspace = try lend(a.workspace, Int(a.workspace_size), backward: true, batch: b, length: l)
        if let saved = try savedBuffer(raw, structSize: a.struct_size, offset: savedOffset, batch: b, length: l) {
            try kernel.backward(x, params, dy, dx: dx, dparams: dparams, workspace, saved: saved)
        } else {
            try kernel.backward(x, params, dy, dx: dx, dparams: dparams, workspace)
        }
    }

    /// A diagnostic (ABI 1.6): the attention weights `[B, H, L, L]` when the kernel gives them.
    func diagnose(_ args: UnsafePointer<oz_diagnose_args>) throws(PluginFailure) {
        let a = args.pointee
        let minimum = MemoryLayout<oz_diagnose_args>.offset(of: \oz_diagnose_args.workspace_size)! + 8
        guard Int(a.struct_size) >= minimum else {
            throw .invalid("oz_diagnose_args.struct_size is \(a.struct_size), expected at least \(minimum)")
        }
        guard a.kind == OZ_DIAG_ATTENTION_WEIGHTS, kernel.attentionHeads != nil else {
            throw .unsupported(
                "diagnostic kind \(a.kind): operator '\(definition.id)' gives \(kernel.attentionHeads == nil ? "none" : "only 1 (attention weights)")"
            )
        }
        if try dtypeBits(a.x) == 64 { try diagnose(a, as: Double.self) } else { try diagnose(a, as: Float.self) }
    }

    private func diagnose<S: KernelScalar>(_ a: oz_diagnose_args, as _: S.Type) throws(PluginFailure) {
        let (b, l) = try TensorReader.inputShape(a.x, dim: dim)
        try checkGrid(l)
        let heads = kernel.attentionHeads ?? 0
        let x = try TensorReader.view(a.x, as: S.self, shape: [b, l, dim], name: "x")
        let out = try TensorReader.view(UnsafePointer(a.out), as: S.self, shape: [b, heads, l, l], name: "out")
        let params = try views(a.params, count: Int(a.num_params), as: S.self, name: "params")
        let workspace = try lend(a.workspace, Int(a.workspace_size), backward: false, batch: b, length: l)
        try kernel.attentionWeights(x, params, into: out, workspace)
    }

    private func checkGrid(_ length: Int) throws(PluginFailure) {
        if let grid, length != grid.height * grid.width {
            throw .shape(
                "x has L = \(length) tokens, but the instance's grid is \(grid.height) x \(grid.width) = \(grid.height * grid.width)"
            )
        }
    }

    private func lend(
        _ base: UnsafeMutableRawPointer?, _ size: Int, backward: Bool, batch: Int, length: Int
    )
        throws(PluginFailure) -> Workspace
    {
        let needed = try workspaceBytes(backward: backward, batch: batch, length: length)
        guard size >= needed, needed == 0 || base != nil else {
            throw .invalid(
                "workspace is \(size) bytes, but \(backward ? "backward" : "forward") at B = \(batch), L = \(length) needs \(needed)"
            )
        }
        return Workspace(base: base, size: size)
    }
}
