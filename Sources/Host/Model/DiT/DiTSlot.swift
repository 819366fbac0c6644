import HostPlugins

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

    /// The plain model's operator for `key` (``DiTConfig/standardOperator(_:)``, by default DiT's attention and
    /// MLP), resolved through `host` (the registry, pinned by hash), with the attributes the configuration
    /// determines (``DiTConfig/standardAttributes(_:)``) that its schema admits.
    public static func standard(_ key: DiTSlotKey, config: DiTConfig, host: PluginHost) throws -> DiTSlotChoice {
        let descriptor = try host.resolveOperator(config.standardOperator(key.kind))
        return DiTSlotChoice(
            descriptor, attributes: config.standardAttributes(key.kind).filter { descriptor.admits($0.key, $0.value) })
    }
}

/// A filled slot: the operator instance and where its parameters sit in the model's ``ParameterSet``.
public final class DiTSlot: @unchecked Sendable {
    public let key: DiTSlotKey
    public let op: Operator
    /// Positions of the slot's parameters (`<key>.<plugin name>`) in ``DiTModel/parameters``.
    public let parameterPositions: [Int]

    package init(key: DiTSlotKey, op: Operator, parameterPositions: [Int]) {
        self.key = key
        self.op = op
        self.parameterPositions = parameterPositions
    }

    /// What fills the slot now: its operator and every attribute's value (to build the same slot elsewhere).
    public var choice: DiTSlotChoice {
        DiTSlotChoice(
            op.descriptor, attributes: Dictionary(uniqueKeysWithValues: op.attributes.map { ($0.name, $0.value) }))
    }

    /// Whether the slot holds the plain model's operator for its kind (``DiTConfig/standardOperator(_:)``),
    /// whatever its attributes.
    public func isStandard(for config: DiTConfig) -> Bool {
        op.descriptor.id == config.standardOperator(key.kind)
    }

    /// Whether the slot holds exactly what ``DiTSlotChoice/standard(_:config:host:)`` puts there for `config`
    /// (so a checkpoint needs no manifest entry for it): the standard operator, every attribute the configuration
    /// determines at its value and every other attribute at its schema default.
    public func isDefault(for config: DiTConfig) -> Bool {
        guard isStandard(for: config) else { return false }
        let determined = config.standardAttributes(key.kind)
        return op.descriptor.attributes.allSatisfy { schema in
            let expected =
                determined[schema.name].flatMap { op.descriptor.admits(schema.name, $0) ? $0 : nil }
                ?? schema.defaultValue
            return op.attribute(schema.name) == expected
        }
    }
}
