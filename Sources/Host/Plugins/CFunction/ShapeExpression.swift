/// An integer expression over named sizes: a parameter dimension (`"2*D"`), a workspace size (`"B*L*D"`) or
/// a receptive-field bound (`"(kernel_size-1)/2"`) of a `cfunction` description.
///
/// Grammar (whitespace is free; `/` and `%` truncate towards zero, as C does):
/// ```
/// expr   := term (('+' | '-') term)*
/// term   := factor (('*' | '/' | '%') factor)*
/// factor := INTEGER | NAME | '(' expr ')'
/// ```
/// Names are `[A-Za-z_][A-Za-z0-9_]*`; which ones are allowed depends on where the expression stands.
public indirect enum ShapeExpression: Sendable, Hashable, CustomStringConvertible {
    case constant(Int64)
    case variable(String)
    case binary(Character, ShapeExpression, ShapeExpression)

    /// Longest source text accepted.
    public static let maximumLength = 256
    /// Deepest parenthesis nesting accepted.
    public static let maximumDepth = 16

    /// Why an expression did not parse or evaluate (the caller adds where it stands).
    public struct Failure: Error, Equatable {
        public let reason: String
    }

    /// Parses `text`.
    public static func parse(_ text: String) throws(Failure) -> ShapeExpression {
        guard text.utf8.count <= maximumLength else {
            throw Failure(reason: "longer than \(maximumLength) characters")
        }
        var parser = Parser(bytes: Array(text.utf8))
        let expression = try parser.expression(depth: 0)
        parser.skipSpaces()
        guard parser.position == parser.bytes.count else {
            throw Failure(reason: "unexpected '\(parser.current)' at character \(parser.position + 1)")
        }
        return expression
    }

    /// Every name the expression uses.
    public var variables: Set<String> {
        switch self {
        case .constant: []
        case .variable(let name): [name]
        case .binary(_, let a, let b): a.variables.union(b.variables)
        }
    }

    /// The value, with `values` for the names.
    /// - Throws: ``Failure`` for an unknown name, a division by zero or an Int64 overflow.
    public func evaluate(_ values: [String: Int64]) throws(Failure) -> Int64 {
        switch self {
        case .constant(let v): return v
        case .variable(let name):
            guard let v = values[name] else { throw Failure(reason: "'\(name)' has no value here") }
            return v
        case .binary(let op, let a, let b):
            let (x, y) = (try a.evaluate(values), try b.evaluate(values))
            let result: (partialValue: Int64, overflow: Bool)
            switch op {
            case "+": result = x.addingReportingOverflow(y)
            case "-": result = x.subtractingReportingOverflow(y)
            case "*": result = x.multipliedReportingOverflow(by: y)
            default:
                guard y != 0 else { throw Failure(reason: "division by zero in '\(self)'") }
                result = op == "/" ? x.dividedReportingOverflow(by: y) : x.remainderReportingOverflow(dividingBy: y)
            }
            guard !result.overflow else { throw Failure(reason: "'\(self)' overflows 64-bit integers") }
            return result.partialValue
        }
    }

    public var description: String {
        switch self {
        case .constant(let v): "\(v)"
        case .variable(let name): name
        case .binary(let op, let a, let b): "(\(a) \(op) \(b))"
        }
    }

    /// A recursive-descent parser over the UTF-8 bytes.
    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        var current: String {
            position < bytes.count ? String(decoding: [bytes[position]], as: UTF8.self) : "end of text"
        }

        mutating func skipSpaces() {
            while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
        }

        mutating func peek() -> UInt8? {
            skipSpaces()
            return position < bytes.count ? bytes[position] : nil
        }

        mutating func expression(depth: Int) throws(Failure) -> ShapeExpression {
            var lhs = try term(depth: depth)
            while let c = peek(), c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                position += 1
                lhs = .binary(Character(UnicodeScalar(c)), lhs, try term(depth: depth))
            }
            return lhs
        }

        mutating func term(depth: Int) throws(Failure) -> ShapeExpression {
            var lhs = try factor(depth: depth)
            while let c = peek(), c == UInt8(ascii: "*") || c == UInt8(ascii: "/") || c == UInt8(ascii: "%") {
                position += 1
                lhs = .binary(Character(UnicodeScalar(c)), lhs, try factor(depth: depth))
            }
            return lhs
        }

        mutating func factor(depth: Int) throws(Failure) -> ShapeExpression {
            guard let c = peek() else { throw Failure(reason: "expected a number, a name or '(' at the end") }
            if c == UInt8(ascii: "(") {
                guard depth < ShapeExpression.maximumDepth else {
                    throw Failure(reason: "parentheses nested deeper than \(ShapeExpression.maximumDepth)")
                }
                position += 1
                let inner = try expression(depth: depth + 1)
                guard peek() == UInt8(ascii: ")") else {
                    throw Failure(
                        reason:
                            "expected ')' at character \(position + 1), found \(current == "end of text" ? current : "'\(current)'")"
                    )
                }
                position += 1
                return inner
            }
            let start = position
            if isDigit(c) {
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
                let text = String(decoding: bytes[start..<position], as: UTF8.self)
                guard let value = Int64(text) else {
                    throw Failure(reason: "the number \(text) does not fit in 64 bits")
                }
                if position < bytes.count, isNameCharacter(bytes[position]) {
                    throw Failure(reason: "a number runs into a name at character \(position + 1)")
                }
                return .constant(value)
            }
            if isNameStart(c) {
                while position < bytes.count, isNameCharacter(bytes[position]) { position += 1 }
                return .variable(String(decoding: bytes[start..<position], as: UTF8.self))
            }
            throw Failure(reason: "expected a number, a name or '(' at character \(position + 1), found '\(current)'")
        }

        func isDigit(_ c: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) }
        func isNameStart(_ c: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                || c == UInt8(ascii: "_")
        }
        func isNameCharacter(_ c: UInt8) -> Bool { isNameStart(c) || isDigit(c) }
    }
}
