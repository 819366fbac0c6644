extension PNGImage {
    /// The image resized and cropped to `resolution` x `resolution`, as DiT's `center_crop_arr` prepares
    /// training images (ADM's recipe):
    ///
    /// 1. While the short side is at least `2 * resolution`, halve both sides with a 2 x 2 box filter
    ///    (``boxDownsampled()``).
    /// 2. Resize so that the short side is exactly `resolution` and the long side `round(long * scale)` (ties to
    ///    even, as Python rounds), with bilinear interpolation (``resizedBilinear(width:height:)``). DiT uses
    ///    bicubic here; after step 1 the scale is above 1/2, where the two differ by little.
    /// 3. Crop the centre square, offset `(side - resolution) / 2` (rounded down) on each axis.
    ///
    /// - Precondition: `resolution >= 1`.
    public func centerCropped(to resolution: Int) -> PNGImage {
        precondition(resolution >= 1, "resolution \(resolution) must be at least 1")
        var image = self
        while min(image.width, image.height) >= 2 * resolution {
            image = image.boxDownsampled()
        }
        let short = min(image.width, image.height)
        let scale = Double(resolution) / Double(short)
        func side(_ length: Int) -> Int {
            length == short ? resolution : max(resolution, Int((Double(length) * scale).rounded(.toNearestOrEven)))
        }
        let (width, height) = (side(image.width), side(image.height))
        // Only the centre square of the resized image is computed: resizing a long, thin image whole would take
        // memory in proportion to its aspect ratio (a 16384 x 1 image at 256 would be 4194304 x 256 pixels).
        return image.resampledBilinear(
            width: width, height: height, left: (width - resolution) / 2, top: (height - resolution) / 2,
            columns: resolution, rows: resolution)
    }

    /// Half the size (`width / 2` x `height / 2`, rounded down), each pixel the rounded mean of a 2 x 2 block.
    /// An odd last row or column is dropped (PIL's `BOX` filter would spread it over its neighbours).
    /// - Precondition: both sides at least 2.
    public func boxDownsampled() -> PNGImage {
        precondition(width >= 2 && height >= 2, "cannot halve a \(width)x\(height) image")
        let w = width / 2
        let h = height / 2
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<3 {
                    let a = Int(pixels[((2 * y) * width + 2 * x) * 3 + c])
                    let b = Int(pixels[((2 * y) * width + 2 * x + 1) * 3 + c])
                    let d = Int(pixels[((2 * y + 1) * width + 2 * x) * 3 + c])
                    let e = Int(pixels[((2 * y + 1) * width + 2 * x + 1) * 3 + c])
                    out[(y * w + x) * 3 + c] = UInt8((a + b + d + e + 2) / 4)
                }
            }
        }
        return PNGImage(width: w, height: h, pixels: out)
    }

    /// The image resampled to `width` x `height` with bilinear interpolation between pixel centres
    /// (half-pixel alignment, edges clamped, no antialiasing), rounded to the nearest 8-bit value.
    /// Resizing to the same size returns the image unchanged.
    /// - Precondition: `width, height >= 1`.
    public func resizedBilinear(width newWidth: Int, height newHeight: Int) -> PNGImage {
        precondition(newWidth >= 1 && newHeight >= 1, "cannot resize to \(newWidth)x\(newHeight)")
        if newWidth == width && newHeight == height { return self }
        return resampledBilinear(
            width: newWidth, height: newHeight, left: 0, top: 0, columns: newWidth, rows: newHeight)
    }

    /// The `columns` x `rows` window at (`left`, `top`) of the image resized to `newWidth` x `newHeight` as
    /// ``resizedBilinear(width:height:)`` resizes it, computing only the window's pixels.
    /// - Precondition: the window lies inside the resized image and is at least 1 x 1.
    private func resampledBilinear(
        width newWidth: Int, height newHeight: Int, left: Int, top: Int, columns: Int, rows: Int
    ) -> PNGImage {
        precondition(
            left >= 0 && top >= 0 && columns >= 1 && rows >= 1 && left + columns <= newWidth && top + rows <= newHeight,
            "window \(columns)x\(rows) at (\(left), \(top)) outside \(newWidth)x\(newHeight)")
        if newWidth == width && newHeight == height {
            return cropped(x: left, y: top, width: columns, height: rows)
        }
        /// For each output coordinate in `range`: the two source indices and the weight of the second.
        func taps(_ range: Range<Int>, _ outCount: Int, _ inCount: Int) -> [(Int, Int, Double)] {
            let ratio = Double(inCount) / Double(outCount)
            return range.map { i in
                let source = min(max((Double(i) + 0.5) * ratio - 0.5, 0), Double(inCount - 1))
                let lower = Int(source)
                return (lower, min(lower + 1, inCount - 1), source - Double(lower))
            }
        }
        let xs = taps(left..<left + columns, newWidth, width)
        let ys = taps(top..<top + rows, newHeight, height)
        var out = [UInt8](repeating: 0, count: columns * rows * 3)
        for (y, (y0, y1, wy)) in ys.enumerated() {
            for (x, (x0, x1, wx)) in xs.enumerated() {
                for c in 0..<3 {
                    func at(_ px: Int, _ py: Int) -> Double { Double(pixels[(py * width + px) * 3 + c]) }
                    let top = at(x0, y0) * (1 - wx) + at(x1, y0) * wx
                    let bottom = at(x0, y1) * (1 - wx) + at(x1, y1) * wx
                    let value = (top * (1 - wy) + bottom * wy).rounded()
                    out[(y * columns + x) * 3 + c] = UInt8(min(max(value, 0), 255))
                }
            }
        }
        return PNGImage(width: columns, height: rows, pixels: out)
    }

    /// The `width` x `height` rectangle whose top-left pixel is (`x`, `y`).
    /// - Precondition: the rectangle lies inside the image and is at least 1 x 1.
    public func cropped(x left: Int, y top: Int, width w: Int, height h: Int) -> PNGImage {
        precondition(
            left >= 0 && top >= 0 && w >= 1 && h >= 1 && left + w <= width && top + h <= height,
            "crop \(w)x\(h) at (\(left), \(top)) outside a \(width)x\(height) image")
        var out: [UInt8] = []
        out.reserveCapacity(w * h * 3)
        for y in top..<top + h {
            let start = (y * width + left) * 3
            out.append(contentsOf: pixels[start..<start + w * 3])
        }
        return PNGImage(width: w, height: h, pixels: out)
    }
}
