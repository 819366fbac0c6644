import HostCore

/// A fixed, deterministic 118-value feature map for RGB images in [−1, 1], for Fréchet distances between
/// image sets when no pretrained Inception network is available. It sees layout, colour, edges and tonal
/// distribution, but unlike Inception features it knows nothing about object semantics, so its distances are
/// comparable only with each other (same R, same map), never with published FID values.
///
/// For an image `I` of shape `[3, R, R]` (channel c = 0, 1, 2 for R, G, B; R ≥ 4) the features, in order, are:
///
/// 1. **Cell means** (48 values, index `16c + 4i + j`): the image is cut into a 4 x 4 grid of cells, cell
///    `(i, j)` covering rows `⌊iR/4⌋ ..< ⌊(i+1)R/4⌋` and columns `⌊jR/4⌋ ..< ⌊(j+1)R/4⌋`; the value is the mean of
///    channel c over the cell.
/// 2. **Cell gradient magnitudes** (48 values, index `48 + 16c + 4i + j`): the mean over cell `(i, j)` of
///    `g = √(gx² + gy²)` with central differences and clamped (replicated) borders,
///    `gx(y, x) = (I(y, min(x+1, R−1)) − I(y, max(x−1, 0))) / 2` and
///    `gy(y, x) = (I(min(y+1, R−1), x) − I(max(y−1, 0), x)) / 2` (so a border pixel gets half the one-sided
///    difference).
/// 3. **Global moments** (6 values): index `96 + c` is the mean of channel c over the image, `99 + c` its
///    population standard deviation (divisor R²).
/// 4. **Luminance histogram** (16 values, index `102 + k`): the luminance `Y = 0.299 R + 0.587 G + 0.114 B`
///    (ITU-R BT.601) is mapped to `u = clamp((Y + 1)/2, 0, 1)` and soft-binned by linear interpolation between
///    the bin centres `(k + 0.5)/16`: with `p = 16u − 0.5`, `k₀ = ⌊p⌋`, `w = p − k₀`, bin `k₀` gets `1 − w` and
///    bin `k₀ + 1` gets `w` (a weight falling outside 0...15 goes to the end bin). The histogram is divided by
///    R², so it sums to 1.
///
/// All arithmetic is float64; the map has no parameters and no randomness.
///
/// ```swift
/// let rows = try ImageFeatures.extract(images)   // images: [N, 3, R, R] in [-1, 1]
/// let fid = try FrechetDistance.between(rows, referenceRows)
/// ```
public enum ImageFeatures {
    /// Cells per side of the pooling grid.
    public static let cellsPerSide = 4
    /// Bins of the luminance histogram.
    public static let histogramBins = 16
    /// Features per image: 48 cell means + 48 cell gradient magnitudes + 6 moments + 16 histogram bins.
    public static let count = 118

    /// The features of every image of a `[N, 3, R, R]` batch, one row of ``count`` values per image.
    /// - Throws: ``EvaluationError/shape(argument:expected:found:)`` unless the shape is `[N, 3, R, R]` with
    ///   `R ≥ 4`; ``EvaluationError/nonFinite(argument:index:)`` for a NaN or infinity.
    public static func extract(_ images: Tensor<Float>) throws(EvaluationError) -> [[Double]] {
        let shape = images.shape
        guard shape.count == 4, shape[1] == 3, shape[2] == shape[3], shape[2] >= cellsPerSide else {
            throw .shape(argument: "images", expected: "[N, 3, R, R] with R >= \(cellsPerSide)", found: shape)
        }
        let (n, r) = (shape[0], shape[2])
        let pixels = r * r
        return try images.withUnsafeBufferPointer { (data) throws(EvaluationError) -> [[Double]] in
            if let bad = data.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(argument: "images", index: bad) }
            return (0..<n).map { image in
                features(
                    UnsafeBufferPointer(rebasing: data[(image * 3 * pixels)..<((image + 1) * 3 * pixels)]), side: r)
            }
        }
    }

    /// The features of one `[3, R, R]` image stored channel-major.
    static func features(_ image: UnsafeBufferPointer<Float>, side r: Int) -> [Double] {
        let cells = cellsPerSide
        let pixels = r * r
        var out = [Double](repeating: 0, count: count)
        // Cell index of each row/column and each cell's pixel count.
        let cellOf = (0..<r).map { x in (0..<cells).last { $0 * r / cells <= x }! }
        var cellPixels = [Double](repeating: 0, count: cells * cells)
        for y in 0..<r {
            for x in 0..<r { cellPixels[cellOf[y] * cells + cellOf[x]] += 1 }
        }
        for c in 0..<3 {
            let base = c * pixels
            func value(_ y: Int, _ x: Int) -> Double { Double(image[base + y * r + x]) }
            var sum = 0.0
            for y in 0..<r {
                for x in 0..<r {
                    let v = value(y, x)
                    let gx = (value(y, min(x + 1, r - 1)) - value(y, max(x - 1, 0))) / 2
                    let gy = (value(min(y + 1, r - 1), x) - value(max(y - 1, 0), x)) / 2
                    let cell = cellOf[y] * cells + cellOf[x]
                    out[16 * c + cell] += v
                    out[48 + 16 * c + cell] += (gx * gx + gy * gy).squareRoot()
                    sum += v
                }
            }
            for cell in 0..<(cells * cells) {
                out[16 * c + cell] /= cellPixels[cell]
                out[48 + 16 * c + cell] /= cellPixels[cell]
            }
            let mean = sum / Double(pixels)
            out[96 + c] = mean
            // Two-pass variance for accuracy.
            var squares = 0.0
            for i in 0..<pixels {
                let deviation = Double(image[base + i]) - mean
                squares += deviation * deviation
            }
            out[99 + c] = (squares / Double(pixels)).squareRoot()
        }
        let bins = histogramBins
        for i in 0..<pixels {
            let y = 0.299 * Double(image[i]) + 0.587 * Double(image[pixels + i]) + 0.114 * Double(image[2 * pixels + i])
            let u = min(max((y + 1) / 2, 0), 1)
            let p = Double(bins) * u - 0.5
            let k0 = Int(p.rounded(.down))
            let w = p - Double(k0)
            out[102 + min(max(k0, 0), bins - 1)] += 1 - w
            out[102 + min(max(k0 + 1, 0), bins - 1)] += w
        }
        for k in 0..<bins { out[102 + k] /= Double(pixels) }
        return out
    }
}
