import Foundation
import Synchronization

/// A fixed pool of worker threads behind the ABI's `parallel_for` (the host controls the thread total).
///
/// One loop runs on the pool at a time; the calling thread takes part in it. A call made while the pool is
/// busy (another thread's loop, or a nested call from inside a loop body) runs serially on the caller, so
/// the pool can never deadlock.
///
/// **Fixed partition.** A loop over `0..<n` is always cut into the same chunks, ``chunks(_:grain:)``: a
/// function of `n`, `grain` and the pool's thread count, not of whether the loop ran in parallel or serially
/// (nested in another loop, or while another caller held the pool). The serial path calls the body once per
/// chunk, in order. So a body whose results depend only on the range it is given (a per-chunk partial sum, a
/// matrix product over a block of rows) computes the same bits whichever thread runs which chunk, whatever the
/// timing. (A partition independent of the thread count needs chunks small enough for many threads, which
/// shortens the vector loops inside each chunk: with at most 64 chunks a stage-1 step of `zoo bench train` took
/// 45% longer on one thread and 12% longer on two; see docs/RELIABILITY.md, section 5.)
public final class ThreadPool: @unchecked Sendable {
    /// Threads that work on a loop, the caller included (>= 1).
    public let threadCount: Int

    /// The pool shared by the host: `ZOO_THREADS` threads, else the active processors shared among the processes
    /// `mpirun` started on this machine (`OMPI_COMM_WORLD_LOCAL_SIZE`), at least one each.
    public static let shared: ThreadPool = {
        let environment = ProcessInfo.processInfo.environment
        let env = environment["ZOO_THREADS"].flatMap { Int($0) }
        let local = max(1, environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? 1)
        return ThreadPool(threadCount: env ?? max(1, ProcessInfo.processInfo.activeProcessorCount / local))
    }()

    private let core = Core()
    private let submission = NSLock()
    private let parallelLoopCount = Atomic<Int>(0)

    /// Loops that ran on the pool's threads (not serially on the caller) since the pool was made.
    public var parallelLoops: Int { parallelLoopCount.load(ordering: .relaxed) }

    /// A pool with `threadCount` threads in all (the caller plus `threadCount - 1` workers).
    public init(threadCount: Int) {
        // Any pool, not only the shared one: OpenBLAS's own threads would split products by their own rules.
        _ = ThreadPool.openBLASSingleThreaded
        self.threadCount = max(1, threadCount)
        for index in 1..<self.threadCount {
            let core = self.core
            let thread = Thread { core.workerLoop() }
            thread.name = "zoo-pool-\(index)"
            thread.start()
        }
    }

    deinit {
        core.shutDown()
    }

    /// Chunks per thread a loop is cut into (when `grain` allows): a few, so uneven chunks balance out.
    public static let chunksPerThread = 4

    /// The chunk length of a loop over `0..<n` with `grain`: at least `grain`, and at most
    /// `threadCount x` ``chunksPerThread`` chunks (one chunk on a one-thread pool).
    public func chunkSize(_ n: Int, grain: Int) -> Int {
        let target = threadCount == 1 ? 1 : threadCount * Self.chunksPerThread
        return max(max(1, grain), (n + target - 1) / target)
    }

    /// The ranges ``parallelFor(_:grain:_:)`` hands its body for `n` and `grain`, in order.
    public func chunks(_ n: Int, grain: Int) -> [Range<Int>] {
        guard n > 0 else { return [] }
        let size = chunkSize(n, grain: grain)
        return stride(from: 0, to: n, by: size).map { $0..<min(n, $0 + size) }
    }

    /// Runs `body(begin, end)` once for every chunk of ``chunks(_:grain:)`` (disjoint ranges covering `0..<n`,
    /// each at least `grain` long except the last) and returns when all have run. Chunks run concurrently in
    /// any order; their boundaries never change.
    public func parallelFor(_ n: Int, grain: Int = 1, _ body: (Int, Int) -> Void) {
        guard n > 0 else { return }
        let chunkSize = chunkSize(n, grain: grain)
        // Serial when there is nothing to share, or when the pool is already running a loop: the same chunks,
        // in order, on the caller.
        guard threadCount > 1, n > chunkSize, submission.try() else {
            var begin = 0
            while begin < n {
                let end = min(n, begin + chunkSize)
                body(begin, end)
                begin = end
            }
            return
        }
        defer { submission.unlock() }
        parallelLoopCount.add(1, ordering: .relaxed)
        withoutActuallyEscaping(body) { escapingBody in
            core.run(Job(n: n, chunkSize: chunkSize, body: escapingBody))
        }
    }
}

/// One loop in flight; chunks are claimed in order under the core's lock.
private final class Job {
    let n: Int
    let chunkSize: Int
    let chunks: Int
    /// Set to nil once every chunk has run: `withoutActuallyEscaping` requires that no reference to the
    /// closure outlives the loop, and a worker may still hold the job for a moment after it.
    var body: ((Int, Int) -> Void)?
    var nextChunk = 0
    var finished = 0

    init(n: Int, chunkSize: Int, body: @escaping (Int, Int) -> Void) {
        self.n = n
        self.chunkSize = chunkSize
        self.chunks = (n + chunkSize - 1) / chunkSize
        self.body = body
    }
}

/// The state the workers share; it outlives the pool object until every worker has left.
private final class Core: @unchecked Sendable {
    private let condition = NSCondition()
    private var job: Job?
    private var generation = 0
    private var shuttingDown = false

    /// Publishes `job`, works on it from the calling thread, and waits for every chunk to finish.
    func run(_ job: Job) {
        condition.lock()
        self.job = job
        generation += 1
        condition.broadcast()
        condition.unlock()
        work(on: job)
        condition.lock()
        while job.finished < job.chunks { condition.wait() }
        self.job = nil
        job.body = nil
        condition.unlock()
    }

    func shutDown() {
        condition.lock()
        shuttingDown = true
        condition.broadcast()
        condition.unlock()
    }

    func workerLoop() {
        var seen = 0
        while true {
            condition.lock()
            while !shuttingDown && (job == nil || generation == seen) {
                condition.wait()
            }
            if shuttingDown {
                condition.unlock()
                return
            }
            seen = generation
            let current = job!
            condition.unlock()
            work(on: current)
        }
    }

    /// Claims and runs chunks of `job` until none are left.
    private func work(on job: Job) {
        while let chunk = claim(job) {
            run(job, chunk: chunk)
            condition.lock()
            job.finished += 1
            if job.finished == job.chunks { condition.broadcast() }
            condition.unlock()
        }
    }

    private func claim(_ job: Job) -> Int? {
        condition.lock()
        defer { condition.unlock() }
        guard job.nextChunk < job.chunks else { return nil }
        job.nextChunk += 1
        return job.nextChunk - 1
    }

    /// Runs one chunk; its reference to the body ends when this returns, before the chunk counts as finished.
    private func run(_ job: Job, chunk: Int) {
        condition.lock()
        let body = job.body
        condition.unlock()
        let begin = chunk * job.chunkSize
        body?(begin, min(job.n, begin + job.chunkSize))
    }
}
