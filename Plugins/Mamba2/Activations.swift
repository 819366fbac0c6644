import Foundation
import PluginKit

/// The scalar activations of Mamba-2 and their derivatives, as upstream computes them.
enum Activations {
    /// `1 / (1 + exp(-v))`.
    @inline(__always)
    static func sigmoid<S: KernelScalar>(_ v: S) -> S { 1 / (1 + S.exp(-v)) }

    /// `silu(v) = v sigmoid(v)`.
    @inline(__always)
    static func silu<S: KernelScalar>(_ v: S) -> S { v * sigmoid(v) }

    /// `silu'(v) = sigmoid(v) (1 + v (1 - sigmoid(v)))`.
    @inline(__always)
    static func siluDerivative<S: KernelScalar>(_ v: S) -> S {
        let s = sigmoid(v)
        return s * (1 + v * (1 - s))
    }

    /// `F.softplus(v)` with PyTorch's threshold 20: `v` above it, `log1p(exp(v))` otherwise.
    @inline(__always)
    static func softplus<S: KernelScalar>(_ v: S) -> S {
        v > 20 ? v : S(Foundation.log1p(Double(S.exp(v))))
    }

    /// The derivative of ``softplus(_:)``: 1 above the threshold, `sigmoid(v)` otherwise.
    @inline(__always)
    static func softplusDerivative<S: KernelScalar>(_ v: S) -> S { v > 20 ? 1 : sigmoid(v) }
}

extension Activations {
    /// `dt[r, h] = softplus(raw[r, h] + bias[h])` over `rows` rows of `heads` (`dt` may be `raw`).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    static func softplus<S: KernelScalar>(
        _ raw: UnsafePointer<S>, bias: UnsafePointer<S>, rows: Int, heads: Int, into dt: UnsafeMutablePointer<S>,
        parallel: ParallelFor
    ) {
        parallel(rows, grain: max(1, 4096 / heads)) { r0, r1 in
            for r in r0..<r1 {
                for h in 0..<heads { dt[r * heads + h] = softplus(raw[r * heads + h] + bias[h]) }
            }
        }
    }

    /// `grad[r, h] *= softplus'(raw[r, h] + bias[h])`: the gradient of `dt` becomes that of `raw`.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    static func softplusBackward<S: KernelScalar>(
        _ raw: UnsafePointer<S>, bias: UnsafePointer<S>, rows: Int, heads: Int, gradient grad: UnsafeMutablePointer<S>,
        parallel: ParallelFor
    ) {
        parallel(rows, grain: max(1, 4096 / heads)) { r0, r1 in
            for r in r0..<r1 {
                for h in 0..<heads { grad[r * heads + h] *= softplusDerivative(raw[r * heads + h] + bias[h]) }
            }
        }
    }

    /// `out = silu(v)` over `rows` rows of `width` (`out` may be `v`).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    static func silu<S: KernelScalar>(
        _ v: UnsafePointer<S>, rows: Int, width: Int, into out: UnsafeMutablePointer<S>, parallel: ParallelFor
    ) {
        parallel(rows, grain: max(1, 16384 / width)) { r0, r1 in
            for e in (r0 * width)..<(r1 * width) { out[e] = silu(v[e]) }
        }
    }

    /// `grad *= silu'(v)`: the gradient of `silu(v)` becomes that of `v`.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    static func siluBackward<S: KernelScalar>(
        _ v: UnsafePointer<S>, rows: Int, width: Int, gradient grad: UnsafeMutablePointer<S>, parallel: ParallelFor
    ) {
        parallel(rows, grain: max(1, 16384 / width)) { r0, r1 in
            for e in (r0 * width)..<(r1 * width) { grad[e] *= siluDerivative(v[e]) }
        }
    }
}
