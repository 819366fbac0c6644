import OperatorABI

/// A typed attribute value as a Swift plugin sees it.
public enum AttributeValue: Sendable, Equatable, CustomStringConvertible {
    case int(Int64), float(Double), bool(Bool), string(String), intList([Int64]), floatList([Double])

    var code: UInt32 {
        switch self {
        case .int: UInt32(OZ_ATTR_INT)
        case .float: UInt32(OZ_ATTR_FLOAT)
        case .bool: UInt32(OZ_ATTR_BOOL)
        case .string: UInt32(OZ_ATTR_STRING)
        case .intList: UInt32(OZ_ATTR_INT_LIST)
        case .floatList: UInt32(OZ_ATTR_FLOAT_LIST)
        }
    }

    public var description: String {
        switch self {
        case .int(let v): "\(v)"
        case .float(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .string(let v): "'\(v)'"
        case .intList(let v): "(\(v.map(String.init).joined(separator: ", ")))"
        case .floatList(let v): "(\(v.map { "\($0)" }.joined(separator: ", ")))"
        }
    }
}

/// One entry of an operator's attribute schema (becomes an `oz_attr_def`).
public struct AttributeSpec: Sendable {
    public let name: String
    public let doc: String
    public let defaultValue: AttributeValue
    public let intRange: ClosedRange<Int64>?
    public let floatRange: ClosedRange<Double>?
    public let listLength: Int?
    public let choices: [String]?

    public init(
        _ name: String, default defaultValue: AttributeValue, doc: String, intRange: ClosedRange<Int64>? = nil,
        floatRange: ClosedRange<Double>? = nil, listLength: Int? = nil, choices: [String]? = nil
    ) {
        self.name = name
        self.doc = doc
        self.defaultValue = defaultValue
        self.intRange = intRange
        self.floatRange = floatRange
        self.listLength = listLength
        self.choices = choices
    }

    /// Checks a value against type, bounds, length and choices; the message names the attribute.
    func validate(_ value: AttributeValue) throws(PluginFailure) {
        guard value.code == defaultValue.code else {
            throw .invalid("attribute '\(name)' has type code \(value.code), expected \(defaultValue.code)")
        }
        func checkInts(_ values: [Int64]) throws(PluginFailure) {
            if let r = intRange, let bad = values.first(where: { !r.contains($0) }) {
                throw .invalid("attribute '\(name)' = \(bad) is out of range \(r.lowerBound)...\(r.upperBound)")
            }
        }
        func checkFloats(_ values: [Double]) throws(PluginFailure) {
            if let bad = values.first(where: { !$0.isFinite || !(floatRange?.contains($0) ?? true) }) {
                throw .invalid(
                    "attribute '\(name)' = \(bad) is out of range \(floatRange.map { "\($0)" } ?? "(finite)")")
            }
        }
        func checkLength(_ n: Int) throws(PluginFailure) {
            if n == 0 || (listLength != nil && n != listLength) {
                throw .invalid("attribute '\(name)' has \(n) elements, expected \(listLength ?? 1)")
            }
        }
        switch value {
        case .int(let v): try checkInts([v])
        case .float(let v): try checkFloats([v])
        case .intList(let v):
            try checkLength(v.count)
            try checkInts(v)
        case .floatList(let v):
            try checkLength(v.count)
            try checkFloats(v)
        case .string(let s):
            if let choices, !choices.contains(s) {
                throw .invalid("attribute '\(name)' = '\(s)' is not one of \(choices.joined(separator: ", "))")
            }
        case .bool: break
        }
    }
}

/// What an instance is created with: model width, grid and attribute values (defaults filled in).
public struct KernelConfig {
    public let dim: Int
    public let gridHeight: Int
    public let gridWidth: Int
    public let attributes: [String: AttributeValue]
    public let parallel: ParallelFor

    public func int(_ name: String) -> Int64 {
        if case .int(let v) = attributes[name] { return v }
        return 0
    }

    public func double(_ name: String) -> Double {
        if case .float(let v) = attributes[name] { return v }
        return 0
    }

    public func bool(_ name: String) -> Bool {
        if case .bool(let v) = attributes[name] { return v }
        return false
    }

    public func string(_ name: String) -> String {
        if case .string(let v) = attributes[name] { return v }
        return ""
    }

    public func intList(_ name: String) -> [Int64] {
        if case .intList(let v) = attributes[name] { return v }
        return []
    }
}
