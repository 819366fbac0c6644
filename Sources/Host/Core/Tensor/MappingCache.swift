import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Anonymous memory mappings kept after their tensor is freed, for the next tensor of the same size.
///
/// A training step allocates the same large activations and gradients in every step. Mapping them afresh costs
/// one page fault per 4 KiB on first touch (the kernel zero-fills each page): about 29,000 faults a step for the
/// embedded model at batch 8, measured with `perf record -e page-faults`. Reusing a mapping costs a `memset` of
/// memory that is already resident. Sizes match exactly (tensor shapes repeat from step to step), the cache holds
/// at most ``capacity`` bytes, and a mapping that does not fit is unmapped as before, so a model's weights loaded
/// once never pin extra memory beyond it.
enum MappingCache {
    /// Most bytes held idle in the cache: a quarter of the machine's memory, at most 4 GiB (a training step of the
    /// embedded model at batch 32 frees and reallocates about 1.5 GiB).
    static let capacity: Int = {
        let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
        return physical > 0 ? min(4 << 30, physical / 4) : 1 << 30
    }()
    /// Largest single mapping kept (bigger ones are rare and would crowd out the rest).
    static let largestKept = 256 << 20

    private struct State: ~Copyable {
        /// Idle mappings by size, as addresses (plain integers, so the state is `Sendable`).
        var free: [Int: [UInt]] = [:]
        var bytes = 0
    }
    private static let state = Mutex(State())

    /// A mapping of exactly `bytes` from the cache, or nil when none is idle. Its contents are whatever the last
    /// tensor left there; the caller zeroes it when it needs zeros.
    static func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
        let address = state.withLock { s -> UInt? in
            guard let address = s.free[bytes]?.popLast() else { return nil }
            s.bytes -= bytes
            return address
        }
        return address.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
    }

    /// Keeps `pointer` (a mapping of `bytes`) for reuse, or unmaps it when the cache is full.
    static func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let address = UInt(bitPattern: pointer)
        let kept = state.withLock { s -> Bool in
            guard bytes <= largestKept, s.bytes + bytes <= capacity else { return false }
            s.free[bytes, default: []].append(address)
            s.bytes += bytes
            return true
        }
        if !kept { munmap(pointer, bytes) }
    }
}
