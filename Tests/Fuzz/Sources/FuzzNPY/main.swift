import Foundation
import FuzzSupport
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `.npy` reader: every input decodes or throws an `NPYError` naming the file; a decoded array encodes to a
/// file that decodes to the same bytes again (the writer accepts whatever the reader produces).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = "fuzz.npy"
    let data = fuzzData(start, count)
    let array: NPYArray
    do {
        array = try NPY.decode(data, path: path)
    } catch {
        fuzzRequireNames(error, path)
        return 0
    }
    fuzzRequire(array.shape.reduce(1, *) == array.count, "shape \(array.shape) holds \(array.count) elements")
    let encoded = NPY.encode(array)
    do {
        let again = try NPY.decode(encoded, path: path)
        fuzzRequire(again.shape == array.shape && again.dtype == array.dtype, "the round trip changed the header")
        fuzzRequire(NPY.encode(again) == encoded, "the round trip changed the data")
    } catch {
        fuzzRequire(false, "a re-encoded array does not decode: \(error)")
    }
    return 0
}

runFuzzer(fuzzNPY)
