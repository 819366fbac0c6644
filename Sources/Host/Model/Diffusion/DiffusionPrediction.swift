import HostCore

/// The model's reverse-step distribution `p(x_{t-1} | x_t) = N(mean, variance)` and its estimate of `x_0`
/// (DiT `p_mean_variance`), all of the input's shape.
public struct DiffusionPrediction: Sendable {
    /// `coef1_t x0hat + coef2_t x_t`.
    public let mean: Tensor<Float>
    /// `exp(logVariance)`: learned in the `[posteriorVariance, beta]` range, or the fixed large variance.
    public let variance: Tensor<Float>
    /// The log of ``variance``.
    public let logVariance: Tensor<Float>
    /// `x0hat = sqrt(1/abar_t) x_t - sqrt(1/abar_t - 1) eps`, clipped to [-1, 1] when asked.
    public let predXstart: Tensor<Float>
}
