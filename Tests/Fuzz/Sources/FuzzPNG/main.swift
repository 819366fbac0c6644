import Foundation
import FuzzSupport
import Host

/// PNG reader (libpng's simplified API behind `PNGImage.decode`): every input decodes or throws an `ImageError`
/// naming the file; a decoded image re-encodes to a PNG that decodes to the same pixels, and center-crops to
/// the square sizes `ImageFolder` uses with pixels in [-1, 1].
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = "fuzz.png"
    let image: PNGImage
    do {
        image = try PNGImage.decode([UInt8](fuzzData(start, count)), path: path)
    } catch {
        fuzzRequireNames(error, path)
        return 0
    }
    fuzzRequire(image.pixels.count == image.width * image.height * 3, "\(image.width)x\(image.height) with \(image.pixels.count) samples")
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
        fuzzRequire(x.shape == [3, resolution, resolution] && x.scalars.allSatisfy { $0 >= -1 && $0 <= 1 }, "tensor out of range")
    }
    return 0
}

runFuzzer(fuzzPNG)
