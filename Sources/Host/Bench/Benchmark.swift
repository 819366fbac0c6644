import Foundation
import HostCore

/// Timing of a piece of work: repeated runs after a warm-up, summarised by median and spread.
///
/// The machines this runs on are shared and noisy, so figures are reported with their spread and as ratios to
/// a baseline measured in the same run, never asserted against fixed thresholds.
public struct Timing: Codable, Equatable, Sendable {
    /// Median seconds per run.
    public var median: Double
    public var min: Double
    public var max: Double
    /// Runs measured (after the warm-up).
    public var repeats: Int

    /// Relative spread `(max - min) / median`.
    public var spread: Double { median > 0 ? (max - min) / median : 0 }

    /// Runs `body` `warmup` times unmeasured, then `repeats` times measured.
    public static func measure(repeats: Int = 5, warmup: Int = 1, _ body: () throws -> Void) rethrows -> Timing {
        for _ in 0..<warmup { try body() }
        var times: [Double] = []
        for _ in 0..<Swift.max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        times.sort()
        return Timing(median: times[times.count / 2], min: times.first!, max: times.last!, repeats: times.count)
    }
}

/// One benchmark figure: what was timed, how fast, and against which baseline of the same run.
public struct BenchEntry: Codable, Equatable, Sendable {
    public var suite: String
    public var name: String
    public var timing: Timing
    /// Floating-point operations of one run (multiply-add = 2), when counted.
    public var flops: Double?
    /// `flops / median / 1e9`.
    public var gflops: Double?
    /// The baseline this figure is compared with (e.g. `sgemm 2048x1536x384`).
    public var baseline: String?
    /// This figure's GFLOP/s over the baseline's, or the baseline's time over this one's.
    public var ratio: Double?
    /// Free-form facts (shapes, fitted exponents, ...).
    public var notes: [String: String] = [:]

    public init(
        suite: String, name: String, timing: Timing, flops: Double? = nil, baseline: String? = nil,
        ratio: Double? = nil,
        notes: [String: String] = [:]
    ) {
        self.suite = suite
        self.name = name
        self.timing = timing
        self.flops = flops
        self.gflops = flops.map { $0 / timing.median / 1e9 }
        self.baseline = baseline
        self.ratio = ratio
        self.notes = notes
    }
}

/// A benchmark run: the machine, then every figure.
public struct BenchReport: Codable, Sendable {
    public struct Machine: Codable, Sendable {
        public var cores: Int
        public var hostThreads: Int
        public var openblasCore: String
        public var openblasThreads: Int
        public var openblasCoretypeEnv: String?
        public var date: String
        /// The CPU's model name and whether it has AVX-512 (`/proc/cpuinfo`); absent in reports made before
        /// these were recorded.
        public var cpu: String?
        public var avx512: Bool?
        /// The instruction set of the float32 vector kernels (``VectorISA``).
        public var vectorISA: String?
        /// The library of the float32 matrix products (``BLAS/sgemmLibrary``), e.g. "oneDNN 2.6.3 (avx512_core)";
        /// absent in reports made before oneDNN could take them (OpenBLAS then).
        public var sgemmLibrary: String?
    }

    public var machine: Machine
    public var entries: [BenchEntry]

    public init(machine: Machine, entries: [BenchEntry]) {
        self.machine = machine
        self.entries = entries
    }

    /// The machine this process runs on.
    public static func currentMachine() -> Machine {
        _ = ThreadPool.shared
        let formatter = ISO8601DateFormatter()
        return Machine(
            cores: ProcessInfo.processInfo.activeProcessorCount, hostThreads: ThreadPool.shared.threadCount,
            openblasCore: BLAS.coreName, openblasThreads: BLAS.threadCount,
            openblasCoretypeEnv: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
            date: formatter.string(from: Date()), cpu: cpuInfo.model, avx512: cpuInfo.avx512,
            vectorISA: VectorISA.name, sgemmLibrary: BLAS.sgemmLibrary)
    }

    /// The model name and AVX-512 support of the first processor in `/proc/cpuinfo` (nil where it is unreadable).
    static var cpuInfo: (model: String?, avx512: Bool?) {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return (nil, nil) }
        func field(_ name: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix(name) }.flatMap { line in
                line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
            }
        }
        return (field("model name"), field("flags").map { $0.split(separator: " ").contains("avx512f") })
    }

    /// Pretty JSON with sorted keys.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// A plain-text table.
    public var table: String {
        var lines = [
            "machine: \(machine.cpu ?? "unknown CPU")\(machine.avx512 == true ? " (AVX-512)" : ""), \(machine.cores) cores, "
                + "host pool \(machine.hostThreads) threads, OpenBLAS \(machine.openblasCore) x\(machine.openblasThreads), "
                + "float32 products \(machine.sgemmLibrary ?? "OpenBLAS"), vector kernels \(machine.vectorISA ?? "unknown")"
        ]
        lines.append(
            "suite      name                                        median      spread   GFLOP/s   ratio   baseline")
        for e in entries {
            let name =
                e.name.count > 42
                ? String(e.name.prefix(42)) : e.name.padding(toLength: 42, withPad: " ", startingAt: 0)
            let suite = e.suite.padding(toLength: 10, withPad: " ", startingAt: 0)
            lines.append(
                String(
                    format: "%@ %@ %9.3f ms %6.1f%% %9@ %7@   %@", suite, name, e.timing.median * 1e3,
                    e.timing.spread * 100,
                    e.gflops.map { String(format: "%.1f", $0) } ?? "-",
                    e.ratio.map { String(format: "%.2f", $0) } ?? "-", e.baseline ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}
