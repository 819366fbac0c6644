extension SafetensorsFile {
    /// Rows `indices` (along the first axis) of the floating-point tensor `name`, converted to float32 and stacked in
    /// the order given: `[indices.count] + shape.dropFirst()`. Only those rows are read, so a memory-mapped file of
    /// any size serves random batches without being loaded.
    /// - Throws: ``SafetensorsError/tensorNotFound(path:tensor:)``, ``SafetensorsError/dtypeMismatch(path:tensor:found:requested:)``
    ///   for a non-float tensor or one of rank 0.
    /// - Precondition: every index is in `0..<shape[0]`.
    public func rows(named name: String, _ indices: [Int]) throws(SafetensorsError) -> Tensor<Float> {
        guard let entry = entry(named: name) else { throw .tensorNotFound(path: path, tensor: name) }
        guard entry.dtype.isConvertibleToFloat, let first = entry.shape.first else {
            throw .dtypeMismatch(path: path, tensor: name, found: entry.dtype, requested: "rows of float32")
        }
        let width = entry.shape.dropFirst().reduce(1, *), bytes = width * entry.dtype.byteSize
        var out = Tensor<Float>(uninitialized: [indices.count] + entry.shape.dropFirst())
        let dtype = entry.dtype
        readBytes(of: entry) { source in
            out.withUnsafeMutableBufferPointer { destination in
                for (n, row) in indices.enumerated() {
                    precondition(row >= 0 && row < first, "row \(row) of '\(name)' outside 0..<\(first)")
                    Self.convert(
                        UnsafeRawBufferPointer(rebasing: source[(row * bytes)..<((row + 1) * bytes)]), dtype: dtype,
                        into: UnsafeMutableBufferPointer(rebasing: destination[(n * width)..<((n + 1) * width)]))
                }
            }
        }
        return out
    }
}
