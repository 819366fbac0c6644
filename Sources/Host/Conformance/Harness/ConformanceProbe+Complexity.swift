import Foundation
import HostCore
import HostPlugins

extension Probe {
    /// Times forward (and backward, when offered) at four lengths growing by 2x, on a one-thread pool and in thread
    /// CPU time (so other processes on a shared machine add little noise), and compares the exponent of time
    /// against L with the instance's declared complexity class (see ``ComplexityPolicy``).
    ///
    /// The first length is the smallest (from 64 tokens up) at which one forward call takes `firstCallSeconds`,
    /// so the lengths suit the operator's speed and the whole check takes a few seconds; a length whose timing
    /// would overrun the budget is left out once three are in.
    func complexity() throws -> ProbeOutcome {
        if lengthIsFixed {
            return .skipped(
                "the instance takes L = \(length) only (fixed_length), so its time cannot be measured against L")
        }
        let repeats = quick ? 5 : 7
        let firstCallSeconds = quick ? 1e-3 : 2e-3
        let budgetSeconds = quick ? 3.0 : 6.0
        // One thread: the check measures how the work grows, and a serial pool is far less noisy than a shared one.
        let services = HostServices(pool: ThreadPool(threadCount: 1))
        let withBackward = descriptor.capabilities.contains(.backward)

        var step = 0
        while step < ComplexityPolicy.maxStep - (ComplexityPolicy.lengthsTimed - 1) {
            guard let bench = try TimedCall<S>(probe: self, step: step, services: services) else { break }
            if ComplexityMeasurement.median(try (0..<3).map { _ in try bench.forward() }) >= firstCallSeconds { break }
            step += 1
        }

        var forward = ComplexityMeasurement()
        var backward = ComplexityMeasurement()
        var declared = OperatorComplexity.undeclared
        var previousCost: Double?
        let started = Date()
        for s in step..<min(step + ComplexityPolicy.lengthsTimed, ComplexityPolicy.maxStep + 1) {
            guard let bench = try TimedCall<S>(probe: self, step: s, services: services) else { break }
            if s == step { declared = bench.op.complexity }
            let lengthStarted = Date()
            forward.samples.append(
                (bench.length, try Self.sample(repeats: repeats, minimumSeconds: firstCallSeconds, bench.forward)))
            if withBackward {
                backward.samples.append(
                    (bench.length, try Self.sample(repeats: repeats, minimumSeconds: firstCallSeconds, bench.backward)))
            }
            let cost = Date().timeIntervalSince(lengthStarted)
            let growth = previousCost.map { max(2, cost / max($0, 1e-9)) } ?? 4
            previousCost = cost
            if forward.samples.count >= 3 && Date().timeIntervalSince(started) + cost * growth > budgetSeconds { break }
        }
        guard forward.samples.count >= 3 else {
            return .skipped(
                "only \(forward.samples.count) length(s) could be timed (the workspace outgrew \(ComplexityPolicy.maxWorkspaceBytes >> 20) MiB); 3 are needed for a fit"
            )
        }
        return ComplexityPolicy.verdict(
            declared: declared, forward: forward, backward: withBackward ? backward : nil, strictTiming: strictTiming)
    }

    /// `repeats` timings of `call` after a warm-up call, each the mean over enough calls to last `minimumSeconds`
    /// (a very fast operator at the longest length is timed over several calls); when their spread is above
    /// ``ComplexityPolicy/noiseLimit`` (a disturbance), as many again are added, and the median decides.
    static func sample(repeats: Int, minimumSeconds: Double, _ call: () throws -> Double) throws -> [Double] {
        let first = try call()
        let calls = min(64, max(1, Int((minimumSeconds / max(first, 1e-9)).rounded(.up))))
        func one() throws -> Double {
            var total = 0.0
            for _ in 0..<calls { total += try call() }
            return total / Double(calls)
        }
        var times = try (0..<repeats).map { _ in try one() }
        if ComplexityMeasurement.relativeInterquartileRange(times) > ComplexityPolicy.noiseLimit {
            times += try (0..<repeats).map { _ in try one() }
        }
        return times
    }
}

/// One length's buffers and instance for timing forward and backward calls: no allocation inside a timed call.
private struct TimedCall<S: TensorScalar> {
    let op: Operator
    let length: Int
    let x: GuardedBuffer<S>
    let y: GuardedBuffer<S>
    let dy: GuardedBuffer<S>
    let dx: GuardedBuffer<S>
    let params: [GuardedBuffer<S>]
    let dparams: [GuardedBuffer<S>]
    let forwardWorkspace: GuardedWorkspace
    let backwardWorkspace: GuardedWorkspace?

    /// The buffers at the length of `step` (see ``ComplexityPolicy/firstLength``), or
    /// nil when the instance's workspace there exceeds ``ComplexityPolicy/maxWorkspaceBytes``.
    init?(probe: Probe<S>, step: Int, services: HostServices) throws {
        var length = ComplexityPolicy.firstLength << step
        var grid: (height: Int, width: Int)?
        if probe.grid != nil {
            let side = ComplexityPolicy.firstGridSide << (step / 2)
            grid = (side, step % 2 == 0 ? side : 2 * side)
            length = side * (step % 2 == 0 ? side : 2 * side)
        }
        op = try Operator(probe.descriptor, dim: probe.dim, grid: grid, services: services)
        self.length = length
        let shape = [1, length, probe.dim]
        let forwardBytes = try op.workspaceSize(backward: false, batch: 1, length: length)
        let backwardBytes =
            probe.descriptor.capabilities.contains(.backward)
            ? try op.workspaceSize(backward: true, batch: 1, length: length) : nil
        guard max(forwardBytes, backwardBytes ?? 0) <= ComplexityPolicy.maxWorkspaceBytes else { return nil }
        x = GuardedBuffer(shape: shape, values: probe.input(shape, salt: 50))
        y = GuardedBuffer(shape: shape)
        dy = GuardedBuffer(shape: shape, values: probe.input(shape, salt: 51))
        dx = GuardedBuffer(shape: shape)
        params = try probe.parameters(op)
        dparams = params.map { GuardedBuffer(shape: $0.shape) }
        forwardWorkspace = GuardedWorkspace(size: forwardBytes)
        backwardWorkspace = backwardBytes.map { GuardedWorkspace(size: $0) }
    }

    /// CPU seconds of one forward call.
    func forward() throws -> Double {
        let arguments = params.map(\.argument)
        let start = Self.threadCPUSeconds()
        try op.table.forward(
            op.instance, x: x.argument, params: arguments, y: y.argument,
            workspace: forwardWorkspace.pointer, workspaceSize: forwardWorkspace.size)
        return Self.threadCPUSeconds() - start
    }

    /// CPU seconds of one backward call (every gradient requested).
    func backward() throws -> Double {
        guard let ws = backwardWorkspace else { return 0 }
        let arguments = params.map(\.argument)
        let gradients = dparams.map(\.argument)
        let start = Self.threadCPUSeconds()
        try op.table.backward(
            op.instance, x: x.argument, params: arguments, dy: dy.argument, dx: dx.argument,
            dparams: gradients, workspace: ws.pointer, workspaceSize: ws.size)
        return Self.threadCPUSeconds() - start
    }

    /// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`). The instance runs on a one-thread pool, so the
    /// call's whole work is on this thread, and time another process takes the core from it does not count.
    static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}
