/// A Python literal as written in a `.npy` header (`repr` of a dict of strings, booleans and int tuples).
///
/// The parser accepts the subset of Python literal syntax that numpy and other writers produce, and is
/// tolerant where Python is: any whitespace between tokens, trailing commas in dicts, tuples and lists,
/// single or double quotes, `(3,)` one-tuples, `()` empty tuples, `1_000` digit separators and Python 2's
/// `3L` long suffix. Integers are kept as their decimal text so that oversized values are reported, not
/// truncated. Nesting is limited, so hostile input cannot exhaust the stack.
enum PythonLiteral: Equatable {
    case string(String)
    /// Decimal digits with an optional leading `-` (a `+`, `_` separators and an `L` suffix are removed).
    case integer(String)
    case bool(Bool)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    /// Key-value pairs in source order (duplicates are rejected by the parser).
    case dict([DictEntry])

    /// One `key: value` pair of a dict literal.
    struct DictEntry: Equatable {
        let key: String
        let value: PythonLiteral
    }

    /// A short description of the value's type, for error messages.
    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .bool: "a boolean"
        case .none: "None"
        case .tuple: "a tuple"
        case .list: "a list"
        case .dict: "a dict"
        }
    }

    /// The value written back as Python source (for error messages).
    var source: String {
        switch self {
        case .string(let s): "'\(s)'"
        case .integer(let digits): digits
        case .bool(let b): b ? "True" : "False"
        case .none: "None"
        case .tuple(let items):
            items.count == 1 ? "(\(items[0].source),)" : "(\(items.map(\.source).joined(separator: ", ")))"
        case .list(let items): "[\(items.map(\.source).joined(separator: ", "))]"
        case .dict(let entries): "{\(entries.map { "'\($0.key)': \($0.value.source)" }.joined(separator: ", "))}"
        }
    }

    /// Parses `bytes` as one literal followed only by whitespace.
    static func parse(_ bytes: [UInt8]) throws(PythonLiteralError) -> PythonLiteral {
        var parser = PythonLiteralParser(bytes: bytes)
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.position < bytes.count {
            throw parser.failure("unexpected \(parser.describeCurrent()) after the end of the literal")
        }
        return value
    }
}

/// Why a Python literal could not be parsed, and where (a byte offset into the header).
struct PythonLiteralError: Error, Equatable, CustomStringConvertible {
    let offset: Int
    let message: String

    var description: String { "\(message) (at byte \(offset) of the header)" }
}

/// A recursive-descent parser over the header bytes.
private struct PythonLiteralParser {
    let bytes: [UInt8]
    var position = 0
    static let maximumDepth = 32

    init(bytes: [UInt8]) { self.bytes = bytes }

    func failure(_ message: String) -> PythonLiteralError {
        PythonLiteralError(offset: position, message: message)
    }

    func describeCurrent() -> String {
        guard position < bytes.count else { return "end of header" }
        let byte = bytes[position]
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16, uppercase: true))"
    }

    mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D, 0x0C, 0x0B].contains(bytes[position]) {
            position += 1
        }
    }

    mutating func parseValue(depth: Int) throws(PythonLiteralError) -> PythonLiteral {
        guard depth < Self.maximumDepth else { throw failure("literal nested deeper than \(Self.maximumDepth) levels") }
        skipWhitespace()
        guard position < bytes.count else { throw failure("expected a value, found the end of the header") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseDict(depth: depth)
        case UInt8(ascii: "("): return try parseTuple(depth: depth)
        case UInt8(ascii: "["):
            position += 1
            return .list(try parseItems(closing: UInt8(ascii: "]"), depth: depth))
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "u"), UInt8(ascii: "U"), UInt8(ascii: "b"), UInt8(ascii: "B"):
            if position + 1 < bytes.count,
                bytes[position + 1] == UInt8(ascii: "'") || bytes[position + 1] == UInt8(ascii: "\"")
            {
                position += 1
                return .string(try parseString())
            }
            return try parseName()
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseInteger()
        default:
            return try parseName()
        }
    }

    mutating func parseDict(depth: Int) throws(PythonLiteralError) -> PythonLiteral {
        position += 1  // {
        var entries: [PythonLiteral.DictEntry] = []
        var seen: Set<String> = []
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw failure("unterminated dict: expected '}'") }
            if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .dict(entries)
            }
            let keyOffset = position
            let key = try parseValue(depth: depth + 1)
            guard case .string(let name) = key else {
                throw PythonLiteralError(offset: keyOffset, message: "dict key must be a string, found \(key.typeName)")
            }
            guard !seen.contains(name) else {
                throw PythonLiteralError(offset: keyOffset, message: "duplicate dict key '\(name)'")
            }
            seen.insert(name)
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw failure("expected ':' after dict key '\(name)', found \(describeCurrent())")
            }
            position += 1
            let value = try parseValue(depth: depth + 1)
            entries.append(.init(key: name, value: value))
            skipWhitespace()
            guard position < bytes.count else { throw failure("unterminated dict: expected ',' or '}'") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] != UInt8(ascii: "}") {
                throw failure("expected ',' or '}' in dict, found \(describeCurrent())")
            }
        }
    }

    /// `(x)` is `x` in Python; `()` and anything with a comma is a tuple.
    mutating func parseTuple(depth: Int) throws(PythonLiteralError) -> PythonLiteral {
        position += 1  // (
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: ")") {
            position += 1
            return .tuple([])
        }
        let first = try parseValue(depth: depth + 1)
        skipWhitespace()
        guard position < bytes.count else { throw failure("unterminated tuple: expected ')'") }
        if bytes[position] == UInt8(ascii: ")") {
            position += 1
            return first  // parenthesised expression, not a tuple
        }
        guard bytes[position] == UInt8(ascii: ",") else {
            throw failure("expected ',' or ')' in tuple, found \(describeCurrent())")
        }
        position += 1
        return .tuple([first] + (try parseItems(closing: UInt8(ascii: ")"), depth: depth)))
    }

    /// Comma-separated values up to `closing` (consumed), trailing comma allowed.
    mutating func parseItems(closing: UInt8, depth: Int) throws(PythonLiteralError) -> [PythonLiteral] {
        var items: [PythonLiteral] = []
        let close = Character(Unicode.Scalar(closing))
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw failure("unterminated sequence: expected '\(close)'") }
            if bytes[position] == closing {
                position += 1
                return items
            }
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard position < bytes.count else { throw failure("unterminated sequence: expected '\(close)'") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] != closing {
                throw failure("expected ',' or '\(close)', found \(describeCurrent())")
            }
        }
    }

    mutating func parseString() throws(PythonLiteralError) -> String {
        let start = position
        let quote = bytes[position]
        position += 1
        var content: [UInt8] = []
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            if byte == quote {
                return String(decoding: content, as: UTF8.self)
            }
            if byte == 0x0A || byte == 0x0D {
                break
            }
            guard byte == UInt8(ascii: "\\") else {
                content.append(byte)
                continue
            }
            guard position < bytes.count else { break }
            let escaped = bytes[position]
            position += 1
            switch escaped {
            case UInt8(ascii: "n"): content.append(0x0A)
            case UInt8(ascii: "t"): content.append(0x09)
            case UInt8(ascii: "r"): content.append(0x0D)
            case UInt8(ascii: "0"): content.append(0x00)
            case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): content.append(escaped)
            case UInt8(ascii: "x"):
                guard position + 2 <= bytes.count,
                    let value = UInt8(String(decoding: bytes[position..<position + 2], as: UTF8.self), radix: 16)
                else { throw failure("invalid \\x escape in string") }
                position += 2
                content.append(contentsOf: String(Character(Unicode.Scalar(value))).utf8)
            default:
                // Python keeps unknown escapes verbatim.
                content.append(UInt8(ascii: "\\"))
                content.append(escaped)
            }
        }
        throw PythonLiteralError(offset: start, message: "unterminated string literal")
    }

    mutating func parseInteger() throws(PythonLiteralError) -> PythonLiteral {
        let start = position
        var negative = false
        if bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: "+") {
            negative = bytes[position] == UInt8(ascii: "-")
            position += 1
            skipWhitespace()  // Python allows "- 3"
        }
        var digits = ""
        var lastWasDigit = false
        while position < bytes.count {
            let byte = bytes[position]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits.append(Character(Unicode.Scalar(byte)))
                lastWasDigit = true
            } else if byte == UInt8(ascii: "_") && lastWasDigit {
                lastWasDigit = false
            } else {
                break
            }
            position += 1
        }
        guard !digits.isEmpty, lastWasDigit else {
            throw PythonLiteralError(offset: start, message: "malformed integer")
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "L") || bytes[position] == UInt8(ascii: "l") {
            position += 1  // Python 2 long suffix, as numpy's own reader tolerates
        }
        if position < bytes.count,
            [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "j")].contains(bytes[position])
        {
            throw PythonLiteralError(offset: start, message: "expected an integer, found a non-integer number")
        }
        // Canonical form: no leading zeros, so later length checks and conversions are meaningful.
        let trimmed = digits.drop { $0 == "0" }
        let magnitude = trimmed.isEmpty ? "0" : String(trimmed)
        return .integer(negative && magnitude != "0" ? "-" + magnitude : magnitude)
    }

    mutating func parseName() throws(PythonLiteralError) -> PythonLiteral {
        let start = position
        while position < bytes.count,
            (bytes[position] >= UInt8(ascii: "a") && bytes[position] <= UInt8(ascii: "z"))
                || (bytes[position] >= UInt8(ascii: "A") && bytes[position] <= UInt8(ascii: "Z"))
                || (bytes[position] >= UInt8(ascii: "0") && bytes[position] <= UInt8(ascii: "9"))
                || bytes[position] == UInt8(ascii: "_")
        {
            position += 1
        }
        let name = String(decoding: bytes[start..<position], as: UTF8.self)
        switch name {
        case "True": return .bool(true)
        case "False": return .bool(false)
        case "None": return .none
        case "":
            throw PythonLiteralError(offset: start, message: "expected a value, found \(describeCurrent())")
        default:
            throw PythonLiteralError(
                offset: start,
                message: "unexpected name '\(name)' (only True, False and None are literals)"
            )
        }
    }
}
