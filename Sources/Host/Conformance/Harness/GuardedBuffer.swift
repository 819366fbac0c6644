import HostCore
import HostPlugins
import OperatorABI

/// A host buffer with guard bytes on both sides, to catch a plugin writing outside it.
///
/// The elements start 64-byte aligned after `guardBytes` of a fixed pattern; ``intact`` says whether both
/// guards still hold it.
final class GuardedBuffer<S: TensorScalar> {
    static var guardBytes: Int { 256 }
    static var pattern: UInt8 { 0xA5 }

    let count: Int
    let shape: [Int]
    private let raw: UnsafeMutableRawPointer
    let pointer: UnsafeMutablePointer<S>

    init(shape: [Int], values: [S]? = nil, fill: S = 0) {
        self.shape = shape
        count = shape.reduce(1, *)
        let bytes = count * MemoryLayout<S>.stride
        raw = .allocate(byteCount: bytes + 2 * Self.guardBytes, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: Self.pattern, count: bytes + 2 * Self.guardBytes)
        pointer = (raw + Self.guardBytes).bindMemory(to: S.self, capacity: max(1, count))
        if let values {
            pointer.update(from: values, count: count)
        } else {
            pointer.update(repeating: fill, count: count)
        }
    }

    deinit { raw.deallocate() }

    var values: [S] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    var argument: TensorArgument { TensorArgument(data: UnsafeMutableRawPointer(pointer), shape: shape, bits: S.bits) }

    /// Whether both guard regions still hold the pattern; otherwise the first bad offset (negative: before).
    var damage: Int? {
        let bytes = count * MemoryLayout<S>.stride
        for i in 0..<Self.guardBytes where raw.load(fromByteOffset: i, as: UInt8.self) != Self.pattern {
            return i - Self.guardBytes
        }
        for i in 0..<Self.guardBytes
        where raw.load(fromByteOffset: Self.guardBytes + bytes + i, as: UInt8.self) != Self.pattern {
            return bytes + i
        }
        return nil
    }
}

/// A workspace with guards, sized as the plugin asks.
final class GuardedWorkspace {
    let size: Int
    private let buffer: GuardedBuffer<Double>

    init(size: Int) {
        self.size = size
        buffer = GuardedBuffer(shape: [(size + 7) / 8])
    }

    var pointer: UnsafeMutableRawPointer? { size == 0 ? nil : UnsafeMutableRawPointer(buffer.pointer) }
    var damage: Int? { buffer.damage }
}
