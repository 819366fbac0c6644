import Foundation
import OperatorABI

/// A loaded plugin library: its validated metadata and operators.
///
/// ```swift
/// let plugin = try PluginLibrary(path: ".build/release/libOZMHA.so")
/// let mha = try #require(plugin.operator("mha"))
/// ```
public final class PluginLibrary: @unchecked Sendable {
    /// The library's path as given.
    public let path: String
    public let name: String
    public let version: String
    public let license: String
    public let summary: String?
    public let abiMajor: UInt32
    public let abiMinor: UInt32
    /// The operators, in the plugin's order.
    public let operators: [OperatorDescriptor]
    private let library: DynamicLibrary

    /// Opens the library at `path`, checks its ABI version and validates all metadata.
    /// - Throws: ``PluginError`` naming the file and the cause.
    public init(path: String) throws(PluginError) {
        self.path = path
        library = try DynamicLibrary(path: path)
        guard let entryAddress = library.address(of: OZ_ENTRY_SYMBOL) else {
            throw .missingEntry(path: path, symbol: OZ_ENTRY_SYMBOL)
        }
        let entry = unsafeBitCast(entryAddress, to: oz_plugin_entry_fn.self)
        guard let table = entry() else { throw .nullEntry(path: path) }
        let reader = MetadataReader(path: path)

        // The version prefix (struct_size, abi_major, abi_minor) never moves; read it alone first.
        let raw = UnsafeRawPointer(table)
        let declared = Int(raw.load(as: UInt32.self))
        guard declared >= 12 else {
            throw .structTooSmall(path: path, structName: "oz_plugin", size: declared, minimum: 12)
        }
        abiMajor = raw.load(fromByteOffset: 4, as: UInt32.self)
        abiMinor = raw.load(fromByteOffset: 8, as: UInt32.self)
        guard abiMajor == UInt32(OZ_ABI_MAJOR) else {
            throw .abiMajorMismatch(path: path, found: abiMajor, expected: UInt32(OZ_ABI_MAJOR))
        }
        let minimum = MemoryLayout<oz_plugin>.offset(of: \oz_plugin.operators)! + 8
        guard declared >= minimum else {
            throw .structTooSmall(path: path, structName: "oz_plugin", size: declared, minimum: minimum)
        }
        let plugin = ABIStruct.read(raw, declaredSize: declared, as: oz_plugin.self)
        name = try reader.string(plugin.name, field: "oz_plugin.name")
        version = try reader.string(plugin.version, field: "oz_plugin.version")
        license = try reader.string(plugin.license, field: "oz_plugin.license")
        summary = try reader.optionalString(plugin.description, field: "oz_plugin.description")
        guard plugin.num_operators >= 1, plugin.num_operators <= 1024 else {
            throw .invalidMetadata(
                path: path, field: "oz_plugin.num_operators",
                reason: "\(plugin.num_operators) operators (expected 1...1024)")
        }
        guard let list = plugin.operators else {
            throw .invalidMetadata(path: path, field: "oz_plugin.operators", reason: "NULL")
        }
        var operators: [OperatorDescriptor] = []
        for index in 0..<Int(plugin.num_operators) {
            guard let opPointer = list[index] else {
                throw .invalidMetadata(path: path, field: "oz_plugin.operators[\(index)]", reason: "NULL")
            }
            let descriptor = try reader.operatorDescriptor(opPointer, index: index)
            if operators.contains(where: { $0.id == descriptor.id }) {
                throw .duplicateOperatorId(path: path, id: descriptor.id)
            }
            operators.append(descriptor)
        }
        self.operators = operators
    }

    /// A library whose operators the host implements itself over `library` (the libffi adapter of a
    /// `cfunction` registry entry): it reports the host's own ABI version.
    init(
        path: String, name: String, version: String, license: String, summary: String?, operators: [OperatorDescriptor],
        library: DynamicLibrary
    ) {
        self.path = path
        self.name = name
        self.version = version
        self.license = license
        self.summary = summary
        abiMajor = UInt32(OZ_ABI_MAJOR)
        abiMinor = UInt32(OZ_ABI_MINOR)
        self.operators = operators
        self.library = library
    }

    /// The operator with `id`, if this library provides it.
    public func `operator`(_ id: String) -> OperatorDescriptor? {
        operators.first { $0.id == id }
    }

    /// Whether `id` is a well-formed operator id: `[a-z][a-z0-9_]*`, at most 64 characters.
    public static func isValidOperatorId(_ id: String) -> Bool {
        guard let first = id.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first), id.utf8.count <= 64
        else { return false }
        return id.utf8.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "_")
        }
    }
}

/// Validating reads of plugin metadata; every failure is a ``PluginError`` naming the field.
private struct MetadataReader {
    let path: String

    func string(_ pointer: UnsafePointer<CChar>?, field: String) throws(PluginError) -> String {
        guard let value = try optionalString(pointer, field: field) else {
            throw .invalidMetadata(path: path, field: field, reason: "NULL (a string is required)")
        }
        return value
    }

    func optionalString(_ pointer: UnsafePointer<CChar>?, field: String) throws(PluginError) -> String? {
        guard let pointer else { return nil }
        let length = strnlen(pointer, 4097)
        guard length <= 4096 else {
            throw .invalidMetadata(path: path, field: field, reason: "longer than 4096 bytes or not NUL-terminated")
        }
        guard let value = String(validatingCString: pointer) else {
            throw .invalidMetadata(path: path, field: field, reason: "not valid UTF-8")
        }
        return value
    }

    func operatorDescriptor(_ pointer: UnsafePointer<oz_operator>, index: Int) throws(PluginError) -> OperatorDescriptor
    {
        let field = "oz_plugin.operators[\(index)]"
        let declared = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
        // `backward` is optional (NULL = not implemented), so a table that ends right after `forward` is a
        // complete, older operator table.
        let minimum = MemoryLayout<oz_operator>.offset(of: \oz_operator.forward)! + 8
        guard declared >= minimum else {
            throw .structTooSmall(path: path, structName: "oz_operator (\(field))", size: declared, minimum: minimum)
        }
        let raw = ABIStruct.read(UnsafeRawPointer(pointer), declaredSize: declared, as: oz_operator.self)
        let id = try string(raw.id, field: "\(field).id")
        guard PluginLibrary.isValidOperatorId(id) else { throw .invalidOperatorId(path: path, id: id) }
        let opField = "operator '\(id)'"
        let version = try string(raw.version, field: "\(opField).version")
        let summary = try string(raw.summary, field: "\(opField).summary")
        let role: OperatorRole
        switch raw.role {
        case UInt32(OZ_ROLE_TOKEN_MIXER): role = .tokenMixer
        case UInt32(OZ_ROLE_CHANNEL_MIXER): role = .channelMixer
        default: throw .invalidMetadata(path: path, field: "\(opField).role", reason: "unknown role \(raw.role)")
        }
        let known = UInt64(
            OZ_CAP_BACKWARD | OZ_CAP_DETERMINISTIC | OZ_CAP_NEEDS_GRID | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64
                | OZ_CAP_SAVE_FOR_BACKWARD)
        // Unknown (newer) capability bits are ignored, as appended fields are; saving for a backward that does not
        // exist means nothing.
        var capabilities = OperatorCapabilities(rawValue: raw.capabilities & known)
        if !capabilities.contains(.backward) { capabilities.remove(.saveForBackward) }
        for (name, present) in [
            ("create", raw.create != nil), ("destroy", raw.destroy != nil), ("describe", raw.describe != nil),
            ("get_param", raw.get_param != nil), ("forward", raw.forward != nil),
        ] where !present {
            throw .invalidMetadata(path: path, field: "\(opField).\(name)", reason: "NULL (this function is required)")
        }
        if capabilities.contains(.backward) && raw.backward == nil {
            throw .invalidMetadata(
                path: path, field: "\(opField).backward", reason: "NULL although OZ_CAP_BACKWARD is declared")
        }
        guard raw.num_attrs <= 256 else {
            throw .invalidMetadata(path: path, field: "\(opField).num_attrs", reason: "\(raw.num_attrs) (at most 256)")
        }
        var attributes: [AttributeSchema] = []
        if raw.num_attrs > 0 {
            guard let list = raw.attrs else {
                throw .invalidMetadata(path: path, field: "\(opField).attrs", reason: "NULL with num_attrs > 0")
            }
            for a in 0..<Int(raw.num_attrs) {
                guard let def = list[a] else {
                    throw .invalidMetadata(path: path, field: "\(opField).attrs[\(a)]", reason: "NULL")
                }
                let schema = try attribute(def, field: "\(opField).attrs[\(a)]")
                if attributes.contains(where: { $0.name == schema.name }) {
                    throw .invalidMetadata(
                        path: path, field: "\(opField).attrs[\(a)]", reason: "duplicate name '\(schema.name)'")
                }
                attributes.append(schema)
            }
        }
        let table = OperatorTable(id: id, pointer: pointer, raw: raw)
        return OperatorDescriptor(
            id: id, version: version, summary: summary, role: role, capabilities: capabilities,
            attributes: attributes, libraryPath: path, table: table)
    }

    private func attribute(_ pointer: UnsafePointer<oz_attr_def>, field: String) throws(PluginError) -> AttributeSchema
    {
        let declared = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
        let minimum = MemoryLayout<oz_attr_def>.offset(of: \oz_attr_def.choices)! + 8
        guard declared >= minimum else {
            throw .structTooSmall(path: path, structName: "oz_attr_def (\(field))", size: declared, minimum: minimum)
        }
        let def = ABIStruct.read(UnsafeRawPointer(pointer), declaredSize: declared, as: oz_attr_def.self)
        let name = try string(def.name, field: "\(field).name")
        guard PluginLibrary.isValidOperatorId(name) else {
            throw .invalidMetadata(path: path, field: "\(field).name", reason: "'\(name)' is not [a-z][a-z0-9_]*")
        }
        let attrField = "\(field) ('\(name)')"
        let doc = try string(def.doc, field: "\(attrField).doc")
        guard let type = AttributeType(rawValue: def.type) else {
            throw .invalidMetadata(path: path, field: "\(attrField).type", reason: "unknown type \(def.type)")
        }
        let intRange = def.min_int <= def.max_int ? def.min_int...def.max_int : nil
        let floatRange = def.min_float <= def.max_float ? def.min_float...def.max_float : nil
        let listLength = def.list_length > 0 ? Int(def.list_length) : nil
        let choices = try optionalString(def.choices, field: "\(attrField).choices").map {
            $0.split(separator: "|").map(String.init)
        }
        let defaultValue = try value(def.default_value, type: type, field: "\(attrField).default_value")
        let schema = AttributeSchema(
            name: name, type: type, doc: doc, defaultValue: defaultValue, intRange: intRange, floatRange: floatRange,
            listLength: listLength, choices: choices)
        do {
            try schema.validate(defaultValue)
        } catch {
            throw .invalidMetadata(path: path, field: "\(attrField).default_value", reason: error.description)
        }
        return schema
    }

    private func value(_ v: oz_attr_value, type: AttributeType, field: String) throws(PluginError) -> AttributeValue {
        guard v.type == type.rawValue else {
            throw .invalidMetadata(
                path: path, field: field, reason: "type \(v.type) differs from the attribute's \(type.rawValue)")
        }
        let count = Int(v.count)
        func ints(_ n: Int) throws(PluginError) -> [Int64] {
            guard let p = v.ints, n >= 1, n <= 64 else {
                throw .invalidMetadata(
                    path: path, field: field, reason: "needs \(n == 0 ? "some" : "\(n)") int(s) (at most 64)")
            }
            return Array(UnsafeBufferPointer(start: p, count: n))
        }
        func floats(_ n: Int) throws(PluginError) -> [Double] {
            guard let p = v.floats, n >= 1, n <= 64 else {
                throw .invalidMetadata(
                    path: path, field: field, reason: "needs \(n == 0 ? "some" : "\(n)") float(s) (at most 64)")
            }
            return Array(UnsafeBufferPointer(start: p, count: n))
        }
        switch type {
        case .int: return .int(try ints(1)[0])
        case .bool:
            let b = try ints(1)[0]
            guard b == 0 || b == 1 else {
                throw .invalidMetadata(path: path, field: field, reason: "bool \(b) is not 0 or 1")
            }
            return .bool(b == 1)
        case .float: return .float(try floats(1)[0])
        case .string: return .string(try string(v.string, field: field))
        case .intList: return .intList(try ints(count))
        case .floatList: return .floatList(try floats(count))
        }
    }
}
