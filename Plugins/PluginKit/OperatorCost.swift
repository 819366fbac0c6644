import OperatorABI

/// A non-negative count (FLOPs, bytes) whose arithmetic saturates instead of trapping: once a sum or product
/// overflows, the count is ``saturated`` and stays so through every later `+`, `*` and `/`. Cost formulas are written
/// with it, so that an absurd B or L gives a refusal ("overflows"), never an overflow trap across the ABI boundary.
///
/// ```swift
/// let (t, d) = (SaturatingCount(length), SaturatingCount(dim))
/// let flops = 2 * t * d * (3 * d) + 2 * t * d * d
/// ```
public struct SaturatingCount: Sendable, Hashable, Comparable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// The count, or `Int.max` once it is saturated.
    public let value: Int

    /// `value`; a negative value counts as 0 (counts are never negative).
    public init(_ value: Int) { self.value = max(0, value) }

    public init(integerLiteral value: Int) { self.init(value) }

    /// The saturated count.
    public static let saturated = SaturatingCount(Int.max)

    /// Whether some step overflowed (the value is then meaningless).
    public var isSaturated: Bool { value == Int.max }

    public var description: String { isSaturated ? "overflow" : "\(value)" }

    public static func < (a: SaturatingCount, b: SaturatingCount) -> Bool { a.value < b.value }

    public static func + (a: SaturatingCount, b: SaturatingCount) -> SaturatingCount {
        let (sum, overflow) = a.value.addingReportingOverflow(b.value)
        return overflow || a.isSaturated || b.isSaturated ? .saturated : SaturatingCount(sum)
    }

    public static func * (a: SaturatingCount, b: SaturatingCount) -> SaturatingCount {
        if a.value == 0 || b.value == 0 { return 0 }
        let (product, overflow) = a.value.multipliedReportingOverflow(by: b.value)
        return overflow || a.isSaturated || b.isSaturated ? .saturated : SaturatingCount(product)
    }

    /// Integer division (rounding down); a saturated count stays saturated, division by 0 saturates.
    public static func / (a: SaturatingCount, b: SaturatingCount) -> SaturatingCount {
        a.isSaturated || b.value == 0 ? .saturated : SaturatingCount(a.value / b.value)
    }

    public static func += (a: inout SaturatingCount, b: SaturatingCount) { a = a + b }
}

/// The work of one call as an operator declares it: ABI 1.3's `oz_cost`, returned by
/// ``OperatorKernel/cost(batch:length:)``.
///
/// Counting convention (the header's, DiT's and fvcore's): matrix products and convolutions only, a multiply-add is
/// 2 FLOPs, elementwise work (activations, gates, softmax, norms, biases) is left out; a real FFT of size N counts
/// `2.5 N log2 N`. `backwardFLOPs` counts the products of the vector-Jacobian product itself (every gradient, dx and
/// every dparams); a kernel that recomputes its forward inside backward does not count that recomputation (it is
/// `forwardFLOPs` more, should a host want the work actually done).
///
/// Bytes left `nil` are filled in by PluginKit as the header's minimum traffic at float32 (4 bytes an element), with
/// `X = B L D` and `P` the elements of every parameter tensor:
/// forward `4 (2 X + P)` (x, params, y), backward `4 (3 X + 2 P)` (x, params, dy, dx, dparams). An operator without
/// `OZ_CAP_BACKWARD` reports 0 backward FLOPs and bytes whatever it declares.
public struct OperatorCost: Sendable {
    /// FLOPs of one forward of the whole batch.
    public var forwardFLOPs: SaturatingCount
    /// FLOPs of one backward (dx and every dparams).
    public var backwardFLOPs: SaturatingCount
    /// Bytes one forward reads and writes at least; `nil`: PluginKit's minimum traffic.
    public var forwardBytes: SaturatingCount?
    /// Bytes one backward reads and writes at least; `nil`: PluginKit's minimum traffic.
    public var backwardBytes: SaturatingCount?

    public init(
        forwardFLOPs: SaturatingCount, backwardFLOPs: SaturatingCount, forwardBytes: SaturatingCount? = nil,
        backwardBytes: SaturatingCount? = nil
    ) {
        self.forwardFLOPs = forwardFLOPs
        self.backwardFLOPs = backwardFLOPs
        self.forwardBytes = forwardBytes
        self.backwardBytes = backwardBytes
    }
}
