import Foundation
import HostCore

extension CFunctionSpec {
    /// Most arguments a described function may take.
    public static let maximumArguments = 64

    /// The argument kinds (bindings), as spelled in an argument's `kind`.
    public static let argumentKinds = [
        "input", "output", "output_grad", "input_grad", "B", "L", "D", "H", "W", "attribute", "parameter",
        "parameter_grad", "workspace", "workspace_bytes",
    ]

    /// Parses the JSON text of a `cfunction` object. A pure function of its input (no files, no loading),
    /// so it can be fuzzed: every input gives a description or a ``CFunctionSpecError``.
    /// - Parameters:
    ///   - json: UTF-8 JSON text, the value of an entry's `cfunction` field.
    ///   - entry: the registry entry's id, for messages.
    public static func parse(json: [UInt8], entry: String) throws(CFunctionSpecError) -> CFunctionSpec {
        guard String(validating: json, as: UTF8.self) != nil else {
            throw .invalidJSON(entry: entry, reason: "the text is not UTF-8")
        }
        let parsed = json.withUnsafeBytes { bytes in
            Result { () throws(StrictJSON.ParseError) in try StrictJSON.parse(bytes) }
        }
        let value: StrictJSON.Value
        switch parsed {
        case .success(let v): value = v
        case .failure(let error):
            switch error {
            case .syntax(let offset, let message):
                throw .invalidJSON(entry: entry, reason: "\(message) (byte \(offset))")
            case .duplicateKey(let key, let context, let offset):
                throw .invalidJSON(entry: entry, reason: "key '\(key)' appears twice in \(context) (byte \(offset))")
            }
        }
        return try parse(value, entry: entry, field: "cfunction")
    }

    /// Parses a `cfunction` object already read by ``StrictJSON``; `field` is its JSON path in the entry.
    static func parse(
        _ value: StrictJSON.Value, entry: String, field: String
    ) throws(CFunctionSpecError) -> CFunctionSpec {
        try SpecParser(entry: entry).spec(value, field: field)
    }
}

/// The rules of the `cfunction` format, applied field by field; every failure names the field.
private struct SpecParser {
    let entry: String

    func spec(_ value: StrictJSON.Value, field: String) throws(CFunctionSpecError) -> CFunctionSpec {
        let root = try object(
            value, field: field,
            allowed: ["role", "summary", "capabilities", "causal", "receptive_field", "complexity", "forward", "vjp"])
        let roleText = try string(
            root["role"], field: "\(field).role", expected: "\"token_mixer\" or \"channel_mixer\"")
        guard let role = OperatorRole(rawValue: roleText) else {
            throw .invalidField(
                entry: entry, field: "\(field).role",
                expected: "\"token_mixer\" or \"channel_mixer\" (found \"\(roleText)\")")
        }
        let summary = try string(root["summary"], field: "\(field).summary", expected: "a one-line description")
        let capabilities = try declaredCapabilities(root["capabilities"], field: "\(field).capabilities")
        var causal = false
        if let c = root["causal"] {
            guard case .bool(let b) = c else {
                throw .invalidField(entry: entry, field: "\(field).causal", expected: "true or false")
            }
            causal = b
        }
        var complexity = OperatorComplexity.undeclared
        if let c = root["complexity"] {
            let expected = "\"linear\", \"linearithmic\" or \"quadratic\" (how the time grows with L)"
            let text = try string(c, field: "\(field).complexity", expected: expected)
            guard let declared = OperatorComplexity(rawValue: text), declared != .undeclared else {
                throw .invalidField(
                    entry: entry, field: "\(field).complexity", expected: "\(expected) (found \"\(text)\")")
            }
            complexity = declared
        }
        guard let forwardValue = root["forward"] else {
            throw .invalidField(
                entry: entry, field: "\(field).forward", expected: "the forward function's description (an object)")
        }
        // The forward signature declares the attributes and parameters; the VJP refers to them.
        var declarations = Declarations()
        let forward = try signature(forwardValue, field: "\(field).forward", isVJP: false, declarations: &declarations)
        let vjp = try root["vjp"].map { (v) throws(CFunctionSpecError) in
            try signature(v, field: "\(field).vjp", isVJP: true, declarations: &declarations)
        }
        let intAttributes = declarations.attributes.filter { $0.schema.type == .int }.map(\.name)
        let sizes = ["D", "H", "W"] + intAttributes
        // Expressions may name attributes declared anywhere in the forward signature, so check them last.
        for (parameter, shapeField) in declarations.parameterFields {
            for (i, dim) in parameter.shape.enumerated() {
                try checkVariables(dim, allowed: sizes, field: "\(shapeField)[\(i)]")
            }
        }
        for (count, countField) in declarations.workspaceFields {
            try checkVariables(count, allowed: ["B", "L"] + sizes, field: countField)
        }
        var receptive: CFunctionReceptiveField?
        if let rf = root["receptive_field"] {
            receptive = try receptiveField(rf, field: "\(field).receptive_field", allowed: sizes)
        }
        guard let scalar = declarations.scalar else {
            // Unreachable: the forward signature has an input pointer. Kept as an error, never a trap.
            throw .missingBinding(entry: entry, field: "\(field).forward.arguments", binding: "input")
        }
        return CFunctionSpec(
            role: role, summary: summary, declaredCapabilities: capabilities, causal: causal, receptiveField: receptive,
            complexity: complexity,
            scalar: scalar, attributes: declarations.attributes, parameters: declarations.parameterFields.map(\.0),
            forward: forward, vjp: vjp, source: value)
    }

    // MARK: Signatures

    /// What the forward signature declared, and what the parser has seen so far.
    struct Declarations {
        var attributes: [CFunctionAttribute] = []
        var parameterFields: [(CFunctionParameter, String)] = []
        var workspaceFields: [(ShapeExpression, String)] = []
        /// The element type of the first tensor pointer, and where it was given.
        var scalar: CScalar?
        var scalarField = ""
    }

    func signature(
        _ value: StrictJSON.Value, field: String, isVJP: Bool, declarations: inout Declarations
    )
        throws(CFunctionSpecError) -> CFunctionSignature
    {
        let o = try object(value, field: field, allowed: ["symbol", "returns", "arguments"])
        let symbol = try string(o["symbol"], field: "\(field).symbol", expected: "the C symbol name")
        guard symbol.range(of: "^[A-Za-z_][A-Za-z0-9_]{0,127}$", options: .regularExpression) != nil else {
            throw .invalidField(
                entry: entry, field: "\(field).symbol", expected: "a C identifier (found \"\(symbol)\")")
        }
        var status: CInteger?
        if let r = o["returns"] {
            let text = try string(r, field: "\(field).returns", expected: "\"void\" or an integer type")
            if text.trimmingCharacters(in: .whitespaces) != "void" {
                guard case .integer(let i) = CType(parsing: text) else {
                    throw .unsupportedType(
                        entry: entry, field: "\(field).returns", type: text,
                        expected:
                            "void, or an integer type whose non-zero value means failure (\(CInteger.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                status = i
            }
        }
        guard case .array(let items) = o["arguments"] ?? .null else {
            throw .invalidField(
                entry: entry, field: "\(field).arguments", expected: "an array of argument bindings, in C order")
        }
        guard items.count <= CFunctionSpec.maximumArguments else {
            throw .invalidField(
                entry: entry, field: "\(field).arguments",
                expected: "at most \(CFunctionSpec.maximumArguments) arguments (found \(items.count))")
        }
        var arguments: [CFunctionArgument] = []
        var seen: [String: String] = [:]  // binding label -> the field that bound it first
        for (index, item) in items.enumerated() {
            let argument = try self.argument(
                item, field: "\(field).arguments[\(index)]", isVJP: isVJP, declarations: &declarations)
            let label = argument.binding.label
            if let first = seen[label] {
                throw .duplicateBinding(
                    entry: entry, field: "\(field).arguments[\(index)]", binding: label, first: first)
            }
            seen[label] = "\(field).arguments[\(index)]"
            arguments.append(argument)
        }
        let argumentsField = "\(field).arguments"
        var required = isVJP ? ["output_grad", "input_grad"] : ["input", "output"]
        if isVJP { required += declarations.parameterFields.map { "parameter_grad '\($0.0.name)'" } }
        for label in required where seen[label] == nil {
            throw .missingBinding(entry: entry, field: argumentsField, binding: label)
        }
        if seen["workspace_bytes"] != nil && seen["workspace"] == nil {
            throw .missingBinding(
                entry: entry, field: argumentsField, binding: "workspace (workspace_bytes gives its size)")
        }
        return CFunctionSignature(symbol: symbol, status: status, arguments: arguments)
    }

    func argument(
        _ value: StrictJSON.Value, field: String, isVJP: Bool, declarations: inout Declarations
    )
        throws(CFunctionSpecError) -> CFunctionArgument
    {
        guard case .object(let members) = value else {
            throw .invalidField(entry: entry, field: field, expected: "an object with \"kind\" and \"type\"")
        }
        let kind = try string(
            members.first { $0.key == "kind" }?.value, field: "\(field).kind", expected: "an argument kind")
        guard CFunctionSpec.argumentKinds.contains(kind) else {
            throw .unknownArgumentKind(
                entry: entry, field: "\(field).kind", kind: kind, known: CFunctionSpec.argumentKinds)
        }
        if isVJP && kind == "output" {
            throw .misplacedBinding(
                entry: entry, field: "\(field).kind", binding: kind,
                reason: "is not available to the VJP (the host passes x and dy; recompute y from x)")
        }
        if !isVJP && ["output_grad", "input_grad", "parameter_grad"].contains(kind) {
            throw .misplacedBinding(
                entry: entry, field: "\(field).kind", binding: kind, reason: "belongs in the vjp signature")
        }
        var allowed: Set<String> = ["kind", "type"]
        switch kind {
        case "attribute": allowed.formUnion(isVJP ? ["name"] : ["name", "default", "doc", "min", "max"])
        case "parameter": allowed.formUnion(isVJP ? ["name"] : ["name", "shape", "init"])
        case "parameter_grad": allowed.insert("name")
        case "workspace": allowed.insert("count")
        default: break
        }
        let o = try object(value, field: field, allowed: allowed)
        let typeText = try string(o["type"], field: "\(field).type", expected: "the argument's C type")
        guard let type = CType(parsing: typeText) else {
            throw .unsupportedType(
                entry: entry, field: "\(field).type", type: typeText,
                expected: "one of: \(CType.spellings.joined(separator: ", "))")
        }
        func requireInteger() throws(CFunctionSpecError) {
            guard case .integer = type else {
                throw .unsupportedType(
                    entry: entry, field: "\(field).type", type: typeText,
                    expected: "an integer type (\(CInteger.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        let binding: CFunctionBinding
        switch kind {
        case "input", "output_grad":
            try tensorPointer(type, typeText, isConst: true, field: "\(field).type", declarations: &declarations)
            binding = kind == "input" ? .input : .outputGradient
        case "output", "input_grad":
            try tensorPointer(type, typeText, isConst: false, field: "\(field).type", declarations: &declarations)
            binding = kind == "output" ? .output : .inputGradient
        case "B", "L", "D", "H", "W", "workspace_bytes":
            try requireInteger()
            binding =
                ["B": .batch, "L": .length, "D": .dim, "H": .gridHeight, "W": .gridWidth][kind] ?? .workspaceBytes
        case "attribute":
            let name = try string(o["name"], field: "\(field).name", expected: "the attribute's name")
            if isVJP {
                guard let declared = declarations.attributes.first(where: { $0.name == name }) else {
                    throw .undeclaredName(
                        entry: entry, field: "\(field).name", name: name, declared: declarations.attributes.map(\.name))
                }
                guard attributeType(of: type) == declared.schema.type else {
                    throw .unsupportedType(
                        entry: entry, field: "\(field).type", type: typeText,
                        expected:
                            "a C type for the \(declared.schema.type) attribute '\(name)', as the forward declares it")
                }
            } else {
                declarations.attributes.append(
                    try attribute(o, name: name, type: type, typeText: typeText, field: field))
            }
            binding = .attribute(name)
        case "parameter":
            try tensorPointer(type, typeText, isConst: true, field: "\(field).type", declarations: &declarations)
            let name = try string(o["name"], field: "\(field).name", expected: "the parameter's name")
            if isVJP {
                guard declarations.parameterFields.contains(where: { $0.0.name == name }) else {
                    throw .undeclaredName(
                        entry: entry, field: "\(field).name", name: name,
                        declared: declarations.parameterFields.map(\.0.name))
                }
            } else {
                guard name.range(of: "^[A-Za-z0-9_][A-Za-z0-9_.]{0,127}$", options: .regularExpression) != nil else {
                    throw .invalidField(
                        entry: entry, field: "\(field).name",
                        expected: "a state_dict name of letters, digits, '_' and '.' (found \"\(name)\")")
                }
                let shape = try parameterShape(o["shape"], field: "\(field).shape")
                let initializer = try initializer(o["init"], field: "\(field).init")
                declarations.parameterFields.append(
                    (CFunctionParameter(name: name, shape: shape, initializer: initializer), "\(field).shape"))
            }
            binding = .parameter(name)
        case "parameter_grad":
            try tensorPointer(type, typeText, isConst: false, field: "\(field).type", declarations: &declarations)
            let name = try string(o["name"], field: "\(field).name", expected: "the parameter's name")
            guard declarations.parameterFields.contains(where: { $0.0.name == name }) else {
                throw .undeclaredName(
                    entry: entry, field: "\(field).name", name: name,
                    declared: declarations.parameterFields.map(\.0.name))
            }
            binding = .parameterGradient(name)
        default:  // "workspace"
            guard case .pointer(_, let isConst) = type, !isConst else {
                throw .unsupportedType(
                    entry: entry, field: "\(field).type", type: typeText,
                    expected: "void *, float * or double * (writable scratch)")
            }
            let countField = "\(field).count"
            let count = try expression(
                o["count"], field: countField, what: "its size in elements of the pointee (bytes for void *)")
            declarations.workspaceFields.append((count, countField))
            binding = .workspace(count: count)
        }
        return CFunctionArgument(binding: binding, type: type)
    }

    /// Checks a tensor pointer's constness and that its element type matches the other tensor pointers.
    func tensorPointer(
        _ type: CType, _ text: String, isConst: Bool, field: String, declarations: inout Declarations
    )
        throws(CFunctionSpecError)
    {
        let expected =
            isConst
            ? "const float * or const double * (the host's buffer is read-only)"
            : "float * or double * (the function writes it)"
        guard case .pointer(let pointee?, let const) = type, const == isConst else {
            throw .unsupportedType(entry: entry, field: field, type: text, expected: expected)
        }
        if let scalar = declarations.scalar, scalar != pointee {
            throw .unsupportedType(
                entry: entry, field: field, type: text,
                expected:
                    "\(scalar.rawValue) elements, like '\(declarations.scalarField)' (every tensor pointer has one element type)"
            )
        }
        if declarations.scalar == nil { (declarations.scalar, declarations.scalarField) = (pointee, field) }
    }

    // MARK: Attributes and parameters

    func attributeType(of type: CType) -> AttributeType? {
        switch type {
        case .integer: .int
        case .float, .double: .float
        case .bool: .bool
        case .pointer: nil
        }
    }

    func attribute(
        _ o: [String: StrictJSON.Value], name: String, type: CType, typeText: String, field: String
    )
        throws(CFunctionSpecError) -> CFunctionAttribute
    {
        guard PluginLibrary.isValidOperatorId(name) else {
            throw .invalidField(
                entry: entry, field: "\(field).name",
                expected: "an attribute name matching [a-z][a-z0-9_]* (found \"\(name)\")")
        }
        if case .pointer = type {
            throw .unsupportedType(
                entry: entry, field: "\(field).type", type: typeText,
                expected:
                    "a scalar passed by value: an integer type (int attribute), float or double (float attribute), or bool"
            )
        }
        var doc = "passed to the C function as \(type)"
        if let d = o["doc"] { doc = try string(d, field: "\(field).doc", expected: "a one-line description") }
        guard let defaultJSON = o["default"] else {
            throw .invalidField(entry: entry, field: "\(field).default", expected: "the attribute's default value")
        }
        let kind: AttributeType
        let defaultValue: AttributeValue
        var intRange: ClosedRange<Int64>?
        var floatRange: ClosedRange<Double>?
        switch type {
        case .integer(let integer):
            kind = .int
            defaultValue = .int(try int(defaultJSON, field: "\(field).default"))
            let lower =
                try o["min"].map { (v) throws(CFunctionSpecError) in try int(v, field: "\(field).min") }
                ?? integer.range.lowerBound
            let upper =
                try o["max"].map { (v) throws(CFunctionSpecError) in try int(v, field: "\(field).max") }
                ?? integer.range.upperBound
            guard integer.range.contains(lower), integer.range.contains(upper), lower <= upper else {
                throw .invalidField(
                    entry: entry, field: "\(field).min",
                    expected: "min <= max, both within \(type)'s range \(integer.range)")
            }
            intRange = lower...upper
        case .float, .double:
            kind = .float
            defaultValue = .float(try double(defaultJSON, field: "\(field).default"))
            let limit = type == .float ? Double(Float.greatestFiniteMagnitude) : Double.greatestFiniteMagnitude
            let lower =
                try o["min"].map { (v) throws(CFunctionSpecError) in try double(v, field: "\(field).min") } ?? -limit
            let upper =
                try o["max"].map { (v) throws(CFunctionSpecError) in try double(v, field: "\(field).max") } ?? limit
            guard lower <= upper, lower >= -limit, upper <= limit else {
                throw .invalidField(
                    entry: entry, field: "\(field).min", expected: "min <= max, both within \(type)'s finite range")
            }
            floatRange = lower...upper
        case .bool:
            kind = .bool
            guard case .bool(let b) = defaultJSON else {
                throw .invalidField(entry: entry, field: "\(field).default", expected: "true or false")
            }
            if o["min"] != nil || o["max"] != nil {
                throw .invalidField(
                    entry: entry, field: "\(field).\(o["min"] != nil ? "min" : "max")",
                    expected: "no bounds on a bool attribute")
            }
            defaultValue = .bool(b)
        case .pointer:
            throw .unsupportedType(
                entry: entry, field: "\(field).type", type: typeText, expected: "a scalar passed by value")
        }
        let schema = AttributeSchema(
            name: name, type: kind, doc: doc, defaultValue: defaultValue, intRange: intRange, floatRange: floatRange)
        do { try schema.validate(defaultValue) } catch {
            throw .invalidField(
                entry: entry, field: "\(field).default", expected: "a value the attribute accepts (\(error))")
        }
        return CFunctionAttribute(schema: schema)
    }

    func parameterShape(_ value: StrictJSON.Value?, field: String) throws(CFunctionSpecError) -> [ShapeExpression] {
        let maxRank = 8
        guard case .array(let dims) = value ?? .null, (1...maxRank).contains(dims.count) else {
            throw .invalidField(
                entry: entry, field: field,
                expected: "an array of 1 to \(maxRank) dimensions (positive integers or expressions such as \"2*D\")")
        }
        var shape: [ShapeExpression] = []
        for (i, dim) in dims.enumerated() {
            let expression = try self.expression(
                dim, field: "\(field)[\(i)]",
                what: "a positive integer or an expression over D, H, W and int attributes")
            if case .constant(let c) = expression, c < 1 {
                throw .invalidField(entry: entry, field: "\(field)[\(i)]", expected: "a positive extent (found \(c))")
            }
            shape.append(expression)
        }
        return shape
    }

    func initializer(_ value: StrictJSON.Value?, field: String) throws(CFunctionSpecError) -> CFunctionInitializer {
        let expected = "one of {\"constant\": v}, {\"normal\": std}, {\"uniform\": bound}"
        guard case .object(let members) = value ?? .null, members.count == 1, let member = members.first else {
            throw .invalidField(entry: entry, field: field, expected: expected)
        }
        let v = try double(member.value, field: "\(field).\(member.key)")
        switch member.key {
        case "constant": return .constant(v)
        case "normal" where v >= 0: return .normal(std: v)
        case "uniform" where v >= 0: return .uniform(bound: v)
        case "normal", "uniform":
            throw .invalidField(
                entry: entry, field: "\(field).\(member.key)", expected: "a non-negative number (found \(v))")
        default:
            throw .unknownField(
                entry: entry, field: "\(field).\(member.key)", allowed: ["constant", "normal", "uniform"])
        }
    }

    func receptiveField(
        _ value: StrictJSON.Value, field: String, allowed: [String]
    ) throws(CFunctionSpecError) -> CFunctionReceptiveField {
        let o = try object(value, field: field, allowed: ["left", "right"])
        func side(_ key: String) throws(CFunctionSpecError) -> ShapeExpression? {
            let f = "\(field).\(key)"
            guard let v = o[key] else {
                throw .invalidField(
                    entry: entry, field: f,
                    expected: "a bound in tokens (integer >= 0 or expression), or null for unbounded")
            }
            if case .null = v { return nil }
            let e = try expression(
                v, field: f, what: "a bound in tokens (integer >= 0 or expression), or null for unbounded")
            if case .constant(let c) = e, c < 0 {
                throw .invalidField(
                    entry: entry, field: f, expected: "a non-negative bound, or null for unbounded (found \(c))")
            }
            try checkVariables(e, allowed: allowed, field: f)
            return e
        }
        return CFunctionReceptiveField(left: try side("left"), right: try side("right"))
    }

    func declaredCapabilities(
        _ value: StrictJSON.Value?, field: String
    ) throws(CFunctionSpecError) -> OperatorCapabilities {
        guard let value else { return [] }
        let known: [String: OperatorCapabilities] = ["deterministic": .deterministic, "reentrant": .reentrant]
        guard case .array(let items) = value else {
            throw .invalidField(
                entry: entry, field: field, expected: "an array of \"deterministic\" and/or \"reentrant\"")
        }
        var caps: OperatorCapabilities = []
        for (i, item) in items.enumerated() {
            let name = try string(item, field: "\(field)[\(i)]", expected: "\"deterministic\" or \"reentrant\"")
            guard let cap = known[name] else {
                throw .invalidField(
                    entry: entry, field: "\(field)[\(i)]",
                    expected:
                        "\"deterministic\" or \"reentrant\" (found \"\(name)\"; backward, float64 and needs_grid follow from the signatures)"
                )
            }
            guard !caps.contains(cap) else {
                throw .invalidField(
                    entry: entry, field: "\(field)[\(i)]", expected: "each capability once (\"\(name)\" repeats)")
            }
            caps.insert(cap)
        }
        return caps
    }

    // MARK: Expressions

    func expression(
        _ value: StrictJSON.Value?, field: String, what: String
    ) throws(CFunctionSpecError) -> ShapeExpression {
        switch value {
        case .number(let text)?:
            guard let v = Int64(text) else {
                throw .invalidField(entry: entry, field: field, expected: "\(what) (found \(text))")
            }
            return .constant(v)
        case .string(let text)?:
            do { return try ShapeExpression.parse(text) } catch {
                throw .invalidExpression(entry: entry, field: field, expression: text, reason: error.reason)
            }
        default:
            throw .invalidField(entry: entry, field: field, expected: what)
        }
    }

    func checkVariables(_ e: ShapeExpression, allowed: [String], field: String) throws(CFunctionSpecError) {
        if let bad = e.variables.sorted().first(where: { !allowed.contains($0) }) {
            throw .invalidExpression(
                entry: entry, field: field, expression: e.description,
                reason:
                    "'\(bad)' is not a size known here (allowed: \(allowed.joined(separator: ", ")); B and L only in workspace counts)"
            )
        }
    }

    // MARK: JSON values

    /// An object's members by key, refusing keys outside `allowed` (StrictJSON already refused duplicates).
    func object(
        _ value: StrictJSON.Value, field: String, allowed: Set<String>
    ) throws(CFunctionSpecError) -> [String: StrictJSON.Value] {
        guard case .object(let members) = value else {
            throw .invalidField(entry: entry, field: field, expected: "an object (found \(value.typeName))")
        }
        var out: [String: StrictJSON.Value] = [:]
        for member in members {
            guard allowed.contains(member.key) else {
                throw .unknownField(entry: entry, field: "\(field).\(member.key)", allowed: allowed.sorted())
            }
            out[member.key] = member.value
        }
        return out
    }

    func string(_ value: StrictJSON.Value?, field: String, expected: String) throws(CFunctionSpecError) -> String {
        guard case .string(let s)? = value, !s.isEmpty, s.utf8.count <= 4096 else {
            throw .invalidField(entry: entry, field: field, expected: "\(expected) (a non-empty string)")
        }
        return s
    }

    func int(_ value: StrictJSON.Value, field: String) throws(CFunctionSpecError) -> Int64 {
        guard case .number(let text) = value, let v = Int64(text) else {
            throw .invalidField(entry: entry, field: field, expected: "an integer (found \(value.source()))")
        }
        return v
    }

    func double(_ value: StrictJSON.Value, field: String) throws(CFunctionSpecError) -> Double {
        guard case .number(let text) = value, let v = Double(text), v.isFinite else {
            throw .invalidField(entry: entry, field: field, expected: "a finite number (found \(value.source()))")
        }
        return v
    }
}
