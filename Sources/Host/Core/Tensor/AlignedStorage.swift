#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A fixed-size, 64-byte-aligned, zero-initialised buffer: the memory behind a ``Tensor``.
///
/// The operator ABI promises plugins 64-byte-aligned buffers; Swift arrays only guarantee 16. Buffers of
/// ``mappedThreshold`` bytes or more are anonymous memory mappings, whose pages the kernel zero-fills on first
/// touch: a large zero tensor costs no memory until it is written (a model built before its checkpoint is
/// loaded does not hold a second copy of the weights). Freed mappings go to ``MappingCache`` and serve the next
/// buffer of the same size (zeroed with `memset`), so the activations of a training step do not fault in every
/// page again in every step.
final class AlignedStorage<Scalar: TensorScalar>: @unchecked Sendable {
    /// Alignment of every tensor buffer, in bytes.
    static var alignment: Int { 64 }
    /// Buffers at least this large are mapped rather than allocated.
    static var mappedThreshold: Int { 1 << 20 }

    let count: Int
    let pointer: UnsafeMutablePointer<Scalar>
    private let mappedBytes: Int

    /// A buffer of `count` elements, zero-filled unless `zeroed` is false (the caller overwrites every element).
    init(count: Int, zeroed: Bool = true) {
        precondition(count >= 0, "negative element count")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Scalar>.stride
        if bytes >= Self.mappedThreshold, let cached = MappingCache.take(bytes) {
            mappedBytes = bytes
            if zeroed { memset(cached, 0, bytes) }
            pointer = cached.bindMemory(to: Scalar.self, capacity: max(count, 1))
        } else if bytes >= Self.mappedThreshold,
            let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            mapped != MAP_FAILED
        {
            mappedBytes = bytes
            pointer = mapped.bindMemory(to: Scalar.self, capacity: max(count, 1))
        } else {
            mappedBytes = 0
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.alignment)
            if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
            pointer = raw.bindMemory(to: Scalar.self, capacity: max(count, 1))
        }
    }

    convenience init(copying other: AlignedStorage<Scalar>) {
        self.init(count: other.count, zeroed: false)
        pointer.update(from: other.pointer, count: count)
    }

    deinit {
        if mappedBytes > 0 {
            MappingCache.give(UnsafeMutableRawPointer(pointer), bytes: mappedBytes)
        } else {
            UnsafeMutableRawPointer(pointer).deallocate()
        }
    }

    var buffer: UnsafeMutableBufferPointer<Scalar> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}
