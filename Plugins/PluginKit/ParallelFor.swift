import OperatorABI

/// The host's `parallel_for` (from `oz_host_services`), or a serial loop when the host offers none.
public struct ParallelFor: @unchecked Sendable {
    let function:
        (@convention(c) (UnsafeMutableRawPointer?, Int64, Int64, oz_range_fn, UnsafeMutableRawPointer?) -> Void)?
    let hostContext: UnsafeMutableRawPointer?
    /// Threads the host runs loops on (1 when serial).
    public let threads: Int

    static let serial = ParallelFor(function: nil, hostContext: nil, threads: 1)

    /// Runs `body(begin, end)` over disjoint ranges covering `0..<n` (at least `grain` long) and waits for all.
    public func callAsFunction(_ n: Int, grain: Int = 1, _ body: (Int, Int) -> Void) {
        guard n > 0 else { return }
        guard let function else {
            body(0, n)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            var box = escaping
            withUnsafeMutablePointer(to: &box) { pointer in
                function(hostContext, Int64(n), Int64(max(1, grain)), rangeTrampoline, UnsafeMutableRawPointer(pointer))
            }
        }
    }
}

private let rangeTrampoline: oz_range_fn = { context, begin, end in
    guard let context else { return }
    let body = context.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee
    body(Int(begin), Int(end))
}
