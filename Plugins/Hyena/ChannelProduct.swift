import PluginKit

/// The elementwise gate of the Hyena recurrence, `out = a * b` over `rows x width`, on rows of given strides (so
/// that slices of the `(o+1) D`-wide short-filter output are read in place). Each element is written by one task.
enum ChannelProduct {
    /// A `rows x width` matrix whose rows are `stride` apart.
    struct Rows<P> {
        let base: P
        let stride: Int
    }

    static func multiply<S: KernelScalar>(
        _ a: Rows<UnsafePointer<S>>, _ b: Rows<UnsafePointer<S>>, into out: Rows<UnsafeMutablePointer<S>>, rows: Int,
        width: Int, parallel: ParallelFor
    ) {
        parallel(rows, grain: max(1, 16384 / max(1, width))) { begin, end in
            for r in begin..<end {
                let (x, y, o) = (a.base + r * a.stride, b.base + r * b.stride, out.base + r * out.stride)
                for c in 0..<width { o[c] = x[c] * y[c] }
            }
        }
    }
}
