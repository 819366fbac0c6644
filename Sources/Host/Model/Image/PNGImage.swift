import Foundation
import HostCore

/// An 8-bit RGB raster, read from and written to PNG files.
///
/// Reading accepts anything libpng's simplified API can convert: palette, gray, gray + alpha, RGB, RGBA, at 1 to
/// 16 bits per sample. Gray is replicated into R, G and B; alpha is dropped (the colour samples are kept as
/// stored, not composited onto a background); 16-bit samples are scaled to 8 bits as sRGB-encoded values
/// (`v / 257`, rounded). Writing always produces an 8-bit RGB PNG, atomically (a temporary file, then a rename).
///
/// ```swift
/// let image = try PNGImage.read(path: "cat.png")
/// let x = image.tensor()                 // [3, H, W] in [-1, 1]
/// try PNGImage(tensor: x).write(path: "copy.png")
/// ```
public struct PNGImage: Equatable, Sendable {
    /// Files larger than this (256 MiB) are refused before decoding.
    public static let maxFileBytes = 256 << 20
    /// Images wider or taller than this are refused before their pixels are decoded.
    public static let maxDimension = 16_384

    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Interleaved samples `R, G, B` per pixel, rows top to bottom: `width * height * 3` bytes.
    public private(set) var pixels: [UInt8]

    /// An image of the given size holding `pixels` (interleaved RGB, row-major).
    /// - Precondition: `width, height >= 1` and `pixels.count == width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 1 && height >= 1, "image size \(width)x\(height) must be at least 1x1")
        precondition(pixels.count == width * height * 3, "\(pixels.count) samples for a \(width)x\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image of the given size filled with one colour.
    public init(width: Int, height: Int, filledWith color: (red: UInt8, green: UInt8, blue: UInt8)) {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: pixels.count, by: 3) {
            pixels[i] = color.red
            pixels[i + 1] = color.green
            pixels[i + 2] = color.blue
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// The colour at column `x`, row `y` (origin top left).
    public subscript(x: Int, y: Int) -> (red: UInt8, green: UInt8, blue: UInt8) {
        get {
            let i = offset(x: x, y: y)
            return (pixels[i], pixels[i + 1], pixels[i + 2])
        }
        set {
            let i = offset(x: x, y: y)
            pixels[i] = newValue.red
            pixels[i + 1] = newValue.green
            pixels[i + 2] = newValue.blue
        }
    }

    private func offset(x: Int, y: Int) -> Int {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)x\(height)")
        return (y * width + x) * 3
    }

    // MARK: Files

    /// Reads the PNG file at `path` (into memory first, then decoded by libpng).
    /// - Throws: ``ImageError`` naming `path`: unreadable, empty, over ``maxFileBytes``, not a PNG, over
    ///   ``maxDimension`` on a side, declaring more pixels than its bytes can hold, or truncated/corrupt (with
    ///   libpng's message).
    public static func read(path: String) throws(ImageError) -> PNGImage {
        let mapped: Data
        do {
            mapped = try MappedFile.read(path: path)
        } catch {
            throw .readFailed(path: path, reason: error.reason)
        }
        guard mapped.count <= maxFileBytes else {
            throw .fileTooLarge(path: path, bytes: mapped.count, limit: maxFileBytes)
        }
        let data = [UInt8](mapped)
        return try decode(data, path: path)
    }

    /// Decodes PNG bytes; `path` only names the data in errors.
    /// - Throws: ``ImageError`` as for ``read(path:)``.
    public static func decode(_ bytes: [UInt8], path: String) throws(ImageError) -> PNGImage {
        guard !bytes.isEmpty else { throw .emptyFile(path: path) }
        guard bytes.count <= maxFileBytes else {
            throw .fileTooLarge(path: path, bytes: bytes.count, limit: maxFileBytes)
        }
        guard bytes.starts(with: PNGCodec.signature) else { throw .notPNG(path: path, found: Array(bytes.prefix(8))) }
        let decoded: PNGCodec.Decoded
        switch PNGCodec.decodeRGBA(bytes, maxDimension: maxDimension) {
        case .success(let value): decoded = value
        case .failure(.tooLarge(let width, let height)):
            throw .imageTooLarge(path: path, width: width, height: height, limit: maxDimension)
        case .failure(.largerThanData(let width, let height)):
            throw .imageLargerThanData(path: path, width: width, height: height, bytes: bytes.count)
        case .failure(.libpng(let message)): throw .decodeFailed(path: path, message: message)
        }
        var rgb = [UInt8](repeating: 0, count: decoded.width * decoded.height * 3)
        for pixel in 0..<decoded.width * decoded.height {
            rgb[3 * pixel] = decoded.rgba[4 * pixel]
            rgb[3 * pixel + 1] = decoded.rgba[4 * pixel + 1]
            rgb[3 * pixel + 2] = decoded.rgba[4 * pixel + 2]
        }
        return PNGImage(width: decoded.width, height: decoded.height, pixels: rgb)
    }

    /// The image as the bytes of an 8-bit RGB PNG file; `path` only names the image in errors.
    /// - Throws: ``ImageError/encodeFailed(path:message:)`` with libpng's message.
    public func encoded(path: String) throws(ImageError) -> [UInt8] {
        switch PNGCodec.encodeRGB(pixels, width: width, height: height) {
        case .success(let bytes): return bytes
        case .failure(let failure): throw .encodeFailed(path: path, message: failure.message)
        }
    }

    /// Writes the image as an 8-bit RGB PNG file, atomically: readers see the old file or the new one, never a
    /// partial file.
    /// - Throws: ``ImageError/writeFailed(path:reason:)`` (e.g. the directory does not exist), or
    ///   ``ImageError/encodeFailed(path:message:)``.
    public func write(path: String) throws(ImageError) {
        let bytes = try encoded(path: path)
        do {
            let writer = try AtomicFileWriter(path: path)
            try writer.write(bytes)
            try writer.commit()
        } catch {
            throw .writeFailed(path: path, reason: error.reason)
        }
    }
}
