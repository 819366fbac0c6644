import Foundation
import HostCore

/// The model's reverse-step distribution.
extension GaussianDiffusion {
    /// DiT's `p_mean_variance` for an epsilon-predicting model: calls `model` once with `x` and the original
    /// timesteps of `t`, splits off the variance values when the variance is learned, and returns the mean,
    /// variance and `x_0` estimate of `p(x_{t-1} | x_t)`.
    /// - Parameters:
    ///   - x: the noisy batch `x_t`, `[N, C, ...]` (`[N, ...]` suffices for a fixed variance).
    ///   - t: `N` steps of this process (not original timesteps).
    ///   - clipDenoised: clamp the `x_0` estimate to [-1, 1] before the mean is formed (DiT's sampling uses false).
    ///   - model: the denoiser, called with original timesteps.
    /// - Throws: ``DiffusionError`` for a bad `x`, `t` or model output shape; the model's own errors unchanged.
    public func pMeanVariance(
        x: Tensor<Float>, t: [Int], clipDenoised: Bool = false, model: DiffusionModel
    ) throws -> DiffusionPrediction {
        let p = try predict(x: x, t: t, clipDenoised: clipDenoised, model: model)
        func tensor(_ values: [Double]) -> Tensor<Float> {
            var out = Tensor<Float>(zeros: x.shape)
            out.withUnsafeMutableBufferPointer { y in
                for i in values.indices { y[i] = Float(values[i]) }
            }
            return out
        }
        return DiffusionPrediction(
            mean: tensor(p.mean), variance: tensor(p.logVariance.map { Foundation.exp($0) }),
            logVariance: tensor(p.logVariance), predXstart: tensor(p.predXstart))
    }

    /// The `Double` mean, log variance and `x_0` estimate behind ``pMeanVariance(x:t:clipDenoised:model:)``.
    func predict(
        x: Tensor<Float>, t: [Int], clipDenoised: Bool, model: DiffusionModel
    ) throws -> (mean: [Double], logVariance: [Double], predXstart: [Double]) {
        let (batch, perSample) = try batchLayout(x.shape, argument: "x")
        try checkTimesteps(t, batch: batch, argument: "t")
        let output = try model(x, t.map { timestepMap[$0] })
        let outputShape = modelOutputShape(forInput: x.shape)
        guard output.shape == outputShape else {
            throw DiffusionError.shapeMismatch(argument: "model output", expected: outputShape, actual: output.shape)
        }
        let outputPerSample = learnSigma ? 2 * perSample : perSample
        var mean = [Double](repeating: 0, count: x.count)
        var logVariance = [Double](repeating: 0, count: x.count)
        var predXstart = [Double](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { x in
            output.withUnsafeBufferPointer { out in
                for n in 0..<batch {
                    let step = t[n]
                    let recip = sqrtRecipAlphasCumprod[step]
                    let recipm1 = sqrtRecipm1AlphasCumprod[step]
                    let coef1 = posteriorMeanCoef1[step]
                    let coef2 = posteriorMeanCoef2[step]
                    let minLog = posteriorLogVarianceClipped[step]
                    let maxLog = logBetas[step]
                    let fixedLog = fixedLargeLogVariance[step]
                    for i in 0..<perSample {
                        let xt = Double(x[n * perSample + i])
                        var x0 = recip * xt - recipm1 * Double(out[n * outputPerSample + i])
                        if clipDenoised { x0 = min(max(x0, -1), 1) }
                        let j = n * perSample + i
                        predXstart[j] = x0
                        mean[j] = coef1 * x0 + coef2 * xt
                        if learnSigma {
                            let frac = (Double(out[n * outputPerSample + perSample + i]) + 1) / 2
                            logVariance[j] = frac * maxLog + (1 - frac) * minLog
                        } else {
                            logVariance[j] = fixedLog
                        }
                    }
                }
            }
        }
        return (mean, logVariance, predXstart)
    }
}
