import Foundation
import OperatorABI

/// A call into a plugin that returned a non-zero status, with the plugin's message.
public struct PluginCallError: Error, Equatable, CustomStringConvertible {
    /// The operator called.
    public let operatorId: String
    /// The ABI function, e.g. `"forward"`.
    public let function: String
    /// The `oz_status` returned.
    public let status: Int32
    /// The plugin's message (empty if it wrote none).
    public let message: String

    /// The status code's name (`OZ_ERR_SHAPE` ...).
    public var statusName: String {
        switch status {
        case OZ_ERR_INVALID_ARGUMENT: "invalid argument"
        case OZ_ERR_SHAPE: "shape error"
        case OZ_ERR_DTYPE: "dtype error"
        case OZ_ERR_UNSUPPORTED: "unsupported"
        case OZ_ERR_OUT_OF_MEMORY: "out of memory"
        case OZ_ERR_INTERNAL: "internal error"
        default: "status \(status)"
        }
    }

    public var description: String {
        "operator '\(operatorId)' \(function) failed (\(statusName)): \(message.isEmpty ? "the plugin gave no message" : message)"
    }
}

/// A tensor argument for a plugin call: a host-owned buffer, its shape and its float width.
package struct TensorArgument {
    package var data: UnsafeMutableRawPointer?
    package var shape: [Int]
    package var bits: UInt8

    package init(data: UnsafeMutableRawPointer?, shape: [Int], bits: UInt8) {
        self.data = data
        self.shape = shape
        self.bits = bits
    }
}

/// Reads ABI structs honouring `struct_size`: fields beyond the writer's size read as zero.
enum ABIStruct {
    /// A copy of the `T` at `pointer`, of which only the first `declaredSize` bytes (rounded down to whole
    /// 8-byte words, so no pointer is ever half-read) are taken; the rest is zero.
    static func read<T>(_ pointer: UnsafeRawPointer, declaredSize: Int, as _: T.Type = T.self) -> T {
        let stride = MemoryLayout<T>.stride
        let count = min(stride, max(0, declaredSize) / 8 * 8)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: stride, alignment: MemoryLayout<T>.alignment)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: stride)
        buffer.copyMemory(from: pointer, byteCount: count)
        return buffer.load(as: T.self)
    }

    /// The host's own size of `T`, as it writes into `struct_size`.
    static func size<T>(of _: T.Type) -> UInt32 { UInt32(MemoryLayout<T>.stride) }
}

/// The entry points of one operator, read once from its `oz_operator` table: the only code that calls into a
/// plugin and builds `oz_tensor` descriptors.
struct OperatorTable: @unchecked Sendable {
    let id: String
    private let raw: oz_operator
    /// The table's address, passed back to `create`.
    private let pointer: UnsafePointer<oz_operator>

    init(id: String, pointer: UnsafePointer<oz_operator>, raw: oz_operator) {
        self.id = id
        self.pointer = pointer
        self.raw = raw
    }

    var hasBackward: Bool { raw.backward != nil }
    var hasInitParams: Bool { raw.init_params != nil }

    // MARK: Instances

    func create(
        dim: Int, grid: (Int, Int)?, attributes: [(AttributeSchema, AttributeValue)], services: HostServices
    )
        throws(PluginCallError) -> OpaquePointer
    {
        guard let create = raw.create else { throw missing("create") }
        return try AttributeMarshal.withAttributes(attributes) { (attrs, count) throws(PluginCallError) in
            try services.withServices { (host) throws(PluginCallError) in
                var args = oz_create_args(
                    struct_size: ABIStruct.size(of: oz_create_args.self), num_attrs: UInt32(count), dim: Int64(dim),
                    grid_h: Int64(grid?.0 ?? 0), grid_w: Int64(grid?.1 ?? 0), attrs: attrs, host: host)
                var instance: OpaquePointer?
                try call("create") { err in create(pointer, &args, &instance, err) }
                guard let instance else {
                    throw PluginCallError(
                        operatorId: id, function: "create", status: OZ_ERR_INTERNAL,
                        message: "create returned OZ_OK but no instance")
                }
                return instance
            }
        }
    }

    func destroy(_ instance: OpaquePointer) {
        raw.destroy?(instance)
    }

    func describe(_ instance: OpaquePointer) throws(PluginCallError) -> oz_instance_info {
        guard let describe = raw.describe else { throw missing("describe") }
        var info = oz_instance_info()
        info.struct_size = ABIStruct.size(of: oz_instance_info.self)
        try call("describe") { err in describe(instance, &info, err) }
        return info
    }

    func parameter(_ instance: OpaquePointer, index: Int) throws(PluginCallError) -> (name: String?, shape: [Int]) {
        guard let getParam = raw.get_param else { throw missing("get_param") }
        var info = oz_param_info()
        info.struct_size = ABIStruct.size(of: oz_param_info.self)
        try call("get_param") { err in getParam(instance, UInt32(index), &info, err) }
        let ndim = Int(info.ndim)
        guard (1...Int(OZ_MAX_PARAM_DIMS)).contains(ndim) else {
            throw PluginCallError(
                operatorId: id, function: "get_param", status: OZ_ERR_INTERNAL,
                message: "parameter \(index) has rank \(ndim) (expected 1...\(OZ_MAX_PARAM_DIMS))")
        }
        let shape = withUnsafeBytes(of: info.shape) {
            Array($0.bindMemory(to: Int64.self).prefix(ndim)).map { Int($0) }
        }
        return (info.name.flatMap { String(validatingCString: $0) }, shape)
    }

    func stateEntry(_ instance: OpaquePointer, index: Int) throws(PluginCallError) -> UpstreamStateEntry {
        guard let get = raw.get_state_entry else { throw missing("get_state_entry") }
        var entry = oz_state_entry()
        entry.struct_size = ABIStruct.size(of: oz_state_entry.self)
        try call("get_state_entry") { err in get(instance, UInt32(index), &entry, err) }
        func bad(_ message: String) -> PluginCallError {
            PluginCallError(operatorId: id, function: "get_state_entry", status: OZ_ERR_INTERNAL, message: message)
        }
        guard let namePointer = entry.name, let name = String(validatingCString: namePointer) else {
            throw bad("state entry \(index) has no name")
        }
        switch entry.kind {
        case OZ_STATE_BUFFER:
            let ndim = Int(entry.ndim)
            guard (0...Int(OZ_MAX_PARAM_DIMS)).contains(ndim) else {
                throw bad("buffer '\(name)' has rank \(ndim) (expected 0...\(OZ_MAX_PARAM_DIMS))")
            }
            let shape = withUnsafeBytes(of: entry.shape) {
                Array($0.bindMemory(to: Int64.self).prefix(ndim)).map { Int($0) }
            }
            guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }),
                case let count = shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }),
                count < 1 << 28
            else { throw bad("buffer '\(name)' has shape \(shape)") }
            guard let values = entry.values else { throw bad("buffer '\(name)' has no values") }
            return .buffer(name: name, shape: shape, values: Array(UnsafeBufferPointer(start: values, count: count)))
        case OZ_STATE_ALIAS:
            return .alias(name: name, parameter: Int(entry.param))
        case OZ_STATE_PART:
            guard entry.row_begin >= 0, entry.row_end >= entry.row_begin, entry.row_end < 1 << 40 else {
                throw bad("part '\(name)' has rows \(entry.row_begin)..<\(entry.row_end)")
            }
            return .part(name: name, parameter: Int(entry.param), rows: Int(entry.row_begin)..<Int(entry.row_end))
        default:
            throw bad("state entry '\(name)' has kind \(entry.kind) (expected OZ_STATE_BUFFER, _ALIAS or _PART)")
        }
    }

    func initParams(_ instance: OpaquePointer, seed: UInt64, params: [TensorArgument]) throws(PluginCallError) {
        guard let initParams = raw.init_params else { throw missing("init_params") }
        try TensorMarshal.withDescriptors(params) { (tensors) throws(PluginCallError) in
            try call("init_params") { err in initParams(instance, seed, tensors, UInt32(params.count), err) }
        }
    }

    func workspaceSize(_ instance: OpaquePointer, pass: Int32, batch: Int, length: Int) throws(PluginCallError) -> Int {
        guard let query = raw.workspace_size else { return 0 }
        var bytes: UInt64 = 0
        try call("workspace_size") { err in query(instance, UInt32(pass), Int64(batch), Int64(length), &bytes, err) }
        guard bytes <= UInt64(Int.max / 2) else {
            throw PluginCallError(
                operatorId: id, function: "workspace_size", status: OZ_ERR_INTERNAL,
                message: "asked for \(bytes) bytes of workspace")
        }
        return Int(bytes)
    }

    /// Nil when the table has no `cost` (a 1.2 or older plugin, whose shorter table reads it as NULL) or the
    /// plugin answers OZ_ERR_UNSUPPORTED (it cannot count this configuration).
    func cost(_ instance: OpaquePointer, batch: Int, length: Int) throws(PluginCallError) -> OperatorCost? {
        guard let query = raw.cost else { return nil }
        var cost = oz_cost()
        cost.struct_size = ABIStruct.size(of: oz_cost.self)
        do {
            try call("cost") { err in query(instance, Int64(batch), Int64(length), &cost, err) }
        } catch  where error.status == OZ_ERR_UNSUPPORTED {
            return nil
        }
        let counts = [cost.forward_flops, cost.backward_flops, cost.forward_bytes, cost.backward_bytes]
        guard counts.allSatisfy({ $0 <= UInt64(Int.max) }) else {
            throw PluginCallError(
                operatorId: id, function: "cost", status: OZ_ERR_INTERNAL,
                message: "reported a count beyond \(Int.max)")
        }
        return OperatorCost(
            forwardFLOPs: Int(cost.forward_flops), backwardFLOPs: Int(cost.backward_flops),
            forwardBytes: Int(cost.forward_bytes), backwardBytes: Int(cost.backward_bytes))
    }

    // MARK: Compute

    func forward(
        _ instance: OpaquePointer, x: TensorArgument, params: [TensorArgument], y: TensorArgument,
        workspace: UnsafeMutableRawPointer?, workspaceSize: Int, saved: UnsafeMutableRawPointer?, savedSize: Int
    ) throws(PluginCallError) {
        guard let forward = raw.forward else { throw missing("forward") }
        try TensorMarshal.withDescriptors([x, y] + params) { (t) throws(PluginCallError) in
            var args = oz_forward_args(
                struct_size: ABIStruct.size(of: oz_forward_args.self), num_params: UInt32(params.count),
                x: UnsafePointer(t), params: params.isEmpty ? nil : UnsafePointer(t + 2), y: t + 1,
                workspace: workspace, workspace_size: UInt64(workspaceSize), saved: saved,
                saved_size: UInt64(saved == nil ? 0 : savedSize))
            try call("forward") { err in forward(instance, &args, err) }
        }
    }

    func diagnose(
        _ instance: OpaquePointer, kind: UInt32, x: TensorArgument, params: [TensorArgument], out: TensorArgument,
        workspace: UnsafeMutableRawPointer?, workspaceSize: Int
    ) throws(PluginCallError) {
        guard let diagnose = raw.diagnose else { throw missing("diagnose") }
        try TensorMarshal.withDescriptors([x, out] + params) { (t) throws(PluginCallError) in
            var args = oz_diagnose_args(
                struct_size: ABIStruct.size(of: oz_diagnose_args.self), kind: kind, num_params: UInt32(params.count),
                reserved: 0, x: UnsafePointer(t), params: params.isEmpty ? nil : UnsafePointer(t + 2), out: t + 1,
                workspace: workspace, workspace_size: UInt64(workspaceSize))
            try call("diagnose") { err in diagnose(instance, &args, err) }
        }
    }

    func backward(
        _ instance: OpaquePointer, x: TensorArgument, params: [TensorArgument], dy: TensorArgument,
        dx: TensorArgument?, dparams: [TensorArgument]?, workspace: UnsafeMutableRawPointer?, workspaceSize: Int,
        saved: UnsafeRawPointer?, savedSize: Int
    ) throws(PluginCallError) {
        guard let backward = raw.backward else { throw missing("backward") }
        let dxList = dx.map { [$0] } ?? []
        try TensorMarshal.withDescriptors([x, dy] + dxList + params + (dparams ?? [])) { (t) throws(PluginCallError) in
            let p = t + 2 + dxList.count
            var args = oz_backward_args(
                struct_size: ABIStruct.size(of: oz_backward_args.self), num_params: UInt32(params.count),
                x: UnsafePointer(t), params: params.isEmpty ? nil : UnsafePointer(p), dy: UnsafePointer(t + 1),
                dx: dx == nil ? nil : t + 2, dparams: dparams == nil || params.isEmpty ? nil : p + params.count,
                workspace: workspace, workspace_size: UInt64(workspaceSize), saved: saved,
                saved_size: UInt64(saved == nil ? 0 : savedSize))
            try call("backward") { err in backward(instance, &args, err) }
        }
    }

    // MARK: Plumbing

    /// Runs `body` with a fresh message buffer and turns a non-zero status into a ``PluginCallError``.
    private func call(_ function: String, _ body: (UnsafeMutablePointer<oz_error>) -> oz_status) throws(PluginCallError)
    {
        let capacity = 1024
        let (status, message) = withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer in
            buffer.initialize(repeating: 0)
            var err = oz_error(
                struct_size: ABIStruct.size(of: oz_error.self), capacity: UInt32(capacity),
                message: buffer.baseAddress)
            let status = body(&err)
            buffer[capacity - 1] = 0
            return (
                status,
                status == OZ_OK
                    ? "" : String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            )
        }
        if status != OZ_OK {
            throw PluginCallError(operatorId: id, function: function, status: status, message: message)
        }
    }

    private func missing(_ function: String) -> PluginCallError {
        PluginCallError(
            operatorId: id, function: function, status: OZ_ERR_UNSUPPORTED,
            message: "the plugin does not implement \(function)")
    }
}

/// Builds `oz_tensor` descriptors (DLPack layout) for the duration of one call.
enum TensorMarshal {
    static func withDescriptors<R, E: Error>(
        _ tensors: [TensorArgument], _ body: (UnsafeMutablePointer<oz_tensor>) throws(E) -> R
    ) throws(E) -> R {
        let extents = tensors.reduce(0) { $0 + 2 * $1.shape.count }
        let dims = UnsafeMutablePointer<Int64>.allocate(capacity: max(1, extents))
        let descriptors = UnsafeMutablePointer<oz_tensor>.allocate(capacity: max(1, tensors.count))
        defer {
            dims.deallocate()
            descriptors.deallocate()
        }
        var next = dims
        for (i, t) in tensors.enumerated() {
            let rank = t.shape.count
            let shape = next
            let strides = next + rank
            var step: Int64 = 1
            for d in (0..<rank).reversed() {
                shape[d] = Int64(t.shape[d])
                strides[d] = step
                step *= Int64(t.shape[d])
            }
            next += 2 * rank
            descriptors[i] = oz_tensor(
                data: t.data, device: oz_device(device_type: OZ_DEVICE_CPU, device_id: 0), ndim: Int32(rank),
                dtype: oz_dtype(code: UInt8(OZ_DTYPE_CODE_FLOAT), bits: t.bits, lanes: 1),
                shape: rank == 0 ? nil : shape, strides: rank == 0 ? nil : strides, byte_offset: 0)
        }
        return try body(descriptors)
    }
}

/// Builds `oz_attr` arrays for the duration of one create call.
enum AttributeMarshal {
    static func withAttributes<R, E: Error>(
        _ attributes: [(AttributeSchema, AttributeValue)], _ body: (UnsafePointer<oz_attr>?, Int) throws(E) -> R
    ) throws(E) -> R {
        var cStrings: [UnsafeMutablePointer<CChar>] = []
        var intBuffers: [UnsafeMutablePointer<Int64>] = []
        var floatBuffers: [UnsafeMutablePointer<Double>] = []
        defer {
            cStrings.forEach { free($0) }
            intBuffers.forEach { $0.deallocate() }
            floatBuffers.forEach { $0.deallocate() }
        }
        func ints(_ values: [Int64]) -> UnsafePointer<Int64> {
            let p = UnsafeMutablePointer<Int64>.allocate(capacity: max(1, values.count))
            p.initialize(from: values, count: values.count)
            intBuffers.append(p)
            return UnsafePointer(p)
        }
        func floats(_ values: [Double]) -> UnsafePointer<Double> {
            let p = UnsafeMutablePointer<Double>.allocate(capacity: max(1, values.count))
            p.initialize(from: values, count: values.count)
            floatBuffers.append(p)
            return UnsafePointer(p)
        }
        func string(_ s: String) -> UnsafePointer<CChar> {
            let p = strdup(s)!
            cStrings.append(p)
            return UnsafePointer(p)
        }
        var attrs: [oz_attr] = []
        for (schema, value) in attributes {
            var v = oz_attr_value()
            v.struct_size = ABIStruct.size(of: oz_attr_value.self)
            v.type = value.type.rawValue
            switch value {
            case .int(let i): (v.count, v.ints) = (1, ints([i]))
            case .bool(let b): (v.count, v.ints) = (1, ints([b ? 1 : 0]))
            case .float(let f): (v.count, v.floats) = (1, floats([f]))
            case .string(let s): (v.count, v.string) = (0, string(s))
            case .intList(let l): (v.count, v.ints) = (UInt32(l.count), ints(l))
            case .floatList(let l): (v.count, v.floats) = (UInt32(l.count), floats(l))
            }
            attrs.append(
                oz_attr(struct_size: ABIStruct.size(of: oz_attr.self), reserved: 0, name: string(schema.name), value: v)
            )
        }
        return try attrs.withUnsafeBufferPointer { (buffer) throws(E) in try body(buffer.baseAddress, buffer.count) }
    }
}
