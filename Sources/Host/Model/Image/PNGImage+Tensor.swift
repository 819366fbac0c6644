import HostCore

extension PNGImage {
    /// The image as a `[3, H, W]` tensor (channels R, G, B) with values in [-1, 1], as DiT normalises images:
    /// `x = v / 127.5 - 1` for each 8-bit sample `v`.
    public func tensor() -> Tensor<Float> {
        var out = Tensor<Float>(zeros: [3, height, width])
        let plane = width * height
        out.withUnsafeMutableBufferPointer { dst in
            for pixel in 0..<plane {
                for channel in 0..<3 {
                    dst[channel * plane + pixel] = Float(pixels[3 * pixel + channel]) / 127.5 - 1
                }
            }
        }
        return out
    }

    /// An image from a `[3, H, W]` tensor with values in [-1, 1], as DiT saves samples: each value becomes
    /// `round((x + 1) * 127.5)`, clamped to 0...255 (NaN becomes 0).
    /// - Parameter path: names the image in errors only.
    /// - Throws: ``ImageError/invalidShape(path:shape:expected:)`` unless the shape is `[3, H, W]` with `H, W >= 1`.
    public init(tensor: Tensor<Float>, path: String = "<tensor>") throws(ImageError) {
        let shape = tensor.shape
        guard shape.count == 3, shape[0] == 3, shape[1] >= 1, shape[2] >= 1 else {
            throw .invalidShape(path: path, shape: shape, expected: "[3, H, W] with H, W >= 1")
        }
        let height = shape[1]
        let width = shape[2]
        let plane = width * height
        var pixels = [UInt8](repeating: 0, count: plane * 3)
        tensor.withUnsafeBufferPointer { src in
            for pixel in 0..<plane {
                for channel in 0..<3 {
                    pixels[3 * pixel + channel] = Self.quantize(src[channel * plane + pixel])
                }
            }
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// `round((x + 1) * 127.5)` clamped to 0...255; NaN maps to 0.
    static func quantize(_ x: Float) -> UInt8 {
        let v = ((x + 1) * 127.5).rounded(.toNearestOrAwayFromZero)
        guard v > 0 else { return 0 }  // also NaN
        return v >= 255 ? 255 : UInt8(v)
    }
}
