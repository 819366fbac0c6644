import HostCore

/// The typed description of a plain C function that the host adapts into an operator: the `cfunction`
/// object of a registry entry of kind `cfunction` (see the README, "Foreign C functions").
///
/// It is produced only by ``CFunctionSpec/parse(_:entry:)`` (or its JSON-text overload), which checks every
/// rule below, so a value of this type is always consistent:
/// - the forward signature binds exactly one `input` and one `output`, and declares every attribute and
///   parameter (with its default, shape expression and initialiser);
/// - the VJP signature, when present, binds `output_grad`, `input_grad` and one `parameter_grad` per
///   parameter, and refers to attributes and parameters only by the names the forward declared;
/// - every tensor pointer has one element type (`float` or `double`), inputs are `const`, outputs are not.
public struct CFunctionSpec: Sendable, Equatable {
    /// Token mixer or channel mixer.
    public let role: OperatorRole
    /// One line: what the function computes.
    public let summary: String
    /// `deterministic` and `reentrant` as declared (a plain C function cannot be asked).
    public let declaredCapabilities: OperatorCapabilities
    /// Output token t depends only on tokens <= t.
    public let causal: Bool
    /// Bounds on the tokens each output sees (a `nil` side is unbounded); `nil` when not declared.
    public let receptiveField: CFunctionReceptiveField?
    /// How the time grows with L (`OZ_COMPLEXITY_*`), as declared; ``OperatorComplexity/undeclared`` when absent.
    public let complexity: OperatorComplexity
    /// Element type of every tensor pointer.
    public let scalar: CScalar
    /// Attributes, in the order the forward signature declares them.
    public let attributes: [CFunctionAttribute]
    /// Parameters, in the order the forward signature declares them (the operator's parameter order).
    public let parameters: [CFunctionParameter]
    /// The forward function.
    public let forward: CFunctionSignature
    /// The vector-Jacobian product, when described.
    public let vjp: CFunctionSignature?
    /// The JSON it was parsed from, written back unchanged when the registry is saved.
    let source: StrictJSON.Value

    /// The operator's capability flags: the declared ones, plus `backward` with a VJP, `float64` for `double`
    /// functions (float32 tensors are then converted), `needs_grid` when anything uses H or W.
    public var capabilities: OperatorCapabilities {
        var caps = declaredCapabilities
        if vjp != nil { caps.insert(.backward) }
        if scalar == .double { caps.insert(.float64) }
        if needsGrid { caps.insert(.needsGrid) }
        return caps
    }

    /// Whether a signature binds `H` or `W`, or a shape, workspace or receptive-field expression names them.
    public var needsGrid: Bool {
        let grid: Set<String> = ["H", "W"]
        let signatures = [forward] + (vjp.map { [$0] } ?? [])
        let bound = signatures.contains { s in
            s.arguments.contains { $0.binding == .gridHeight || $0.binding == .gridWidth }
                || s.workspace.map { !$0.count.variables.isDisjoint(with: grid) } ?? false
        }
        let shapes = parameters.contains { p in p.shape.contains { !$0.variables.isDisjoint(with: grid) } }
        let field = [receptiveField?.left, receptiveField?.right].contains {
            $0??.variables.isDisjoint(with: grid) == false
        }
        return bound || shapes || field
    }

    /// The attribute named `name`.
    public func attribute(_ name: String) -> CFunctionAttribute? { attributes.first { $0.name == name } }

    /// Two descriptions are equal when their JSON means the same, whatever the order of object members and the
    /// spelling of numbers (see `StrictJSON.Value.canonical`).
    public static func == (a: CFunctionSpec, b: CFunctionSpec) -> Bool { a.source.canonical == b.source.canonical }
}

/// The element type of a C function's tensor pointers.
public enum CScalar: String, Sendable, Equatable {
    case float, double

    /// Bits per element (the `oz_dtype.bits` of its tensors).
    public var bits: UInt8 { self == .float ? 32 : 64 }
}

/// The declared receptive field: expressions over D, H, W and integer attributes; `nil` is unbounded.
public struct CFunctionReceptiveField: Sendable, Equatable {
    public let left: ShapeExpression?
    public let right: ShapeExpression?
}

/// An attribute the forward signature declares, passed by value to the C functions.
public struct CFunctionAttribute: Sendable, Equatable {
    /// The schema the host validates values against (type, default, bounds, doc).
    public let schema: AttributeSchema
    public var name: String { schema.name }
}

/// A parameter buffer the forward signature declares.
public struct CFunctionParameter: Sendable, Equatable {
    /// The parameter's name (its safetensors key).
    public let name: String
    /// One expression per dimension, over D, H, W and integer attributes.
    public let shape: [ShapeExpression]
    /// How `init` fills it.
    public let initializer: CFunctionInitializer
}

/// How a parameter is initialised from a seed.
public enum CFunctionInitializer: Sendable, Equatable {
    /// Every element equals the value.
    case constant(Double)
    /// Independent normal samples with this standard deviation.
    case normal(std: Double)
    /// Independent uniform samples in [-bound, bound].
    case uniform(bound: Double)
}

/// One C function: its symbol, return convention and argument bindings, in C order.
public struct CFunctionSignature: Sendable, Equatable {
    public let symbol: String
    /// `nil` for `void`; otherwise an integer type whose non-zero value means failure.
    public let status: CInteger?
    public let arguments: [CFunctionArgument]

    /// The workspace binding, when the function takes one.
    public var workspace: (type: CType, count: ShapeExpression)? {
        for argument in arguments {
            if case .workspace(let count) = argument.binding { return (argument.type, count) }
        }
        return nil
    }

    public static func == (a: CFunctionSignature, b: CFunctionSignature) -> Bool {
        a.symbol == b.symbol && a.status == b.status && a.arguments == b.arguments
    }
}

/// One argument of a C function: what the host passes (the binding) and its C type.
public struct CFunctionArgument: Sendable, Equatable {
    public let binding: CFunctionBinding
    public let type: CType
}

/// What the host passes for an argument.
public enum CFunctionBinding: Sendable, Hashable {
    /// x, `[B, L, D]` (read-only).
    case input
    /// y, `[B, L, D]` (forward only).
    case output
    /// dy, `[B, L, D]` (VJP only, read-only).
    case outputGradient
    /// dx, `[B, L, D]` (VJP only).
    case inputGradient
    /// The batch size B, the sequence length L, the width D, the grid height H and width W.
    case batch, length, dim, gridHeight, gridWidth
    /// The value of an attribute.
    case attribute(String)
    /// A parameter buffer (read-only).
    case parameter(String)
    /// A parameter's gradient (VJP only).
    case parameterGradient(String)
    /// Scratch memory of `count` elements of the pointee type (bytes for `void *`).
    case workspace(count: ShapeExpression)
    /// The workspace's size in bytes.
    case workspaceBytes

    /// The `kind` spelling in the JSON description.
    public var kind: String {
        switch self {
        case .input: "input"
        case .output: "output"
        case .outputGradient: "output_grad"
        case .inputGradient: "input_grad"
        case .batch: "B"
        case .length: "L"
        case .dim: "D"
        case .gridHeight: "H"
        case .gridWidth: "W"
        case .attribute: "attribute"
        case .parameter: "parameter"
        case .parameterGradient: "parameter_grad"
        case .workspace: "workspace"
        case .workspaceBytes: "workspace_bytes"
        }
    }

    /// The binding as messages name it: `input`, `attribute 'alpha'`, ...
    public var label: String {
        switch self {
        case .attribute(let n): "attribute '\(n)'"
        case .parameter(let n): "parameter '\(n)'"
        case .parameterGradient(let n): "parameter_grad '\(n)'"
        default: kind
        }
    }
}
