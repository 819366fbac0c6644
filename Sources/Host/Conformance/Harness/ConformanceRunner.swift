import Foundation
import HostPlugins

/// Runs conformance checks, each in a child process (`zoo _probe …`) with a wall-clock, an address-space and a
/// resident-memory limit, so a plugin that crashes, hangs or allocates without bound fails its check instead of taking
/// the host (or the machine) down.
public struct ConformanceRunner: Sendable {
    /// The `zoo` executable to re-invoke.
    public var executable: String
    /// Wall-clock limit per check, in seconds.
    public var timeout: Double = 120
    /// Address-space limit per check, in MiB. Not applied when the process runs under AddressSanitizer or
    /// ThreadSanitizer (``runsUnderSanitizer``): their shadow memory reserves terabytes of address space, so any
    /// such limit would stop every probe before it starts.
    public var memoryMiB: Int = 4096
    /// Resident-memory limit per check, in MiB; nil: ``defaultResidentMiB``. The runner samples each probe's resident
    /// set every 10 ms and kills a probe past the limit: its check fails with a `resources:` reason, where without
    /// the limit a plugin that maps and touches too much memory would run the machine out of memory (the kernel's
    /// OOM killer then picks a victim) or crash when an allocation finally fails. Applied under sanitizers too.
    public var residentMiB: Int?

    /// `ZOO_CONFORM_RESIDENT_MIB` when set, else half the address-space limit (a Swift process reserves far more
    /// address space than it touches, so the resident limit is the tighter of the two), at least 256 MiB.
    public var defaultResidentMiB: Int {
        if let text = ProcessInfo.processInfo.environment["ZOO_CONFORM_RESIDENT_MIB"], let mib = Int(text), mib > 0 {
            return mib
        }
        return max(256, memoryMiB / 2)
    }

    /// Whether this process (and so each probe, the same executable in the same environment) runs with the
    /// AddressSanitizer or ThreadSanitizer runtime, built in (`swift test --sanitize=...`) or preloaded for
    /// instrumented C plugins (`LD_PRELOAD=libasan.so`, see scripts/sanitize).
    public static let runsUnderSanitizer =
        DynamicLibrary.processDefines("__asan_init") || DynamicLibrary.processDefines("__tsan_init")
    public var seed: UInt64 = 0
    public var quick = false
    /// The `complexity` check fails an operator whose time grows faster than it declares (otherwise it reports it).
    public var strictTiming = false

    /// The harness version recorded in reports and registry entries.
    public static let version = "1.6.0"

    public init(executable: String) {
        self.executable = executable
    }

    /// Every requested check on every operator of the library (or the one named).
    public func run(
        library: String, operatorId: String? = nil, checks: [ConformanceCheckID] = ConformanceCheckID.allCases
    )
        -> [ConformanceResult]
    {
        let listing = probe(["_probe", library, "--list"])
        let ids: [String]
        switch listing {
        case .finished(let output):
            guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("@@operators ") }),
                let decoded = try? JSONDecoder().decode([String].self, from: Data(line.dropFirst(12).utf8))
            else {
                return [failure(.metadata, "*", .fail, Self.lastLine(output, or: "the library could not be loaded"))]
            }
            ids = decoded
        case .crashed(let reason): return [failure(.metadata, "*", .crashed, reason)]
        case .timedOut(let reason): return [failure(.metadata, "*", .timeout, reason)]
        case .overMemory(let reason): return [failure(.metadata, "*", .fail, reason)]
        }
        var results: [ConformanceResult] = []
        for id in ids where operatorId == nil || operatorId == id {
            for check in checks {
                var arguments = ["_probe", library, "--operator", id, "--check", check.rawValue, "--seed", "\(seed)"]
                if quick { arguments.append("--quick") }
                if strictTiming { arguments.append("--strict-timing") }
                let reproduce =
                    "zoo conform \(library) --operator \(id) --check \(check.rawValue) --seed \(seed)"
                    + (quick ? " --quick" : "") + (strictTiming ? " --strict-timing" : "")
                let started = Date()
                var result = probeResult(arguments, check, id)
                // init_params: a second process must compute the same bytes (the figure carries their digest).
                if check == .initParams && result.verdict == .pass {
                    let second = probeResult(arguments, check, id)
                    if second.verdict != .pass {
                        result = second
                    } else if second.figure != result.figure {
                        result = failure(
                            check, id, .fail,
                            "two processes gave different parameters for seed \(seed) (\(result.figure ?? "?") in one, \(second.figure ?? "?") in the other): init_params depends on something besides the seed (an address, the time, the process)"
                        )
                    } else {
                        result.reason += "; a second process computed the same bytes"
                    }
                }
                result.reproduce = reproduce
                result.seconds = Date().timeIntervalSince(started)
                results.append(result)
            }
        }
        if let operatorId, !ids.contains(operatorId) {
            results.append(
                failure(
                    .metadata, operatorId, .fail,
                    "the library has no operator '\(operatorId)' (it has: \(ids.joined(separator: ", ")))"))
        }
        return results
    }

    /// Runs one probe and decodes its result (or the crash, timeout or memory verdict).
    private func probeResult(_ arguments: [String], _ check: ConformanceCheckID, _ id: String) -> ConformanceResult {
        switch probe(arguments) {
        case .finished(let output):
            if let line = output.split(separator: "\n").last(where: { $0.hasPrefix("@@result ") }),
                let decoded = try? JSONDecoder().decode(ConformanceResult.self, from: Data(line.dropFirst(9).utf8))
            {
                return decoded
            }
            return failure(check, id, .fail, "the probe gave no result: \(Self.lastLine(output, or: "no output"))")
        case .crashed(let reason): return failure(check, id, .crashed, reason)
        case .timedOut(let reason): return failure(check, id, .timeout, reason)
        case .overMemory(let reason): return failure(check, id, .fail, reason)
        }
    }

    private func failure(
        _ check: ConformanceCheckID, _ id: String, _ verdict: ConformanceVerdict, _ reason: String
    ) -> ConformanceResult {
        ConformanceResult(check: check, operatorId: id, verdict: verdict, reason: reason, seed: seed)
    }

    private enum ProbeOutcome {
        case finished(String)
        case crashed(String)
        case timedOut(String)
        /// Killed past the resident-memory limit.
        case overMemory(String)
    }

    /// Runs `zoo <arguments>` under `ulimit -v` and the resident-memory watch, with output in a temporary file (no
    /// pipe to fill up).
    private func probe(_ arguments: [String]) -> ProbeOutcome {
        let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent(
            "zoo-probe-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outputURL) }
        guard let output = FileHandle(forWritingAtPath: outputURL.path) else {
            return .crashed("could not create the probe's output file \(outputURL.path)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let limit = Self.runsUnderSanitizer ? "" : "ulimit -v \(memoryMiB * 1024) && "
        process.arguments = ["-c", limit + "exec \"$0\" \"$@\"", executable] + arguments
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch {
            return .crashed("could not start \(executable): \(error.localizedDescription)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        let residentLimit = (residentMiB ?? defaultResidentMiB) << 20
        var peak = 0
        var polls = 0
        var timedOut = false
        var overMemory = false
        while process.isRunning {
            if Date() >= deadline {
                timedOut = true
                break
            }
            if polls % 5 == 0 {
                peak = max(peak, Self.residentBytes(of: process.processIdentifier))
                if peak > residentLimit {
                    overMemory = true
                    break
                }
            }
            polls += 1
            usleep(2000)
        }
        if timedOut || overMemory { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? output.close()
        let text = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
        if overMemory {
            return .overMemory(
                "resources: resident memory reached \(peak >> 20) MiB, past the limit of \(residentLimit >> 20) MiB; the probe was killed (the plugin maps and touches too much memory)"
            )
        }
        if timedOut { return .timedOut("no result within \(Int(timeout)) s (killed)") }
        if process.terminationReason == .uncaughtSignal {
            let signal = process.terminationStatus
            return .crashed(
                "the probe died of signal \(signal) (\(Self.signalName(signal)))\(Self.memoryHint(signal, memoryMiB))")
        }
        return .finished(text)
    }

    /// The resident set of process `pid` (from /proc/PID/statm), 0 when it cannot be read (it has exited).
    static func residentBytes(of pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return 0 }
        let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func lastLine(_ text: String, or fallback: String) -> String {
        text.split(separator: "\n").last(where: { !$0.hasPrefix("@@") }).map(String.init) ?? fallback
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: "SIGSEGV, a bad memory access"
        case SIGBUS: "SIGBUS, a bad memory access"
        case SIGABRT: "SIGABRT, the plugin aborted"
        case SIGILL: "SIGILL, a trap"
        case SIGTRAP: "SIGTRAP, a trap"
        case SIGFPE: "SIGFPE, an arithmetic fault"
        case SIGKILL: "SIGKILL"
        default: "signal \(signal)"
        }
    }

    private static func memoryHint(_ signal: Int32, _ mib: Int) -> String {
        signal == SIGABRT || signal == SIGILL || signal == SIGTRAP || signal == SIGSEGV
            ? "; if it allocated past the \(mib) MiB limit, allocation failures end this way too" : ""
    }
}
