import HostCore

/// Tiles a batch of images into one picture, as torchvision's `make_grid`/`save_image` do for DiT's samples.
///
/// Images go left to right, then top to bottom, `min(columns, N)` to a row, with `padding` black pixels
/// between tiles and around the border:
/// `width = c * (W + padding) + padding`, `height = rows * (H + padding) + padding`, `rows = ceil(N / c)`.
/// Cells past the last image in the final row stay black.
///
/// ```swift
/// let batch: Tensor<Float> = ...                    // [N, 3, H, W] in [-1, 1]
/// try ImageGrid.write(batch, columns: 8, path: "samples.png")
/// ```
public enum ImageGrid {
    /// The grid as an image.
    /// - Parameters:
    ///   - batch: `[N, 3, H, W]` with `N >= 1`, values in [-1, 1] (quantised as ``PNGImage/init(tensor:path:)``).
    ///   - columns: images per row (at least 1).
    ///   - padding: black pixels between and around tiles (at least 0; 2 by default).
    ///   - path: names the grid in errors only.
    /// - Throws: ``ImageError/invalidShape(path:shape:expected:)`` or ``ImageError/invalidArgument(path:reason:)``.
    public static func tile(
        _ batch: Tensor<Float>, columns: Int, padding: Int = 2, path: String = "<grid>"
    ) throws(ImageError) -> PNGImage {
        let shape = batch.shape
        guard shape.count == 4, shape[0] >= 1, shape[1] == 3, shape[2] >= 1, shape[3] >= 1 else {
            throw .invalidShape(path: path, shape: shape, expected: "[N, 3, H, W] with N, H, W >= 1")
        }
        guard columns >= 1 else { throw .invalidArgument(path: path, reason: "columns is \(columns); expected >= 1") }
        guard padding >= 0 else { throw .invalidArgument(path: path, reason: "padding is \(padding); expected >= 0") }
        let (count, height, width) = (shape[0], shape[2], shape[3])
        let perRow = min(columns, count)
        let rows = (count + perRow - 1) / perRow
        let gridWidth = perRow * (width + padding) + padding
        let gridHeight = rows * (height + padding) + padding
        guard gridWidth <= PNGImage.maxDimension && gridHeight <= PNGImage.maxDimension else {
            throw .invalidArgument(
                path: path,
                reason: "the grid would be \(gridWidth)x\(gridHeight) pixels, over the "
                    + "\(PNGImage.maxDimension)x\(PNGImage.maxDimension) limit")
        }
        var grid = PNGImage(width: gridWidth, height: gridHeight, filledWith: (0, 0, 0))
        let plane = height * width
        batch.withUnsafeBufferPointer { src in
            for n in 0..<count {
                let left = padding + (n % perRow) * (width + padding)
                let top = padding + (n / perRow) * (height + padding)
                let base = n * 3 * plane
                for y in 0..<height {
                    for x in 0..<width {
                        let i = y * width + x
                        grid[left + x, top + y] = (
                            PNGImage.quantize(src[base + i]), PNGImage.quantize(src[base + plane + i]),
                            PNGImage.quantize(src[base + 2 * plane + i])
                        )
                    }
                }
            }
        }
        return grid
    }

    /// Tiles `batch` (see ``tile(_:columns:padding:path:)``) and writes it as an 8-bit RGB PNG, atomically.
    /// - Throws: ``ImageError`` naming `path`.
    public static func write(_ batch: Tensor<Float>, columns: Int, padding: Int = 2, path: String) throws(ImageError) {
        try tile(batch, columns: columns, padding: padding, path: path).write(path: path)
    }
}
