import Foundation

/// The type of an operator attribute, as the ABI's `OZ_ATTR_*` codes name it.
public enum AttributeType: UInt32, Sendable, CustomStringConvertible, Codable {
    case int = 1, float = 2, bool = 3, string = 4, intList = 5, floatList = 6

    public var description: String {
        switch self {
        case .int: "int"
        case .float: "float"
        case .bool: "bool"
        case .string: "string"
        case .intList: "int list"
        case .floatList: "float list"
        }
    }
}

/// A typed attribute value (`oz_attr_value`).
public enum AttributeValue: Equatable, Hashable, Sendable, CustomStringConvertible {
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case intList([Int64])
    case floatList([Double])

    /// The value's type.
    public var type: AttributeType {
        switch self {
        case .int: .int
        case .float: .float
        case .bool: .bool
        case .string: .string
        case .intList: .intList
        case .floatList: .floatList
        }
    }

    /// The value in the `--set NAME=VALUE` syntax (tuples comma-separated, booleans `true`/`false`).
    public var description: String {
        switch self {
        case .int(let v): "\(v)"
        case .float(let v): "\(v)"
        case .bool(let v): v ? "true" : "false"
        case .string(let v): v
        case .intList(let v): v.map(String.init).joined(separator: ",")
        case .floatList(let v): v.map { "\($0)" }.joined(separator: ",")
        }
    }
}

/// One entry of an operator's attribute schema (`oz_attr_def`): name, type, default, bounds and doc.
public struct AttributeSchema: Sendable, Equatable {
    public let name: String
    public let type: AttributeType
    public let doc: String
    public let defaultValue: AttributeValue
    /// Inclusive bounds on ints (and int-list elements), when the operator declares them.
    public let intRange: ClosedRange<Int64>?
    /// Inclusive bounds on floats (and float-list elements), when the operator declares them.
    public let floatRange: ClosedRange<Double>?
    /// Required element count of a list, when fixed.
    public let listLength: Int?
    /// Allowed values of a string, when restricted.
    public let choices: [String]?

    public init(
        name: String, type: AttributeType, doc: String, defaultValue: AttributeValue,
        intRange: ClosedRange<Int64>? = nil, floatRange: ClosedRange<Double>? = nil, listLength: Int? = nil,
        choices: [String]? = nil
    ) {
        self.name = name
        self.type = type
        self.doc = doc
        self.defaultValue = defaultValue
        self.intRange = intRange
        self.floatRange = floatRange
        self.listLength = listLength
        self.choices = choices
    }

    /// Parses `text` in the `--set` syntax: `8`, `0.5`, `true`/`false`, `shift`, `4,4` or `(4, 4)`.
    public func parse(_ text: String) throws(AttributeError) -> AttributeValue {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        func elements() -> [String] {
            var body = Substring(trimmed)
            if body.hasPrefix("(") && body.hasSuffix(")") || body.hasPrefix("[") && body.hasSuffix("]") {
                body = body.dropFirst().dropLast()
            }
            return body.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
        }
        let value: AttributeValue?
        switch type {
        case .int: value = Int64(trimmed).map(AttributeValue.int)
        case .float: value = Double(trimmed).map(AttributeValue.float)
        case .bool:
            switch trimmed.lowercased() {
            case "true": value = .bool(true)
            case "false": value = .bool(false)
            default: value = nil
            }
        case .string: value = .string(trimmed)
        case .intList:
            let parts = elements().map { Int64($0) }
            value = parts.allSatisfy({ $0 != nil }) && !parts.isEmpty ? .intList(parts.map { $0! }) : nil
        case .floatList:
            let parts = elements().map { Double($0) }
            value = parts.allSatisfy({ $0 != nil }) && !parts.isEmpty ? .floatList(parts.map { $0! }) : nil
        }
        guard let value else {
            throw .unparsable(name: name, text: text, expected: expectedSyntax)
        }
        try validate(value)
        return value
    }

    /// Checks a value's type, bounds, list length and choices against this schema.
    public func validate(_ value: AttributeValue) throws(AttributeError) {
        var value = value
        // An int is a fine float, and an int list a fine float list.
        if type == .float, case .int(let v) = value { value = .float(Double(v)) }
        if type == .floatList, case .intList(let v) = value { value = .floatList(v.map(Double.init)) }
        guard value.type == type else {
            throw .wrongType(name: name, expected: type, found: value.type)
        }
        switch value {
        case .int(let v):
            if let r = intRange, !r.contains(v) { throw .outOfRange(name: name, value: "\(v)", range: "\(r)") }
        case .float(let v):
            if !v.isFinite { throw .outOfRange(name: name, value: "\(v)", range: "finite numbers") }
            if let r = floatRange, !r.contains(v) { throw .outOfRange(name: name, value: "\(v)", range: "\(r)") }
        case .intList(let vs):
            try checkLength(vs.count)
            if let r = intRange, let bad = vs.first(where: { !r.contains($0) }) {
                throw .outOfRange(name: name, value: "\(bad)", range: "\(r)")
            }
        case .floatList(let vs):
            try checkLength(vs.count)
            if let bad = vs.first(where: { !$0.isFinite || !(floatRange?.contains($0) ?? true) }) {
                throw .outOfRange(name: name, value: "\(bad)", range: floatRange.map { "\($0)" } ?? "finite numbers")
            }
        case .string(let s):
            if let choices, !choices.contains(s) { throw .notAChoice(name: name, value: s, choices: choices) }
        case .bool: break
        }
    }

    /// The value converted to this schema's type (an int given for a float attribute becomes a float).
    public func normalized(_ value: AttributeValue) -> AttributeValue {
        switch (type, value) {
        case (.float, .int(let v)): .float(Double(v))
        case (.floatList, .intList(let v)): .floatList(v.map(Double.init))
        default: value
        }
    }

    private func checkLength(_ count: Int) throws(AttributeError) {
        if count == 0 { throw .wrongLength(name: name, expected: listLength ?? 1, found: 0) }
        if let listLength, count != listLength { throw .wrongLength(name: name, expected: listLength, found: count) }
    }

    private var expectedSyntax: String {
        switch type {
        case .int: "an integer"
        case .float: "a number"
        case .bool: "true or false"
        case .string: choices.map { "one of \($0.joined(separator: ", "))" } ?? "a string"
        case .intList: "comma-separated integers\(listLength.map { " (\($0) of them)" } ?? "")"
        case .floatList: "comma-separated numbers\(listLength.map { " (\($0) of them)" } ?? "")"
        }
    }
}

/// Why an attribute value was refused. Every case names the attribute.
public enum AttributeError: Error, Equatable, CustomStringConvertible {
    case unknown(name: String, operatorId: String, known: [String])
    case unparsable(name: String, text: String, expected: String)
    case wrongType(name: String, expected: AttributeType, found: AttributeType)
    case outOfRange(name: String, value: String, range: String)
    case wrongLength(name: String, expected: Int, found: Int)
    case notAChoice(name: String, value: String, choices: [String])
    case malformedAssignment(text: String)

    public var description: String {
        switch self {
        case .unknown(let name, let op, let known):
            "operator '\(op)' has no attribute '\(name)' (it has: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
        case .unparsable(let name, let text, let expected):
            "attribute '\(name)': cannot read '\(text)' as \(expected)"
        case .wrongType(let name, let expected, let found):
            "attribute '\(name)' must be of type \(expected), got \(found)"
        case .outOfRange(let name, let value, let range):
            "attribute '\(name)' = \(value) is out of range (allowed: \(range))"
        case .wrongLength(let name, let expected, let found):
            "attribute '\(name)' needs \(expected) element(s), got \(found)"
        case .notAChoice(let name, let value, let choices):
            "attribute '\(name)' = '\(value)' is not one of: \(choices.joined(separator: ", "))"
        case .malformedAssignment(let text):
            "'\(text)' is not of the form NAME=VALUE"
        }
    }
}
