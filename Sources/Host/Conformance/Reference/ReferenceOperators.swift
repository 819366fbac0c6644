import HostPlugins

/// What a built-in reference is evaluated on: the input, the instance's configuration, and its parameters by their
/// upstream `state_dict` names.
public struct ReferenceInput: Sendable {
    /// `[B, L, D]`, row-major.
    public var x: [Double]
    /// B, L and D.
    public var batch: Int
    public var length: Int
    public var dim: Int
    /// The token grid, for operators that need it.
    public var grid: (height: Int, width: Int)?
    /// Every attribute of the instance (defaults filled in).
    public var attributes: [String: AttributeValue]
    /// Every parameter by its upstream name, row-major in its upstream shape.
    public var parameters: [String: [Double]]

    /// - Parameter shape: `[B, L, D]` of `x`.
    public init(
        x: [Double], shape: [Int], grid: (height: Int, width: Int)? = nil, attributes: [String: AttributeValue],
        parameters: [String: [Double]]
    ) {
        self.x = x
        (batch, length, dim) = (shape[0], shape[1], shape[2])
        self.grid = grid
        self.attributes = attributes
        self.parameters = parameters
    }

    /// Attribute `name` as an int, or nil when it is missing or of another type.
    func int(_ name: String) -> Int? {
        if case .int(let v)? = attributes[name] { return Int(v) }
        return nil
    }

    /// Attribute `name` as a bool, or nil when it is missing or of another type.
    func bool(_ name: String) -> Bool? {
        if case .bool(let v)? = attributes[name] { return v }
        return nil
    }

    /// Attribute `name` as a float, or nil when it is missing or of another type.
    func float(_ name: String) -> Double? {
        if case .float(let v)? = attributes[name] { return v }
        return nil
    }

    /// Attribute `name` as a list of ints, or nil when it is missing or of another type.
    func intList(_ name: String) -> [Int]? {
        if case .intList(let v)? = attributes[name] { return v.map { Int($0) } }
        return nil
    }

    /// Attribute `name` as a string, or nil when it is missing or of another type.
    func string(_ name: String) -> String? {
        if case .string(let v)? = attributes[name] { return v }
        return nil
    }
}

/// The built-in float64 references by operator id (docs/OPERATORS.md), each written naively in its own file as an
/// extension of this type and evaluated on upstream-named parameters. Adding one is one entry in ``table``.
public enum ReferenceOperators {
    /// A reference: the output `[B, L, D]`, or nil when a parameter or attribute it needs is missing.
    public typealias Evaluate = @Sendable (ReferenceInput) -> [Double]?

    /// The references by operator id.
    static let table: [String: Evaluate] = [
        "mha": mha, "mlp": mlp,
        "swa": swa, "swa2d": swa2d, "linear_attn": linearAttention,
        "hyena_x": hyenaX, "hyena_se": hyenaSE, "hyena_y": hyenaY, "mlp_hyena_x": mlpHyenaX, "hyena": hyena,
        "mamba2": mamba2 { _ in ReferenceMamba2.causal },
        "mamba2_bidir": mamba2 { _ in ReferenceMamba2.bidirectional },
        "mamba2_2d": mamba2 { input in input.grid.map { ReferenceMamba2.grid(height: $0.height, width: $0.width) } },
    ]

    /// Operator ids with a built-in reference.
    public static var ids: Set<String> { Set(table.keys) }

    /// The reference output for operator `id`, or nil when there is no reference or the parameters do not have the
    /// upstream names (or the attributes the reference reads are missing).
    public static func evaluate(id: String, _ input: ReferenceInput) -> [Double]? {
        table[id]?(input)
    }
}
