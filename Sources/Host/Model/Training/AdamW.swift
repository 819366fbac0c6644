import Foundation
import HostCore
import VectorKernels

/// Elements per chunk of the optimizer's and the EMA's loops on the host pool (small tensors run in one piece).
let elementwiseGrain = 1 << 14

/// PyTorch's `torch.optim.AdamW` (decoupled weight decay, bias-corrected moments), over a ``ParameterSet``.
///
/// One step, for each scalar: `p -= lr * wd * p`; `m = b1 m + (1 - b1) g`; `v = b2 v + (1 - b2) g^2`;
/// `p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`.
public struct AdamW: Sendable {
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    public var weightDecay: Double = 0
    /// First moments, laid out as the parameters.
    public var firstMoment: ParameterSet
    /// Second moments, laid out as the parameters.
    public var secondMoment: ParameterSet
    /// Steps taken so far.
    public var step: Int = 0

    /// A fresh optimizer (zero moments) for parameters laid out as `parameters`.
    public init(
        for parameters: ParameterSet, weightDecay: Double = 0, beta1: Double = 0.9, beta2: Double = 0.999,
        epsilon: Double = 1e-8
    ) {
        firstMoment = parameters.zeros()
        secondMoment = parameters.zeros()
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    /// Applies one update with learning rate `lr` to `parameters`, from `gradients` (same layout).
    public mutating func update(_ parameters: inout ParameterSet, gradients: ParameterSet, lr: Double) {
        precondition(
            gradients.count == parameters.count && firstMoment.count == parameters.count, "AdamW: layouts differ")
        step += 1
        let b1 = Float(beta1), b2 = Float(beta2), eps = Float(epsilon)
        let c1 = Float(1 - pow(beta1, Double(step))), c2 = Float(1 - pow(beta2, Double(step)))
        let decay = Float(1 - lr * weightDecay), rate = Float(lr)
        for k in 0..<parameters.count {
            let g = gradients.tensors[k]
            precondition(
                g.shape == parameters.tensors[k].shape, "AdamW: gradient '\(parameters.names[k])' has shape \(g.shape)")
            // Elementwise, so the split over the pool changes no bit (VectorKernels' `ozv_adamw`, vectorised).
            let p = parameters.tensors[k].baseAddressForWriting()
            let m = firstMoment.tensors[k].baseAddressForWriting()
            let v = secondMoment.tensors[k].baseAddressForWriting()
            let gp = g.baseAddressForReading
            ThreadPool.shared.parallelFor(g.count, grain: elementwiseGrain) { begin, end in
                ozv_adamw(
                    p + begin, m + begin, v + begin, gp + begin, Int64(end - begin), decay, b1, b2, c1, c2, rate, eps)
            }
            withExtendedLifetime(g) {}
        }
    }
}

/// Training helpers that act on whole parameter sets.
public enum TrainingMath {
    /// `torch.nn.utils.clip_grad_norm_`: scales `gradients` so their global L2 norm is at most `maxNorm`
    /// (factor `maxNorm / (norm + 1e-6)` when the norm exceeds it) and returns the norm before clipping.
    @discardableResult
    public static func clipGradientNorm(_ gradients: inout ParameterSet, maxNorm: Double) -> Double {
        var sum: Double = 0
        for t in gradients.tensors {
            t.withUnsafeBufferPointer { p in
                for x in p { sum += Double(x) * Double(x) }
            }
        }
        let norm = sum.squareRoot()
        if maxNorm > 0, norm > maxNorm {
            let factor = Float(maxNorm / (norm + 1e-6))
            for k in 0..<gradients.count {
                gradients.tensors[k].withUnsafeMutableBufferPointer { p in
                    for i in 0..<p.count { p[i] *= factor }
                }
            }
        }
        return norm
    }

    /// `ema = decay ema + (1 - decay) p` for every tensor (DiT's `update_ema`).
    public static func updateEMA(_ ema: inout ParameterSet, toward parameters: ParameterSet, decay: Double) {
        let d = Float(decay)
        for k in 0..<ema.count {
            let p = parameters.tensors[k].baseAddressForReading
            let e = ema.tensors[k].baseAddressForWriting()
            ThreadPool.shared.parallelFor(ema.tensors[k].count, grain: elementwiseGrain) { begin, end in
                ozv_ema(e + begin, p + begin, Int64(end - begin), d)
            }
        }
        withExtendedLifetime(parameters) {}
    }

    /// Linear warm-up from `lr / warmup` at step 1 to `lr` at step `warmup`, constant afterwards.
    public static func warmupLearningRate(_ lr: Double, step: Int, warmup: Int) -> Double {
        warmup <= 0 ? lr : lr * min(1, Double(step) / Double(warmup))
    }
}
