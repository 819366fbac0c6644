/// The Fréchet (2-Wasserstein) distance between two Gaussians fitted to feature sets: the statistic of FID
/// (Heusel et al. 2017), here over whatever feature map the caller uses (see ``ImageFeatures``).
///
///     d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}
///
/// with unbiased covariances (divisor n − 1, as `numpy.cov`). The value returned is d² (FID's convention:
/// no outer square root). Everything is float64. The matrix square roots come from ``SymmetricEigen``:
/// `Σ₁^{1/2} = V diag(√max(w, 0)) Vᵀ`, and the trace term is `Σ_k √max(λ_k, 0)` over the eigenvalues λ of the
/// symmetric matrix `M = Σ₁^{1/2} Σ₂ Σ₁^{1/2}` (symmetrised as `(M + Mᵀ)/2` against round-off). Covariances
/// are positive semi-definite, so a negative eigenvalue can only be round-off (of order `1e-16 · ‖Σ‖`, or
/// `1e-16 · ‖Σ‖²` for `M`): such eigenvalues are clamped to 0 before the square root. The square root turns an
/// error `δ` in a near-zero eigenvalue of `M` into `√δ`, so when Σ is singular (n ≤ d samples) the result
/// carries an absolute error of about `1e-8 · tr Σ` (measured: identical sets of 50 rows x 118 features give
/// −1.5e-8 · (tr Σ₁ + tr Σ₂) before clamping; 500 rows give −2e-14). This is
/// the same quantity `scipy.linalg.sqrtm(Σ₁ Σ₂)` gives in pytorch-fid, because `Σ₁ Σ₂` is similar to `M`, but
/// it needs no complex arithmetic. A result that round-off makes slightly negative is clamped to 0.
///
/// ```swift
/// let fid = try FrechetDistance.between(realFeatures, generatedFeatures)
/// ```
public enum FrechetDistance {
    /// d² between Gaussians fitted to `a` and `b` (rows = samples, at least 2 each, equal widths).
    /// - Throws: ``EvaluationError`` for too few rows, unequal widths, or non-finite values.
    public static func between(_ a: [[Double]], _ b: [[Double]]) throws(EvaluationError) -> Double {
        let fitA = try GaussianFit(features: a, argument: "a")
        let fitB = try GaussianFit(features: b, argument: "b")
        return try between(fitA, fitB)
    }

    /// d² between two fitted Gaussians.
    /// - Throws: ``EvaluationError/featureWidth(argument:row:expected:found:)`` when the dimensions differ.
    public static func between(_ a: GaussianFit, _ b: GaussianFit) throws(EvaluationError) -> Double {
        guard a.dimension == b.dimension else {
            throw .featureWidth(argument: "b", row: 0, expected: a.dimension, found: b.dimension)
        }
        return between(Reference(a), b)
    }

    /// A fitted Gaussian with its covariance's square root computed once, for many distances to one reference.
    public struct Reference: Sendable {
        public let fit: GaussianFit
        /// `Σ^{1/2}`, row-major.
        let root: [Double]

        public init(_ fit: GaussianFit) {
            self.fit = fit
            root = SymmetricEigen(symmetrized: fit.covariance, order: fit.dimension, computeVectors: true)
                .reconstructed { $0 > 0 ? $0.squareRoot() : 0 }
        }
    }

    /// d² between a prepared reference and a fitted Gaussian of the same dimension (checked by the caller).
    static func between(_ reference: Reference, _ b: GaussianFit) -> Double {
        let a = reference.fit, root = reference.root
        let d = a.dimension
        var meanTerm = 0.0
        for j in 0..<d {
            let diff = a.mean[j] - b.mean[j]
            meanTerm += diff * diff
        }
        // M = R Σ₂ R with R = Σ₁^{1/2} symmetric.
        let m = multiply(multiply(root, b.covariance, d), root, d)
        var symmetric = m
        for i in 0..<d {
            for j in (i + 1)..<max(i + 1, d) {
                let mean = 0.5 * (m[i * d + j] + m[j * d + i])
                symmetric[i * d + j] = mean
                symmetric[j * d + i] = mean
            }
        }
        let eigenvalues = SymmetricEigen(symmetrized: symmetric, order: d, computeVectors: false).values
        let traceRoot = eigenvalues.reduce(0) { $0 + ($1 > 0 ? $1.squareRoot() : 0) }
        return max(0, meanTerm + a.trace + b.trace - 2 * traceRoot)
    }

    /// `x y` for n x n row-major matrices.
    static func multiply(_ x: [Double], _ y: [Double], _ n: Int) -> [Double] {
        var out = [Double](repeating: 0, count: n * n)
        out.withUnsafeMutableBufferPointer { o in
            x.withUnsafeBufferPointer { x in
                y.withUnsafeBufferPointer { y in
                    for i in 0..<n {
                        for k in 0..<n {
                            let xik = x[i * n + k]
                            if xik == 0 { continue }
                            for j in 0..<n { o[i * n + j] += xik * y[k * n + j] }
                        }
                    }
                }
            }
        }
        return out
    }
}
