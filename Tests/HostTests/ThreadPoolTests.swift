import Foundation
import Synchronization
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

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
                // The ranges are the pool's fixed partition.
                #expect(sorted.map { $0.0..<$0.1 } == pool.chunks(n, grain: grain), "n \(n) grain \(grain)")
            }
        }
    }

    /// The ranges a loop's body sees when the loop runs in parallel, when it runs serially because it is nested in
    /// another loop, and when it runs serially because other threads keep the pool busy: always the same
    /// partition. The old pool called the body once with `0..<n` on its serial paths, so a body that combines
    /// per-range partial sums (or a matrix product split by rows) computed other bits depending on which thread
    /// won the pool.
    @Test(arguments: [2, 3, 8])
    func everyPathSeesTheSamePartition(threads: Int) async {
        let pool = ThreadPool(threadCount: threads)
        let cases = [(1000, 1), (1000, 16), (4097, 3), (130, 40), (64, 1)]
        func ranges(_ n: Int, _ grain: Int) -> [Range<Int>] {
            let seen = Mutex<[Range<Int>]>([])
            pool.parallelFor(n, grain: grain) { b, e in seen.withLock { $0.append(b..<e) } }
            return seen.withLock { $0 }.sorted { $0.lowerBound < $1.lowerBound }
        }
        for (n, grain) in cases {
            let expected = pool.chunks(n, grain: grain)
            #expect(expected.count > 1 && expected.count <= threads * ThreadPool.chunksPerThread)
            #expect(ranges(n, grain) == expected, "parallel, n \(n) grain \(grain)")
            // Nested: every inner loop runs serially on the outer loop's threads.
            let nested = Mutex<[[Range<Int>]]>([])
            pool.parallelFor(4, grain: 1) { b, e in
                for _ in b..<e {
                    let inner = ranges(n, grain)
                    nested.withLock { $0.append(inner) }
                }
            }
            #expect(nested.withLock { $0 }.count == 4)
            #expect(nested.withLock { $0 }.allSatisfy { $0 == expected }, "nested, n \(n) grain \(grain)")
            // Concurrent callers: one holds the pool, the others run serially, decided by timing.
            let concurrent = await withTaskGroup(of: [[Range<Int>]].self) { group in
                for _ in 0..<4 { group.addTask { (0..<20).map { _ in ranges(n, grain) } } }
                return await group.reduce(into: []) { $0 += $1 }
            }
            #expect(concurrent.count == 80, "concurrent, n \(n) grain \(grain)")
            #expect(concurrent.allSatisfy { $0 == expected }, "concurrent, n \(n) grain \(grain)")
        }
    }

    /// A float sum kept per range and combined in range order gives the same bits on every path: in parallel, nested
    /// in another loop, and with callers competing for the pool (the pattern `parallel_for`'s contract asks plugins
    /// to follow).
    @Test(arguments: [2, 3, 8])
    func rangeOrderedSumsAreIdenticalOnEveryPath(threads: Int) async {
        let pool = ThreadPool(threadCount: threads)
        let n = 10_000
        let values = (0..<n).map { i in Float(sin(Double(i) * 0.37)) * Float(1 + i % 97) }
        @Sendable func sum() -> UInt32 {
            let size = pool.chunkSize(n, grain: 7)
            let partials = UnsafeMutableBufferPointer<Float>.allocate(capacity: pool.chunks(n, grain: 7).count)
            defer { partials.deallocate() }
            pool.parallelFor(n, grain: 7) { b, e in
                var s: Float = 0
                for i in b..<e { s += values[i] }
                partials[b / size] = s
            }
            return partials.reduce(0, +).bitPattern
        }
        let alone = sum()
        let nested = Mutex<[UInt32]>([])
        pool.parallelFor(3, grain: 1) { b, e in
            for _ in b..<e {
                let s = sum()
                nested.withLock { $0.append(s) }
            }
        }
        let concurrent = await withTaskGroup(of: UInt32.self) { group in
            for _ in 0..<6 { group.addTask { sum() } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(nested.withLock { $0 }.allSatisfy { $0 == alone } && concurrent.allSatisfy { $0 == alone })
        #expect(concurrent.count == 6 && nested.withLock { $0 }.count == 3)
    }

    /// A one-thread pool runs each loop as one chunk, in one call: nothing to balance.
    @Test func oneThreadRunsOneChunk() {
        let pool = ThreadPool(threadCount: 1)
        #expect(pool.chunks(1000, grain: 1) == [0..<1000])
        var calls = 0
        pool.parallelFor(1000, grain: 3) { _, _ in calls += 1 }
        #expect(calls == 1 && pool.parallelLoops == 0)
    }
}
