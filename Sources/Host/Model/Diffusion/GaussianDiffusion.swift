import Foundation

/// A Gaussian diffusion process over a discrete schedule, as DiT's `diffusion/` package defines it
/// (`create_diffusion`): epsilon prediction, a plain (not rescaled) MSE loss, and either a learned variance
/// (`LEARNED_RANGE`) or the fixed large one (`FIXED_LARGE`).
///
/// The forward process is `q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)` with `abar_t = prod_{s<=t}(1 - beta_s)`,
/// and the posterior `q(x_{t-1} | x_t, x_0) = N(coef1_t x_0 + coef2_t x_t, posteriorVariance_t I)`.
/// All schedule arithmetic is in `Double`.
///
/// A respaced process (DiT's `SpacedDiffusion`) keeps a subset of the original steps: its betas are
/// `1 - abar[k_i] / abar[k_{i-1}]`, so its `alphasCumprod[i]` equals the original `abar[timestepMap[i]]`, and the
/// model is always called with the original timestep `timestepMap[i]`.
///
/// ```swift
/// let diffusion = try GaussianDiffusion(respacing: "ddim50", learnSigma: true)
/// let x0 = try diffusion.ddimSample(shape: [1, 4, 32, 32], seed: 0) { x, t in try model(x, t) }
/// ```
public struct GaussianDiffusion: Sendable {
    /// True: the model output has `2C` channels (epsilon, then `v` in [-1, 1] interpolating the log variance
    /// between `posteriorLogVarianceClipped` and `log(betas)`). False: `C` channels and the fixed large variance.
    public let learnSigma: Bool
    /// Number of steps of the original (unspaced) process.
    public let originalNumTimesteps: Int
    /// `timestepMap[i]` is the original timestep of step `i`; the model is always called with these.
    public let timestepMap: [Int]
    /// `beta_t` of this (possibly respaced) process.
    public let betas: [Double]
    /// `log(beta_t)`, the upper end of the learned log-variance range.
    public let logBetas: [Double]
    /// `abar_t = prod_{s<=t} (1 - beta_s)`.
    public let alphasCumprod: [Double]
    /// `abar_{t-1}`, with 1 at `t = 0`.
    public let alphasCumprodPrev: [Double]
    /// `abar_{t+1}`, with 0 at the last step.
    public let alphasCumprodNext: [Double]
    /// `sqrt(abar_t)`.
    public let sqrtAlphasCumprod: [Double]
    /// `sqrt(1 - abar_t)`.
    public let sqrtOneMinusAlphasCumprod: [Double]
    /// `log(1 - abar_t)`.
    public let logOneMinusAlphasCumprod: [Double]
    /// `sqrt(1 / abar_t)`.
    public let sqrtRecipAlphasCumprod: [Double]
    /// `sqrt(1 / abar_t - 1)`.
    public let sqrtRecipm1AlphasCumprod: [Double]
    /// `beta_t (1 - abar_{t-1}) / (1 - abar_t)`, the variance of `q(x_{t-1} | x_t, x_0)` (0 at `t = 0`).
    public let posteriorVariance: [Double]
    /// `log(posteriorVariance)` with entry 0 replaced by entry 1 (the variance is 0 there).
    public let posteriorLogVarianceClipped: [Double]
    /// `beta_t sqrt(abar_{t-1}) / (1 - abar_t)`, the posterior mean's coefficient of `x_0`.
    public let posteriorMeanCoef1: [Double]
    /// `(1 - abar_{t-1}) sqrt(1 - beta_t) / (1 - abar_t)`, the posterior mean's coefficient of `x_t`.
    public let posteriorMeanCoef2: [Double]
    /// The `FIXED_LARGE` variance: `[posteriorVariance[1]] + betas[1...]`.
    public let fixedLargeVariance: [Double]
    /// `log(fixedLargeVariance)`.
    public let fixedLargeLogVariance: [Double]

    /// Number of steps of this process (after respacing).
    public var numTimesteps: Int { betas.count }

    /// A process from the original `betas`, optionally keeping only the original steps `useTimesteps`
    /// (DiT's `SpacedDiffusion(use_timesteps:betas:...)`; duplicates and order do not matter).
    /// - Throws: ``DiffusionError/invalidBeta(index:value:)`` for a beta outside (0, 1],
    ///   ``DiffusionError/timestepOutOfRange(argument:index:value:count:)`` for a kept step outside the schedule,
    ///   ``DiffusionError/tooFewTimesteps(_:)`` when fewer than 2 steps remain.
    public init(betas originalBetas: [Double], learnSigma: Bool, useTimesteps: [Int]? = nil) throws(DiffusionError) {
        for (i, beta) in originalBetas.enumerated() where !(beta > 0 && beta <= 1) {
            throw .invalidBeta(index: i, value: beta)
        }
        var betas = originalBetas
        var map = Array(originalBetas.indices)
        if let useTimesteps {
            for (i, step) in useTimesteps.enumerated() where step < 0 || step >= originalBetas.count {
                throw .timestepOutOfRange(argument: "useTimesteps", index: i, value: step, count: originalBetas.count)
            }
            let keep = Set(useTimesteps)
            let base = Self.cumulativeProducts(of: originalBetas)
            betas = []
            map = []
            var last = 1.0
            for (i, abar) in base.enumerated() where keep.contains(i) {
                betas.append(1 - abar / last)
                last = abar
                map.append(i)
            }
        }
        guard betas.count >= 2 else { throw .tooFewTimesteps(betas.count) }
        self.learnSigma = learnSigma
        self.originalNumTimesteps = originalBetas.count
        self.timestepMap = map
        self.betas = betas

        let n = betas.count
        let abar = Self.cumulativeProducts(of: betas)
        let prev = [1.0] + abar.dropLast()
        alphasCumprod = abar
        alphasCumprodPrev = prev
        alphasCumprodNext = Array(abar.dropFirst()) + [0.0]
        logBetas = betas.map { Foundation.log($0) }
        sqrtAlphasCumprod = abar.map { $0.squareRoot() }
        sqrtOneMinusAlphasCumprod = abar.map { (1 - $0).squareRoot() }
        logOneMinusAlphasCumprod = abar.map { Foundation.log(1 - $0) }
        sqrtRecipAlphasCumprod = abar.map { (1 / $0).squareRoot() }
        sqrtRecipm1AlphasCumprod = abar.map { (1 / $0 - 1).squareRoot() }
        var variance = [Double](repeating: 0, count: n)
        var coef1 = [Double](repeating: 0, count: n)
        var coef2 = [Double](repeating: 0, count: n)
        for t in 0..<n {
            let oneMinusAbar: Double = 1 - abar[t]
            variance[t] = betas[t] * (1 - prev[t]) / oneMinusAbar
            coef1[t] = betas[t] * prev[t].squareRoot() / oneMinusAbar
            coef2[t] = (1 - prev[t]) * (1 - betas[t]).squareRoot() / oneMinusAbar
        }
        posteriorVariance = variance
        posteriorLogVarianceClipped = ([variance[1]] + variance[1...]).map { Foundation.log($0) }
        posteriorMeanCoef1 = coef1
        posteriorMeanCoef2 = coef2
        let large = [variance[1]] + betas[1...]
        fixedLargeVariance = large
        fixedLargeLogVariance = large.map { Foundation.log($0) }
    }

    /// DiT's `create_diffusion(timestep_respacing:learn_sigma:diffusion_steps:)` with the linear schedule:
    /// an empty `respacing` keeps every step, otherwise it is a ``spacedTimesteps(numTimesteps:sectionCounts:)``
    /// spec such as `"250"`, `"ddim50"` or `"10,15,20"`.
    /// - Throws: the errors of ``linearBetas(numTimesteps:)``, ``spacedTimesteps(numTimesteps:sectionCounts:)`` and
    ///   ``init(betas:learnSigma:useTimesteps:)``.
    public init(respacing: String = "", learnSigma: Bool = true, diffusionSteps: Int = 1000) throws(DiffusionError) {
        let betas = try Self.linearBetas(numTimesteps: diffusionSteps)
        let keep =
            respacing.isEmpty
            ? Array(0..<diffusionSteps)
            : try Self.spacedTimesteps(numTimesteps: diffusionSteps, sectionCounts: respacing)
        try self.init(betas: betas, learnSigma: learnSigma, useTimesteps: keep)
    }

    /// DiT's `get_named_beta_schedule("linear", numTimesteps)`: with `scale = 1000 / numTimesteps`,
    /// `numTimesteps` evenly spaced betas from `scale * 1e-4` to `scale * 0.02` (numpy `linspace`: `start + i * step`,
    /// the last one exactly `end`). Betas above 1 (fewer than 20 steps) are refused later by the initialiser.
    /// - Throws: ``DiffusionError/invalidTimestepCount(_:)`` when `numTimesteps < 1`.
    public static func linearBetas(numTimesteps: Int) throws(DiffusionError) -> [Double] {
        guard numTimesteps >= 1 else { throw .invalidTimestepCount(numTimesteps) }
        let scale = 1000 / Double(numTimesteps)
        let start = scale * 0.0001
        let end = scale * 0.02
        guard numTimesteps > 1 else { return [start] }
        let step = (end - start) / Double(numTimesteps - 1)
        var betas = (0..<numTimesteps).map { Double($0) * step + start }
        betas[numTimesteps - 1] = end
        return betas
    }

    /// The original timesteps the model is called with for steps `t` of this process.
    /// - Throws: ``DiffusionError/timestepOutOfRange(argument:index:value:count:)``.
    public func originalTimesteps(_ t: [Int]) throws(DiffusionError) -> [Int] {
        try checkTimesteps(t, argument: "t")
        return t.map { timestepMap[$0] }
    }

    /// The running products `prod_{s<=t}(1 - beta_s)`.
    static func cumulativeProducts(of betas: [Double]) -> [Double] {
        var product = 1.0
        return betas.map { beta in
            product *= 1 - beta
            return product
        }
    }
}
