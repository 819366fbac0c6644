import HostCore

/// The forward (noising) process.
extension GaussianDiffusion {
    /// A sample of `q(x_t | x_0)` for the given noise (DiT `q_sample`):
    /// `x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise`, one step `t[n]` of this process per batch element.
    /// - Parameters:
    ///   - x0: clean data, `[N, ...]`.
    ///   - t: `N` steps in `0..<numTimesteps`.
    ///   - noise: standard normal noise of `x0`'s shape.
    /// - Throws: ``DiffusionError`` naming `x0`, `t` or `noise` when a shape, the count of `t` or a step is wrong.
    public func qSample<S: TensorScalar>(x0: Tensor<S>, t: [Int], noise: Tensor<S>) throws(DiffusionError) -> Tensor<S>
    {
        guard x0.rank >= 1, x0.shape.allSatisfy({ $0 >= 1 }) else {
            throw .invalidShape(argument: "x0", shape: x0.shape, expected: "[N, ...] with every extent at least 1")
        }
        let batch = x0.shape[0]
        let perSample = x0.count / batch
        try checkTimesteps(t, batch: batch, argument: "t")
        guard noise.shape == x0.shape else {
            throw .shapeMismatch(argument: "noise", expected: x0.shape, actual: noise.shape)
        }
        var out = Tensor<S>(zeros: x0.shape)
        out.withUnsafeMutableBufferPointer { y in
            x0.withUnsafeBufferPointer { x in
                noise.withUnsafeBufferPointer { e in
                    for n in 0..<batch {
                        let a = sqrtAlphasCumprod[t[n]]
                        let b = sqrtOneMinusAlphasCumprod[t[n]]
                        for i in n * perSample..<(n + 1) * perSample {
                            y[i] = S(a * Double(x[i]) + b * Double(e[i]))
                        }
                    }
                }
            }
        }
        return out
    }
}
