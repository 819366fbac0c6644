/// The two operator slots of a DiT block.
public enum DiTSlotKind: String, Sendable, CaseIterable {
    /// The token mixer (`blocks.{i}.attn`), by default `mha`.
    case attn
    /// The channel mixer (`blocks.{i}.mlp`), by default `mlp`.
    case mlp
}

/// One slot's address in the model: block index and kind. Its name is the `state_dict` prefix, `blocks.3.attn`.
public struct DiTSlotKey: Hashable, Sendable, CustomStringConvertible {
    public let block: Int
    public let kind: DiTSlotKind
    public init(block: Int, kind: DiTSlotKind) {
        self.block = block
        self.kind = kind
    }
    public var description: String { "blocks.\(block).\(kind.rawValue)" }
}

/// What fills a slot: an operator from a loaded plugin and its attributes.
public struct DiTSlotChoice: Sendable {
    public var descriptor: OperatorDescriptor
    public var attributes: [String: AttributeValue]
    public init(_ descriptor: OperatorDescriptor, attributes: [String: AttributeValue] = [:]) {
        self.descriptor = descriptor
        self.attributes = attributes
    }

    /// The DiT's own operators for `key`: `mha` with `num_heads` (qkv bias on) for attention, `mlp` with
    /// `expansion_ratio = mlp_ratio` for the MLP, resolved through `host` (the registry, pinned by hash).
    public static func standard(_ key: DiTSlotKey, config: DiTConfig, host: PluginHost) throws -> DiTSlotChoice {
        switch key.kind {
        case .attn:
            DiTSlotChoice(try host.resolveOperator("mha"), attributes: ["num_heads": .int(Int64(config.numHeads)), "qkv_bias": .bool(true)])
        case .mlp:
            DiTSlotChoice(try host.resolveOperator("mlp"), attributes: ["expansion_ratio": .float(config.mlpRatio)])
        }
    }
}

/// A filled slot: the operator instance and where its parameters sit in the model's ``ParameterSet``.
public final class DiTSlot: @unchecked Sendable {
    public let key: DiTSlotKey
    public let op: Operator
    /// Positions of the slot's parameters (`<key>.<plugin name>`) in ``DiTModel/parameters``.
    public let parameterPositions: [Int]

    init(key: DiTSlotKey, op: Operator, parameterPositions: [Int]) {
        self.key = key
        self.op = op
        self.parameterPositions = parameterPositions
    }

    /// What fills the slot now: its operator and every attribute's value (to build the same slot elsewhere).
    public var choice: DiTSlotChoice {
        DiTSlotChoice(op.descriptor, attributes: Dictionary(uniqueKeysWithValues: op.attributes.map { ($0.name, $0.value) }))
    }

    /// Whether the slot holds the DiT's own operator for its kind (`mha` or `mlp`), whatever its attributes.
    public var isStandard: Bool {
        op.descriptor.id == (key.kind == .attn ? "mha" : "mlp")
    }

    /// Whether the slot holds exactly what ``DiTSlotChoice/standard(_:config:host:)`` puts there for `config`
    /// (so a checkpoint needs no manifest entry for it).
    public func isDefault(for config: DiTConfig) -> Bool {
        guard isStandard else { return false }
        switch key.kind {
        case .attn:
            return op.attribute("num_heads") == .int(Int64(config.numHeads)) && op.attribute("qkv_bias") == .bool(true)
                && (op.attribute("causal") ?? .bool(false)) == .bool(false)
        case .mlp:
            return op.attribute("expansion_ratio") == .float(config.mlpRatio)
        }
    }
}
