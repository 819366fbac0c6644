/// Argument checks shared by the loss and the samplers; each failure is a ``DiffusionError`` naming the argument.
extension GaussianDiffusion {
    /// Every `t[i]` is a step of this process.
    func checkTimesteps(_ t: [Int], argument: String) throws(DiffusionError) {
        for (i, step) in t.enumerated() where step < 0 || step >= numTimesteps {
            throw .timestepOutOfRange(argument: argument, index: i, value: step, count: numTimesteps)
        }
    }

    /// `t` has one step of this process per batch element.
    func checkTimesteps(_ t: [Int], batch: Int, argument: String) throws(DiffusionError) {
        guard t.count == batch else { throw .batchSizeMismatch(argument: argument, expected: batch, actual: t.count) }
        try checkTimesteps(t, argument: argument)
    }

    /// The batch size `N` and elements per sample of a non-empty `[N, ...]` shape (`[N, C, ...]` when the variance
    /// is learned, because the model output doubles the channel axis).
    func batchLayout(_ shape: [Int], argument: String) throws(DiffusionError) -> (batch: Int, perSample: Int) {
        let needed = learnSigma ? 2 : 1
        guard shape.count >= needed, shape.allSatisfy({ $0 >= 1 }) else {
            throw .invalidShape(
                argument: argument, shape: shape,
                expected: learnSigma
                    ? "[N, C, ...] with every extent at least 1" : "[N, ...] with every extent at least 1")
        }
        var perSample = 1
        for extent in shape.dropFirst() {
            let (product, overflow) = perSample.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw .invalidShape(argument: argument, shape: shape, expected: "fewer elements") }
            perSample = product
        }
        let (total, overflow) = perSample.multipliedReportingOverflow(by: shape[0])
        guard !overflow, !total.multipliedReportingOverflow(by: needed).overflow else {
            throw .invalidShape(argument: argument, shape: shape, expected: "fewer elements")
        }
        return (shape[0], perSample)
    }

    /// The model output shape for inputs of `shape`: `[N, 2C, ...]` with a learned variance, else `shape`.
    public func modelOutputShape(forInput shape: [Int]) -> [Int] {
        guard learnSigma, shape.count >= 2 else { return shape }
        var out = shape
        out[1] *= 2
        return out
    }
}
