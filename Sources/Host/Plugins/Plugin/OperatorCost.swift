import OperatorABI

/// The work one call of an operator instance does, as its plugin declares it through the ABI's `cost` entry
/// (ABI 1.3; see `oz_cost` in OperatorABI.h for the counting convention: matrix products and convolutions, a
/// multiply-add counted as 2, elementwise work left out; bytes are the host buffers the call reads and writes).
public struct OperatorCost: Equatable, Sendable {
    /// FLOPs of one forward of the whole batch.
    public var forwardFLOPs: Int
    /// FLOPs of one backward (input and parameter gradients); 0 when the operator has no backward.
    public var backwardFLOPs: Int
    /// Bytes one forward reads and writes at least.
    public var forwardBytes: Int
    /// Bytes one backward reads and writes at least.
    public var backwardBytes: Int

    public init(forwardFLOPs: Int, backwardFLOPs: Int, forwardBytes: Int, backwardBytes: Int) {
        self.forwardFLOPs = forwardFLOPs
        self.backwardFLOPs = backwardFLOPs
        self.forwardBytes = forwardBytes
        self.backwardBytes = backwardBytes
    }
}
