import Foundation
import Synchronization
import Testing

@testable import Host

@Suite struct ThreadPoolTests {
    @Test(arguments: [1, 2, 3, 8])
    func coversEveryIndexExactlyOnce(threads: Int) {
        let pool = ThreadPool(threadCount: threads)
        for n in [1, 2, 7, 64, 1000, 4097] {
            for grain in [1, 3, 100] {
                let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
                hits.initialize(repeating: 0)
                defer { hits.deallocate() }
                let ranges = Mutex<[(Int, Int)]>([])
                pool.parallelFor(n, grain: grain) { begin, end in
                    ranges.withLock { $0.append((begin, end)) }
                    for i in begin..<end { hits[i] += 1 }
                }
                #expect(hits.allSatisfy { $0 == 1 }, "n \(n) grain \(grain)")
                let sorted = ranges.withLock { $0 }.sorted { $0.0 < $1.0 }
                // Every range but the last holds at least `grain` indices.
                #expect(sorted.dropLast().allSatisfy { $0.1 - $0.0 >= min(grain, n) })
            }
        }
    }

    final class Counter: Sendable {
        let value = Mutex(0)
    }

    @Test func nestedAndConcurrentCallsRunAndFinish() async {
        let pool = ThreadPool(threadCount: 3)
        let counter = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    pool.parallelFor(10) { b, e in
                        for _ in b..<e {
                            pool.parallelFor(10) { b2, e2 in counter.value.withLock { $0 += e2 - b2 } }
                        }
                    }
                }
            }
        }
        #expect(counter.value.withLock { $0 } == 400)
    }

    /// Two chunks on a 2-thread pool: each chunk waits (up to 10 s) until two distinct threads have entered, so
    /// the check depends on the worker taking part, not on how the machine happens to schedule it.
    @Test func usesMoreThanOneThread() {
        let pool = ThreadPool(threadCount: 2)
        let threads = Mutex(Set<UInt>())
        pool.parallelFor(2, grain: 1) { _, _ in
            _ = threads.withLock { $0.insert(UInt(pthread_self())) }
            let deadline = Date().addingTimeInterval(10)
            while threads.withLock({ $0.count }) < 2 && Date() < deadline { usleep(1000) }
        }
        #expect(threads.withLock { $0.count } == 2)
    }

    @Test func emptyLoopDoesNothing() {
        let pool = ThreadPool(threadCount: 2)
        var called = false
        pool.parallelFor(0) { _, _ in called = true }
        #expect(!called)
    }
}
