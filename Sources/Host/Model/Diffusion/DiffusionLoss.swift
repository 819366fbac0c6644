import HostCore

/// The training loss of a batch (DiT `training_losses` with `LossType.MSE`) and its gradient.
public struct DiffusionLoss<Scalar: TensorScalar>: Sendable {
    /// Per-sample loss: `mse[n] + vb[n]` with a learned variance, `mse[n]` otherwise.
    public let losses: [Double]
    /// Per-sample `mean((noise - eps_pred)^2)` over the non-batch elements.
    public let mse: [Double]
    /// Per-sample variational-bound term in bits per element (the posterior KL, or the decoder NLL at `t = 0`);
    /// `nil` when the variance is fixed.
    public let vb: [Double]?
    /// The batch mean of ``losses``, the scalar a training step minimises.
    public let loss: Double
    /// `d loss / d modelOutput`, the model output's shape.
    public let outputGradient: Tensor<Scalar>
}
