import COpenBLAS
import Foundation

/// The element types kernels compute in: float32 always, float64 when the operator declares `OZ_CAP_FLOAT64`.
public protocol KernelScalar: BinaryFloatingPoint, Sendable {
    static var bits: UInt8 { get }
    static func exp(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    /// Row-major `C = alpha op(A) op(B) + beta C` through OpenBLAS (`cblas_sgemm` / `cblas_dgemm`).
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int, beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: KernelScalar {
    public static var bits: UInt8 { 32 }
    /// ``FastMath/exp(_:)``: branch-free, so loops over it vectorise (libm's `expf` does not).
    @inlinable @inline(__always) public static func exp(_ x: Float) -> Float { FastMath.exp(x) }
    /// ``FastMath/tanh(_:)``: branch-free, so loops over it vectorise (libm's `tanhf` does not).
    @inlinable @inline(__always) public static func tanh(_ x: Float) -> Float { FastMath.tanh(x) }
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n),
            Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

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
