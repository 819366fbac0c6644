/// `out[rows, outFeatures] = input[rows, inFeatures] W^T + b` with `W` of shape `(outFeatures, inFeatures)`
/// (PyTorch `nn.Linear`), as one `gemm` after broadcasting the bias into `out`.
@_specialize(where S == Float)
@_specialize(where S == Double)
public func linear<S: KernelScalar>(
    _ input: UnsafePointer<S>, rows: Int, inFeatures: Int, weight: UnsafePointer<S>, bias: UnsafePointer<S>?,
    outFeatures: Int, into out: UnsafeMutablePointer<S>, parallel: ParallelFor
) {
    if let bias {
        parallel(rows, grain: max(1, 16384 / max(1, outFeatures))) { begin, end in
            for r in begin..<end { (out + r * outFeatures).update(from: bias, count: outFeatures) }
        }
    }
    parallelGemm(
        transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures, alpha: 1, a: input, lda: inFeatures,
        b: weight, ldb: inFeatures, beta: bias == nil ? 0 : 1, c: out, ldc: outFeatures, parallel: parallel)
}

/// `out[c] = sum_r m[r, c]`, overwriting `out` (a bias gradient); summed in a fixed order, so deterministic.
@_specialize(where S == Float)
@_specialize(where S == Double)
public func columnSums<S: KernelScalar>(
    _ m: UnsafePointer<S>, rows: Int, columns: Int, into out: UnsafeMutablePointer<S>
) {
    out.update(repeating: 0, count: columns)
    for r in 0..<rows {
        let row = m + r * columns
        for c in 0..<columns { out[c] += row[c] }
    }
}
