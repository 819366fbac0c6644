import Foundation
import HostCore
import HostPlugins

/// A load test for plugins: many create/forward/backward/destroy cycles of every operator given, run
/// concurrently on the host thread pool, with the process's resident memory and thread count measured along
/// the way. A plugin that leaks, leaves threads behind, corrupts memory under concurrency or computes
/// differently from one cycle to the next shows up as growth, a thread surplus or a result mismatch.
///
/// Each operator runs at D = 16, B = 2, on 16 tokens (a 4 x 4 grid when it needs one; its fixed length when it
/// declares one), with its default attributes, in float32. A cycle creates an instance, initialises its
/// parameters from a fixed seed, runs forward and (when offered) backward, compares the outputs bit for bit
/// with the first cycle's, and destroys the instance.
///
/// ```swift
/// let report = try PluginSoak.run(operators: descriptors, cyclesPerOperator: 2_000)
/// print(report.summary)
/// ```
public enum PluginSoak {
    /// What a soak run measured.
    public struct Report: Codable, Equatable, Sendable {
        /// The operators soaked, in order.
        public var operators: [String]
        /// Cycles run per operator after the warm-up (the warm-up's are not counted).
        public var cyclesPerOperator: Int
        /// Cycles per operator before the first measurement (pool, allocator and OpenBLAS settle).
        public var warmupCycles: Int
        /// Threads the pool ran the cycles on.
        public var poolThreads: Int
        /// Wall-clock seconds of the measured cycles.
        public var seconds: Double
        /// Resident memory after the warm-up, and after each tenth of the measured cycles (bytes).
        public var residentBytes: [Int]
        /// Threads in the process after the warm-up and after the last cycle.
        public var threadsBefore: Int
        public var threadsAfter: Int
        /// Cycles whose outputs differed from the operator's first cycle, or that failed (with the reason).
        public var failures: [String]

        /// All cycles, every operator.
        public var totalCycles: Int { cyclesPerOperator * operators.count }
        /// Resident memory growth from after the warm-up to the end (bytes; negative when it shrank).
        public var growthBytes: Int { (residentBytes.last ?? 0) - (residentBytes.first ?? 0) }
        /// Largest resident memory seen after the warm-up, less the first measurement (bytes).
        public var peakGrowthBytes: Int { (residentBytes.max() ?? 0) - (residentBytes.first ?? 0) }

        /// One line per figure, for people.
        public var summary: String {
            let mib = { (bytes: Int) in String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
            return """
                operators: \(operators.joined(separator: ", "))
                cycles: \(totalCycles) (\(cyclesPerOperator) per operator after \(warmupCycles) warm-up) on \(poolThreads) pool threads \
                in \(String(format: "%.1f", seconds)) s (\(String(format: "%.0f", Double(totalCycles) / max(seconds, 1e-9))) cycles/s)
                resident memory: \(residentBytes.map(mib).joined(separator: " -> ")); growth \(mib(growthBytes)), \
                peak growth \(mib(peakGrowthBytes))
                threads: \(threadsBefore) before, \(threadsAfter) after
                failures: \(failures.isEmpty ? "none" : "\(failures.count): " + failures.prefix(5).joined(separator: "; "))
                """
        }
    }

    /// Soaks `operators`: `warmupCycles` cycles each, then `cyclesPerOperator` each in ten rounds, all on `pool`.
    /// - Parameter progress: called after each round with the cycles done and the total.
    /// - Throws: ``OperatorError`` when an operator cannot be set up at all (its first instance or reference
    ///   outputs); failures of later cycles are collected in ``Report/failures`` instead.
    public static func run(
        operators descriptors: [OperatorDescriptor], cyclesPerOperator: Int, warmupCycles: Int = 20,
        pool: ThreadPool = .shared, progress: ((Int, Int) -> Void)? = nil
    ) throws -> Report {
        let workloads = try descriptors.map { try Workload($0) }
        let failures = FailureLog()
        /// Runs `cycles` cycles of every workload, spread over the pool in chunks of a few cycles.
        func round(_ cycles: Int) {
            guard cycles > 0 else { return }
            let chunk = max(1, min(cycles, 8))
            let chunksPerOperator = (cycles + chunk - 1) / chunk
            pool.parallelFor(workloads.count * chunksPerOperator) { begin, end in
                for task in begin..<end {
                    let workload = workloads[task % workloads.count]
                    let first = (task / workloads.count) * chunk
                    for _ in first..<min(first + chunk, cycles) {
                        if let failure = workload.cycle() { failures.append(failure) }
                    }
                }
            }
        }
        round(warmupCycles)
        var resident = [ProcessStats.residentBytes]
        let threadsBefore = ProcessStats.threadCount
        let started = Date()
        let rounds = 10
        var done = 0
        for r in 0..<rounds {
            let cycles = cyclesPerOperator * (r + 1) / rounds - cyclesPerOperator * r / rounds
            round(cycles)
            done += cycles
            resident.append(ProcessStats.residentBytes)
            progress?(done * workloads.count, cyclesPerOperator * workloads.count)
        }
        return Report(
            operators: workloads.map(\.descriptor.id), cyclesPerOperator: cyclesPerOperator, warmupCycles: warmupCycles,
            poolThreads: pool.threadCount, seconds: Date().timeIntervalSince(started), residentBytes: resident,
            threadsBefore: threadsBefore, threadsAfter: ProcessStats.threadCount, failures: failures.entries)
    }

    /// One operator's fixed inputs and the outputs of its first cycle, against which every cycle is compared.
    private final class Workload: @unchecked Sendable {
        let descriptor: OperatorDescriptor
        let dim = 16
        let grid: (height: Int, width: Int)?
        let x: Tensor<Float>
        let dy: Tensor<Float>
        private var reference: (y: Tensor<Float>, gradients: [Tensor<Float>?])!

        init(_ descriptor: OperatorDescriptor) throws {
            self.descriptor = descriptor
            grid = descriptor.capabilities.contains(.needsGrid) ? (4, 4) : nil
            let length = try Operator(descriptor, dim: dim, grid: grid).fixedLength ?? 16
            x = Tensor<Float>.randomNormal([2, length, dim], seed: 1)
            dy = Tensor<Float>.randomNormal([2, length, dim], seed: 2)
            reference = try outputs()
        }

        /// Create, initialise, forward, backward; the instance is destroyed on return.
        private func outputs() throws -> (y: Tensor<Float>, gradients: [Tensor<Float>?]) {
            let op = try Operator(descriptor, dim: dim, grid: grid)
            let parameters: [Tensor<Float>] = try op.initialParameters(seed: 3)
            let y = try op.forward(x, parameters: parameters)
            guard descriptor.capabilities.contains(.backward) else { return (y, []) }
            let gradients = try op.backward(x, parameters: parameters, outputGradient: dy)
            return (y, [gradients.input] + gradients.parameters)
        }

        /// One cycle: `nil`, or why it failed.
        func cycle() -> String? {
            do {
                let (y, gradients) = try outputs()
                guard y == reference.y, gradients == reference.gradients else {
                    return "\(descriptor.id): a cycle's outputs differ from the first cycle's"
                }
                return nil
            } catch {
                return "\(descriptor.id): \(error)"
            }
        }
    }

    /// Failures from the pool's threads.
    private final class FailureLog: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var entries: [String] = []
        func append(_ entry: String) { lock.withLock { entries.append(entry) } }
    }
}
