/// JSON values written back through `Encodable`, and compared by meaning.
extension StrictJSON.Value {
    /// The value in a canonical form, for comparing two descriptions by meaning: every object's members sorted by
    /// key (JSON objects are unordered) and every number spelled as the writer above spells it once read back
    /// (JSON does not tell `4.0` from `4` or `1e2` from `100`; the encoder writes an integral double as an integer).
    package var canonical: StrictJSON.Value {
        switch self {
        case .object(let members):
            .object(
                members.map { StrictJSON.Member(key: $0.key, value: $0.value.canonical) }.sorted { $0.key < $1.key })
        case .array(let items): .array(items.map(\.canonical))
        case .number(let text): .number(Self.canonicalNumber(text))
        default: self
        }
    }

    /// `text` (valid JSON number grammar) as an integer when it has an integral value within Int64, else as the
    /// shortest spelling of its double.
    private static func canonicalNumber(_ text: String) -> String {
        if let integer = Int64(text) { return String(integer) }
        guard let value = Double(text) else { return text }
        if value == value.rounded(), let integer = Int64(exactly: value) { return String(integer) }
        return String(value)
    }
}

extension StrictJSON.Value: Encodable {
    package func encode(to encoder: any Encoder) throws {
        switch self {
        case .object(let members):
            var container = encoder.container(keyedBy: MemberKey.self)
            for member in members { try container.encode(member.value, forKey: MemberKey(member.key)) }
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(item) }
        case .string(let s):
            var container = encoder.singleValueContainer()
            try container.encode(s)
        case .number(let text):
            var container = encoder.singleValueContainer()
            if let integer = Int64(text) {
                try container.encode(integer)
            } else {
                // StrictJSON validated the number grammar, so Double parses it (rounding as JSON readers do).
                try container.encode(Double(text) ?? 0)
            }
        case .bool(let b):
            var container = encoder.singleValueContainer()
            try container.encode(b)
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        }
    }

    /// An object member's key.
    private struct MemberKey: CodingKey {
        let stringValue: String
        init(_ key: String) { stringValue = key }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}
