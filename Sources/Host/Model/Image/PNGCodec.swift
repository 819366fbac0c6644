import CPNG

/// The only code that calls libpng: its simplified API (`png_image_*`), in memory.
///
/// libpng reports errors by `longjmp`. The simplified API catches them inside libpng (`png_safe_execute`) and
/// returns a status with a message in `png_image.message`, so no `longjmp` ever crosses a Swift frame.
/// Everything here returns `Result`s of Swift values; ``PNGImage`` adds the file names.
enum PNGCodec {
    /// The 8 bytes every PNG file starts with.
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// A decoded image: `width * height` pixels of 8-bit, non-premultiplied, sRGB-encoded R, G, B, A.
    struct Decoded {
        let width: Int
        let height: Int
        let rgba: [UInt8]
    }

    enum DecodeFailure: Error {
        /// The header declares a side longer than the caller's limit (nothing was decoded).
        case tooLarge(width: Int, height: Int)
        /// The header declares more pixels than the data can hold (nothing was decoded).
        case largerThanData(width: Int, height: Int)
        /// libpng's message.
        case libpng(String)
    }

    struct EncodeFailure: Error {
        let message: String
    }

    /// Deflate expands its input at most 1032 times (a 258-byte match coded in two bits), so a PNG of `n` bytes
    /// holds at most about `1032 n` bytes of image rows, and at least one bit per pixel.
    static let maximumDeflateExpansion = 1032

    /// Whether `width x height` pixels at one bit each could be inflated from `bytes` bytes of file (with 1 KiB of
    /// slack for stream headers). Decoding allocates 4 bytes per pixel up front, so without this check a 70-byte
    /// file claiming 16384 x 16384 pixels would cost a gigabyte before libpng found the data missing.
    static func pixelsFit(width: Int, height: Int, bytes: Int) -> Bool {
        (width * height + 7) / 8 <= maximumDeflateExpansion * (bytes + 1024)
    }

    /// Decodes a PNG held in memory to 8-bit RGBA, refusing a side over `maxDimension`, or more pixels than the
    /// file's size allows (``pixelsFit(width:height:bytes:)``), before decoding pixels.
    ///
    /// 16-bit images without gAMA/sRGB chunks are taken as sRGB-encoded (`PNG_IMAGE_FLAG_16BIT_sRGB`), so their
    /// samples scale to 8 bits instead of being gamma-encoded as if linear. The corresponding C functions are
    /// `png_image_begin_read_from_memory` and `png_image_finish_read`.
    static func decodeRGBA(_ bytes: [UInt8], maxDimension: Int) -> Result<Decoded, DecodeFailure> {
        // libpng reads from `bytes` until png_image_finish_read returns, so both calls run inside one closure.
        bytes.withUnsafeBytes { memory -> Result<Decoded, DecodeFailure> in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            defer { png_image_free(&image) }
            guard png_image_begin_read_from_memory(&image, memory.baseAddress, memory.count) != 0 else {
                return .failure(.libpng(message(of: image)))
            }
            let width = Int(image.width)
            let height = Int(image.height)
            guard width <= maxDimension && height <= maxDimension else {
                return .failure(.tooLarge(width: width, height: height))
            }
            guard pixelsFit(width: width, height: height, bytes: memory.count) else {
                return .failure(.largerThanData(width: width, height: height))
            }
            image.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)  // PNG_FORMAT_RGBA (not imported)
            image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
            var rgba = [UInt8](repeating: 0, count: width * height * 4)
            let finished = rgba.withUnsafeMutableBytes { buffer in
                png_image_finish_read(&image, nil, buffer.baseAddress, Int32(width * 4), nil)
            }
            guard finished != 0 else { return .failure(.libpng(message(of: image))) }
            return .success(Decoded(width: width, height: height, rgba: rgba))
        }
    }

    /// Encodes interleaved 8-bit RGB pixels as a PNG file's bytes.
    ///
    /// The corresponding C function is `png_image_write_to_memory`.
    static func encodeRGB(_ pixels: [UInt8], width: Int, height: Int) -> Result<[UInt8], EncodeFailure> {
        precondition(pixels.count == width * height * 3, "\(pixels.count) samples for a \(width)x\(height) RGB image")
        guard width <= Int(UInt32.max) && height <= Int(UInt32.max) && width * 3 <= Int(Int32.max) else {
            return .failure(EncodeFailure(message: "image size \(width)x\(height) is too large for PNG"))
        }
        // Deflate's worst case adds a few bytes per 64 KiB block, and each 8 KiB IDAT chunk 12 bytes: a quarter
        // on top of the raw rows is ample. If libpng still wants more it says how much, and we try once more.
        let raw = (width * 3 + 1) * height
        var capacity = raw + raw / 4 + 4096
        for _ in 0..<2 {
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            image.width = UInt32(width)
            image.height = UInt32(height)
            image.format = UInt32(PNG_FORMAT_RGB)
            var output = [UInt8](repeating: 0, count: capacity)
            var size = capacity
            let written = output.withUnsafeMutableBytes { out in
                pixels.withUnsafeBytes { rows in
                    png_image_write_to_memory(
                        &image, out.baseAddress, &size, 0, rows.baseAddress, Int32(width * 3), nil)
                }
            }
            png_image_free(&image)
            if written != 0 {
                output.removeSubrange(size...)
                return .success(output)
            }
            guard size > capacity else { return .failure(EncodeFailure(message: message(of: image))) }
            capacity = size
        }
        return .failure(EncodeFailure(message: "libpng asked for more output memory twice"))
    }

    /// The NUL-terminated text in `png_image.message`.
    private static func message(of image: png_image) -> String {
        let text = withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "unknown libpng error (status \(image.warning_or_error))" : text
    }
}
