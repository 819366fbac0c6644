import Foundation

extension StrictJSON {
    /// Parses a whole JSON document into the Foundation values `JSONSerialization.jsonObject(with:)` gives
    /// (`[String: Any]`, `[Any]`, `String`, `NSNumber`, `NSNull`), with this parser's strictness: duplicate keys
    /// are refused, nesting is limited, errors carry byte offsets, and numbers are rounded correctly.
    ///
    /// The last point is why the config, plan and registry readers use it. Foundation's `JSONSerialization` on
    /// Linux (Swift 6.3.1) rounds some 17-digit numbers one unit in the last place wrong (`0.18888888888888897`
    /// reads as `0.18888888888888894`), so a value our own JSON writers print did not read back as itself (the
    /// model config fuzz target found it). Here integers that fit become `Int` numbers and every other number
    /// goes through Swift's `Double(_:)`, which is correctly rounded (`1e400` becomes infinity, for the
    /// readers' range checks to refuse); booleans are `NSNumber`s of type `c`, as `JSONSerialization` makes them.
    /// - Throws: ``ParseError`` for text that is not UTF-8 or not JSON, or repeats a key.
    package static func foundationObject(_ data: Data) throws(ParseError) -> Any {
        guard String(data: data, encoding: .utf8) != nil else {
            throw .syntax(offset: 0, message: "the text is not valid UTF-8")
        }
        let value = try data.withUnsafeBytes { bytes in Result { () throws(ParseError) in try parse(bytes) } }.get()
        return foundation(value)
    }

    private static func foundation(_ value: Value) -> Any {
        switch value {
        case .object(let members):
            var dictionary: [String: Any] = [:]
            for member in members { dictionary[member.key] = foundation(member.value) }
            return dictionary
        case .array(let items): return items.map(foundation)
        case .string(let text): return text
        case .number(let text):
            if let integer = Int(text) { return NSNumber(value: integer) }
            return NSNumber(value: Double(text) ?? .nan)  // the grammar was checked: Double(_:) always parses it
        case .bool(let flag): return NSNumber(value: flag)
        case .null: return NSNull()
        }
    }
}

extension StrictJSON.ParseError: CustomStringConvertible {
    /// One phrase: what is wrong and at which byte.
    package var description: String {
        switch self {
        case .syntax(let offset, let message): "\(message) (at byte \(offset))"
        case .duplicateKey(let key, let context, let offset):
            "key '\(key)' appears twice in \(context) (at byte \(offset))"
        }
    }
}
