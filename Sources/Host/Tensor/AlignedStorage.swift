/// A fixed-size, 64-byte-aligned, zero-initialised buffer: the memory behind a ``Tensor``.
///
/// The operator ABI promises plugins 64-byte-aligned buffers; Swift arrays only guarantee 16.
final class AlignedStorage<Scalar: TensorScalar>: @unchecked Sendable {
    /// Alignment of every tensor buffer, in bytes.
    static var alignment: Int { 64 }

    let count: Int
    let pointer: UnsafeMutablePointer<Scalar>

    init(count: Int) {
        precondition(count >= 0, "negative element count")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Scalar>.stride, alignment: Self.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1) * MemoryLayout<Scalar>.stride)
        pointer = raw.bindMemory(to: Scalar.self, capacity: max(count, 1))
    }

    convenience init(copying other: AlignedStorage<Scalar>) {
        self.init(count: other.count)
        pointer.update(from: other.pointer, count: count)
    }

    deinit {
        UnsafeMutableRawPointer(pointer).deallocate()
    }

    var buffer: UnsafeMutableBufferPointer<Scalar> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}
