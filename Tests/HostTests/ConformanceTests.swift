import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The harness catches every broken fixture plugin, reporting exactly the check it breaks, and passes the good
/// fixture and the shipped plugins. Runs through `zoo conform`, as a user would.
@Suite struct ConformanceTests {
    /// Runs `zoo conform` and decodes its JSON report.
    func conform(
        _ library: String, _ extra: [String] = [], environment: [String: String]? = nil
    ) throws -> (
        status: Int32, report: ConformanceReport
    ) {
        let dir = try makeTemporaryDirectory("zoo-conform")
        let json = dir.appendingPathComponent("report.json").path
        let junit = dir.appendingPathComponent("report.xml").path
        let result = try runCommand(
            try zooPath(), ["conform", library, "--quick", "--json", json, "--junit", junit] + extra,
            environment: environment)
        let report = try JSONDecoder().decode(
            ConformanceReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.contains("<testsuites") && xml.contains("tests=\"\(report.results.count)\""))
        #expect(result.stdout.contains("check") && result.stdout.contains("verdict"), "the table is printed")
        return (result.status, report)
    }

    /// A result of a conformant operator: pass, or skipped for a check in `skipped`. The complexity check may also
    /// be skipped: without --strict-timing it only reports what it cannot judge (a noisy machine, a fixed length),
    /// and no test depends on timing to pass.
    static func expected(_ r: ConformanceResult, skipped: Set<ConformanceCheckID>) -> Bool {
        if r.check == .complexity && r.verdict == .skipped { return !r.reason.isEmpty }
        // Only operators that declare OZ_CAP_SAVE_FOR_BACKWARD have a saved path to check.
        if r.check == .saveForBackward && r.verdict == .skipped {
            return r.reason.contains("does not declare OZ_CAP_SAVE_FOR_BACKWARD")
        }
        // Only operators that declare upstream state entries (ABI 1.5) have them checked.
        if r.check == .stateEntries && r.verdict == .skipped { return r.reason.contains("declares no state entries") }
        // Only operators that give attention weights (ABI 1.6) have them checked.
        if r.check == .diagnostics && r.verdict == .skipped { return r.reason.contains("gives no diagnostics") }
        return r.verdict == (skipped.contains(r.check) ? .skipped : .pass)
    }

    func verdicts(_ report: ConformanceReport) -> [ConformanceCheckID: ConformanceVerdict] {
        Dictionary(report.results.map { ($0.check, $0.verdict) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func goodFixturePassesEveryCheck() throws {
        let (status, report) = try conform(try FixturePlugins.path("ConformGood"))
        #expect(status == 0)
        #expect(report.results.count == ConformanceCheckID.allCases.count)
        // Everything passes; only the reference check is skipped (no built-in reference for `conform_op`), and the
        // complexity check may report only (timings too noisy on a busy machine).
        #expect(report.results.allSatisfy { Self.expected($0, skipped: [.reference]) }, "\(report.table)")
        #expect(report.results.allSatisfy { $0.reproduce.contains("--check \($0.check.rawValue)") })
        // Every row says how long its check took.
        #expect(report.results.allSatisfy { ($0.seconds ?? -1) >= 0 }, "\(report.table)")
        #expect(report.table.hasPrefix("check") && report.table.contains(" time "))
    }

    /// Fixture, the check it must fail, and the verdict; every check not listed under `alsoAffected` must pass.
    static let broken:
        [(
            fixture: String, check: ConformanceCheckID, verdict: ConformanceVerdict,
            alsoAffected: Set<ConformanceCheckID>
        )] = [
            ("ConformWritePast", .guardRegions, .fail, []),
            ("ConformModifyInput", .inputsUnmodified, .fail, []),
            ("ConformWrongGradient", .backward, .fail, []),
            ("ConformAccumulates", .backward, .fail, []),
            ("ConformWritesNullDx", .backward, .crashed, []),
            ("ConformNan", .finiteOutputs, .fail, []),
            ("ConformNoAttrCheck", .attributes, .fail, []),
            ("ConformNoDtypeCheck", .shapes, .fail, []),
            ("ConformSilentError", .errorPath, .fail, []),
            // Its global weight pointer also races between calls on one instance, where a call may read another's
            // freed parameters: the reentrancy check catches that when the calls happen to overlap there.
            ("ConformSharedState", .concurrency, .fail, [.reentrancy]),
            ("ConformWrongMlp", .reference, .fail, []),
            // An off-by-one window (i + right + 1): declared honestly, so only the swa reference can tell.
            ("ConformWrongSwa", .reference, .fail, []),
            ("ConformLeaks", .resources, .fail, []),
            ("ConformSpawnsThread", .resources, .fail, []),
            // The classes that only calling the plugin as the host does exposes (issue 25).
            ("ConformWorkspaceState", .workspace, .fail, []),
            ("ConformBf16Float32", .float32Agreement, .fail, []),
            ("ConformInitCounter", .initParams, .fail, []),
            ("ConformInitProcess", .initParams, .fail, []),
            ("ConformLeaksPerCall", .resources, .fail, []),
            ("ConformReentrantStaging", .reentrancy, .fail, []),
            ("ConformSplitOrder", .determinism, .fail, []),
            // The train-mode forward of ABI 1.4 (issue 23): saves too little, or scribbles on the saved buffer.
            ("ConformSavedPartial", .saveForBackward, .fail, []),
            ("ConformSavedScratch", .saveForBackward, .fail, []),
            // Upstream state entries of ABI 1.5: a buffer whose values live in scratch that forward overwrites.
            ("ConformStateScratch", .stateEntries, .fail, []),
            // The attention weights of ABI 1.6: a row that leaves out a key the output depends on.
            ("ConformDiagMissesKey", .diagnostics, .fail, []),
            // A wrong forward also makes its (correct-for-the-declared-function) gradient disagree.
            ("ConformLiesCausal", .receptiveField, .fail, [.backward]),
            ("ConformMixesBatch", .batchIndependence, .fail, [.backward]),
            // Noise breaks every bitwise comparison, not only the determinism check.
            (
                "ConformNondeterministic", .determinism, .fail,
                [.batchIndependence, .receptiveField, .backward, .errorPath, .concurrency, .workspace, .reentrancy]
            ),
            // A crash in forward fails every check that calls it, and the host survives.
            (
                "ConformCrash", .shapes, .crashed,
                Set(ConformanceCheckID.allCases).subtracting([.metadata, .attributes, .initParams])
            ),
        ]

    /// What the reason of the failing check says, for fixtures whose check has several ways to fail.
    static let reasons: [String: String] = [
        "ConformWorkspaceState": "reads workspace it has not written",
        "ConformInitCounter": "two init_params calls with seed 0 on one instance",
        "ConformInitProcess": "two processes gave different parameters",
        "ConformLeaksPerCall": "calls on one instance",
        "ConformReentrantStaging": "declares OZ_CAP_REENTRANT",
        "ConformSplitOrder": "host pool",
        "ConformSavedPartial": "the gradient of 'weight' differs from the recomputing backward's",
        "ConformSavedScratch": "changed it (it is read-only)",
        "ConformStateScratch": "state entry 'grid' changed after a forward",
    ]

    @Test(arguments: broken.indices)
    func brokenFixtureFailsExactlyItsCheck(index: Int) throws {
        let c = Self.broken[index]
        let (status, report) = try conform(try FixturePlugins.path(c.fixture))
        #expect(status != 0)
        let v = verdicts(report)
        #expect(v[c.check] == c.verdict, "\(c.fixture): \(report.table)")
        // The rest pass (or are skipped: ConformWrongMlp and ConformWrongSwa declare no backward; the conform_op
        // fixtures have no built-in reference; the complexity check reports only on a noisy machine).
        for check in ConformanceCheckID.allCases where check != c.check && !c.alsoAffected.contains(check) {
            #expect(
                v[check] == .pass || v[check] == .skipped,
                "\(c.fixture): \(check.rawValue) should pass\n\(report.table)")
        }
        if c.verdict == .crashed {
            #expect(report.results.first { $0.check == c.check }?.reason.contains("SIGSEGV") == true)
        }
        if let phrase = Self.reasons[c.fixture] {
            let reason = report.results.first { $0.check == c.check }?.reason ?? ""
            #expect(reason.contains(phrase), "\(c.fixture): \(reason)")
        }
    }

    /// A plugin that maps and touches memory without bound (64 MiB more per backward call once an instance has made
    /// 256) is killed at the resident-memory limit during the thousands of calls of the resources check, which fails
    /// with a `resources:` reason instead of the probe crashing or the machine running out of memory. The limit is
    /// lowered to 512 MiB here (`--resident-mib`) to spare the machine; by default it is half of --memory-mib.
    @Test func residentMemoryLimitFailsTheResourcesCheck() throws {
        let bad = try runCommand(
            try zooPath(), ["conform", try FixturePlugins.path("ConformGood"), "--resident-mib", "0"])
        #expect(bad.status != 0 && bad.stderr.contains("--resident-mib"), "\(bad.stderr)")
        let (status, report) = try conform(try FixturePlugins.path("ConformTouchesTooMuch"), ["--resident-mib", "512"])
        #expect(status != 0)
        let v = verdicts(report)
        #expect(v[.resources] == .fail, "\(report.table)")
        let reason = report.results.first { $0.check == .resources }?.reason ?? ""
        #expect(reason.contains("resources: resident memory reached") && reason.contains("512 MiB"), "\(reason)")
        for check in ConformanceCheckID.allCases where check != .resources {
            #expect(v[check] == .pass || v[check] == .skipped, "\(check.rawValue) should pass\n\(report.table)")
        }
    }

    /// An operator that declares O(L) but does O(L^2 D) work: `--strict-timing` fails its complexity check. Robust on
    /// a busy 2-core machine: the quadratic term outweighs the linear one 64-fold from the first length on (the
    /// fit gives 2.0 against a limit of 1.5), each length is the median of 5+ repeats in thread CPU time, and a
    /// noisy machine does not turn a clear excess into a pass under --strict-timing.
    @Test func quadraticWorkDeclaredLinearFailsUnderStrictTiming() throws {
        let path = try FixturePlugins.path("ConformQuadratic")
        let (status, report) = try conform(path, ["--strict-timing", "--check", "complexity"])
        #expect(status != 0)
        let result = try #require(report.results.first { $0.check == .complexity })
        #expect(result.verdict == .fail, "\(report.table)")
        #expect(result.reason.contains("faster than the declared O(L)"), "\(result.reason)")
        #expect(result.reproduce.contains("--strict-timing"))
        // Without the flag the excess is reported, and every other check passes: the run succeeds.
        let (plain, full) = try conform(path)
        #expect(plain == 0, "\(full.table)")
        let reported = try #require(full.results.first { $0.check == .complexity })
        #expect(reported.verdict == .skipped, "\(full.table)")
        #expect(
            full.results.allSatisfy { $0.check == .complexity || Self.expected($0, skipped: [.reference]) },
            "\(full.table)")
    }

    @Test func hangingPluginTimesOut() throws {
        let (status, report) = try conform(
            try FixturePlugins.path("ConformHang"), ["--check", "attributes", "--check", "shapes", "--timeout", "2"])
        #expect(status != 0)
        let v = verdicts(report)
        #expect(v[.attributes] == .pass)
        #expect(v[.shapes] == .timeout, "\(report.table)")
    }

    @Test func unloadableLibraryFailsMetadata() throws {
        let (status, report) = try conform(try FixturePlugins.path("MajorMismatch"))
        #expect(status != 0)
        #expect(report.results.count == 1)
        #expect(report.results.first?.check == .metadata && report.results.first?.verdict == .fail)
        #expect(report.results.first?.reason.contains("major version 2") == true, "\(report.table)")
    }

    @Test(arguments: ["OZMHA", "OZMLP", "OZPoolFormerC", "OZHyena", "OZLocalAttention"])
    func shippedPluginsPass(product: String) throws {
        let (status, report) = try conform(try pluginPath(product: product))
        #expect(status == 0, "\(report.table)")
        // Everything passes; the reference check is skipped only for ids without a built-in reference.
        #expect(
            report.results.allSatisfy {
                Self.expected($0, skipped: ReferenceOperators.ids.contains($0.operatorId) ? [] : [.reference])
            }, "\(report.table)")
    }

    /// An instance that takes one length only says so (`fixed_length`, ABI 1.1); the host refuses other lengths
    /// before calling it, and the harness probes it at that length.
    @Test func fixedLengthIsReportedAndEnforced() throws {
        let plugin = try PluginLibrary(path: try pluginPath(product: "OZHyena"))
        let op = try Operator(try #require(plugin.operator("mlp_hyena_x")), dim: 8, attributes: ["l_max": .int(12)])
        #expect(op.fixedLength == 12)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 0)
        #expect(
            try op.forward(Tensor<Float>.randomNormal([1, 12, 8], seed: 1), parameters: params).shape == [1, 12, 8])
        let error = #expect(throws: OperatorError.self) {
            _ = try op.forward(Tensor<Float>(zeros: [1, 11, 8]), parameters: params)
        }
        #expect(error?.description.contains("L = 12 only") == true)
        #expect(try Operator(try #require(plugin.operator("hyena_x")), dim: 8).fixedLength == nil)
    }

    /// `zoo plugin new` writes a folder that builds with its own Makefile, with no warnings, and passes every check.
    @Test func scaffoldBuildsAndPassesAsGenerated() throws {
        let dir = try makeTemporaryDirectory("zoo-scaffold").appendingPathComponent("my_mixer").path
        let new = try runCommand(try zooPath(), ["plugin", "new", "my_mixer", "--language", "c", "--output", dir])
        #expect(new.status == 0, "\(new.stderr)")
        let make = try runCommand(
            "/usr/bin/env", ["make", "-C", dir, "CFLAGS=-std=c99 -O2 -fPIC -Wall -Wextra -Werror"])
        #expect(make.status == 0, "\(make.stdout)\(make.stderr)")
        let (status, report) = try conform(dir + "/build/libmy_mixer.so")
        #expect(status == 0)
        #expect(report.results.count == ConformanceCheckID.allCases.count)
        #expect(report.results.allSatisfy { Self.expected($0, skipped: [.reference]) }, "\(report.table)")
        // A bad name and an existing folder are refused with a message.
        let bad = try runCommand(try zooPath(), ["plugin", "new", "My-Mixer", "--output", dir + "2"])
        #expect(bad.status != 0 && bad.stderr.contains("[a-z][a-z0-9_]*"))
        let again = try runCommand(try zooPath(), ["plugin", "new", "my_mixer", "--output", dir])
        #expect(again.status != 0 && again.stderr.contains("already exists"))
    }

    /// `zoo plugin new --language swift` writes a SwiftPM package outside this one that depends on this checkout by
    /// absolute path (found above the `zoo` executable) for PluginKit; it builds with its own build script and passes
    /// every check as generated. The nested SwiftPM build gets its own scratch folder and builds debug (PluginKit
    /// and the example only: about 30 s on 2 busy cores, so it runs in the normal suite; on a machine with neither
    /// network nor SwiftPM's cache, resolving this package's dependencies fails and so does this test).
    @Test func swiftScaffoldBuildsAndPassesAsGenerated() throws {
        let root = try makeTemporaryDirectory("zoo-swift-scaffold")
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("my_swift_mixer").path
        let new = try runCommand(
            try zooPath(), ["plugin", "new", "my_swift_mixer", "--language", "swift", "--output", dir])
        try #require(new.status == 0, "\(new.stderr)")
        let manifest = try String(contentsOfFile: dir + "/Package.swift", encoding: .utf8)
        #expect(manifest.contains(".package(path: \"\(packageRoot.standardizedFileURL.path)\")"), "\(manifest)")
        #expect(manifest.contains(".product(name: \"PluginKit\""))
        let build = try runCommand(
            dir + "/build.sh", ["debug"], environment: ["SCRATCH_PATH": root.appendingPathComponent("scratch").path])
        try #require(build.status == 0, "\(build.stdout)\(build.stderr)")
        let library = build.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(library.hasSuffix("/libmy_swift_mixer.so"))
        let (status, report) = try conform(library)
        #expect(status == 0)
        #expect(report.results.count == ConformanceCheckID.allCases.count)
        #expect(report.results.allSatisfy { Self.expected($0, skipped: [.reference]) }, "\(report.table)")
        let plugin = try PluginLibrary(path: library)
        let descriptor = try #require(plugin.operator("my_swift_mixer"))
        #expect(descriptor.capabilities.contains(.float64) && descriptor.capabilities.contains(.backward))
        #expect(try Operator(descriptor, dim: 4).complexity == .linear)
        // A --package-path that is not an OperatorZoo checkout is refused with a message.
        let bad = try runCommand(
            try zooPath(),
            ["plugin", "new", "other", "--language", "swift", "--output", dir + "2", "--package-path", root.path])
        #expect(bad.status != 0 && bad.stderr.contains("--package-path"), "\(bad.stderr)")
    }
}
