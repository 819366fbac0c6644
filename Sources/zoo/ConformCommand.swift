import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `zoo conform`: proves a plugin keeps the contract; every check runs in a child process.
struct ConformCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conform",
        abstract: "Run the conformance checks against every operator of a plugin library.",
        discussion: "Checks: "
            + ConformanceCheckID.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: "; ")
            + ". Exits non-zero when any check fails, crashes, times out or finds a claimed capability missing.")

    @Argument(
        help:
            "A plugin library path, a registry entry id or operator id (cfunction entries too), or cfunction:REGISTRY#ENTRY."
    )
    var target: String

    @Option(help: "Only this operator.")
    var `operator`: String?

    @Option(name: .customLong("check"), help: "Only these checks (repeatable).")
    var checks: [String] = []

    @Flag(help: "Smaller shapes and fewer repeats.")
    var quick = false

    @Flag(
        help:
            "Fail the complexity check when time grows faster with L than the operator declares (otherwise reported only: timings on a shared machine are noisy)."
    )
    var strictTiming = false

    @Option(help: "Seed of every input.")
    var seed: UInt64 = 0

    @Option(help: "Wall-clock limit per check, in seconds.")
    var timeout: Double = 120

    @Option(
        name: .customLong("resident-mib"),
        help: """
            Resident-memory limit of each check's child process in MiB: past it the probe is killed and the check \
            fails on resources (default: ZOO_CONFORM_RESIDENT_MIB, else half of --memory-mib).
            """)
    var residentMib: Int?

    @Option(help: "Memory (address-space) limit per check, in MiB.")
    var memoryMib = 4096

    @Option(help: "Write the report as JSON here.")
    var json: String?

    @Option(help: "Write the report as JUnit XML here.")
    var junit: String?

    @OptionGroup var plugins: PluginOptions

    func run() throws {
        let selected = try checks.map { name in
            guard let check = ConformanceCheckID(rawValue: name) else {
                throw CLIError(
                    "--check '\(name)' is not a check (known: \(ConformanceCheckID.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            return check
        }
        let library = try resolveLibrary()
        var runner = ConformanceRunner(executable: PluginSearchPath.executablePath)
        runner.timeout = timeout
        runner.memoryMiB = memoryMib
        if let residentMib {
            guard residentMib > 0 else {
                throw ValidationError("--resident-mib must be positive (found \(residentMib))")
            }
            runner.residentMiB = residentMib
        }
        runner.seed = seed
        runner.quick = quick
        runner.strictTiming = strictTiming
        let report = ConformanceReport(
            library: library,
            results: runner.run(
                library: library, operatorId: `operator`,
                checks: selected.isEmpty ? ConformanceCheckID.allCases : selected))
        print(report.table)
        print("\n\(library): \(report.summary)")
        if let json { try ConformanceReport.write(report.json(), to: json) }
        if let junit { try ConformanceReport.write(Data(report.junit().utf8), to: junit) }
        if !report.passed {
            let first = report.results.first { $0.verdict.isFailure }!
            throw CLIError("conformance failed; rerun one check with: \(first.reproduce)")
        }
    }

    /// A path is used as is (conformance is how an unpinned library earns its pin); an id goes through the registry,
    /// and a `cfunction` entry becomes a `cfunction:REGISTRY#ENTRY` reference that the child processes load.
    private func resolveLibrary() throws -> String {
        if target.contains("/") || target.hasSuffix(".so") { return target }
        let host = try plugins.makeHost()
        if let entry = host.registry.entry(id: target) ?? host.registry.entries(providing: target).first {
            let path = try host.libraryPath(for: entry)
            guard entry.kind == "cfunction", let registry = host.search.registryPath else { return path }
            // The children resolve the entry's library again: hand them --plugin-dir through the environment.
            if let dir = plugins.pluginDir {
                let inherited = ProcessInfo.processInfo.environment["ZOO_PLUGIN_PATH"].map { ":" + $0 } ?? ""
                setenv("ZOO_PLUGIN_PATH", dir + inherited, 1)
            }
            return CFunctionReference(registry: registry, entry: entry.id).description
        }
        throw CLIError(
            "'\(target)' is neither a library path nor a registry entry or operator id (known: \(host.registry.entries.map(\.id).joined(separator: ", ")))"
        )
    }
}

/// `zoo _probe`: one check in this process, for the harness's child processes (hidden).
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_probe", shouldDisplay: false)

    /// A library path or a `cfunction:REGISTRY#ENTRY` reference.
    @Argument var library: String
    @Option var `operator`: String?
    @Option var check: String?
    @Option var seed: UInt64 = 0
    @Flag var quick = false
    @Flag var strictTiming = false
    @Flag var list = false

    func run() throws {
        if list {
            let plugin = try PluginLibrary.open(library)
            let ids = String(decoding: try JSONEncoder().encode(plugin.operators.map(\.id)), as: UTF8.self)
            print("@@operators \(ids)")
            return
        }
        guard let id = `operator`, let name = check, let check = ConformanceCheckID(rawValue: name) else {
            throw CLIError("_probe needs --operator and a valid --check")
        }
        let result = ConformanceProbe.run(
            check: check, library: library, operatorId: id, seed: seed, quick: quick, strictTiming: strictTiming)
        print("@@result \(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))")
    }
}
