import Foundation
import MPIShim

/// Why a data-parallel run could not start or communicate.
public enum DistributedError: Error, Equatable, CustomStringConvertible {
    /// The process was launched by `mpirun` but Open MPI's library cannot be used.
    case unavailable(String)
    /// An MPI call failed (the library's message).
    case mpi(String)
    /// A setting that does not divide across the ranks (e.g. a batch size).
    case split(String)

    public var description: String {
        switch self {
        case .unavailable(let reason):
            "launched by mpirun, but MPI is unavailable: \(reason). Install Open MPI (scripts/install-mpi) or run without mpirun"
        case .mpi(let reason): "MPI: \(reason)"
        case .split(let reason): reason
        }
    }
}

/// The processes of one data-parallel run: rank `rank` of `size`. A process started without `mpirun` is the group of
/// one, and nothing in it touches MPI. Under Open MPI's `mpirun` (`OMPI_COMM_WORLD_SIZE` > 1) the first use opens
/// libmpi at run time (``MPIShim``), initialises MPI once, and every collective goes through it.
///
/// Collectives are deterministic by construction, whatever algorithm MPI picks: ``allReduceSum(_:)`` sends each rank
/// the ranks' copies of one segment (all-to-all), which it sums in rank order, then gathers the sums back (all-gather),
/// so every rank holds the same bits and a run with the same number of ranks repeats bit for bit. Its traffic per rank
/// is `2 (N - 1) / N` of the buffer, like a ring all-reduce.
public final class ProcessGroup: @unchecked Sendable {
    /// This process' rank, 0 ... size - 1.
    public let rank: Int
    /// Processes in the run.
    public let size: Int
    private let usesMPI: Bool
    /// See ``scratch(elements:as:)``; only the thread that calls MPI uses it (MPI is initialised funneled).
    private var scratchMemory: UnsafeMutableRawPointer?
    private var scratchBytes = 0

    /// Rank 0, the one that writes files and prints.
    public var isRoot: Bool { rank == 0 }
    /// More than one process.
    public var isDistributed: Bool { size > 1 }

    private init(rank: Int, size: Int, usesMPI: Bool) {
        self.rank = rank
        self.size = size
        self.usesMPI = usesMPI
    }

    /// The group of one process.
    public static let single = ProcessGroup(rank: 0, size: 1, usesMPI: false)

    nonisolated(unsafe) private static var world: Result<ProcessGroup, DistributedError>?
    private static let lock = NSLock()

    /// This process' group: the MPI world when `mpirun` started more than one rank (initialised once per process),
    /// else ``single``. `environment` is the process environment (a parameter for tests).
    /// - Throws: ``DistributedError/unavailable(_:)`` when `mpirun` started the process but libmpi cannot be opened
    ///   or initialised.
    public static func current(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(DistributedError) -> ProcessGroup {
        guard let text = environment["OMPI_COMM_WORLD_SIZE"], let size = Int(text), size > 1 else { return .single }
        lock.lock()
        defer { lock.unlock() }
        if let world { return try world.get() }
        let result = Result<ProcessGroup, DistributedError> { () throws(DistributedError) in
            try call(unavailable: true) { ozmpi_open(environment["OZ_MPI_LIBRARY"], $0, $1) }
            var rank: Int32 = 0, worldSize: Int32 = 0
            try call(unavailable: true) { ozmpi_init(&rank, &worldSize, $0, $1) }
            guard Int(worldSize) == size else {
                throw .unavailable("MPI reports \(worldSize) ranks, mpirun announced \(size)")
            }
            return ProcessGroup(rank: Int(rank), size: Int(worldSize), usesMPI: true)
        }
        world = result
        return try result.get()
    }

    /// Sums `values` over the ranks in place: every rank ends with the same bits (see the type's notes).
    public func allReduceSum(_ values: inout [Float]) throws(DistributedError) {
        try allReduce(&values, type: OZMPI_FLOAT)
    }

    /// Sums `values` over the ranks in place, in float64.
    public func allReduceSum(_ values: inout [Double]) throws(DistributedError) {
        try allReduce(&values, type: OZMPI_DOUBLE)
    }

    /// Waits until every rank gets here.
    public func barrier() throws(DistributedError) {
        guard usesMPI else { return }
        try Self.call { ozmpi_barrier($0, $1) }
    }

    /// Whether this process initialised MPI (a ``current(environment:)`` that returned a distributed group).
    public static var started: Bool {
        lock.lock()
        defer { lock.unlock() }
        return (try? world?.get()) != nil
    }

    /// This process' rank when ``started``, else 0.
    public static var startedRank: Int {
        lock.lock()
        defer { lock.unlock() }
        return (try? world?.get())?.rank ?? 0
    }

    /// Ends MPI after a successful run (MPI_Finalize waits for every rank); nothing when MPI was not started.
    public static func finishStarted() {
        guard started else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = buffer.withUnsafeMutableBufferPointer { ozmpi_finalize($0.baseAddress, $0.count) }
    }

    /// Ends every rank of the job after a failure on this one (MPI_Abort); nothing when MPI was not started.
    public static func abortStarted(code: Int32) {
        guard started else { return }
        ozmpi_abort(code)
    }

    /// Most elements of one segment per collective call (MPI counts are 32-bit): 2^24.
    static let segmentLimit = 1 << 24

    private func allReduce<S: BinaryFloatingPoint>(_ values: inout [S], type: Int32) throws(DistributedError) {
        guard usesMPI, !values.isEmpty else { return }
        let n = values.count, w = size
        let segment = min(Self.segmentLimit, (n + w - 1) / w)
        // One round's send (w segments, then reused for the gathered sums), received (w segments) and sums.
        let send = scratch(elements: (2 * w + 1) * segment, as: S.self)
        let (received, sums) = (send + w * segment, send + 2 * w * segment)
        var start = 0
        while start < n {
            let round = min(n - start, segment * w)
            values.withUnsafeBufferPointer { send.update(from: $0.baseAddress! + start, count: round) }
            (send + round).update(repeating: 0, count: segment * w - round)
            if let failure = Self.failure({ ozmpi_alltoall(send, received, Int32(segment), type, $0, $1) }) {
                throw .mpi(failure)
            }
            // received[r * segment + i]: rank r's element i of this rank's segment; summed in rank order.
            sums.update(from: received, count: segment)
            for rank in 1..<w {
                let part = received + rank * segment
                for i in 0..<segment { sums[i] += part[i] }
            }
            if let failure = Self.failure({ ozmpi_allgather(sums, send, Int32(segment), type, $0, $1) }) {
                throw .mpi(failure)
            }
            values.withUnsafeMutableBufferPointer { (v: inout UnsafeMutableBufferPointer<S>) in
                (v.baseAddress! + start).update(from: send, count: round)
            }
            start += round
        }
    }

    /// The collectives' scratch, `elements` of `S`, kept from call to call (a step reduces the same gradient size
    /// every time) and grown when a call needs more.
    private func scratch<S>(elements: Int, as _: S.Type) -> UnsafeMutablePointer<S> {
        let bytes = elements * MemoryLayout<S>.stride
        if bytes > scratchBytes {
            scratchMemory?.deallocate()
            scratchMemory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            scratchBytes = bytes
        }
        return scratchMemory!.bindMemory(to: S.self, capacity: elements)
    }

    /// Runs an MPI shim call with a message buffer; a non-zero code becomes an error carrying the message.
    private static func call(
        unavailable: Bool = false, _ body: (UnsafeMutablePointer<CChar>, Int) -> Int32
    ) throws(DistributedError) {
        guard let message = failure(body) else { return }
        throw unavailable ? .unavailable(message) : .mpi(message)
    }

    /// The message of a failing MPI shim call, nil when it succeeds.
    private static func failure(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 512)
        let code = buffer.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        guard code != 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
