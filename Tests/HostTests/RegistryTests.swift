import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

@Suite struct RegistryTests {
    static let sha = String(repeating: "ab", count: 32)

    func entryJSON(id: String = "mha", sha256: String = sha, extra: String = "") -> String {
        """
        {"id": "\(id)", "kind": "plugin", "library": "libOZMHA.so", "name": "OZMHA", "version": "1.0.0",
         "abi": "1.0", "license": "MIT", "operators": ["mha"], "sha256": "\(sha256)"\(extra)}
        """
    }

    func parse(_ text: String) throws -> Registry {
        try Registry.parse(Data(text.utf8), path: "reg.json")
    }

    @Test func parsesAValidRegistry() throws {
        let registry = try parse(#"{"schema_version": 1, "plugins": [\#(entryJSON())]}"#)
        #expect(registry.entries.count == 1)
        #expect(registry.entries(providing: "mha").first?.library == "libOZMHA.so")
        #expect(registry.operatorIds == ["mha"])
    }

    @Test func roundTripsThroughAtomicSave() throws {
        let dir = try makeTemporaryDirectory()
        let path = dir.appendingPathComponent("registry.json").path
        var registry = Registry()
        registry.upsert(
            RegistryEntry(
                id: "b", library: "libB.so", name: "B", version: "1", abi: "1.0", license: "MIT",
                operators: ["op_b"], sha256: Self.sha))
        registry.upsert(
            RegistryEntry(
                id: "a", library: "libA.so", name: "A", version: "1", abi: "1.0", license: "MIT",
                operators: ["op_a"], sha256: Self.sha,
                conformance: ConformanceRecord(passed: true, harnessVersion: "1", date: "2026-11-27", summary: "15/15"))
        )
        try registry.save(path: path)
        #expect(try Registry.load(path: path) == registry)
        #expect(registry.entries.map(\.id) == ["a", "b"])
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["registry.json"])
    }

    @Test func saveToAMissingDirectoryIsAnError() {
        #expect(throws: RegistryError.self) { try Registry().save(path: "/nonexistent-dir/registry.json") }
    }

    @Test(arguments: [
        (#"{"schema_version": 1, "plugins": [{"id": "x"}]}"#, "plugins[0].kind"),
        (#"{"schema_version": 2, "plugins": []}"#, "schema_version"),
        (#"{"schema_version": "1", "plugins": []}"#, "schema_version"),
        (#"{"schema_version": 1}"#, "plugins"),
        (#"{"schema_version": 1, "plugins": [], "extra": 1}"#, "extra"),
        (#"[1, 2]"#, "(root)"),
    ])
    func namesTheBadField(text: String, field: String) {
        let error = #expect(throws: RegistryError.self) { _ = try parse(text) }
        guard case .invalidField(let path, let f, _) = error else {
            Issue.record("expected invalidField, got \(String(describing: error))")
            return
        }
        #expect(path == "reg.json")
        #expect(f == field)
    }

    @Test func entryFieldErrors() {
        let cases: [(String, String)] = [
            (entryJSON(sha256: "XYZ"), "plugins[0].sha256"),
            (entryJSON(id: "Bad Id"), "plugins[0].id"),
            (entryJSON(extra: #", "operators2": []"#), "plugins[0].operators2"),
            (entryJSON(extra: #", "conformance": {"passed": "yes"}"#), "plugins[0].conformance.passed"),
        ]
        for (entry, field) in cases {
            let error = #expect(throws: RegistryError.self) {
                _ = try parse(#"{"schema_version": 1, "plugins": [\#(entry)]}"#)
            }
            if case .invalidField(_, let f, _) = error {
                #expect(f == field)
            } else {
                Issue.record("\(field): \(String(describing: error))")
            }
        }
    }

    @Test func duplicateIdsAndBadJSON() {
        #expect(throws: RegistryError.duplicateEntry(path: "reg.json", id: "mha")) {
            _ = try parse(#"{"schema_version": 1, "plugins": [\#(entryJSON()), \#(entryJSON())]}"#)
        }
        #expect(throws: RegistryError.self) { _ = try parse("{not json") }
        #expect(throws: RegistryError.invalidJSON(path: "reg.json", reason: "the file is not UTF-8 text")) {
            _ = try Registry.parse(Data([0x7B, 0xFF, 0xFE, 0x7D]), path: "reg.json")
        }
        #expect(throws: RegistryError.fileNotFound(path: "/nonexistent/registry.json")) {
            _ = try Registry.load(path: "/nonexistent/registry.json")
        }
    }

    @Test func committedRegistryIsValidAndMatchesItsSchema() throws {
        let registry = try Registry.load(path: packageRoot.appendingPathComponent("registry.json").path)
        #expect(!registry.entries.isEmpty)
        let schemaData = try Data(contentsOf: packageRoot.appendingPathComponent("registry.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: schemaData) as? [String: Any])
        let entrySchema = try #require((schema["$defs"] as? [String: Any])?["entry"] as? [String: Any])
        let required = Set(try #require(entrySchema["required"] as? [String]))
        #expect(required == ["id", "kind", "library", "name", "version", "abi", "license", "operators", "sha256"])
    }

    // MARK: Pinning

    /// A registry beside a copy of a fixture library, pinned to `sha256` (its real hash when nil).
    func pinnedSetup(sha256: String? = nil) throws -> (PluginSearchPath, String, String) {
        let dir = try makeTemporaryDirectory()
        let library = dir.appendingPathComponent("libOZFixtureOlderMinor.so").path
        try FileManager.default.copyItem(atPath: try FixturePlugins.path("OlderMinor"), toPath: library)
        let real = try FileHash.sha256(path: library)
        var registry = Registry()
        registry.upsert(
            RegistryEntry(
                id: "older", library: "libOZFixtureOlderMinor.so", name: "n", version: "1",
                abi: "1.0", license: "MIT", operators: ["older_op"], sha256: sha256 ?? real))
        let registryPath = dir.appendingPathComponent("registry.json").path
        try registry.save(path: registryPath)
        return (PluginSearchPath(registryPath: registryPath, directories: [dir.path]), library, real)
    }

    @Test func pinnedLibraryLoadsThroughTheRegistry() throws {
        let (search, library, _) = try pinnedSetup()
        let host = try PluginHost(search: search)
        #expect(try host.resolveOperator("older_op").libraryPath == library)
        #expect(host.discover().map(\.trust) == [.pinned(entryId: "older")])
    }

    @Test func changedLibraryIsRefusedUnlessAllowed() throws {
        let wrong = String(repeating: "0", count: 64)
        let (search, library, real) = try pinnedSetup(sha256: wrong)
        let host = try PluginHost(search: search)
        #expect(throws: RegistryError.hashMismatch(library: library, entry: "older", expected: wrong, found: real)) {
            _ = try host.resolveOperator("older_op")
        }
        #expect(host.discover().map(\.trust) == [.hashMismatch(entryId: "older", expected: wrong)])
        var allowed = search
        allowed.allowUnpinned = true
        #expect(try PluginHost(search: allowed).resolveOperator("older_op").id == "older_op")
    }

    @Test func unpinnedLibraryIsRefusedUnlessAllowed() throws {
        let (search, _, _) = try pinnedSetup()
        let other = try FixturePlugins.path("NewerMinor")
        let host = try PluginHost(search: search)
        let error = #expect(throws: RegistryError.self) { _ = try host.resolveOperator("newer_op", pluginPath: other) }
        guard case .notPinned(let path, _) = error else {
            Issue.record("expected notPinned, got \(String(describing: error))")
            return
        }
        #expect(path == other)
        var allowed = search
        allowed.allowUnpinned = true
        #expect(try PluginHost(search: allowed).resolveOperator("newer_op", pluginPath: other).id == "newer_op")
    }

    @Test func unknownOperatorListsWhatIsKnown() throws {
        let (search, _, _) = try pinnedSetup()
        let host = try PluginHost(search: search)
        let error = #expect(throws: RegistryError.self) { _ = try host.resolveOperator("nope") }
        #expect(error?.description.contains("older_op") == true)
    }
}
