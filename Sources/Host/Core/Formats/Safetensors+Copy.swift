extension SafetensorsFile {
    /// Every tensor of the file, decoded, ready to be written with its own storage type: floating-point tensors
    /// keep `F16`, `BF16`, `F32` or `F64` (widening then narrowing is exact), `I64` stays integer. This is how
    /// `zoo convert` turns a PyTorch checkpoint into safetensors without changing a bit.
    /// - Throws: ``SafetensorsError/dtypeMismatch(path:tensor:found:requested:)`` for a tensor of another integer or
    ///   8-bit type.
    public func storedTensors() throws(SafetensorsError) -> [SafetensorsTensor] {
        var out: [SafetensorsTensor] = []
        for entry in entries {
            switch entry.dtype {
            case .float64:
                out.append(SafetensorsTensor(name: entry.name, try tensor(named: entry.name, as: Double.self)))
            case .float32, .float16, .bfloat16:
                out.append(SafetensorsTensor(name: entry.name, try tensor(named: entry.name), dtype: entry.dtype))
            case .int64: out.append(SafetensorsTensor(name: entry.name, int64: try int64Array(named: entry.name)))
            default:
                throw .dtypeMismatch(
                    path: path, tensor: entry.name, found: entry.dtype, requested: "F16, BF16, F32, F64 or I64")
            }
        }
        return out
    }
}
