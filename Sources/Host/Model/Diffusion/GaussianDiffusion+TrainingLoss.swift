import Foundation
import HostCore

/// The training objective and its gradient with respect to the model output.
extension GaussianDiffusion {
    /// The per-sample training losses of DiT's `training_losses` (loss type MSE), their batch mean, and the
    /// gradient of that mean with respect to `modelOutput`. The caller runs the model on
    /// `qSample(x0:t:noise:)` at the original timesteps `originalTimesteps(t)`.
    ///
    /// With `x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise` and `D` elements per sample:
    /// - `mse_n = (1/D) sum_i (noise_i - eps_i)^2`;
    /// - with a learned variance (output `[eps, v]` on the channel axis), `vb_n = (1/D) sum_i term_i / log 2`, where
    ///   the model distribution has mean `coef1_t x0hat + coef2_t x_t` with `x0hat = sqrt(1/abar_t) x_t -
    ///   sqrt(1/abar_t - 1) eps` (eps detached) and log variance `f log(beta_t) + (1 - f) posteriorLogVarianceClipped_t`,
    ///   `f = (v + 1) / 2`; `term_i` is the KL from the true posterior for `t > 0` and the discretized Gaussian decoder
    ///   NLL of `x_0` for `t = 0`.
    ///
    /// The gradient of `mean_n loss_n`: `-2 (noise - eps) / (N D)` on the epsilon channels (the bound sees a detached
    /// mean), and `d term / d logvar * (log(beta_t) - posteriorLogVarianceClipped_t) / 2 / (N D log 2)` on the
    /// variance channels. Everything is computed in `Double`.
    /// - Parameters:
    ///   - x0: clean data, `[N, C, ...]` (`[N, ...]` suffices for a fixed variance).
    ///   - t: `N` steps of this process.
    ///   - noise: the noise `x_t` was made with, `x0`'s shape.
    ///   - modelOutput: the raw model output, ``modelOutputShape(forInput:)`` of `x0`'s shape.
    /// - Throws: ``DiffusionError`` naming `x0`, `t`, `noise` or `modelOutput`.
    public func trainingLoss<S: TensorScalar>(
        x0: Tensor<S>, t: [Int], noise: Tensor<S>, modelOutput: Tensor<S>
    ) throws(DiffusionError) -> DiffusionLoss<S> {
        let (batch, perSample) = try batchLayout(x0.shape, argument: "x0")
        try checkTimesteps(t, batch: batch, argument: "t")
        guard noise.shape == x0.shape else {
            throw .shapeMismatch(argument: "noise", expected: x0.shape, actual: noise.shape)
        }
        let outputShape = modelOutputShape(forInput: x0.shape)
        guard modelOutput.shape == outputShape else {
            throw .shapeMismatch(argument: "modelOutput", expected: outputShape, actual: modelOutput.shape)
        }
        let outputPerSample = learnSigma ? 2 * perSample : perSample
        let d = Double(perSample)
        let meanScale = 1 / (Double(batch) * d)
        let bits = 1 / Foundation.log(2.0)
        var mse = [Double](repeating: 0, count: batch)
        var vb = [Double](repeating: 0, count: batch)
        var gradient = Tensor<S>(zeros: outputShape)
        gradient.withUnsafeMutableBufferPointer { g in
            x0.withUnsafeBufferPointer { x0 in
                noise.withUnsafeBufferPointer { noise in
                    modelOutput.withUnsafeBufferPointer { out in
                        for n in 0..<batch {
                            let xBase = n * perSample
                            let oBase = n * outputPerSample
                            var squares = 0.0
                            for i in 0..<perSample {
                                let e = Double(noise[xBase + i]) - Double(out[oBase + i])
                                squares += e * e
                                g[oBase + i] = S(-2 * e * meanScale)
                            }
                            mse[n] = squares / d
                            guard learnSigma else { continue }
                            vb[n] =
                                variationalTerm(
                                    step: t[n], count: perSample, x0: x0.baseAddress! + xBase,
                                    noise: noise.baseAddress! + xBase, eps: out.baseAddress! + oBase,
                                    v: out.baseAddress! + oBase + perSample,
                                    gradient: g.baseAddress! + oBase + perSample, gradientScale: meanScale * bits
                                ) / d * bits
                        }
                    }
                }
            }
        }
        let losses = learnSigma ? zip(mse, vb).map { $0 + $1 } : mse
        return DiffusionLoss(
            losses: losses, mse: mse, vb: learnSigma ? vb : nil, loss: losses.reduce(0, +) / Double(batch),
            outputGradient: gradient)
    }

    /// The sum over one sample's elements of the bound's term in nats (KL for `step > 0`, decoder NLL at 0), writing
    /// `gradientScale * d term / d v` for each element into `gradient`.
    private func variationalTerm<S: TensorScalar>(
        step: Int, count: Int, x0: UnsafePointer<S>, noise: UnsafePointer<S>, eps: UnsafePointer<S>,
        v: UnsafePointer<S>, gradient: UnsafeMutablePointer<S>, gradientScale: Double
    ) -> Double {
        let sqrtAbar = sqrtAlphasCumprod[step]
        let sqrtOneMinusAbar = sqrtOneMinusAlphasCumprod[step]
        let recip = sqrtRecipAlphasCumprod[step]
        let recipm1 = sqrtRecipm1AlphasCumprod[step]
        let coef1 = posteriorMeanCoef1[step]
        let coef2 = posteriorMeanCoef2[step]
        let minLog = posteriorLogVarianceClipped[step]
        let maxLog = logBetas[step]
        let dLogVarDV = (maxLog - minLog) / 2
        var sum = 0.0
        for i in 0..<count {
            let x0i = Double(x0[i])
            let xt = sqrtAbar * x0i + sqrtOneMinusAbar * Double(noise[i])
            let predX0 = recip * xt - recipm1 * Double(eps[i])
            let modelMean = coef1 * predX0 + coef2 * xt
            let frac = (Double(v[i]) + 1) / 2
            let logVar = frac * maxLog + (1 - frac) * minLog
            let term: Double
            let dTermDLogVar: Double
            if step == 0 {
                let ll = GaussianLikelihood.discretizedLogLikelihood(x: x0i, mean: modelMean, logScale: 0.5 * logVar)
                term = -ll.value
                dTermDLogVar = -0.5 * ll.dLogScale
            } else {
                let kl = GaussianLikelihood.normalKL(
                    mean1: coef1 * x0i + coef2 * xt, logVar1: minLog, mean2: modelMean, logVar2: logVar)
                term = kl.value
                dTermDLogVar = kl.dLogVar2
            }
            sum += term
            gradient[i] = S(dTermDLogVar * dLogVarDV * gradientScale)
        }
        return sum
    }
}
