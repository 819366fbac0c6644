/// `C = alpha op(A) op(B) + beta C` with the rows of `C` split over the host's threads, each block one
/// single-threaded OpenBLAS call.
///
/// The host runs OpenBLAS with one thread and parallelises itself, so a plugin's large products should
/// come here; products inside an already-parallel loop (per head, per chunk) call `S.gemm` directly.
///
/// The blocks (one per host thread) are fixed by `m` and the host's thread count, and a host of this package
/// keeps them even when it runs the loop serially, so results are identical run to run. They are not bitwise
/// equal to one call: OpenBLAS's kernels (Haswell's, for one) round differently with the number of rows, so a
/// different thread count gives results that differ in the last bits.
@_specialize(where S == Float)
@_specialize(where S == Double)
public func parallelGemm<S: KernelScalar>(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: S, a: UnsafePointer<S>, lda: Int,
    b: UnsafePointer<S>, ldb: Int, beta: S, c: UnsafeMutablePointer<S>, ldc: Int, parallel: ParallelFor
) {
    let threads = parallel.threads
    guard threads > 1, m >= 2 * 8,
        m.multipliedReportingOverflow(by: n).partialValue.multipliedReportingOverflow(by: k).partialValue >= 1 << 18
    else {
        S.gemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
            c: c, ldc: ldc)
        return
    }
    let block = (m + threads - 1) / threads
    parallel(m, grain: block) { begin, end in
        S.gemm(
            transA: transA, transB: transB, m: end - begin, n: n, k: k, alpha: alpha,
            a: transA ? a + begin : a + begin * lda,
            lda: lda, b: b, ldb: ldb, beta: beta, c: c + begin * ldc, ldc: ldc)
    }
}
