import HostCore

extension SlotDistiller {
    /// A unit's teacher activations, one row per collected sample: inputs and outputs `[T, D]` and, for units that
    /// read the conditioning (block pairs), `SiLU(c)` `[D]`. Held in memory (float32 tensors), or read row by row
    /// from the stage-1 cache file (``ActivationCache``: float16, memory-mapped), so stage 1 can use more samples
    /// than fit in memory.
    public struct Activations: Sendable {
        enum Storage: Sendable {
            case memory(inputs: Tensor<Float>, outputs: Tensor<Float>, conditioning: Tensor<Float>?)
            /// Row `sample * units + unit` of the cache's one tensor holds input, output and conditioning.
            case cache(SafetensorsFile, unit: Int, units: Int, tokens: Int, width: Int, conditioned: Bool)
        }
        let storage: Storage
        /// Samples held.
        public let count: Int

        /// Activations in memory: inputs and outputs `[K, T, D]`, conditioning `[K, D]`.
        public init(inputs: Tensor<Float>, outputs: Tensor<Float>, conditioning: Tensor<Float>? = nil) {
            precondition(inputs.rank == 3 && outputs.shape == inputs.shape, "inputs and outputs [K, T, D]")
            storage = .memory(inputs: inputs, outputs: outputs, conditioning: conditioning)
            count = inputs.shape[0]
        }

        init(
            cache file: SafetensorsFile, unit: Int, units: Int, samples: Int, tokens: Int, width: Int, conditioned: Bool
        ) {
            storage = .cache(file, unit: unit, units: units, tokens: tokens, width: width, conditioned: conditioned)
            count = samples
        }

        /// Samples `indices`, stacked: inputs and targets `[n, T, D]`, and the conditioning `[n, D]`.
        func rows(_ indices: [Int]) -> (Tensor<Float>, Tensor<Float>, Tensor<Float>?) {
            switch storage {
            case .memory(let inputs, let outputs, let conditioning):
                return (inputs.gatherRows(indices), outputs.gatherRows(indices), conditioning?.gatherRows(indices))
            case .cache(let file, let unit, let units, let tokens, let width, let conditioned):
                // The file was checked when opened (``ActivationCache/open``): the tensor and its rows exist.
                let packed = try! file.rows(named: ActivationCache.tensorName, indices.map { $0 * units + unit })
                let size = tokens * width, n = indices.count
                let parts = conditioned ? [size, size, width] : [size, size]
                let split = Self.split(packed, rows: n, parts: parts)
                return (
                    try! split[0].reshaped([n, tokens, width]), try! split[1].reshaped([n, tokens, width]),
                    conditioned ? split[2] : nil
                )
            }
        }

        /// Every sample: the stored tensors themselves when in memory (no copy), else all rows of the cache.
        func all() -> (Tensor<Float>, Tensor<Float>, Tensor<Float>?) {
            if case .memory(let inputs, let outputs, let conditioning) = storage {
                return (inputs, outputs, conditioning)
            }
            return rows(Array(0..<count))
        }

        /// Splits each row of `packed` (`rows` rows of `parts.sum` values) into one `[rows, part]` tensor per part.
        static func split(_ packed: Tensor<Float>, rows: Int, parts: [Int]) -> [Tensor<Float>] {
            let total = parts.reduce(0, +)
            var offset = 0
            return parts.map { part in
                var out = Tensor<Float>(uninitialized: [rows, part])
                out.withUnsafeMutableBufferPointer { dst in
                    packed.withUnsafeBufferPointer { src in
                        for r in 0..<rows { for j in 0..<part { dst[r * part + j] = src[r * total + offset + j] } }
                    }
                }
                offset += part
                return out
            }
        }
    }
}
