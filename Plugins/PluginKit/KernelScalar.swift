import COpenBLAS
import DNNLShim
import Foundation
import VectorKernels

/// The element types kernels compute in: float32 always, float64 when the operator declares `OZ_CAP_FLOAT64`.
public protocol KernelScalar: BinaryFloatingPoint, Sendable {
    static var bits: UInt8 { get }
    static func exp(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    /// Row-major `C = alpha op(A) op(B) + beta C` on the calling thread: float32 through oneDNN where it is
    /// installed (DNNLShim, as the host's `BLAS.gemm`; `ZOO_BLAS=openblas` turns it off), else OpenBLAS's
    /// `cblas_sgemm`; float64 through `cblas_dgemm`.
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int, beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// `act[i] = GELU(pre[i])`, tanh approximation, over `count` contiguous elements.
    static func geluTanh(_ act: UnsafeMutablePointer<Self>, _ pre: UnsafePointer<Self>, count: Int)
    /// `g[i] *= GELU'(pre[i])` (tanh approximation) over `count` contiguous elements.
    static func geluTanhBackward(_ g: UnsafeMutablePointer<Self>, _ pre: UnsafePointer<Self>, count: Int)
    /// Softmax of `row[0 ..< visible]` in place, the maximum subtracted first, and `row[visible ..< length]` zeroed.
    static func softmaxRow(_ row: UnsafeMutablePointer<Self>, visible: Int, length: Int)
    /// The softmax's vector-Jacobian product for one row of `count`: `g[j] = p[j] (g[j] - sum_k p[k] g[k])`.
    static func softmaxBackwardRow(_ p: UnsafePointer<Self>, _ g: UnsafeMutablePointer<Self>, count: Int)
}

private let sqrtTwoOverPi = 0.7978845608028654

/// The loops every scalar type can run; float32 overrides them with the vector kernels (``Float``).
extension KernelScalar {
    public static func geluTanh(_ act: UnsafeMutablePointer<Self>, _ pre: UnsafePointer<Self>, count: Int) {
        for i in 0..<count {
            let u = pre[i]
            act[i] = 0.5 * u * (1 + tanh(Self(sqrtTwoOverPi) * (u + 0.044715 * u * u * u)))
        }
    }

    public static func geluTanhBackward(_ g: UnsafeMutablePointer<Self>, _ pre: UnsafePointer<Self>, count: Int) {
        let k = Self(sqrtTwoOverPi)
        for i in 0..<count {
            let u = pre[i]
            let t = tanh(k * (u + 0.044715 * u * u * u))
            g[i] *= 0.5 * (1 + t) + 0.5 * u * (1 - t * t) * k * (1 + 3 * 0.044715 * u * u)
        }
    }

    public static func softmaxRow(_ row: UnsafeMutablePointer<Self>, visible: Int, length: Int) {
        var m = row[0]
        for j in 1..<max(1, visible) where row[j] > m { m = row[j] }
        for j in 0..<visible { row[j] = exp(row[j] - m) }
        var sum: Self = 0
        for j in 0..<visible { sum += row[j] }
        let inv = 1 / sum
        for j in 0..<visible { row[j] *= inv }
        for j in visible..<length { row[j] = 0 }
    }

    public static func softmaxBackwardRow(_ p: UnsafePointer<Self>, _ g: UnsafeMutablePointer<Self>, count: Int) {
        var dot: Self = 0
        for j in 0..<count { dot += p[j] * g[j] }
        for j in 0..<count { g[j] = p[j] * (g[j] - dot) }
    }
}

extension Float: KernelScalar {
    public static var bits: UInt8 { 32 }
    /// ``FastMath/exp(_:)``: branch-free, so loops over it vectorise (libm's `expf` does not).
    @inlinable @inline(__always) public static func exp(_ x: Float) -> Float { FastMath.exp(x) }
    /// ``FastMath/tanh(_:)``: branch-free, so loops over it vectorise (libm's `tanhf` does not).
    @inlinable @inline(__always) public static func tanh(_ x: Float) -> Float { FastMath.tanh(x) }
    /// The VectorKernels loop: AVX-512 or AVX2 where the machine has them.
    public static func geluTanh(_ act: UnsafeMutablePointer<Float>, _ pre: UnsafePointer<Float>, count: Int) {
        ozv_gelu_tanh(act, pre, Int64(count))
    }
    public static func geluTanhBackward(_ g: UnsafeMutablePointer<Float>, _ pre: UnsafePointer<Float>, count: Int) {
        ozv_gelu_tanh_backward(g, pre, Int64(count))
    }
    public static func softmaxRow(_ row: UnsafeMutablePointer<Float>, visible: Int, length: Int) {
        ozv_softmax_row(row, Int64(visible), Int64(length))
    }
    public static func softmaxBackwardRow(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, count: Int) {
        ozv_softmax_backward_row(p, g, Int64(count))
    }
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        // A call oneDNN refuses (degenerate extents; k = 0, where it would leave C unscaled) goes to OpenBLAS.
        if usesOneDNN
            && ozdnnl_sgemm(
                transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb),
                beta, c, Int64(ldc)) == 0
        {
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n),
            Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Whether float32 products go through oneDNN (decided once per process by DNNLShim).
private let usesOneDNN = ozdnnl_active() != 0

extension Double: KernelScalar {
    public static var bits: UInt8 { 64 }
    public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n),
            Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Extents that fit OpenBLAS's 32-bit integers; kernels check their shapes with it before any `gemm`.
public func checkBLASExtents(_ extents: Int...) throws(PluginFailure) {
    for e in extents where e < 0 || e > Int(Int32.max) {
        throw .unsupported("matrix extent \(e) exceeds OpenBLAS's 32-bit integer range")
    }
}
