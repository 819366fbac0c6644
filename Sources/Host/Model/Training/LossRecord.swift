/// One logged point of a training run: the mean over the steps since the previous point.
public struct LossRecord: Codable, Equatable, Sendable {
    /// The last step the point covers (1-based).
    public var step: Int
    /// Mean training loss (MSE + VB when sigma is learned).
    public var loss: Double
    /// Mean global gradient norm before clipping.
    public var gradNorm: Double
    /// Held-out loss of the EMA weights, when measured at this step.
    public var heldOut: Double?
}
