/// Why a `cfunction` description was refused. Every case names the registry entry and the field, as a JSON
/// path inside the entry (`cfunction.forward.arguments[2].type`).
public enum CFunctionSpecError: Error, Equatable, CustomStringConvertible {
    /// The text is not JSON (only from the JSON-text parser).
    case invalidJSON(entry: String, reason: String)
    /// A field is missing, has the wrong JSON type, or an unacceptable value.
    case invalidField(entry: String, field: String, expected: String)
    /// An object has a member the format does not define.
    case unknownField(entry: String, field: String, allowed: [String])
    /// An argument's `kind` is not one of the bindings.
    case unknownArgumentKind(entry: String, field: String, kind: String, known: [String])
    /// A C type the adapter cannot pass, or one that does not fit the binding.
    case unsupportedType(entry: String, field: String, type: String, expected: String)
    /// The same thing bound twice in one signature.
    case duplicateBinding(entry: String, field: String, binding: String, first: String)
    /// A signature lacks a binding it needs.
    case missingBinding(entry: String, field: String, binding: String)
    /// A binding that this signature cannot have (`output` in the VJP, `input_grad` in the forward ...).
    case misplacedBinding(entry: String, field: String, binding: String, reason: String)
    /// A name that the forward signature does not declare.
    case undeclaredName(entry: String, field: String, name: String, declared: [String])
    /// An expression that does not parse or names what it may not.
    case invalidExpression(entry: String, field: String, expression: String, reason: String)

    /// The registry entry the error is about.
    public var entry: String {
        switch self {
        case .invalidJSON(let e, _), .invalidField(let e, _, _), .unknownField(let e, _, _),
            .unknownArgumentKind(let e, _, _, _), .unsupportedType(let e, _, _, _), .duplicateBinding(let e, _, _, _),
            .missingBinding(let e, _, _), .misplacedBinding(let e, _, _, _), .undeclaredName(let e, _, _, _),
            .invalidExpression(let e, _, _, _):
            e
        }
    }

    public var description: String {
        switch self {
        case .invalidJSON(let entry, let reason):
            "cfunction entry '\(entry)': not valid JSON: \(reason)"
        case .invalidField(let entry, let field, let expected):
            "cfunction entry '\(entry)': field '\(field)' is invalid: expected \(expected)"
        case .unknownField(let entry, let field, let allowed):
            "cfunction entry '\(entry)': field '\(field)' is not part of the format (allowed here: \(allowed.joined(separator: ", ")))"
        case .unknownArgumentKind(let entry, let field, let kind, let known):
            "cfunction entry '\(entry)': field '\(field)': unknown argument kind '\(kind)' (known: \(known.joined(separator: ", ")))"
        case .unsupportedType(let entry, let field, let type, let expected):
            "cfunction entry '\(entry)': field '\(field)': C type '\(type)' is not supported here: expected \(expected)"
        case .duplicateBinding(let entry, let field, let binding, let first):
            "cfunction entry '\(entry)': field '\(field)' binds \(binding) again (already bound by '\(first)')"
        case .missingBinding(let entry, let field, let binding):
            "cfunction entry '\(entry)': field '\(field)' has no argument bound to \(binding)"
        case .misplacedBinding(let entry, let field, let binding, let reason):
            "cfunction entry '\(entry)': field '\(field)': \(binding) \(reason)"
        case .undeclaredName(let entry, let field, let name, let declared):
            "cfunction entry '\(entry)': field '\(field)' names '\(name)', which the forward signature does not declare (declared: \(declared.isEmpty ? "none" : declared.joined(separator: ", ")))"
        case .invalidExpression(let entry, let field, let expression, let reason):
            "cfunction entry '\(entry)': field '\(field)': expression '\(expression)' is invalid: \(reason)"
        }
    }
}
