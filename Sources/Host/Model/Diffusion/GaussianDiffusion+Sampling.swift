import Foundation
import HostCore

/// Ancestral (DDPM) and DDIM sampling over every step of this (usually respaced) process.
extension GaussianDiffusion {
    /// DiT's `p_sample_loop`: from `x_T ~ N(0, I)`, for each step `i = numTimesteps - 1 ... 0` draw
    /// `x_{i-1} = mean + exp(logVariance / 2) z` (no noise at `i = 0`) from ``pMeanVariance(x:t:clipDenoised:model:)``.
    ///
    /// Randomness comes from one ``SplitMix64`` seeded with `seed` (first `x_T` unless `initialNoise` is given,
    /// then each step's noise in C order), so the same seed gives a bitwise-identical result.
    /// - Parameters:
    ///   - shape: the sample shape `[N, C, ...]` (`[N, ...]` suffices for a fixed variance).
    ///   - seed: the noise seed.
    ///   - clipDenoised: clamp each `x_0` estimate to [-1, 1] (DiT's `sample.py` passes false).
    ///   - initialNoise: `x_T` to start from instead of drawing it.
    ///   - progress: called after each step with the number of steps done and the total.
    ///   - model: the denoiser, called with original timesteps.
    /// - Returns: `x_0`.
    /// - Throws: ``DiffusionError`` for a bad `shape`, `initialNoise` or model output; the model's errors unchanged.
    public func ddpmSample(
        shape: [Int], seed: UInt64, clipDenoised: Bool = false, initialNoise: Tensor<Float>? = nil,
        progress: ((_ step: Int, _ total: Int) -> Void)? = nil, model: DiffusionModel
    ) throws -> Tensor<Float> {
        var rng = SplitMix64(seed: seed)
        var x = try startingPoint(shape: shape, initialNoise: initialNoise, rng: &rng)
        let batch = shape[0]
        for (done, step) in (0..<numTimesteps).reversed().enumerated() {
            let p = try predict(x: x, t: [Int](repeating: step, count: batch), clipDenoised: clipDenoised, model: model)
            x.withUnsafeMutableBufferPointer { x in
                for i in x.indices {
                    var value = p.mean[i]
                    if step != 0 { value += Foundation.exp(0.5 * p.logVariance[i]) * rng.nextNormal() }
                    x[i] = Float(value)
                }
            }
            progress?(done + 1, numTimesteps)
        }
        return x
    }

    /// DiT's `ddim_sample_loop` (Song et al. 2021, equation 12): for each step `i = numTimesteps - 1 ... 0`, with
    /// `eps = (sqrt(1/abar_i) x - x0hat) / sqrt(1/abar_i - 1)` and
    /// `sigma = eta sqrt((1 - abar_{i-1}) / (1 - abar_i)) sqrt(1 - abar_i / abar_{i-1})`,
    /// `x_{i-1} = x0hat sqrt(abar_{i-1}) + sqrt(1 - abar_{i-1} - sigma^2) eps + sigma z`.
    /// With `eta = 0` (the default) the path is deterministic given `x_T`. Use a respaced process
    /// (`"ddim50"`, `"50"`) for few steps.
    /// - Parameters:
    ///   - shape: the sample shape `[N, C, ...]` (`[N, ...]` suffices for a fixed variance).
    ///   - seed: the seed of `x_T` (unless `initialNoise` is given) and, for `eta > 0`, of each step's noise.
    ///   - eta: the stochasticity, at least 0 (1 gives DDPM-like variance).
    ///   - clipDenoised: clamp each `x_0` estimate to [-1, 1].
    ///   - initialNoise: `x_T` to start from instead of drawing it.
    ///   - progress: called after each step with the number of steps done and the total.
    ///   - model: the denoiser, called with original timesteps.
    /// - Returns: `x_0`.
    /// - Throws: ``DiffusionError`` for a bad `shape`, `eta`, `initialNoise` or model output; the model's errors unchanged.
    public func ddimSample(
        shape: [Int], seed: UInt64, eta: Double = 0, clipDenoised: Bool = false, initialNoise: Tensor<Float>? = nil,
        progress: ((_ step: Int, _ total: Int) -> Void)? = nil, model: DiffusionModel
    ) throws -> Tensor<Float> {
        guard eta.isFinite, eta >= 0 else {
            throw DiffusionError.invalidArgument(argument: "eta", value: "\(eta)", expected: "a finite value >= 0")
        }
        var rng = SplitMix64(seed: seed)
        var x = try startingPoint(shape: shape, initialNoise: initialNoise, rng: &rng)
        let batch = shape[0]
        for (done, step) in (0..<numTimesteps).reversed().enumerated() {
            let p = try predict(x: x, t: [Int](repeating: step, count: batch), clipDenoised: clipDenoised, model: model)
            let abar = alphasCumprod[step]
            let abarPrev = alphasCumprodPrev[step]
            let sigma = eta * ((1 - abarPrev) / (1 - abar)).squareRoot() * (1 - abar / abarPrev).squareRoot()
            let epsScale = max(0, 1 - abarPrev - sigma * sigma).squareRoot()
            let sqrtAbarPrev = abarPrev.squareRoot()
            let recip = sqrtRecipAlphasCumprod[step]
            let recipm1 = sqrtRecipm1AlphasCumprod[step]
            let noisy = step != 0 && sigma > 0
            x.withUnsafeMutableBufferPointer { x in
                for i in x.indices {
                    let x0 = p.predXstart[i]
                    let eps = (recip * Double(x[i]) - x0) / recipm1
                    var value = x0 * sqrtAbarPrev + epsScale * eps
                    if noisy { value += sigma * rng.nextNormal() }
                    x[i] = Float(value)
                }
            }
            progress?(done + 1, numTimesteps)
        }
        return x
    }

    /// `initialNoise` after checking its shape, or `N(0, I)` of `shape` drawn from `rng`.
    private func startingPoint(
        shape: [Int], initialNoise: Tensor<Float>?, rng: inout SplitMix64
    ) throws(DiffusionError) -> Tensor<Float> {
        _ = try batchLayout(shape, argument: "shape")
        if let initialNoise {
            guard initialNoise.shape == shape else {
                throw .shapeMismatch(argument: "initialNoise", expected: shape, actual: initialNoise.shape)
            }
            return initialNoise
        }
        var x = Tensor<Float>(zeros: shape)
        x.withUnsafeMutableBufferPointer { x in
            for i in x.indices { x[i] = Float(rng.nextNormal()) }
        }
        return x
    }
}
