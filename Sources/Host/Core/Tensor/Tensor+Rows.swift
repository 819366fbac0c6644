extension Tensor {
    /// Rows `indices` along the first axis, stacked in the order given: `[indices.count] + shape.dropFirst()`.
    /// - Precondition: rank at least 1 and every index in `0..<shape[0]`.
    public func gatherRows(_ indices: some Collection<Int>) -> Tensor {
        precondition(rank >= 1, "gatherRows needs a tensor of rank 1 or more")
        let width = shape.dropFirst().reduce(1, *)
        var out = Tensor(zeros: [indices.count] + shape.dropFirst())
        out.withUnsafeMutableBufferPointer { dst in
            withUnsafeBufferPointer { src in
                for (n, i) in indices.enumerated() {
                    precondition(i >= 0 && i < shape[0], "row \(i) outside 0..<\(shape[0])")
                    _ = UnsafeMutableBufferPointer(rebasing: dst[(n * width)..<((n + 1) * width)])
                        .update(fromContentsOf: src[(i * width)..<((i + 1) * width)])
                }
            }
        }
        return out
    }
}
