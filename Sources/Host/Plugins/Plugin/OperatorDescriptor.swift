import Foundation
import OperatorABI

/// What an operator mixes: both roles map `[B, L, D] -> [B, L, D]`.
public enum OperatorRole: String, Sendable, Codable, CustomStringConvertible {
    /// Mixes tokens: stands in for attention (`blocks.{i}.attn`).
    case tokenMixer = "token_mixer"
    /// Mixes channels within a token: stands in for the MLP (`blocks.{i}.mlp`).
    case channelMixer = "channel_mixer"

    public var description: String { rawValue }
}

/// Static capability flags of an operator (`OZ_CAP_*`).
public struct OperatorCapabilities: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let backward = OperatorCapabilities(rawValue: UInt64(OZ_CAP_BACKWARD))
    public static let deterministic = OperatorCapabilities(rawValue: UInt64(OZ_CAP_DETERMINISTIC))
    public static let needsGrid = OperatorCapabilities(rawValue: UInt64(OZ_CAP_NEEDS_GRID))
    public static let reentrant = OperatorCapabilities(rawValue: UInt64(OZ_CAP_REENTRANT))
    public static let float64 = OperatorCapabilities(rawValue: UInt64(OZ_CAP_FLOAT64))
    /// A train-mode forward saves what backward needs (ABI 1.4): see ``Operator/forward(_:parameters:saving:)``.
    public static let saveForBackward = OperatorCapabilities(rawValue: UInt64(OZ_CAP_SAVE_FOR_BACKWARD))

    /// Flag names, in a fixed order.
    public var names: [String] {
        [
            (Self.backward, "backward"), (.deterministic, "deterministic"), (.needsGrid, "needs_grid"),
            (.reentrant, "reentrant"), (.float64, "float64"), (.saveForBackward, "save_for_backward"),
        ]
        .filter { contains($0.0) }.map(\.1)
    }

    public var description: String { names.isEmpty ? "none" : names.joined(separator: ", ") }
}

/// An operator as a loaded plugin declares it: metadata, attribute schema and capabilities.
public struct OperatorDescriptor: Sendable {
    public let id: String
    public let version: String
    public let summary: String
    public let role: OperatorRole
    public let capabilities: OperatorCapabilities
    public let attributes: [AttributeSchema]
    /// The library that provides it.
    public let libraryPath: String
    /// The implementation: a plugin's `oz_operator` table, or the libffi adapter of a `cfunction` entry.
    package let table: any OperatorBackend

    /// Every schema attribute with its value: `given` where present (validated), the default elsewhere.
    /// - Throws: ``AttributeError`` naming an unknown attribute or an invalid value.
    public func resolve(_ given: [String: AttributeValue]) throws(AttributeError) -> [(AttributeSchema, AttributeValue)]
    {
        for name in given.keys.sorted() where !attributes.contains(where: { $0.name == name }) {
            throw .unknown(name: name, operatorId: id, known: attributes.map(\.name))
        }
        var out: [(AttributeSchema, AttributeValue)] = []
        for schema in attributes {
            if let value = given[schema.name] {
                try schema.validate(value)
                out.append((schema, schema.normalized(value)))
            } else {
                out.append((schema, schema.defaultValue))
            }
        }
        return out
    }

    /// Whether the schema has an attribute `name` that accepts `value` (its type and range). The host uses it to
    /// fill in settings the model determines, such as `num_heads`, only for operators that can take them.
    public func admits(_ name: String, _ value: AttributeValue) -> Bool {
        guard let schema = attributes.first(where: { $0.name == name }) else { return false }
        return (try? schema.validate(value)) != nil
    }

    /// Parses `NAME=VALUE` assignments (the CLI's `--set`) against the schema.
    public func parseAssignments(_ assignments: [String]) throws(AttributeError) -> [String: AttributeValue] {
        var values: [String: AttributeValue] = [:]
        for text in assignments {
            guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                throw .malformedAssignment(text: text)
            }
            let name = String(text[..<eq]).trimmingCharacters(in: .whitespaces)
            guard let schema = attributes.first(where: { $0.name == name }) else {
                throw .unknown(name: name, operatorId: id, known: attributes.map(\.name))
            }
            values[name] = try schema.parse(String(text[text.index(after: eq)...]))
        }
        return values
    }
}
