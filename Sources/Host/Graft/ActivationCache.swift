import Foundation
import HostCore

/// Stage 1's teacher-activation cache: one safetensors file holding, for every collected sample and every unit
/// the process distils, the unit's input and output (and conditioning), in float16, written batch by batch while the
/// teacher runs and read back row by row through a memory mapping. Memory use does not grow with the sample count:
/// the file is the limit (`stage1.cache_limit_mib`), and its pages are the kernel's to evict.
///
/// Layout: one tensor ``tensorName``, F16 `[K U, W]`; row `k U + u` is sample k of unit u: its input `[T, D]`, its
/// output `[T, D]` and, for units that read the conditioning, `SiLU(c)` `[D]` (`W = 2 T D (+ D)`). Float16 keeps about
/// 3 significant digits (relative rounding error at most 2^-11): far below the distillation losses, and it halves the
/// file. Metadata `zoo.graft.cache` is the signature of what was collected (seed, sample count, units, layout); a
/// file with another signature is collected again.
enum ActivationCache {
    static let tensorName = "activations"
    static let signatureKey = "zoo.graft.cache"
    /// Bytes of one sample of one unit in the file.
    static func bytesPerRow(tokens: Int, width: Int, conditioned: Bool) -> Int {
        (2 * tokens * width + (conditioned ? width : 0)) * 2
    }

    /// The units' activations from the file at `path` if it was written for `signature` with this layout, else nil.
    static func open(
        path: String, signature: String, units: Int, tokens: Int, width: Int, conditioned: Bool
    ) -> [SlotDistiller.Activations]? {
        guard let file = try? SafetensorsFile.read(path: path), file.metadata[signatureKey] == signature,
            let entry = file.entry(named: tensorName), entry.dtype == .float16,
            entry.shape.count == 2, entry.shape[0] % max(1, units) == 0,
            entry.shape[1] == 2 * tokens * width + (conditioned ? width : 0)
        else { return nil }
        let samples = entry.shape[0] / max(1, units)
        return (0..<units).map {
            SlotDistiller.Activations(
                cache: file, unit: $0, units: units, samples: samples, tokens: tokens, width: width,
                conditioned: conditioned)
        }
    }

    /// Writes the cache: `produce` calls its argument once per batch, in sample order, with each unit's rows.
    static func write(
        path: String, signature: String, units: Int, samples: Int, tokens: Int, width: Int, conditioned: Bool,
        produce: ((_ batch: [SlotDistiller.Activations]) throws -> Void) throws -> Void
    ) throws {
        let rowWidth = 2 * tokens * width + (conditioned ? width : 0)
        let writer = try SafetensorsStreamWriter(
            path: path, tensors: [(tensorName, .float16, [samples * units, rowWidth])],
            metadata: [signatureKey: signature])
        try produce { batch in
            precondition(batch.count == units, "one entry per unit")
            let n = batch[0].count
            var packed = Tensor<Float>(uninitialized: [n * units * rowWidth])
            let pieces = batch.map { $0.all() }
            packed.withUnsafeMutableBufferPointer { dst in
                for (u, (x, y, c)) in pieces.enumerated() {
                    x.withUnsafeBufferPointer { xp in
                        y.withUnsafeBufferPointer { yp in
                            let size = tokens * width
                            for k in 0..<n {
                                let row = (k * units + u) * rowWidth
                                for j in 0..<size {
                                    dst[row + j] = xp[k * size + j]
                                    dst[row + size + j] = yp[k * size + j]
                                }
                            }
                        }
                    }
                    if conditioned, let c {
                        c.withUnsafeBufferPointer { cp in
                            for k in 0..<n {
                                for j in 0..<width {
                                    dst[(k * units + u) * rowWidth + 2 * tokens * width + j] = cp[k * width + j]
                                }
                            }
                        }
                    }
                }
            }
            try writer.append(packed)
        }
        try writer.commit()
    }
}
