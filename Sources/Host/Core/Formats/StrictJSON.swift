/// A small, strict RFC 8259 JSON parser for file headers that may be hostile (the safetensors header).
///
/// Unlike `JSONSerialization` it keeps object members in source order, rejects duplicate keys (instead of
/// silently keeping one), keeps numbers as their source text (so `18446744073709551615` or `3.0` are
/// reported exactly, never rounded through `Double`), limits nesting depth, and reports byte offsets.
/// The input must already be valid UTF-8.
package enum StrictJSON {
    /// A parsed JSON value.
    package indirect enum Value: Equatable, Sendable {
        case object([Member])
        case array([Value])
        case string(String)
        /// The number's source text, validated against the JSON number grammar.
        case number(String)
        case bool(Bool)
        case null

        /// A short description of the value's type, for error messages.
        package var typeName: String {
            switch self {
            case .object: "an object"
            case .array: "an array"
            case .string: "a string"
            case .number: "a number"
            case .bool: "a boolean"
            case .null: "null"
            }
        }

        /// The value as compact JSON, at most about `limit` characters (for error messages).
        package func source(limit: Int = 80) -> String {
            let full: String
            switch self {
            case .object(let members):
                full =
                    "{"
                    + members.map { StrictJSON.quote($0.key) + ": " + $0.value.source(limit: limit) }
                    .joined(separator: ", ") + "}"
            case .array(let items): full = "[" + items.map { $0.source(limit: limit) }.joined(separator: ", ") + "]"
            case .string(let s): full = StrictJSON.quote(s)
            case .number(let text): full = text
            case .bool(let b): full = b ? "true" : "false"
            case .null: full = "null"
            }
            return full.count > limit ? String(full.prefix(limit)) + "..." : full
        }
    }

    /// One `"key": value` member of an object.
    package struct Member: Equatable, Sendable {
        package let key: String
        package let value: Value

        package init(key: String, value: Value) {
            self.key = key
            self.value = value
        }
    }

    /// Why the text is not acceptable JSON.
    package enum ParseError: Error, Equatable {
        /// A grammar violation at a byte offset.
        case syntax(offset: Int, message: String)
        /// The same key twice in one object; `context` names the object (`the top-level object` or a key path).
        case duplicateKey(key: String, context: String, offset: Int)
    }

    /// Maximum nesting of arrays and objects.
    package static let maximumDepth = 64

    /// Parses `bytes` as exactly one JSON value surrounded by optional whitespace.
    package static func parse(_ bytes: UnsafeRawBufferPointer) throws(ParseError) -> Value {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0, path: [])
        parser.skipWhitespace()
        if parser.position < bytes.count {
            throw parser.syntax("unexpected \(parser.describeCurrent()) after the end of the JSON value")
        }
        return value
    }

    /// `s` as a JSON string literal: quotes, backslashes and control characters escaped; other characters kept.
    package static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func syntax(_ message: String) -> ParseError { .syntax(offset: position, message: message) }

        func describeCurrent() -> String {
            guard position < bytes.count else { return "end of input" }
            let byte = bytes[position]
            if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
            return "byte 0x\(String(byte, radix: 16, uppercase: true))"
        }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: String, value: Value) throws(ParseError) -> Value {
            let expected = Array(literal.utf8)
            let matches =
                position + expected.count <= bytes.count
                && bytes[position..<position + expected.count].elementsEqual(expected)
            guard matches else { throw syntax("expected a JSON value, found \(describeCurrent())") }
            position += expected.count
            return value
        }

        mutating func parseValue(depth: Int, path: [String]) throws(ParseError) -> Value {
            guard position < bytes.count else { throw syntax("expected a JSON value, found the end of input") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1, path: path)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1, path: path)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): return try expect("true", value: .bool(true))
            case UInt8(ascii: "f"): return try expect("false", value: .bool(false))
            case UInt8(ascii: "n"): return try expect("null", value: .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw syntax("expected a JSON value, found \(describeCurrent())")
            }
        }

        mutating func parseObject(depth: Int, path: [String]) throws(ParseError) -> Value {
            guard depth <= StrictJSON.maximumDepth else {
                throw syntax("JSON nested deeper than \(StrictJSON.maximumDepth) levels")
            }
            position += 1  // {
            var members: [Member] = []
            var seen: Set<String> = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object([])
            }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw syntax("expected a string key in object, found \(describeCurrent())")
                }
                let keyOffset = position
                let key = try parseString()
                guard seen.insert(key).inserted else {
                    let context =
                        path.isEmpty
                        ? "the top-level object"
                        : "the object at " + path.map { StrictJSON.quote($0) }.joined(separator: ".")
                    throw .duplicateKey(key: key, context: context, offset: keyOffset)
                }
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                    throw syntax("expected ':' after key \(StrictJSON.quote(key)), found \(describeCurrent())")
                }
                position += 1
                skipWhitespace()
                members.append(Member(key: key, value: try parseValue(depth: depth, path: path + [key])))
                skipWhitespace()
                guard position < bytes.count else { throw syntax("unterminated object: expected ',' or '}'") }
                switch bytes[position] {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"):
                    position += 1
                    return .object(members)
                default: throw syntax("expected ',' or '}' in object, found \(describeCurrent())")
                }
            }
        }

        mutating func parseArray(depth: Int, path: [String]) throws(ParseError) -> Value {
            guard depth <= StrictJSON.maximumDepth else {
                throw syntax("JSON nested deeper than \(StrictJSON.maximumDepth) levels")
            }
            position += 1  // [
            var items: [Value] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array([])
            }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth, path: path))
                skipWhitespace()
                guard position < bytes.count else { throw syntax("unterminated array: expected ',' or ']'") }
                switch bytes[position] {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"):
                    position += 1
                    return .array(items)
                default: throw syntax("expected ',' or ']' in array, found \(describeCurrent())")
                }
            }
        }

        mutating func parseString() throws(ParseError) -> String {
            let start = position
            position += 1  // opening quote
            var result = ""
            var runStart = position
            func flushRun(_ end: Int) {
                if end > runStart {
                    result += String(decoding: UnsafeRawBufferPointer(rebasing: bytes[runStart..<end]), as: UTF8.self)
                }
            }
            while position < bytes.count {
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "\""):
                    flushRun(position)
                    position += 1
                    return result
                case UInt8(ascii: "\\"):
                    flushRun(position)
                    position += 1
                    guard position < bytes.count else { break }
                    let escaped = bytes[position]
                    position += 1
                    switch escaped {
                    case UInt8(ascii: "\""): result += "\""
                    case UInt8(ascii: "\\"): result += "\\"
                    case UInt8(ascii: "/"): result += "/"
                    case UInt8(ascii: "b"): result += "\u{08}"
                    case UInt8(ascii: "f"): result += "\u{0C}"
                    case UInt8(ascii: "n"): result += "\n"
                    case UInt8(ascii: "r"): result += "\r"
                    case UInt8(ascii: "t"): result += "\t"
                    case UInt8(ascii: "u"): result.unicodeScalars.append(try parseUnicodeEscape())
                    default:
                        position -= 1
                        throw syntax("invalid escape '\\\(Character(Unicode.Scalar(escaped)))' in string")
                    }
                    runStart = position
                case 0x00..<0x20:
                    throw syntax("unescaped control character 0x\(String(byte, radix: 16)) in string")
                default:
                    position += 1
                }
            }
            throw ParseError.syntax(offset: start, message: "unterminated string")
        }

        /// After `\u`: four hex digits, or a surrogate pair written as two escapes.
        mutating func parseUnicodeEscape() throws(ParseError) -> Unicode.Scalar {
            let high = try parseHex4()
            if (0xD800..<0xDC00).contains(high) {
                guard position + 2 <= bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                else { throw syntax("unpaired UTF-16 surrogate \\u\(String(high, radix: 16)) in string") }
                position += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else {
                    throw syntax("invalid UTF-16 surrogate pair in string")
                }
                let value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                guard let scalar = Unicode.Scalar(value) else { throw syntax("invalid code point in string") }
                return scalar
            }
            guard let scalar = Unicode.Scalar(high) else {
                throw syntax("unpaired UTF-16 surrogate \\u\(String(high, radix: 16)) in string")
            }
            return scalar
        }

        mutating func parseHex4() throws(ParseError) -> UInt32 {
            guard position + 4 <= bytes.count else { throw syntax("truncated \\u escape in string") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw syntax("invalid hex digit in \\u escape")
                }
                value = value << 4 | UInt32(digit)
                position += 1
            }
            return value
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        mutating func parseNumber() throws(ParseError) -> Value {
            let start = position
            func digits() -> Int {
                let first = position
                while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9")
                {
                    position += 1
                }
                return position - first
            }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            let integerStart = position
            let integerDigits = digits()
            guard integerDigits > 0 else { throw syntax("expected digits in number") }
            if integerDigits > 1, bytes[integerStart] == UInt8(ascii: "0") {
                throw ParseError.syntax(offset: start, message: "number with a leading zero")
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw syntax("expected digits after '.' in number") }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")
                {
                    position += 1
                }
                guard digits() > 0 else { throw syntax("expected digits in number exponent") }
            }
            return .number(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self))
        }
    }
}
