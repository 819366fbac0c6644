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

/// What fills a reused workspace before a call (see ``ReusedWorkspace``).
enum WorkspaceFill: CustomStringConvertible {
    /// All zero bits, as a fresh `calloc`.
    case zero
    /// Whatever the previous call left, as the host's `Operator` lends it.
    case keep
    /// Every byte `value`: 0xFF reads as NaN, 0x7F as a huge finite number (3.4e38 as float32, 1.4e306 as
    /// float64).
    case bytes(UInt8)
    /// Bytes from a generator seeded with `seed` (random finite and non-finite values alike).
    case random(seed: UInt64)

    var description: String {
        switch self {
        case .zero: "zeros"
        case .keep: "what the previous call left in it"
        case .bytes(0xFF): "0xFF bytes (NaN)"
        case .bytes(0x7F): "0x7F bytes (huge finite values)"
        case .bytes(let b): "0x\(String(b, radix: 16, uppercase: true)) bytes"
        case .random: "random bytes"
        }
    }
}

/// One workspace lent to call after call on one instance, as `Operator` does: grown (reallocated) when a call asks
/// for more than it holds, never shrunk, and passed with its whole size (so a call may get more than it asked for).
/// Unlike the host, it can refill the buffer before each call (``WorkspaceFill``); guards on both sides catch a
/// write past its end.
final class ReusedWorkspace {
    private var buffer: GuardedBuffer<Double>?
    private(set) var size = 0
    /// The guard damage of any buffer this workspace has held (an overrun is kept when the buffer is replaced).
    private(set) var damage: Int?

    /// The workspace for a call that needs `needed` bytes, filled as asked: (nil, 0) when it needs none.
    func lend(_ needed: Int, fill: WorkspaceFill) -> (pointer: UnsafeMutableRawPointer?, size: Int) {
        guard needed > 0 else { return (nil, 0) }
        if buffer == nil || size < needed {
            if let buffer, damage == nil { damage = buffer.damage }
            buffer = GuardedBuffer(shape: [(needed + 7) / 8])
            size = needed
        }
        let pointer = UnsafeMutableRawPointer(buffer!.pointer)
        switch fill {
        case .keep: break
        case .zero: pointer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        case .bytes(let value): pointer.initializeMemory(as: UInt8.self, repeating: value, count: size)
        case .random(let seed):
            var state = seed
            let words = size / 8
            let w = pointer.bindMemory(to: UInt64.self, capacity: words)
            for i in 0..<words { w[i] = SplitMix.next(&state) }
            for i in words * 8..<size {
                pointer.storeBytes(
                    of: UInt8(truncatingIfNeeded: SplitMix.next(&state)), toByteOffset: i, as: UInt8.self)
            }
        }
        return (pointer, size)
    }

    /// Whether the current buffer's guards (or an earlier buffer's) were overwritten: the first bad offset.
    var guardDamage: Int? { damage ?? buffer?.damage }
}

/// SplitMix64, the harness's own small generator (random fills, interleavings).
enum SplitMix {
    static func next(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in 0..<bound.
    static func below(_ bound: Int, _ state: inout UInt64) -> Int { Int(next(&state) % UInt64(max(1, bound))) }
}
