import COpenBLAS
import DNNLShim

/// Matrix products over OpenBLAS, float32 ones over oneDNN where it is installed (``sgemmLibrary``; with
/// `OpenBLASThreads.swift`, the only files in the host that import `COpenBLAS`).
///
/// Debian's OpenBLAS uses 32-bit `blasint`; every extent is checked before the conversion so a huge
/// matrix is an error, not a trap.
public enum BLAS {
    /// Whether a matrix operand is used as stored or transposed.
    public enum Transpose: Sendable { case none, transposed }

    /// The failure of a BLAS call's argument checks.
    public struct DimensionError: Error, CustomStringConvertible, Equatable {
        public let message: String
        public var description: String { message }
    }

    /// `C = alpha * op(A) * op(B) + beta * C` in row-major order, where `op(A)` is `m x k`, `op(B)` is
    /// `k x n` and `C` is `m x n`. The corresponding C function is `cblas_sgemm`.
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) throws(DimensionError) {
        let d = try dims(m, n, k, lda, ldb, ldc)
        _ = ThreadPool.openBLASSingleThreaded
        let pool = ThreadPool.shared
        guard pool.threadCount > 1, m >= 16,
            m.multipliedReportingOverflow(by: n).partialValue.multipliedReportingOverflow(by: k).partialValue >= 1 << 18
        else {
            sgemmOnThisThread(transA, transB, d, m: d[0], alpha, a, b, beta, c)
            return
        }
        // Rows of C split into one block per pool thread, one single-threaded call per block. The blocks are fixed
        // by (m, thread count): the pool keeps them on its serial path too. They are not bitwise equal to one call
        // (the libraries' kernels round differently with the number of rows), so results are identical run to run
        // for one thread count and library, not across thread counts.
        let (aa, ba, ca) = (UInt(bitPattern: a), UInt(bitPattern: b), UInt(bitPattern: c))
        pool.parallelFor(m, grain: rowBlock(m, threads: pool.threadCount)) { begin, end in
            let a = UnsafePointer<Float>(bitPattern: aa)!, b = UnsafePointer<Float>(bitPattern: ba)!
            let c = UnsafeMutablePointer<Float>(bitPattern: ca)!
            sgemmOnThisThread(
                transA, transB, d, m: Int32(end - begin), alpha, transA == .none ? a + begin * lda : a + begin, b,
                beta, c + begin * ldc)
        }
    }

    /// One product of `m` rows of C on the calling thread: oneDNN when ``sgemmLibrary`` is oneDNN, else OpenBLAS
    /// (single-threaded: see ``ThreadPool/openBLASSingleThreaded``). `d` holds the checked extents (n, k and the
    /// leading dimensions at 1 ... 5).
    private static func sgemmOnThisThread(
        _ transA: Transpose, _ transB: Transpose, _ d: [Int32], m: Int32, _ alpha: Float, _ a: UnsafePointer<Float>,
        _ b: UnsafePointer<Float>, _ beta: Float, _ c: UnsafeMutablePointer<Float>
    ) {
        // Calls oneDNN refuses (degenerate extents, k = 0 where it would leave C unscaled) go to OpenBLAS; they do
        // no arithmetic worth the name.
        if usesOneDNN
            && ozdnnl_sgemm(
                transA == .none ? 0 : 1, transB == .none ? 0 : 1, Int64(m), Int64(d[1]), Int64(d[2]), alpha, a,
                Int64(d[3]), b, Int64(d[4]), beta, c, Int64(d[5])) == 0
        {
            return
        }
        cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas, m, d[1], d[2], alpha, a, d[3], b, d[4], beta, c, d[5])
    }

    /// Whether float32 products go through oneDNN (decided once per process; see ``sgemmLibrary``).
    private static let usesOneDNN = ozdnnl_active() != 0

    /// The library that computes float32 products, with its version and kernel, e.g. "oneDNN 2.6.3 (avx512_core)"
    /// or "OpenBLAS (ZOO_BLAS=openblas)". oneDNN (Debian's libdnnl2, opened at run time) where it is installed,
    /// since it measured faster on the training step's shapes (docs/PERFORMANCE.md); OpenBLAS otherwise, or with
    /// `ZOO_BLAS=openblas`. Double-precision products are always OpenBLAS's.
    public static var sgemmLibrary: String { String(cString: ozdnnl_status()) }

    /// Rows of C per block of a split product: one block per thread (``ThreadPool/chunkSize(_:grain:)`` keeps it as
    /// the chunk length, since it is never shorter than the pool's own chunks).
    static func rowBlock(_ m: Int, threads: Int) -> Int { (m + threads - 1) / max(1, threads) }

    /// Double-precision ``gemm(_:_:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``; the C function is `cblas_dgemm`.
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Double = 1,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double = 0,
        c: UnsafeMutablePointer<Double>, ldc: Int
    ) throws(DimensionError) {
        let d = try dims(m, n, k, lda, ldb, ldc)
        cblas_dgemm(
            CblasRowMajor, transA.cblas, transB.cblas, d[0], d[1], d[2], alpha, a, d[3], b, d[4], beta, c, d[5])
    }

    /// `C = A x B` for row-major tensors `A [m, k]` and `B [k, n]` (or their transposes).
    public static func matmul(
        _ a: Tensor<Float>, _ b: Tensor<Float>, transposeA: Bool = false, transposeB: Bool = false
    ) throws(DimensionError) -> Tensor<Float> {
        guard a.rank == 2, b.rank == 2 else {
            throw DimensionError(message: "matmul needs rank-2 operands, got \(a.shape) and \(b.shape)")
        }
        let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (k2, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == k2 else {
            throw DimensionError(message: "matmul inner extents differ: \(a.shape) x \(b.shape)")
        }
        var c = Tensor<Float>(zeros: [m, n])
        try c.withUnsafeMutableBufferPointer { (cp) throws(DimensionError) in
            try a.withUnsafeBufferPointer { (ap) throws(DimensionError) in
                try b.withUnsafeBufferPointer { (bp) throws(DimensionError) in
                    try gemm(
                        transposeA ? .transposed : .none, transposeB ? .transposed : .none, m: m, n: n, k: k,
                        a: ap.baseAddress!, lda: a.shape[1], b: bp.baseAddress!, ldb: b.shape[1],
                        c: cp.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }

    /// The OpenBLAS kernel chosen for this CPU (e.g. `"Haswell"`, `"SkylakeX"`).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Threads OpenBLAS uses.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(clamping: newValue)) }
    }

    private static func dims(_ values: Int...) throws(DimensionError) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(values.count)
        for v in values {
            guard v >= 0, let narrow = Int32(exactly: v) else {
                throw DimensionError(message: "matrix extent \(v) does not fit OpenBLAS's 32-bit integer")
            }
            out.append(narrow)
        }
        return out
    }
}

extension BLAS.Transpose {
    fileprivate var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}
