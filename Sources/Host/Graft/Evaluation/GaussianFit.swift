/// The mean and unbiased covariance of a feature set (rows = samples), in float64: the Gaussian that the
/// Fréchet distance compares.
///
///     μ = (1/n) Σ_i x_i,    Σ = (1/(n − 1)) Σ_i (x_i − μ)(x_i − μ)ᵀ
///
/// Keep the fit of a reference set to compare many sample sets against it without refitting.
public struct GaussianFit: Sendable, Equatable {
    /// Samples fitted (n).
    public let count: Int
    /// Feature width d.
    public let dimension: Int
    /// μ, d values.
    public let mean: [Double]
    /// Σ, d x d row-major and exactly symmetric.
    public let covariance: [Double]

    /// Fits `features` (n rows of d values, n ≥ 2).
    /// - Parameter argument: the name errors use for `features`.
    /// - Throws: ``EvaluationError`` for fewer than 2 rows, rows of unequal width, a zero width, or a
    ///   non-finite value.
    public init(features: [[Double]], argument: String = "features") throws(EvaluationError) {
        let n = features.count
        guard n >= 2 else { throw .tooFewSamples(argument: argument, needed: 2, found: n) }
        let d = features[0].count
        guard d >= 1 else { throw .featureWidth(argument: argument, row: 0, expected: 1, found: 0) }
        for (index, row) in features.enumerated() {
            guard row.count == d else {
                throw .featureWidth(argument: argument, row: index, expected: d, found: row.count)
            }
            if let j = row.firstIndex(where: { !$0.isFinite }) {
                throw .nonFinite(argument: argument, index: index * d + j)
            }
        }
        var mean = [Double](repeating: 0, count: d)
        for row in features {
            for j in 0..<d { mean[j] += row[j] }
        }
        for j in 0..<d { mean[j] /= Double(n) }
        var covariance = [Double](repeating: 0, count: d * d)
        var centred = [Double](repeating: 0, count: d)
        covariance.withUnsafeMutableBufferPointer { c in
            for row in features {
                for j in 0..<d { centred[j] = row[j] - mean[j] }
                for i in 0..<d {
                    let ci = centred[i]
                    if ci == 0 { continue }
                    for j in i..<d { c[i * d + j] += ci * centred[j] }
                }
            }
            for i in 0..<d {
                for j in i..<d {
                    let value = c[i * d + j] / Double(n - 1)
                    c[i * d + j] = value
                    c[j * d + i] = value
                }
            }
        }
        self.init(count: n, mean: mean, covariance: covariance)
    }

    /// A fit from known moments (`covariance` d x d row-major, symmetric); `count` is informational.
    /// - Precondition: `covariance.count == mean.count²`.
    public init(count: Int, mean: [Double], covariance: [Double]) {
        precondition(covariance.count == mean.count * mean.count, "covariance must be \(mean.count) x \(mean.count)")
        self.count = count
        self.dimension = mean.count
        self.mean = mean
        self.covariance = covariance
    }

    /// tr Σ.
    public var trace: Double { (0..<dimension).reduce(0) { $0 + covariance[$1 * dimension + $1] } }
}
