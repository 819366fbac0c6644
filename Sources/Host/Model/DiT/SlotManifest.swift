import Foundation
import HostPlugins

/// The graft manifest a checkpoint carries in its metadata (`zoo.graft.slots`): for every slot that does
/// not hold DiT's own operator, the operator id, version, attributes and the sha256 of the library that
/// provided it. ``DiTModel/open(checkpoint:configPath:host:)`` rebuilds those slots from it and refuses a
/// library whose hash changed.
public struct SlotManifest: Equatable, Sendable {
    /// Metadata key.
    public static let metadataKey = "zoo.graft.slots"

    public struct Entry: Equatable, Sendable, Codable {
        public var operatorId: String
        public var version: String
        /// Attribute values as text (`--set` syntax), every attribute of the instance.
        public var attributes: [String: String]
        public var librarySha256: String

        enum CodingKeys: String, CodingKey {
            case operatorId = "operator", version, attributes, librarySha256 = "library_sha256"
        }
    }

    /// Entries by slot name (`blocks.3.attn`).
    public var slots: [String: Entry]

    public init(slots: [String: Entry] = [:]) { self.slots = slots }

    /// The manifest of the slots of `model` that do not hold DiT's default operator and attributes.
    public static func of(_ model: DiTModel) throws -> SlotManifest {
        var hashes: [String: String] = [:]
        var out = SlotManifest()
        for slot in model.slots where !slot.isDefault(for: model.config) {
            let path = slot.op.descriptor.libraryPath
            let hash = try hashes[path] ?? FileHash.sha256(path: path)
            hashes[path] = hash
            out.slots[slot.key.description] = Entry(
                operatorId: slot.op.descriptor.id, version: slot.op.descriptor.version,
                attributes: Dictionary(
                    uniqueKeysWithValues: slot.op.attributes.map { ($0.name, $0.value.description) }),
                librarySha256: hash)
        }
        return out
    }

    /// JSON with sorted keys.
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(slots)) ?? Data(), as: UTF8.self)
    }

    /// Parses the metadata value; `path` names the checkpoint in errors.
    public static func parse(_ json: String, path: String) throws(DiTError) -> SlotManifest {
        do {
            let slots = try JSONDecoder().decode([String: Entry].self, from: Data(json.utf8))
            return SlotManifest(slots: slots)
        } catch {
            throw .checkpoint(path: path, reason: "metadata '\(metadataKey)' is not a valid graft manifest (\(error))")
        }
    }
}
