import HostCore

/// A denoising model as the samplers call it: the noisy batch `x` of shape `[N, C, ...]` and one ORIGINAL
/// timestep per batch element (see ``GaussianDiffusion/timestepMap``); returns the raw model output, shape
/// `[N, 2C, ...]` (epsilon then variance values) when the variance is learned, `[N, C, ...]` otherwise.
public typealias DiffusionModel = (_ x: Tensor<Float>, _ t: [Int]) throws -> Tensor<Float>

/// A class-conditional denoising model: like ``DiffusionModel`` with one class label per batch element.
public typealias ConditionalDiffusionModel = (_ x: Tensor<Float>, _ t: [Int], _ labels: [Int]) throws -> Tensor<Float>
