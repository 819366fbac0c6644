import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The grafting report's metrics: ``SymmetricEigen`` against known spectra, ``FrechetDistance`` against
/// closed forms, ``ImageFeatures``' definition, ``ImageAgreement`` PSNR against known MSEs and ``FLOPCount``
/// against a hand count of DiT-XL/2 and the DiT paper's figure.
@Suite struct EvaluationMetricsTests {
    // MARK: Helpers

    /// A random n x n orthogonal matrix (row-major): Gram-Schmidt (twice, for float64 orthogonality) on the
    /// columns of a standard normal matrix.
    private func randomOrthogonal(_ n: Int, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        var columns = (0..<n).map { _ in (0..<n).map { _ in rng.nextNormal() } }
        for k in 0..<n {
            for _ in 0..<2 {
                for j in 0..<k {
                    let dot = zip(columns[k], columns[j]).reduce(0) { $0 + $1.0 * $1.1 }
                    for i in 0..<n { columns[k][i] -= dot * columns[j][i] }
                }
            }
            let norm = columns[k].reduce(0) { $0 + $1 * $1 }.squareRoot()
            columns[k] = columns[k].map { $0 / norm }
        }
        var q = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for k in 0..<n { q[i * n + k] = columns[k][i] } }
        return q
    }

    /// `Q diag(d) Qᵀ`, exactly symmetrised.
    private func rotatedDiagonal(_ d: [Double], seed: UInt64) -> [Double] {
        let n = d.count
        let q = randomOrthogonal(n, seed: seed)
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                var sum = 0.0
                for k in 0..<n { sum += q[i * n + k] * d[k] * q[j * n + k] }
                a[i * n + j] = sum
                a[j * n + i] = sum
            }
        }
        return a
    }

    private func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    private func normalRows(_ n: Int, _ d: Int, seed: UInt64, scale: [Double]? = nil, shift: Double = 0) -> [[Double]] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in (0..<d).map { j in rng.nextNormal() * (scale?[j] ?? 1) + shift } }
    }

    // MARK: SymmetricEigen

    @Test func diagonalMatrixGivesItsDiagonalSorted() throws {
        let d = [3.0, -1.0, 0.0, 7.5, 2.0]
        var a = [Double](repeating: 0, count: 25)
        for i in 0..<5 { a[i * 5 + i] = d[i] }
        let e = try SymmetricEigen(a, order: 5)
        #expect(e.values == d.sorted())  // no rotation is needed: exact
        #expect(e.sweeps == 1)
        #expect(e.reconstructed() == a)
    }

    /// `[[a, b], [b, c]]`: `(a + c)/2 ± √(((a − c)/2)² + b²)`; a few ulps of float64.
    @Test(arguments: [(2.0, 1.0, 2.0), (1.0, 1e-3, 1.0), (4.0, -2.5, -3.0), (1e6, 1.0, -1e-6), (0.0, 1.0, 0.0)])
    func twoByTwoClosedForm(a: Double, b: Double, c: Double) throws {
        let e = try SymmetricEigen(rows: [[a, b], [b, c]])
        let mid = (a + c) / 2, radius = (((a - c) / 2) * ((a - c) / 2) + b * b).squareRoot()
        let scale = max(abs(a), abs(b), abs(c))
        #expect(abs(e.values[0] - (mid - radius)) <= 4e-16 * scale * 4)
        #expect(abs(e.values[1] - (mid + radius)) <= 4e-16 * scale * 4)
        let v = e.vector(1)
        // A v = λ v.
        #expect(abs(a * v[0] + b * v[1] - e.values[1] * v[0]) <= 1e-15 * scale * 4)
        #expect(abs(b * v[0] + c * v[1] - e.values[1] * v[1]) <= 1e-15 * scale * 4)
    }

    /// `Q D Qᵀ` with a random orthogonal Q: the spectrum D back, `A = V diag(w) Vᵀ`, `Vᵀ V = I`. Jacobi is
    /// backward stable, so errors are a small multiple of `n ε ‖A‖`: 1e-12 · ‖A‖ absolute holds with a wide margin
    /// up to n = 120 (seen: ~1e-14), and a wrong rotation gives errors of order ‖A‖.
    @Test(arguments: [3, 10, 40, 120])
    func rotatedDiagonalRecoversSpectrum(n: Int) throws {
        var rng = SplitMix64(seed: UInt64(n))
        var d = (0..<n).map { _ in rng.nextNormal() * 5 }
        if n >= 10 {
            d[1] = d[0]
            d[2] = d[0]
            d[3] = 0
        }  // a repeated eigenvalue and a zero one
        let a = rotatedDiagonal(d, seed: UInt64(100 + n))
        let e = try SymmetricEigen(a, order: n)
        let norm = d.reduce(0) { max($0, abs($1)) }
        #expect(maxAbsDifference(e.values, d.sorted()) <= 1e-12 * norm)
        #expect(maxAbsDifference(e.reconstructed(), a) <= 1e-12 * norm)
        let v = try #require(e.vectors)
        var worst = 0.0
        for i in 0..<n {
            for j in 0..<n {
                let dot = (0..<n).reduce(0.0) { $0 + v[$1 * n + i] * v[$1 * n + j] }
                worst = max(worst, abs(dot - (i == j ? 1 : 0)))
            }
        }
        #expect(worst <= 1e-12)
        let valuesOnly = try SymmetricEigen(a, order: n, computeVectors: false)
        #expect(valuesOnly.vectors == nil)
        #expect(maxAbsDifference(valuesOnly.values, e.values) <= 1e-12 * norm)
    }

    @Test func matrixFunctionIsSquareRoot() throws {
        let a = rotatedDiagonal([4, 9, 0.25, 1], seed: 3)
        let root = try SymmetricEigen(a, order: 4).reconstructed { $0.squareRoot() }
        let squared = FrechetDistance.multiply(root, root, 4)
        #expect(maxAbsDifference(squared, a) <= 1e-13 * 9)
        #expect(maxAbsDifference(try SymmetricEigen(root, order: 4).values, [0.5, 1, 2, 3]) <= 1e-13 * 3)
    }

    @Test func eigenRefusesBadInput() throws {
        #expect(throws: EvaluationError.shape(argument: "matrix", expected: "[2, 2] (4 values)", found: [3])) {
            _ = try SymmetricEigen([1, 2, 3], order: 2)
        }
        #expect(throws: EvaluationError.notSymmetric(argument: "matrix", row: 0, column: 1, upper: 1, lower: 2)) {
            _ = try SymmetricEigen([0, 1, 2, 0], order: 2)
        }
        #expect(throws: EvaluationError.nonFinite(argument: "matrix", index: 3)) {
            _ = try SymmetricEigen([0, 1, 1, .nan], order: 2)
        }
        #expect(throws: EvaluationError.featureWidth(argument: "matrix", row: 1, expected: 2, found: 1)) {
            _ = try SymmetricEigen(rows: [[1, 0], [0]])
        }
        #expect(try SymmetricEigen([], order: 0).values.isEmpty)
        #expect(try SymmetricEigen([-2], order: 1).values == [-2])
    }

    // MARK: FrechetDistance

    /// The same set twice: the exact answer is 0. The trace term takes square roots of the eigenvalues of
    /// `Σ^{1/2} Σ Σ^{1/2} = Σ²`, whose round-off (~ε‖Σ‖²) becomes ~√ε‖Σ‖ only for eigenvalues near 0; these
    /// covariances are well conditioned, so 1e-10 · (tr Σ₁ + tr Σ₂) is ample (seen before the clamp at 0:
    /// at most 6e-15 relative).
    @Test(arguments: [1, 8, 40])
    func identicalSetsGiveZero(d: Int) throws {
        let rows = normalRows(300, d, seed: UInt64(d), scale: (0..<d).map { 1 + Double($0 % 5) })
        let fit = try GaussianFit(features: rows)
        let fid = try FrechetDistance.between(rows, rows)
        #expect(fid >= 0)
        #expect(fid <= 1e-10 * 2 * fit.trace)
    }

    /// 1-D: `(μ₁ − μ₂)² + (s₁ − s₂)²` with the sets' own unbiased moments; 1e-12 relative (float64 sums).
    @Test func oneDimensionalClosedForm() throws {
        let a = normalRows(500, 1, seed: 1, scale: [2], shift: 1)
        let b = normalRows(700, 1, seed: 2, scale: [0.5], shift: -3)
        func moments(_ x: [[Double]]) -> (Double, Double) {
            let values = x.map { $0[0] }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
            return (mean, variance.squareRoot())
        }
        let (m1, s1) = moments(a), (m2, s2) = moments(b)
        let expected = (m1 - m2) * (m1 - m2) + (s1 - s2) * (s1 - s2)
        let fid = try FrechetDistance.between(a, b)
        #expect(abs(fid - expected) <= 1e-12 * expected, "\(fid) vs \(expected)")
        #expect(abs(try FrechetDistance.between(b, a) - expected) <= 1e-12 * expected)
    }

    /// Sets whose sample covariance is exactly diagonal: every sign pattern of `±s_j` (2^d rows, orthogonal
    /// columns) plus a mean. Closed form `‖μ₁ − μ₂‖² + Σ_j (σ₁ⱼ − σ₂ⱼ)²`, with `σ² = s² · n/(n−1)`; 1e-11 relative.
    @Test func diagonalCovarianceClosedForm() throws {
        func signPatterns(_ s: [Double], mean: [Double]) -> [[Double]] {
            (0..<(1 << s.count)).map { bits in s.indices.map { j in mean[j] + (bits >> j & 1 == 0 ? s[j] : -s[j]) } }
        }
        let s1 = [1.0, 2.0, 0.5, 3.0], s2 = [2.0, 0.5, 0.5, 1.0]
        let mu1 = [0.0, 1.0, -1.0, 2.0], mu2 = [1.0, 1.0, 0.5, -2.0]
        let a = signPatterns(s1, mean: mu1), b = signPatterns(s2, mean: mu2)
        let fitA = try GaussianFit(features: a)
        for i in 0..<4 { for j in 0..<4 where i != j { #expect(fitA.covariance[i * 4 + j] == 0) } }
        let correction = (16.0 / 15).squareRoot()
        var expected = 0.0
        for j in 0..<4 {
            expected += (mu1[j] - mu2[j]) * (mu1[j] - mu2[j])
            expected += (s1[j] - s2[j]) * (s1[j] - s2[j]) * correction * correction
        }
        let fid = try FrechetDistance.between(a, b)
        #expect(abs(fid - expected) <= 1e-11 * expected, "\(fid) vs \(expected)")
    }

    /// Σ₁ = I: d² = ‖Δμ‖² + d + tr Σ₂ − 2 tr Σ₂^{1/2}, with Σ₂ = Q diag(λ) Qᵀ non-diagonal; 1e-11 relative.
    @Test func identityAgainstRotatedCovariance() throws {
        let lambda = [0.25, 1, 4, 9, 16, 0.01]
        let n = lambda.count
        var identity = [Double](repeating: 0, count: n * n)
        for i in 0..<n { identity[i * n + i] = 1 }
        let a = GaussianFit(count: 100, mean: [Double](repeating: 0, count: n), covariance: identity)
        let b = GaussianFit(count: 100, mean: [1, 0, 0, 0, 0, 2], covariance: rotatedDiagonal(lambda, seed: 9))
        let expected = 5 + Double(n) + lambda.reduce(0, +) - 2 * lambda.reduce(0) { $0 + $1.squareRoot() }
        #expect(abs(try FrechetDistance.between(a, b) - expected) <= 1e-11 * expected)
        #expect(abs(try FrechetDistance.between(b, a) - expected) <= 1e-11 * expected)
    }

    /// d(a, b) = d(b, a) for general (non-commuting) covariances: the two evaluation orders differ only by
    /// round-off, 1e-9 relative.
    @Test func symmetricInItsArguments() throws {
        let a = normalRows(200, 12, seed: 5, scale: (0..<12).map { 0.5 + Double($0) / 4 })
        var b = normalRows(150, 12, seed: 6, shift: 0.3)
        for i in b.indices {
            b[i][3] += 0.8 * b[i][7]
            b[i][0] -= 0.5 * b[i][11]
        }  // correlated features
        let ab = try FrechetDistance.between(a, b), ba = try FrechetDistance.between(b, a)
        #expect(ab > 1)
        #expect(abs(ab - ba) <= 1e-9 * ab, "\(ab) vs \(ba)")
    }

    /// The feature map and the distance together, on sets smaller than the feature width (singular
    /// covariances): identical sets stay within the documented ~1e-8 · (tr Σ₁ + tr Σ₂) (bound 1e-6), two draws
    /// of the same noise are far closer than noise and smooth gradients (found: 1.34 against 9.29; the former is
    /// the small-sample bias of Fréchet distances with 40 samples in 118 dimensions, so 3x is the bound).
    @Test func imageFeatureSetsAreOrderedByDistribution() throws {
        func noise(_ seed: UInt64) -> Tensor<Float> {
            Tensor<Float>.randomNormal([40, 3, 8, 8], seed: seed, scale: 0.3)
        }
        var smooth = Tensor<Float>(zeros: [40, 3, 8, 8])
        var rng = SplitMix64(seed: 3)
        for i in 0..<40 {
            let (slope, offset) = (rng.nextUnit() * 0.2, rng.nextUnit() - 0.5)
            for c in 0..<3 {
                for y in 0..<8 { for x in 0..<8 { smooth[i, c, y, x] = Float(offset + slope * Double(x + y) / 8) } }
            }
        }
        let a = try ImageFeatures.extract(noise(1)), b = try ImageFeatures.extract(noise(2))
        let c = try ImageFeatures.extract(smooth)
        let fitA = try GaussianFit(features: a)
        #expect(try FrechetDistance.between(a, a) <= 1e-6 * 2 * fitA.trace)
        let same = try FrechetDistance.between(a, b), different = try FrechetDistance.between(a, c)
        #expect(same > 0)
        #expect(different > 3 * same, "same distribution \(same), different \(different)")
    }

    @Test func frechetRefusesBadSets() {
        #expect(throws: EvaluationError.tooFewSamples(argument: "a", needed: 2, found: 1)) {
            _ = try FrechetDistance.between([[1, 2]], [[1, 2], [3, 4]])
        }
        #expect(throws: EvaluationError.featureWidth(argument: "b", row: 1, expected: 2, found: 3)) {
            _ = try FrechetDistance.between([[1, 2], [3, 4]], [[1, 2], [3, 4, 5]])
        }
        #expect(throws: EvaluationError.featureWidth(argument: "b", row: 0, expected: 2, found: 1)) {
            _ = try FrechetDistance.between([[1, 2], [3, 4]], [[1], [3]])
        }
        #expect(throws: EvaluationError.nonFinite(argument: "a", index: 3)) {
            _ = try FrechetDistance.between([[1, 2], [3, .infinity]], [[1, 2], [3, 4]])
        }
    }

    // MARK: ImageFeatures

    private func image(_ r: Int, _ value: (Int, Int, Int) -> Float) -> Tensor<Float> {
        var t = Tensor<Float>(zeros: [1, 3, r, r])
        for c in 0..<3 { for y in 0..<r { for x in 0..<r { t[0, c, y, x] = value(c, y, x) } } }
        return t
    }

    @Test(arguments: [4, 13, 32])
    func featureShapeAndDeterminism(r: Int) throws {
        let images = Tensor<Float>.randomNormal([3, 3, r, r], seed: UInt64(r), scale: 0.5)
        let rows = try ImageFeatures.extract(images)
        #expect(rows.count == 3)
        #expect(rows.allSatisfy { $0.count == ImageFeatures.count && $0.allSatisfy(\.isFinite) })
        #expect(try ImageFeatures.extract(images) == rows)
        // Each image's row does not depend on its batch neighbours.
        let second = try Tensor<Float>(shape: [1, 3, r, r], scalars: images.scalars[(3 * r * r)..<(6 * r * r)])
        #expect(try ImageFeatures.extract(second)[0] == rows[1])
        for row in rows {
            let histogram = row[102..<118]
            #expect(abs(histogram.reduce(0, +) - 1) <= 1e-12)
            #expect(histogram.allSatisfy { $0 >= 0 })
        }
    }

    /// A constant image: cell means and channel means equal the constant (float32 value), gradients and
    /// standard deviations are exactly zero, and luminance 0 sits halfway between bins 7 and 8.
    @Test func constantImageHasNoGradient() throws {
        let row = try ImageFeatures.extract(image(8) { c, _, _ in [0.25, -0.5, 0.75][c] })[0]
        for c in 0..<3 {
            let v = Double(Float([0.25, -0.5, 0.75][c]))
            #expect(row[(16 * c)..<(16 * c + 16)].allSatisfy { abs($0 - v) <= 1e-15 })
            #expect(abs(row[96 + c] - v) <= 1e-15)
            #expect(row[99 + c] == 0)
        }
        #expect(row[48..<96].allSatisfy { $0 == 0 })
        let grey = try ImageFeatures.extract(image(8) { _, _, _ in 0 })[0]
        #expect(Array(grey[102..<118]) == (0..<16).map { $0 == 7 || $0 == 8 ? 0.5 : 0 })
        let white = try ImageFeatures.extract(image(8) { _, _, _ in 1 })[0]
        #expect(white[117] == 1)
    }

    /// Horizontal stripes of height 2 (rows +1, +1, −1, −1, ...): `gx = 0` everywhere, `|gy| = 1` at
    /// every interior row (half at the borders), so every cell has gradient energy; vertical stripes are the
    /// transpose and give the same magnitudes on the transposed cells.
    @Test func stripedImageHasVerticalGradientEnergy() throws {
        let r = 16
        let stripes = try ImageFeatures.extract(image(r) { _, y, _ in (y / 2) % 2 == 0 ? 1 : -1 })[0]
        #expect(stripes[48..<96].allSatisfy { $0 > 0.5 })
        #expect(abs(stripes[48 + 5] - 1) <= 1e-15)  // cell (1, 1): rows 4..<8, all interior, |gy| = 1
        let columns = try ImageFeatures.extract(image(r) { _, _, x in (x / 2) % 2 == 0 ? 1 : -1 })[0]
        for i in 0..<4 { for j in 0..<4 { #expect(columns[48 + 4 * i + j] == stripes[48 + 4 * j + i]) } }
        #expect(abs(stripes[102..<118].reduce(0, +) - 1) <= 1e-12)
        #expect(abs(stripes[99] - 1) <= 1e-15 && abs(stripes[96]) <= 1e-15)
    }

    @Test func featuresRefuseBadShapes() {
        #expect(
            throws: EvaluationError.shape(
                argument: "images", expected: "[N, 3, R, R] with R >= 4", found: [2, 1, 8, 8])
        ) {
            _ = try ImageFeatures.extract(Tensor<Float>(zeros: [2, 1, 8, 8]))
        }
        #expect(
            throws: EvaluationError.shape(
                argument: "images", expected: "[N, 3, R, R] with R >= 4", found: [1, 3, 2, 2])
        ) {
            _ = try ImageFeatures.extract(Tensor<Float>(zeros: [1, 3, 2, 2]))
        }
    }

    // MARK: ImageAgreement

    /// Differences of 0.1 and 0.2 give MSE 0.01 and 0.04: 10 log10(400) and 10 log10(100) dB; pooled MSE
    /// 0.025 gives 10 log10(160). The float32 inputs carry ~1e-8 relative error: 1e-6 dB.
    @Test func psnrOfKnownMSE() {
        let a = Tensor<Float>(zeros: [2, 3, 4, 4])
        var b = Tensor<Float>(zeros: [2, 3, 4, 4])
        for i in 0..<b.count { b[flat: i] = i < 48 ? 0.1 : -0.2 }
        #expect(ImageAgreement.psnr(a, a) == .infinity)
        #expect(abs(ImageAgreement.psnr(a, b) - 10 * log10(160.0)) <= 1e-6)
        let perImage = ImageAgreement.perImagePSNR(a, b)
        #expect(abs(perImage[0] - 10 * log10(400.0)) <= 1e-6)
        #expect(abs(perImage[1] - 20) <= 1e-6)
        #expect(abs(ImageAgreement.meanPSNR(a, b) - (10 * log10(400.0) + 20) / 2) <= 1e-6)
        #expect(ImageAgreement.psnr(mse: 4) == 0)
        var c = b
        c[flat: 0] = 0.1
        c[flat: 50] = 0  // image 0 identical to b's, image 1 not
        #expect(ImageAgreement.perImagePSNR(b, c)[0] == .infinity)
        #expect(ImageAgreement.perImagePSNR(b, c)[1].isFinite)
    }

    // MARK: FLOPCount

    private let xl2 = DiTConfig.preset("DiT-XL/2")!

    /// DiT-XL/2 at 256 px (T = 256, D = 1152, 28 blocks), by hand in multiply-adds: per block qkv
    /// T·D·3D + proj T·D² + attention 2·T²·D + MLP 2·T·D·4D + adaLN D·6D, plus patch embed T·(4·2·2)·D,
    /// timestep MLP 256·D + D², final adaLN D·2D and final linear T·D·(2·2·8).
    /// The forward FLOPs shipped operator `id` (from `product`) declares through the ABI for one image of `tokens`
    /// tokens at width `dim` (a square grid when `tokens` is a square).
    private func declared(
        _ id: String, _ product: String, _ attributes: [String: AttributeValue] = [:], tokens: Int, dim: Int,
        batch: Int = 1
    ) throws -> Int? {
        let side = Int(Double(tokens).squareRoot())
        let grid = side * side == tokens ? (side, side) : (1, tokens)
        let op = try Operator(
            try TestOperators.descriptor(id, product: product), dim: dim, grid: grid, attributes: attributes)
        return try op.cost(batch: batch, length: tokens)?.forwardFLOPs
    }

    @Test func ditXL2MatchesHandCountAndPaper() throws {
        let (t, d) = (256, 1152)
        #expect(xl2.tokenCount == t && xl2.hiddenSize == d && xl2.depth == 28)
        let block = t * d * 3 * d + t * d * d + 2 * t * t * d + 2 * t * d * 4 * d + d * 6 * d
        let handMACs = 28 * block + t * 16 * d + (256 * d + d * d) + d * 2 * d + t * d * 32
        let mha = try #require(
            try declared("mha", "OZMHA", ["num_heads": .int(16), "qkv_bias": .bool(true)], tokens: t, dim: d))
        let mlp = try #require(try declared("mlp", "OZMLP", ["expansion_ratio": .float(4)], tokens: t, dim: d))
        #expect(mha == 2 * (t * d * 3 * d + t * d * d + 2 * t * t * d))
        #expect(mlp == 2 * (2 * t * d * 4 * d))
        let total = FLOPCount.builtIn(config: xl2) + 28 * (mha + mlp)
        #expect(total == 2 * handMACs)
        #expect(total == 237_242_843_136)
        // The DiT paper's Table 4: 118.6 Gflops counting a multiply-add as one flop. Found: 118.621e9 MACs,
        // 0.02% above; 2% is the brief's bound.
        #expect(abs(Double(total) / 2 - 118.6e9) <= 0.02 * 118.6e9)
    }

    /// Each shipped operator's declared forward FLOPs (ABI 1.3 `cost`) against the formula written here from its
    /// math (docs/OPERATORS.md), exactly: integer counts, no tolerance.
    @Test func declaredSlotFormulas() throws {
        let (t, d) = (256, 64)
        let proj = 2 * t * d * 3 * d + 2 * t * d * d
        #expect(
            try declared("mha", "OZMHA", ["causal": .bool(true)], tokens: t, dim: d) == proj + 2 * 2 * (t * (t + 1) / 2)
                * d)
        #expect(
            try declared("mlp", "OZMLP", ["expansion_ratio": .float(2.5)], tokens: t, dim: d) == 2 * 2 * t * d * 160)
        #expect(
            try declared("mlp", "OZMLP", ["expansion_ratio": .float(0.3)], tokens: t, dim: 10) == 2 * 2 * t * 10 * 3)
        let local = "OZLocalAttention"
        #expect(
            try declared("swa", local, ["window_size": .intList([4, 4])], tokens: t, dim: d) == proj + 2 * 2 * t * 9 * d
        )
        #expect(
            try declared("swa", local, ["window_size": .intList([4, 4]), "causal": .bool(true)], tokens: t, dim: d)
                == proj + 2 * 2 * t * 5 * d)
        #expect(
            try declared("swa", local, ["window_size": .intList([-1, 2])], tokens: t, dim: d) == proj + 2 * 2 * t * t
                * d)
        #expect(
            try declared("swa", local, ["window_size": .intList([-1, -1])], tokens: t, dim: d)
                == (try declared("mha", "OZMHA", tokens: t, dim: d)))
        #expect(
            try declared("swa2d", local, ["kernel_size": .intList([7, 7])], tokens: t, dim: d) == proj + 2 * 2 * t * 49
                * d)
        #expect(
            try declared("swa2d", local, ["kernel_size": .intList([31, 3])], tokens: t, dim: d) == proj + 2 * 2 * t * 48
                * d)
        // Clip on a 3 x 3 grid with a 3 x 3 kernel: 2 + 3 + 2 = 7 neighbours per axis, 49 query-key pairs.
        #expect(
            try declared(
                "swa2d", local, ["kernel_size": .intList([3, 3]), "border": .string("clip")], tokens: 9, dim: d)
                == 2 * 9 * d * 4 * d + 2 * 2 * 49 * d)
        #expect(
            try declared("linear_attn", local, ["num_heads": .int(4)], tokens: t, dim: d) == proj + 2 * 2 * t * d * 16
                + 2 * t * d)
        // Hyena: the projections plus one multiply-add per conv tap (3D short-filter channels, D inner-filter channels).
        #expect(
            try declared("hyena_x", "OZHyena", ["short_filter_order": .int(4)], tokens: t, dim: d) == proj + 2 * t * 3
                * d * 4)
        #expect(
            try declared("hyena_se", "OZHyena", ["short_filter_order": .int(3)], tokens: t, dim: d)
                == proj + 2 * t * 3 * d * 3 + 2 * t * d * 3)
        #expect(
            try declared("hyena_y", "OZHyena", ["inner_filter_len": .int(5)], tokens: t, dim: d) == proj + 2 * t * d * 5
        )
        #expect(
            try declared(
                "mlp_hyena_x", "OZHyena",
                ["expansion_ratio": .int(2), "short_filter_order": .int(4), "l_max": .int(Int64(t))], tokens: t, dim: d)
                == 2 * t * d * 6 * d + 2 * t * 2 * d * d + 2 * t * 6 * d * 4)
        // Mamba-2 with D = 64, expand 2 (d_inner 128), headdim 16 (8 heads), 1 group, N = 16, d_conv 4, chunk 64.
        let mamba: [String: AttributeValue] = [
            "d_state": .int(16), "d_conv": .int(4), "expand": .int(2), "headdim": .int(16),
            "ngroups": .int(1), "chunk_size": .int(64),
        ]
        let mambaProjections = 2 * t * d * (256 + 32 + 8) + 2 * t * 128 * d
        let mambaScan = 2 * t * (128 + 32) * 4 + t * (8 * (2 * 64 * 16 + 4 * 16 * 16) + 2 * 64 * 16)  // Q = 64 < T
        #expect(try declared("mamba2", "OZMamba2", mamba, tokens: t, dim: d) == mambaProjections + mambaScan)
        #expect(try declared("mamba2_2d", "OZMamba2", mamba, tokens: t, dim: d) == mambaProjections + 4 * mambaScan)
        // safari Hyena, order 2 (C = D filter channels), short filter 3, F = 64, E = 3, 2 inner MLPs. T = 256 gives
        // FFTs of N = 512 (2T): 2.5 * 512 * 9 = 11,520 each, three per channel, a 257-bin product, the skip term.
        var hyena: [String: AttributeValue] = [
            "order": .int(2), "short_filter_order": .int(3), "filter_order": .int(64),
            "emb_dim": .int(3), "num_inner_mlps": .int(2), "l_max": .int(300),
        ]
        let hyenaLinears = 2 * t * d * 3 * d + 2 * t * d * d + 2 * t * 3 * d * 3
        let hyenaFilter = 2 * t * (3 * 64 + 2 * 64 * 64 + 64 * d)
        #expect(
            try declared("hyena", "OZHyena", hyena, tokens: t, dim: d) == hyenaLinears + hyenaFilter + d
                * (3 * 11_520 + 6 * 257 + 2 * t))
        // A length that is not a power of two rounds N up: T = 300 -> N = 1024 (2.5 * 1024 * 10 = 25,600).
        let hyena300 = try #require(try declared("hyena", "OZHyena", hyena, tokens: 300, dim: d))
        #expect(
            hyena300 == 2 * 300 * d * 3 * d + 2 * 300 * d * d + 2 * 300 * 3 * d * 3 + 2 * 300
                * (3 * 64 + 2 * 64 * 64 + 64 * d)
                + d * (3 * 25_600 + 6 * 513 + 2 * 300))
        hyena["l_max"] = .int(128)
        #expect(throws: OperatorError.self, "a length beyond l_max is refused, not counted") {
            try declared("hyena", "OZHyena", hyena, tokens: t, dim: d)
        }
        // A batch is B images: every shipped count is linear in B.
        #expect(
            try declared("mha", "OZMHA", tokens: t, dim: d, batch: 3) == 3
                * (try declared("mha", "OZMHA", tokens: t, dim: d))!)
    }

    /// A plugin whose table has no `cost` (every fixture, like any 1.2 plugin) declares nothing: nil, not an error.
    @Test func undeclaredCostIsNil() throws {
        let library = try PluginLibrary(path: try FixturePlugins.path("ConformGood"))
        let descriptor = try #require(library.operators.first)
        let op = try Operator(descriptor, dim: 8, attributes: [:])
        #expect(try op.cost(batch: 1, length: 4) == nil)
    }

    /// A built model: every standard slot counted by what its plugin declares, the total their sum plus the
    /// built-in layers; a Hyena slot is counted from its defaults, a slot whose plugin declares no cost makes the
    /// total unknown.
    @Test func forwardOfBuiltModels() throws {
        let config = try DiTConfig.load(path: ditFixture("config.json"))
        let model = try makeDiT(config)
        let count = FLOPCount.forward(model: model)
        #expect(count.builtIn == FLOPCount.builtIn(config: config))
        #expect(count.slots.count == 2 * config.depth)
        let (t, d) = (config.tokenCount, config.hiddenSize)
        let mha = 2 * t * d * 4 * d + 2 * 2 * t * t * d, mlp = 2 * 2 * t * d * config.mlpHidden
        #expect(count.slots["blocks.1.attn"] == .some(mha))
        #expect(count.slots["blocks.0.mlp"] == .some(mlp))
        #expect(count.total == count.builtIn + config.depth * (mha + mlp))

        let hyena = try TestOperators.descriptor("hyena_x", product: "OZHyena")
        let fixture = try #require(try PluginLibrary(path: try FixturePlugins.path("ConformGood")).operators.first)
        let grafted = try DiTModel(config: config) { key in
            key == DiTSlotKey(block: 1, kind: .attn)
                ? DiTSlotChoice(hyena) : try TestOperators.standardSlot(key, config)
        }
        let hyenaCount = 2 * t * d * 4 * d + 2 * t * 3 * d * 4
        #expect(FLOPCount.forward(model: grafted).slots["blocks.1.attn"] == .some(hyenaCount))
        #expect(FLOPCount.forward(model: grafted).total == count.total! - mha + hyenaCount)
        let pooled = try DiTModel(config: config) { key in
            key == DiTSlotKey(block: 1, kind: .attn)
                ? DiTSlotChoice(fixture) : try TestOperators.standardSlot(key, config)
        }
        let partial = FLOPCount.forward(model: pooled)
        #expect(partial.total == nil)
        #expect(partial.slots["blocks.1.attn"] == .some(nil))
        #expect(partial.slots["blocks.0.attn"] == .some(mha))
    }
}
