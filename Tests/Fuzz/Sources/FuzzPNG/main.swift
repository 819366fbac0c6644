import Foundation
import FuzzSupport
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// PNG reader (libpng's simplified API behind `PNGImage.decode`): every input decodes or throws an `ImageError`
/// naming the file; a decoded image re-encodes to a PNG that decodes to the same pixels, and center-crops to
/// the square sizes `ImageFolder` uses with pixels in [-1, 1].
///
/// Every chunk's CRC is recomputed before decoding (``withValidCRCs(_:)``): otherwise almost every mutation
/// would be refused at the first checksum and the fuzzer would never reach the decoder behind it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = "fuzz.png"
    let image: PNGImage
    do {
        image = try PNGImage.decode(withValidCRCs([UInt8](fuzzData(start, count))), path: path)
    } catch {
        fuzzRequireNames(error, path)
        return 0
    }
    fuzzRequire(
        image.pixels.count == image.width * image.height * 3,
        "\(image.width)x\(image.height) with \(image.pixels.count) samples")
    do {
        let again = try PNGImage.decode(image.encoded(path: path), path: path)
        fuzzRequire(again == image, "the round trip changed the image")
    } catch {
        fuzzRequire(false, "a decoded image does not survive encoding: \(error)")
    }
    for resolution in [1, 7, 256] {
        let square = image.centerCropped(to: resolution)
        fuzzRequire(square.width == resolution && square.height == resolution, "crop to \(resolution)")
        let x = square.tensor()
        fuzzRequire(
            x.shape == [3, resolution, resolution] && x.scalars.allSatisfy { $0 >= -1 && $0 <= 1 },
            "tensor out of range")
    }
    return 0
}

/// `bytes` with the CRC of every complete chunk after the signature set to the chunk's true CRC-32.
func withValidCRCs(_ bytes: [UInt8]) -> [UInt8] {
    var out = bytes
    var offset = 8
    while offset + 12 <= out.count {
        let length = out[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        guard length <= out.count - offset - 12 else { break }
        let crc = crc32(out[offset + 4..<offset + 8 + length])
        for i in 0..<4 { out[offset + 8 + length + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
        offset += 12 + length
    }
    return out
}

/// The CRC-32 of PNG chunks (ISO 3309, polynomial 0xEDB88320, reflected).
func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

runFuzzer(fuzzPNG)
