import Foundation
import HostCore
import HostPlugins

/// The checks that call a plugin the way the host really does: one workspace per instance lent to call after call,
/// the shared pool splitting real sizes, one re-entrant instance under real contention, thousands of calls on one
/// long-lived instance.
extension Probe {
    // MARK: Helpers

    /// One call: forward gives `[y]`, backward `[dx, dparam_0, ...]` (every gradient asked for). The inputs are
    /// copied into fresh buffers for the call, so a plugin that writes its inputs (the inputs_unmodified check's
    /// finding) changes no other call. `workspace` is what the call is lent; nil: a fresh zeroed one of the size the
    /// plugin asks. `saved` is the ABI 1.4 saved-activations buffer the call gets (none by default).
    func outputs<T: TensorScalar>(
        _ op: Operator, backward: Bool, _ inputs: CallInputs<T>, workspace: ReusedWorkspace? = nil,
        fill: WorkspaceFill = .zero, saved: (pointer: UnsafeMutableRawPointer?, size: Int) = (nil, 0)
    ) throws -> [[T]] {
        let shape = inputs.shape
        let x = GuardedBuffer<T>(shape: shape, values: inputs.x)
        let params = inputs.params.map { GuardedBuffer<T>(shape: $0.shape, values: $0.values) }
        let needed = try op.workspaceSize(backward: backward, batch: shape[0], length: shape[1])
        let fresh = workspace == nil ? GuardedWorkspace(size: needed) : nil
        let lent: (pointer: UnsafeMutableRawPointer?, size: Int) =
            workspace?.lend(needed, fill: fill) ?? (fresh!.pointer, fresh!.size)
        if backward {
            let dy = GuardedBuffer<T>(shape: shape, values: inputs.dy)
            let dx = GuardedBuffer<T>(shape: shape)
            let dp = params.map { GuardedBuffer<T>(shape: $0.shape) }
            // Every buffer lives until the plugin returns (a buffer's last use in Swift would otherwise be where its
            // argument is taken).
            try withExtendedLifetime((fresh, x, params, dy, dx, dp)) {
                try op.table.backward(
                    op.instance, x: x.argument, params: params.map(\.argument), dy: dy.argument, dx: dx.argument,
                    dparams: dp.map(\.argument), workspace: lent.pointer, workspaceSize: lent.size,
                    saved: saved.pointer.map { UnsafeRawPointer($0) }, savedSize: saved.size)
            }
            return [dx.values] + dp.map(\.values)
        }
        let y = GuardedBuffer<T>(shape: shape)
        try withExtendedLifetime((fresh, x, params, y)) {
            try op.table.forward(
                op.instance, x: x.argument, params: params.map(\.argument), y: y.argument, workspace: lent.pointer,
                workspaceSize: lent.size, saved: saved.pointer, savedSize: saved.size)
        }
        return [y.values]
    }

    /// The values of one call: x and dy of `shape` (dy is used by backward only) and the parameters.
    func callInputs<T: TensorScalar>(
        _ shape: [Int], salt: UInt64, params: [Tensor<T>], dySalt: UInt64? = nil
    ) -> CallInputs<T> {
        CallInputs(
            shape: shape, x: input(shape, salt: salt).map { T(Double($0)) },
            dy: input(shape, salt: dySalt ?? salt &+ 1).map { T(Double($0)) },
            params: params.map { (shape: $0.shape, values: $0.scalars) })
    }

    /// The names of what ``outputs(_:backward:_:workspace:fill:)`` returns.
    func outputNames(_ op: Operator, backward: Bool) -> [String] {
        backward ? ["dx"] + op.parameters.map { "the gradient of '\($0.name)'" } : ["y"]
    }

    /// Whether `a` and `b` hold the same bits (memcmp: the element loop is slow in a debug build, and a slow comparison
    /// would keep the threads of the reentrancy check from ever overlapping in the plugin).
    static func sameBits<T: TensorScalar>(_ a: [T], _ b: [T]) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty else { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in memcmp(pa.baseAddress!, pb.baseAddress!, pa.count) == 0 }
        }
    }

    /// max |a - r| relative to the scale of `r` (its largest magnitude): infinite for a NaN or a length mismatch;
    /// 0 when both are all zero.
    static func relativeError<T: TensorScalar>(_ a: [T], _ r: [T]) -> Double {
        guard a.count == r.count else { return .infinity }
        if sameBits(a, r) { return 0 }
        var error = 0.0
        var scale = 0.0
        for (u, v) in zip(a, r) {
            let d = abs(Double(u) - Double(v))
            if d.isNaN { return .infinity }
            error = max(error, d)
            scale = max(scale, abs(Double(v)))
        }
        return error == 0 ? 0 : error / max(scale, .leastNormalMagnitude)
    }

    /// How far two calls of one computation may drift apart when the check is not about bitwise equality:
    /// a few hundred units of rounding, far below what a real defect (garbage, another call's data) gives.
    static func driftTolerance<T: TensorScalar>(_: T.Type) -> Double { T.bits == 64 ? 1e-9 : 1e-4 }

    /// CPU seconds the calling thread spends in `body` (time the scheduler gives other threads and processes does
    /// not count, so a busy machine does not make a call look long).
    static func threadSeconds(_ body: () throws -> Void) rethrows -> Double {
        func now() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
        }
        let start = now()
        try body()
        return now() - start
    }

    /// Workspace beyond which a size is not tried (the machine's memory is shared with the rest of the run).
    static var maxWorkspaceBytes: Int { 256 << 20 }

    // MARK: workspace

    /// One instance and one workspace, lent to forward and backward calls in turn as `Operator` does (the same
    /// buffer, grown when a larger batch asks for more and then passed whole to smaller ones), and filled before
    /// each call with garbage (NaN bytes, huge values, random bytes) or left as the previous call left it. Every
    /// result must match the call made with a fresh, zeroed workspace: a plugin that reads its workspace before
    /// writing it (accumulates into it, or carries state in it from one call to the next) computes wrong results
    /// from the second call on inside a model. Compared within ``driftTolerance(_:)`` (bitwise equality is the
    /// determinism check's); garbage read shows as NaN or errors of order one.
    func workspace() throws -> ProbeOutcome {
        let first = try workspaceReuse(S.self)
        // The host computes in float32: a float64 probe checks that path too.
        guard S.bits == 64, first.verdict == .pass, first.reason != Self.noWorkspace else { return first }
        let single = try workspaceReuse(Float.self)
        guard single.verdict == .pass else { return single }
        return .pass(first.reason + "; in float32 too", figure: first.figure)
    }

    static var noWorkspace: String { "the operator asks for no workspace: nothing is lent, nothing reused" }

    /// ``workspace()`` in precision `T`.
    func workspaceReuse<T: TensorScalar>(_: T.Type) throws -> ProbeOutcome {
        let op = try makeOperator()
        let params = try op.initialParameters(seed: seed, as: T.self)
        let withBackward = descriptor.capabilities.contains(.backward)
        let batches = [2, 3, 1]
        var asks = 0
        for b in batches {
            asks = max(asks, try op.workspaceSize(backward: false, batch: b, length: length))
            if withBackward { asks = max(asks, try op.workspaceSize(backward: true, batch: b, length: length)) }
        }
        guard asks > 0 else { return .pass(Self.noWorkspace) }
        // The clean results: each call with a fresh zeroed workspace, as every other check calls.
        var cases: [Int: (inputs: CallInputs<T>, clean: [Bool: [[T]]])] = [:]
        for b in batches {
            let inputs = callInputs([b, length, dim], salt: 90 + UInt64(b), params: params, dySalt: 95 + UInt64(b))
            var clean: [Bool: [[T]]] = [:]
            for pass in withBackward ? [false, true] : [false] {
                clean[pass] = try outputs(op, backward: pass, inputs)
            }
            cases[b] = (inputs, clean)
        }
        let fills: [WorkspaceFill] = [
            .bytes(0xFF), .keep, .random(seed: seed &+ 1), .bytes(0x7F), .keep, .random(seed: seed &+ 2),
        ]
        let tolerance = Self.driftTolerance(T.self)
        let reused = ReusedWorkspace()
        let calls = quick ? 12 : 36
        var worst = 0.0
        for i in 0..<calls {
            let pass = withBackward && i % 2 == 1
            let b = batches[(i / (withBackward ? 2 : 1)) % batches.count]
            let fill = fills[(i + i / fills.count) % fills.count]
            let c = cases[b]!
            let got = try outputs(op, backward: pass, c.inputs, workspace: reused, fill: fill)
            if let at = reused.guardDamage {
                return .fail("a call wrote past the end of its reused workspace (byte offset \(at), \(T.dtypeName))")
            }
            for (k, (a, r)) in zip(got, c.clean[pass]!).enumerated() {
                let error = Self.relativeError(a, r)
                worst = max(worst, error)
                guard error <= tolerance else {
                    return .fail(
                        "call \(i + 1) (\(pass ? "backward" : "forward"), B = \(b), \(T.dtypeName)) on one instance, its workspace reused and holding \(fill): \(outputNames(op, backward: pass)[k]) differs from a call with a clean workspace (relative error \(String(format: "%.2e", error))); the plugin reads workspace it has not written in this call (accumulates into it, or carries state in it between calls)",
                        figure: String(format: "max rel. error %.2e", error))
                }
            }
        }
        return .pass(
            "\(calls) \(withBackward ? "forward and backward " : "")calls on one instance with one reused workspace of \(reused.size) bytes, filled with garbage or left as the last call left it, match clean-workspace calls",
            figure: String(format: "max rel. error %.2e", worst))
    }

    // MARK: determinism on the host pool

    /// The determinism check's second half, run as the host runs: float32 (the host's precision), the shared pool
    /// (``ThreadPool/shared``, sized as the host sizes it), a batch grown until the pool really splits the operator's
    /// loops and one call takes milliseconds of CPU (at least 2^19 values of x, 2^20 in a full run, so the pool's
    /// workers wake in time to take chunks), one call made while another loop holds the pool (every `parallel_for`
    /// then runs its chunks serially on the caller, the same chunks in order, as the ABI promises), then repeated
    /// forward and backward calls on the pool with random pauses between them, up to a time budget. One instance
    /// throughout, with one reused workspace (zeroed before each call: garbage read from it is the workspace check's
    /// finding). All must be bitwise equal.
    func pooledDeterminism<T: TensorScalar>(_: T.Type) throws -> (failure: String?, note: String, figure: String?) {
        let pool = ThreadPool.shared
        let withBackward = descriptor.capabilities.contains(.backward)
        let dim = 64
        let op = try makeOperator(dim: dim)
        let params = try op.initialParameters(seed: seed, as: T.self)
        let (minElements, maxElements) = quick ? (1 << 19, 1 << 20) : (1 << 20, 1 << 21)
        let minSeconds = quick ? 8e-3 : 16e-3
        var batch = 2
        var split = false
        while true {
            let shape = [batch, length, dim]
            let inputs = callInputs(shape, salt: 110, params: params)
            let loops = pool.parallelLoops
            // The calling thread's CPU time (about 1 / threads of the work when it splits): a busy machine neither
            // stops the growth early nor lets it run long.
            let t = try Self.threadSeconds {
                _ = try outputs(op, backward: false, inputs)
                if withBackward { _ = try outputs(op, backward: true, inputs) }
            }
            split = pool.parallelLoops > loops
            let elements = batch * length * dim
            let next = 2 * batch
            let nextWorkspace = max(
                try op.workspaceSize(backward: false, batch: next, length: length),
                withBackward ? try op.workspaceSize(backward: true, batch: next, length: length) : 0)
            if (split && elements >= minElements && t >= minSeconds) || 2 * elements > maxElements || t > 0.05
                || nextWorkspace > Self.maxWorkspaceBytes
            {
                break
            }
            batch = next
        }
        let shape = [batch, length, dim]
        let inputs = callInputs(shape, salt: 112, params: params)
        let reused = ReusedWorkspace()
        func both() throws -> [[T]] {
            try outputs(op, backward: false, inputs, workspace: reused)
                + (withBackward ? try outputs(op, backward: true, inputs, workspace: reused) : [])
        }
        let names = outputNames(op, backward: false) + (withBackward ? outputNames(op, backward: true) : [])
        func differs(_ a: [[T]], _ b: [[T]]) -> String? {
            zip(names, zip(a, b)).first { !Self.sameBits($1.0, $1.1) }?.0
        }
        let shapeText = "B = \(batch), L = \(length), D = \(dim), \(T.dtypeName)"
        let loopsBefore = pool.parallelLoops
        let first = try both()
        // The same call with the pool held by another loop: every parallel_for runs its chunks serially, in order.
        let held = PoolHolder(pool)
        let serial = try both()
        held.release()
        if let name = differs(serial, first) {
            return (
                "at \(shapeText), a call made while another loop held the host pool (so each parallel_for ran its chunks serially on the caller) gave a different \(name) from one that ran on the pool; the result depends on whether, and by which threads, the work ran in parallel (combine per-chunk partial results in chunk order, never in the order chunks finish or by thread)",
                "", "B = \(batch), pool of \(pool.threadCount)"
            )
        }
        // Then more calls on the pool, with random pauses so the workers are caught asleep or awake: at least
        // `minimum`, more while the time budget lasts (a busy machine often leaves a call's chunks all to the caller).
        var state = seed ^ 0x5EED
        let (minimum, maximum, budget) = quick ? (4, 12, 0.5) : (10, 30, 3.0)
        let started = Date()
        var repeats = 0
        while repeats < maximum && (repeats < minimum || Date().timeIntervalSince(started) < budget) {
            repeats += 1
            usleep(UInt32(SplitMix.below(1000, &state)))
            if let name = differs(try both(), first) {
                return (
                    "call \(repeats + 2) on one instance at \(shapeText) on the host pool (\(pool.threadCount) threads): \(name) is not bitwise equal to the first call's; the result depends on how the pool's threads took the chunks (combine per-chunk partial results in chunk order, never in the order chunks finish)",
                    "", "B = \(batch), pool of \(pool.threadCount)"
                )
            }
        }
        // Less the loop that held the pool.
        let loops = pool.parallelLoops - loopsBefore - (pool.threadCount > 1 ? 1 : 0)
        let how =
            pool.threadCount == 1
            ? "the host pool has one thread (ZOO_THREADS=1 or one processor), so nothing split"
            : loops > 0
                ? "\(loops) loops split over the host pool's \(pool.threadCount) threads"
                : "the operator never split its work on the host pool"
        return (
            nil,
            "\(repeats + 1) calls on one instance with its workspace reused at \(shapeText) (\(how)) and one with the pool busy are bitwise equal",
            "B = \(batch), \(loops) split loops"
        )
    }

    // MARK: reentrancy

    /// One instance declared re-entrant, called from many threads at once (more threads than processors, so calls
    /// also interleave by preemption), each making forward and backward calls on inputs drawn at random after a
    /// random pause, at a batch where one forward takes 2 ms of CPU or more (4 ms in a full run) so that calls overlap,
    /// until a time budget; every result is compared with the serial result for the same input (within
    /// ``driftTolerance(_:)``: bitwise equality is the determinism check's). Each call gets its own workspace, as the
    /// host lends a fresh one when the instance's is in use, and its own copies of the inputs.
    func reentrancy() throws -> ProbeOutcome {
        guard descriptor.capabilities.contains(.reentrant) else {
            return .skipped(
                "the operator does not declare itself re-entrant (the host never calls one instance from two threads at once)"
            )
        }
        let op = try makeOperator()
        let params = try op.initialParameters(seed: seed, as: S.self)
        let withBackward = descriptor.capabilities.contains(.backward)
        let target = quick ? 2e-3 : 4e-3
        let maxElements = quick ? 1 << 18 : 1 << 19
        var batch = 1
        while 2 * batch * length * dim <= maxElements {
            let shape = [batch, length, dim]
            let inputs = callInputs(shape, salt: 120, params: params)
            let t = try Self.threadSeconds { _ = try outputs(op, backward: false, inputs) }
            let asks = max(
                try op.workspaceSize(backward: false, batch: 2 * batch, length: length),
                withBackward ? try op.workspaceSize(backward: true, batch: 2 * batch, length: length) : 0)
            if t >= target || asks > Self.maxWorkspaceBytes / 8 { break }
            batch *= 2
        }
        let shape = [batch, length, dim]
        let variants = 3
        let inputs = (0..<variants).map { callInputs(shape, salt: 121 + 2 * UInt64($0), params: params) }
        func call(_ pass: Bool, _ k: Int) throws -> [[S]] { try outputs(op, backward: pass, inputs[k]) }
        var serial: [Bool: [[[S]]]] = [:]
        for pass in withBackward ? [false, true] : [false] {
            serial[pass] = try (0..<variants).map { try call(pass, $0) }
        }
        // More threads than processors; each makes at least `minimum` calls and goes on until the time budget is
        // spent, up to `maximum` (a busy machine runs one thread at a time, and calls then overlap only where the
        // scheduler preempts one mid-call: many calls make that certain).
        let threads = quick ? 6 : 8
        let (minimum, maximum, budget) = quick ? (6, 24, 1.0) : (16, 32, 4.0)
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(budget * 1e9)
        let made = SharedFigures()
        let found = FirstFailure()
        let shared = UncheckedSendable((probe: self, op: op, call: call, serial: serial, withBackward: withBackward))
        let tolerance = Self.driftTolerance(S.self)
        let seed = self.seed
        let worst = SharedFigures()
        runOnThreads(threads) { thread in
            let s = shared.value
            var state = seed ^ (UInt64(thread + 1) &* 0x9E37_79B9_7F4A_7C15)
            var i = 0
            while !found.isSet && i < maximum && (i < minimum || DispatchTime.now().uptimeNanoseconds < deadline) {
                defer {
                    i += 1
                    made.add(1)
                }
                let k = SplitMix.below(variants, &state)
                let pass = s.withBackward && SplitMix.below(2, &state) == 1
                usleep(UInt32(SplitMix.below(200, &state)))
                do {
                    let got = try s.call(pass, k)
                    for (n, (a, r)) in zip(got, s.serial[pass]![k]).enumerated() {
                        let error = Self.relativeError(a, r)
                        worst.update(error)
                        if error > tolerance {
                            found.set(
                                "thread \(thread), call \(i + 1) (\(pass ? "backward" : "forward") of input \(k)): \(s.probe.outputNames(s.op, backward: pass)[n]) differs from the serial result (relative error \(String(format: "%.2e", error))) while other threads called the same instance; it shares mutable state between calls (a buffer owned by the instance?) although it declares OZ_CAP_REENTRANT"
                            )
                            return
                        }
                    }
                } catch {
                    found.set(
                        "thread \(thread), call \(i + 1) failed while other threads called the same instance: \(error)")
                    return
                }
            }
        }
        let calls = Int(made.total)
        let figure = String(
            format: "%d calls on %d threads, B = %d, max rel. error %.2e", calls, threads, batch, worst.value)
        if let failure = found.value { return .fail(failure, figure: figure) }
        return .pass(
            "\(threads) threads made \(calls) random \(withBackward ? "forward and backward " : "")calls at once on one instance (B = \(batch), L = \(length), D = \(dim)), with random pauses; every result matches the serial one",
            figure: figure)
    }

    /// Runs `body(thread)` on `count` new threads released together, and waits for all.
    func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let gate = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for t in 0..<count {
            group.enter()
            let thread = Thread {
                gate.wait()
                body(t)
                group.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        for _ in 0..<count { gate.signal() }
        group.wait()
    }

    // MARK: resources on one instance

    /// One instance as training keeps it: thousands of forward and backward calls through the host's own `Operator`
    /// (its cached workspace, fresh tensors per call), resident memory sampled before and after: 1,200 calls (5,000
    /// in a full run), fewer only for an operator too slow to make them within 2.5 s (20 s). A plugin that leaks on
    /// every call and frees it all at destroy passes the create/destroy cycles and fails here. Stops early once
    /// growth is beyond doubt (256 MiB).
    func longLivedInstance() throws -> (failure: String?, note: String, figure: String) {
        let op = try makeOperator()
        let params = try op.initialParameters(seed: seed, as: S.self)
        let shape = [2, length, dim]
        let x = Tensor<S>.randomNormal(shape, seed: seed &+ 140)
        let dy = Tensor<S>.randomNormal(shape, seed: seed &+ 141)
        let withBackward = descriptor.capabilities.contains(.backward)
        func call() throws {
            _ = try op.forward(x, parameters: params)
            if withBackward { _ = try op.backward(x, parameters: params, outputGradient: dy) }
        }
        for _ in 0..<50 { try call() }
        let before = ProcessStats.residentBytes
        // A slow operator (a long fixed length, a debug build) gets fewer rounds: the time budget decides first.
        let (rounds, budget) = quick ? (600, 2.5) : (2500, 20.0)
        let started = Date()
        var done = 0
        var growth = 0
        while done < rounds {
            let batch = min(50, rounds - done)
            for _ in 0..<batch { try call() }
            done += batch
            growth = ProcessStats.residentBytes - before
            if growth > 256 << 20 || Date().timeIntervalSince(started) > budget { break }
        }
        let calls = done * (withBackward ? 2 : 1)
        let figure = String(format: "%+.1f MiB over %d calls on one instance", Double(growth) / 1_048_576, calls)
        // The same 8 MiB of allocator noise as the cycles; 600 calls leaking 16 KiB each exceed it.
        if growth > 8 << 20 {
            return (
                "resident memory grew by \(growth >> 10) KiB over \(calls) calls on one instance (about \(growth / calls) bytes per call), though the instance was never destroyed: the plugin keeps memory per call until destroy",
                "", figure
            )
        }
        return (nil, "flat over \(calls) calls on one instance", figure)
    }
}

/// Holds the host pool with a loop that waits, so that every other `parallel_for` runs serially on its caller,
/// until ``release()``. Nothing to hold on a one-thread pool (loops run serially there anyway).
final class PoolHolder: @unchecked Sendable {
    private let started = DispatchSemaphore(value: 0)
    private let gate = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let threads: Int

    init(_ pool: ThreadPool) {
        threads = pool.threadCount
        guard threads > 1 else { return }
        let (started, gate, done, n) = (started, gate, done, threads)
        Thread.detachNewThread {
            // n chunks of one index: one per pool thread, each waiting at the gate.
            pool.parallelFor(n, grain: 1) { _, _ in
                started.signal()
                gate.wait()
            }
            done.signal()
        }
        started.wait()
    }

    func release() {
        guard threads > 1 else { return }
        for _ in 0..<threads { gate.signal() }
        done.wait()
    }
}

/// The first failure any thread reports.
final class FirstFailure: @unchecked Sendable {
    private let lock = NSLock()
    private var message: String?
    var isSet: Bool { lock.withLock { message != nil } }
    var value: String? { lock.withLock { message } }
    func set(_ text: String) { lock.withLock { if message == nil { message = text } } }
}

/// The largest value any thread reports, and a total.
final class SharedFigures: @unchecked Sendable {
    private let lock = NSLock()
    private var maximum = 0.0
    private var sum = 0.0
    var value: Double { lock.withLock { maximum } }
    var total: Double { lock.withLock { sum } }
    func update(_ v: Double) { lock.withLock { maximum = max(maximum, v) } }
    func add(_ v: Double) { lock.withLock { sum += v } }
}

/// The values of one call (see ``Probe/outputs(_:backward:_:workspace:fill:)``).
struct CallInputs<T: TensorScalar> {
    let shape: [Int]
    let x: [T]
    let dy: [T]
    let params: [(shape: [Int], values: [T])]
}
