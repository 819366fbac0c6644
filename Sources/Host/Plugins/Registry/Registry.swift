import Foundation
import HostCore

/// The catalogue of known plugins, pinned by sha256 (`registry.json`, schema `registry.schema.json`).
///
/// ```json
/// {"schema_version": 1, "plugins": [{"id": "mha", "kind": "plugin", "library": "libOZMHA.so",
///   "name": "OZMHA", "version": "1.0.0", "abi": "1.0", "license": "MIT", "operators": ["mha"],
///   "sha256": "…64 hex digits…"}]}
/// ```
public struct Registry: Equatable, Sendable {
    /// The current `schema_version`.
    public static let schemaVersion = 1

    public var entries: [RegistryEntry]

    public init(entries: [RegistryEntry] = []) {
        self.entries = entries
    }

    /// The entry with `id`.
    public func entry(id: String) -> RegistryEntry? { entries.first { $0.id == id } }

    /// Entries that provide operator `operatorId`.
    public func entries(providing operatorId: String) -> [RegistryEntry] {
        entries.filter { $0.operators.contains(operatorId) }
    }

    /// The entry whose pin matches `sha256`.
    public func entry(sha256: String) -> RegistryEntry? { entries.first { $0.sha256 == sha256 } }

    /// Every operator id the registry knows, sorted.
    public var operatorIds: [String] { Array(Set(entries.flatMap(\.operators))).sorted() }

    /// Adds `entry`, replacing an entry with the same id or the same library file name.
    public mutating func upsert(_ entry: RegistryEntry) {
        entries.removeAll { $0.id == entry.id || $0.library == entry.library }
        entries.append(entry)
        entries.sort { $0.id < $1.id }
    }
}

/// A conformance result recorded in a registry entry.
public struct ConformanceRecord: Codable, Equatable, Sendable {
    public var passed: Bool
    public var harnessVersion: String
    public var date: String
    public var summary: String

    public init(passed: Bool, harnessVersion: String, date: String, summary: String) {
        self.passed = passed
        self.harnessVersion = harnessVersion
        self.date = date
        self.summary = summary
    }

    enum CodingKeys: String, CodingKey {
        case passed, date, summary
        case harnessVersion = "harness_version"
    }
}

/// One plugin library in the registry.
public struct RegistryEntry: Encodable, Equatable, Sendable {
    /// Entry id, `[a-z][a-z0-9_-]*` (the plugin's own name, lower-cased, by default).
    public var id: String
    /// `plugin` (speaks the operator ABI) or `cfunction` (a plain C function called through libffi, described by
    /// ``cfunction``).
    public var kind: String
    /// Library file: a bare file name is searched in the plugin directories; a path is relative to the registry.
    public var library: String
    public var name: String
    public var version: String
    /// ABI version, `"major.minor"`.
    public var abi: String
    public var license: String
    public var operators: [String]
    /// sha256 of the library file, 64 lower-case hex digits.
    public var sha256: String
    public var conformance: ConformanceRecord?
    /// The C function's signature description; present exactly when `kind` is `cfunction`.
    public var cfunction: CFunctionSpec?

    public init(
        id: String, kind: String = "plugin", library: String, name: String, version: String, abi: String,
        license: String, operators: [String], sha256: String, conformance: ConformanceRecord? = nil,
        cfunction: CFunctionSpec? = nil
    ) {
        self.id = id
        self.kind = kind
        self.library = library
        self.name = name
        self.version = version
        self.abi = abi
        self.license = license
        self.operators = operators
        self.sha256 = sha256
        self.conformance = conformance
        self.cfunction = cfunction
    }
}

extension Registry {
    /// Reads and validates the registry at `path`.
    /// - Throws: ``RegistryError`` naming the file and the offending field.
    public static func load(path: String) throws(RegistryError) -> Registry {
        guard FileManager.default.fileExists(atPath: path) else { throw .fileNotFound(path: path) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        return try parse(data, path: path)
    }

    /// Parses and validates registry JSON (strictly: a repeated key is refused); `path` is only used in messages.
    public static func parse(_ data: Data, path: String) throws(RegistryError) -> Registry {
        guard String(data: data, encoding: .utf8) != nil else {
            throw .invalidJSON(path: path, reason: "the file is not UTF-8 text")
        }
        let object: Any
        do { object = try StrictJSON.foundationObject(data) } catch {
            throw .invalidJSON(path: path, reason: "\(error)")
        }
        let v = Validator(path: path)
        let root = try v.object(object, field: "(root)")
        try v.onlyKeys(root, ["$schema", "schema_version", "plugins"], field: "(root)")
        let version = try v.integer(root["schema_version"], field: "schema_version")
        guard version == schemaVersion else {
            throw .invalidField(path: path, field: "schema_version", expected: "\(schemaVersion) (found \(version))")
        }
        guard let list = root["plugins"] as? [Any] else {
            throw .invalidField(path: path, field: "plugins", expected: "an array of plugin entries")
        }
        // cfunction descriptions are read with StrictJSON (duplicate keys refused, numbers exact, order kept).
        var strictEntries: [StrictJSON.Value]?
        if list.contains(where: { ($0 as? [String: Any])?["kind"] as? String == "cfunction" }) {
            strictEntries = try strictPluginList(data, path: path)
        }
        var entries: [RegistryEntry] = []
        for (index, item) in list.enumerated() {
            let strict = strictEntries.flatMap { $0.indices.contains(index) ? $0[index] : nil }
            let entry = try v.entry(item, strict: strict, field: "plugins[\(index)]")
            if entries.contains(where: { $0.id == entry.id }) { throw .duplicateEntry(path: path, id: entry.id) }
            entries.append(entry)
        }
        return Registry(entries: entries)
    }

    /// The `plugins` array as ``StrictJSON`` values.
    private static func strictPluginList(_ data: Data, path: String) throws(RegistryError) -> [StrictJSON.Value] {
        let parsed = data.withUnsafeBytes { bytes in
            Result { () throws(StrictJSON.ParseError) in try StrictJSON.parse(bytes) }
        }
        let root: StrictJSON.Value
        switch parsed {
        case .success(let v): root = v
        case .failure(let error):
            switch error {
            case .syntax(let offset, let message): throw .invalidJSON(path: path, reason: "\(message) (byte \(offset))")
            case .duplicateKey(let key, let context, _):
                throw .invalidJSON(path: path, reason: "key '\(key)' appears twice in \(context)")
            }
        }
        guard case .object(let members) = root,
            case .array(let items)? = members.first(where: { $0.key == "plugins" })?.value
        else {
            throw .invalidField(path: path, field: "plugins", expected: "an array of plugin entries")
        }
        return items
    }

    /// The registry as pretty, key-sorted JSON (stable diffs).
    public func encoded() -> Data {
        struct File: Encodable {
            let schema = "./registry.schema.json"
            let schema_version: Int
            let plugins: [RegistryEntry]
            enum CodingKeys: String, CodingKey { case schema = "$schema", schema_version, plugins }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings, ints and arrays cannot fail.
        var data = (try? encoder.encode(File(schema_version: Self.schemaVersion, plugins: entries))) ?? Data()
        data.append(0x0A)
        return data
    }

    /// Writes the registry atomically (temporary file, then rename).
    public func save(path: String) throws(RegistryError) {
        do {
            let writer = try AtomicFileWriter(path: path)
            try writer.write([UInt8](encoded()))
            try writer.commit()
        } catch {
            throw .writeFailed(path: path, reason: error.reason)
        }
    }
}

/// Field-by-field checks that mirror `registry.schema.json`.
private struct Validator {
    let path: String

    func object(_ value: Any?, field: String) throws(RegistryError) -> [String: Any] {
        guard let dict = value as? [String: Any] else {
            throw .invalidField(path: path, field: field, expected: "an object")
        }
        return dict
    }

    func onlyKeys(_ dict: [String: Any], _ allowed: Set<String>, field: String) throws(RegistryError) {
        if let extra = dict.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw .invalidField(
                path: path, field: field == "(root)" ? extra : "\(field).\(extra)",
                expected: "no such field (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    func integer(_ value: Any?, field: String) throws(RegistryError) -> Int {
        // JSON booleans arrive as NSNumbers of type "c" (and `1 is Bool` holds on Linux), so test the type code.
        guard let n = value as? NSNumber, String(cString: n.objCType) != "c",
            let i = Int(exactly: n.doubleValue)
        else {
            throw .invalidField(path: path, field: field, expected: "an integer")
        }
        return i
    }

    func string(
        _ value: Any?, field: String, pattern: String? = nil, expected: String = "a non-empty string"
    ) throws(RegistryError) -> String {
        guard let s = value as? String, !s.isEmpty else {
            throw .invalidField(path: path, field: field, expected: expected)
        }
        if let pattern, s.range(of: pattern, options: .regularExpression) == nil {
            throw .invalidField(path: path, field: field, expected: "\(expected) (found '\(s)')")
        }
        return s
    }

    func entry(_ item: Any, strict: StrictJSON.Value?, field: String) throws(RegistryError) -> RegistryEntry {
        let e = try object(item, field: field)
        try onlyKeys(
            e,
            [
                "id", "kind", "library", "name", "version", "abi", "license", "operators", "sha256", "conformance",
                "cfunction",
            ], field: field)
        let id = try string(
            e["id"], field: "\(field).id", pattern: "^[a-z][a-z0-9_-]{0,63}$",
            expected: "an id matching [a-z][a-z0-9_-]*")
        let kind = try string(
            e["kind"], field: "\(field).kind", pattern: "^(plugin|cfunction)$", expected: "\"plugin\" or \"cfunction\"")
        let library = try string(e["library"], field: "\(field).library")
        let name = try string(e["name"], field: "\(field).name")
        let version = try string(e["version"], field: "\(field).version")
        let abi = try string(e["abi"], field: "\(field).abi", pattern: "^[0-9]+\\.[0-9]+$", expected: "\"major.minor\"")
        let license = try string(e["license"], field: "\(field).license")
        guard let ops = e["operators"] as? [Any], !ops.isEmpty else {
            throw .invalidField(path: path, field: "\(field).operators", expected: "a non-empty array of operator ids")
        }
        var operators: [String] = []
        for (i, op) in ops.enumerated() {
            operators.append(
                try string(
                    op, field: "\(field).operators[\(i)]", pattern: "^[a-z][a-z0-9_]{0,63}$", expected: "an operator id"
                ))
        }
        let sha = try string(
            e["sha256"], field: "\(field).sha256", pattern: "^[0-9a-f]{64}$", expected: "64 lower-case hex digits")
        var conformance: ConformanceRecord?
        if let c = e["conformance"], !(c is NSNull) {
            let cf = "\(field).conformance"
            let dict = try object(c, field: cf)
            try onlyKeys(dict, ["passed", "harness_version", "date", "summary"], field: cf)
            guard let passed = dict["passed"] as? Bool else {
                throw .invalidField(path: path, field: "\(cf).passed", expected: "true or false")
            }
            conformance = ConformanceRecord(
                passed: passed, harnessVersion: try string(dict["harness_version"], field: "\(cf).harness_version"),
                date: try string(dict["date"], field: "\(cf).date"),
                summary: try string(dict["summary"], field: "\(cf).summary"))
        }
        var cfunction: CFunctionSpec?
        if kind == "cfunction" {
            guard operators.count == 1 else {
                throw .invalidField(
                    path: path, field: "\(field).operators",
                    expected: "exactly one operator id (a cfunction entry describes one C function)")
            }
            guard case .object(let members)? = strict,
                let description = members.first(where: { $0.key == "cfunction" })?.value
            else {
                throw .invalidField(
                    path: path, field: "\(field).cfunction",
                    expected: "the C function's description (an entry of kind cfunction needs one)")
            }
            do { cfunction = try CFunctionSpec.parse(description, entry: id, field: "cfunction") } catch {
                throw .cfunction(path: path, error)
            }
        } else if e["cfunction"] != nil {
            throw .invalidField(
                path: path, field: "\(field).cfunction",
                expected: "no such field in an entry of kind \(kind) (only kind cfunction has one)")
        }
        return RegistryEntry(
            id: id, kind: kind, library: library, name: name, version: version, abi: abi, license: license,
            operators: operators, sha256: sha, conformance: conformance, cfunction: cfunction)
    }
}
