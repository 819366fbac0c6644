/// The eigendecomposition `A = V diag(w) Vᵀ` of a real symmetric matrix, in float64, by the cyclic Jacobi
/// method (Golub & Van Loan, *Matrix Computations*, 4th ed., §8.5.2; Rutishauser's formulas).
///
/// Each sweep visits every pair `p < q` in row order and applies the plane rotation `J(p, q, θ)` that zeroes
/// `a_pq`: with `θ = (a_qq − a_pp) / (2 a_pq)`, `t = sign(θ) / (|θ| + √(1 + θ²))` (the smaller root of
/// `t² + 2θt − 1 = 0`), `c = 1/√(1 + t²)`, `s = t c`,
///
///     a'_pp = a_pp − t a_pq,   a'_qq = a_qq + t a_pq,   a'_pq = 0,
///     a'_kp = c a_kp − s a_kq,   a'_kq = s a_kp + c a_kq   (k ≠ p, q),
///
/// and accumulates `V ← V J` the same way. A pair is skipped (and `a_pq` set to zero) when
/// `|a_pq| ≤ ε √(|a_pp a_qq|)` with `ε` the float64 unit roundoff, or when `a_pq` is below the smallest normal
/// number; the iteration stops after the first sweep that rotates nothing (quadratic convergence: typically
/// 6–10 sweeps), or after 100 sweeps. Cost about `8 n³` flops per sweep with vectors, so 300 x 300 takes a
/// few seconds in a release build.
///
/// ```swift
/// let e = try SymmetricEigen([2, 1, 1, 2], order: 2)
/// e.values   // [1, 3]
/// e.vector(1) // ±[0.7071, 0.7071]
/// ```
public struct SymmetricEigen: Sendable {
    /// The matrix order n.
    public let order: Int
    /// The eigenvalues, ascending.
    public let values: [Double]
    /// The eigenvectors as an n x n row-major matrix whose column `k` is the unit eigenvector of `values[k]`
    /// (orthonormal columns); `nil` when not requested.
    public let vectors: [Double]?
    /// Jacobi sweeps performed.
    public let sweeps: Int

    /// Decomposes the n x n row-major symmetric `matrix`.
    /// - Parameters:
    ///   - matrix: `n * n` values, row-major.
    ///   - order: n.
    ///   - computeVectors: also accumulate the eigenvectors (about twice the work).
    ///   - symmetryTolerance: the largest `|a_ij − a_ji|` accepted, relative to `max |a_ij|`; the decomposition
    ///     uses `(A + Aᵀ)/2`.
    /// - Throws: ``EvaluationError`` when the count is not `n * n`, a value is not finite, or the matrix is not
    ///   symmetric within the tolerance.
    public init(
        _ matrix: [Double], order n: Int, computeVectors: Bool = true, symmetryTolerance: Double = 1e-9
    ) throws(EvaluationError) {
        guard n >= 0, matrix.count == n * n else {
            throw .shape(argument: "matrix", expected: "[\(n), \(n)] (\(n * n) values)", found: [matrix.count])
        }
        if let bad = matrix.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(argument: "matrix", index: bad) }
        let scale = matrix.reduce(0) { max($0, abs($1)) }
        var a = matrix
        for i in 0..<n {
            for j in (i + 1)..<max(i + 1, n) {
                let (upper, lower) = (matrix[i * n + j], matrix[j * n + i])
                guard abs(upper - lower) <= symmetryTolerance * scale else {
                    throw .notSymmetric(argument: "matrix", row: i, column: j, upper: upper, lower: lower)
                }
                let mean = 0.5 * (upper + lower)
                a[i * n + j] = mean
                a[j * n + i] = mean
            }
        }
        self.init(symmetrized: a, order: n, computeVectors: computeVectors)
    }

    /// Decomposes a symmetric matrix given as rows.
    /// - Throws: ``EvaluationError`` as ``init(_:order:computeVectors:symmetryTolerance:)``, or when a row's
    ///   length is not the number of rows.
    public init(rows: [[Double]], computeVectors: Bool = true, symmetryTolerance: Double = 1e-9) throws(EvaluationError)
    {
        let n = rows.count
        if let (index, row) = rows.enumerated().first(where: { $0.element.count != n }) {
            throw .featureWidth(argument: "matrix", row: index, expected: n, found: row.count)
        }
        try self.init(
            rows.flatMap { $0 }, order: n, computeVectors: computeVectors, symmetryTolerance: symmetryTolerance)
    }

    /// Decomposes an already exactly symmetric, finite matrix (no checks).
    init(symmetrized matrix: [Double], order n: Int, computeVectors: Bool) {
        var a = matrix
        var v = computeVectors ? [Double](repeating: 0, count: n * n) : []
        for i in 0..<(computeVectors ? n : 0) { v[i * n + i] = 1 }
        var sweeps = 0
        a.withUnsafeMutableBufferPointer { a in
            v.withUnsafeMutableBufferPointer { v in
                sweeps = Self.jacobi(a, v, n: n)
            }
        }
        let diagonal = (0..<n).map { a[$0 * n + $0] }
        let order = diagonal.indices.sorted { diagonal[$0] < diagonal[$1] || (diagonal[$0] == diagonal[$1] && $0 < $1) }
        self.order = n
        self.sweeps = sweeps
        self.values = order.map { diagonal[$0] }
        if computeVectors {
            var sorted = [Double](repeating: 0, count: n * n)
            for (column, source) in order.enumerated() {
                for row in 0..<n { sorted[row * n + column] = v[row * n + source] }
            }
            self.vectors = sorted
        } else {
            self.vectors = nil
        }
    }

    /// The cyclic Jacobi sweeps on the full symmetric matrix `a` (both triangles kept), accumulating rotations
    /// into `v` when it is not empty. Returns the number of sweeps.
    private static func jacobi(
        _ a: UnsafeMutableBufferPointer<Double>, _ v: UnsafeMutableBufferPointer<Double>, n: Int
    ) -> Int {
        let withVectors = !v.isEmpty
        let epsilon = Double.ulpOfOne / 2
        var sweep = 0
        while sweep < 100 {
            sweep += 1
            var rotated = false
            for p in 0..<n {
                for q in (p + 1)..<max(p + 1, n) {
                    let apq = a[p * n + q]
                    if apq == 0 { continue }
                    let app = a[p * n + p], aqq = a[q * n + q]
                    if abs(apq) <= epsilon * (abs(app) * abs(aqq)).squareRoot()
                        || abs(apq) < Double.leastNormalMagnitude
                    {
                        a[p * n + q] = 0
                        a[q * n + p] = 0
                        continue
                    }
                    rotated = true
                    let theta = (aqq - app) / (2 * apq)
                    let t: Double
                    if abs(theta) > 1e150 {
                        t = 1 / (2 * theta)
                    } else {
                        let sign: Double = theta >= 0 ? 1 : -1
                        t = sign / (abs(theta) + (1 + theta * theta).squareRoot())
                    }
                    let c = 1 / (1 + t * t).squareRoot()
                    let s = t * c
                    for k in 0..<n where k != p && k != q {
                        let akp = a[k * n + p], akq = a[k * n + q]
                        let newP = c * akp - s * akq
                        let newQ = s * akp + c * akq
                        a[k * n + p] = newP
                        a[p * n + k] = newP
                        a[k * n + q] = newQ
                        a[q * n + k] = newQ
                    }
                    a[p * n + p] = app - t * apq
                    a[q * n + q] = aqq + t * apq
                    a[p * n + q] = 0
                    a[q * n + p] = 0
                    if withVectors {
                        for k in 0..<n {
                            let vkp = v[k * n + p], vkq = v[k * n + q]
                            v[k * n + p] = c * vkp - s * vkq
                            v[k * n + q] = s * vkp + c * vkq
                        }
                    }
                }
            }
            if !rotated { break }
        }
        return sweep
    }

    /// The unit eigenvector of `values[k]` (column `k` of ``vectors``).
    /// - Precondition: the decomposition computed vectors and `0 <= k < order`.
    public func vector(_ k: Int) -> [Double] {
        guard let vectors else { preconditionFailure("eigenvectors were not computed") }
        precondition(k >= 0 && k < order, "eigenvector \(k) out of range 0..<\(order)")
        return (0..<order).map { vectors[$0 * order + k] }
    }

    /// `V diag(f(w)) Vᵀ`, row-major: the matrix function `f(A)` (for example `f = √` gives the square root of a
    /// positive semi-definite matrix).
    /// - Precondition: the decomposition computed vectors.
    public func reconstructed(applying f: (Double) -> Double = { $0 }) -> [Double] {
        guard let vectors else { preconditionFailure("eigenvectors were not computed") }
        let n = order
        let fw = values.map(f)
        var out = [Double](repeating: 0, count: n * n)
        // out[i][j] = sum_k V[i][k] f(w_k) V[j][k]; symmetric, so compute the upper triangle.
        for i in 0..<n {
            for j in i..<n {
                var sum = 0.0
                for k in 0..<n { sum += vectors[i * n + k] * fw[k] * vectors[j * n + k] }
                out[i * n + j] = sum
                out[j * n + i] = sum
            }
        }
        return out
    }
}
