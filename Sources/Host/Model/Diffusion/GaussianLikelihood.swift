import Foundation

/// The scalar Gaussian terms of the variational bound (DiT `diffusion_utils.py`), each with its derivative with
/// respect to the model's log variance (or log scale), for the learned-variance gradient.
enum GaussianLikelihood {
    /// `KL(N(mean1, exp(logVar1)) || N(mean2, exp(logVar2)))` in nats and its derivative in `logVar2`:
    /// `0.5 (-1 + lv2 - lv1 + exp(lv1 - lv2) + (m1 - m2)^2 exp(-lv2))`.
    @inline(__always)
    static func normalKL(
        mean1: Double, logVar1: Double, mean2: Double, logVar2: Double
    )
        -> (value: Double, dLogVar2: Double)
    {
        let ratio = Foundation.exp(logVar1 - logVar2)
        let d = mean1 - mean2
        let scaled = d * d * Foundation.exp(-logVar2)
        return (0.5 * (-1 + logVar2 - logVar1 + ratio + scaled), 0.5 * (1 - ratio - scaled))
    }

    /// The tanh approximation of the standard normal CDF,
    /// `0.5 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, and its derivative.
    @inline(__always)
    static func approxStandardNormalCDF(_ x: Double) -> (cdf: Double, derivative: Double) {
        let k = (2.0 / Double.pi).squareRoot()
        let th = Foundation.tanh(k * (x + 0.044715 * x * x * x))
        return (0.5 * (1 + th), 0.5 * (1 - th * th) * k * (1 + 3 * 0.044715 * x * x))
    }

    /// The log probability (nats) of the bin of width 2/255 around `x` (uint8 data rescaled to [-1, 1]) under
    /// `N(mean, exp(logScale)^2)`, the edge bins open to -inf and +inf, probabilities clamped below at 1e-12;
    /// and its derivative in `logScale` (0 where the clamp is active).
    @inline(__always)
    static func discretizedLogLikelihood(
        x: Double, mean: Double, logScale: Double
    )
        -> (value: Double, dLogScale: Double)
    {
        let floor = 1e-12
        let centered = x - mean
        let invStdv = Foundation.exp(-logScale)
        // d(plusIn)/d(logScale) = -plusIn, and likewise for minIn.
        let plusIn = invStdv * (centered + 1.0 / 255.0)
        let minIn = invStdv * (centered - 1.0 / 255.0)
        let plus = approxStandardNormalCDF(plusIn)
        let minus = approxStandardNormalCDF(minIn)
        let probability: Double
        let dProbability: Double
        if x < -0.999 {
            probability = plus.cdf
            dProbability = -plus.derivative * plusIn
        } else if x > 0.999 {
            probability = 1 - minus.cdf
            dProbability = minus.derivative * minIn
        } else {
            probability = plus.cdf - minus.cdf
            dProbability = -plus.derivative * plusIn + minus.derivative * minIn
        }
        guard probability > floor else { return (Foundation.log(floor), 0) }
        return (Foundation.log(probability), dProbability / probability)
    }
}
