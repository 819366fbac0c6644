import Foundation
import FuzzSupport
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// safetensors reader (header, dtypes, shapes and data offsets): every input opens or throws a
/// `SafetensorsError` naming the file; every tensor of a file that opened decodes in each type it converts to,
/// with its header shape, and the tensors re-encode to a file that opens with the same entries.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = "fuzz.safetensors"
    let file: SafetensorsFile
    do {
        file = try SafetensorsFile.decode(fuzzData(start, count), path: path)
    } catch {
        fuzzRequireNames(error, path)
        return 0
    }
    var copies: [SafetensorsTensor] = []
    for entry in file.entries {
        do {
            if entry.dtype == .int64 {
                let values = try file.int64Array(named: entry.name)
                fuzzRequire(values.shape == entry.shape, "\(entry.name): shape \(values.shape) != \(entry.shape)")
                copies.append(SafetensorsTensor(name: entry.name, int64: values))
            } else if entry.dtype.isConvertibleToFloat {
                let single = try file.tensor(named: entry.name, as: Float.self)
                let double = try file.tensor(named: entry.name, as: Double.self)
                fuzzRequire(single.shape == entry.shape && double.shape == entry.shape, "\(entry.name): wrong shape")
                copies.append(SafetensorsTensor(name: entry.name, double, dtype: entry.dtype))
            } else {
                do {
                    _ = try file.tensor(named: entry.name)
                    fuzzRequire(false, "\(entry.name): a \(entry.dtype) tensor decoded as float32")
                } catch {
                    fuzzRequireNames(error, path)
                }
            }
        } catch {
            fuzzRequire(false, "\(entry.name): a validated entry does not decode: \(error)")
        }
    }
    do {
        let again = try SafetensorsFile.decode(
            SafetensorsFile.encode(tensors: copies, metadata: file.metadata), path: path)
        fuzzRequire(again.metadata == file.metadata, "the round trip changed the metadata")
        fuzzRequire(
            again.names == copies.map(\.name)
                && zip(again.entries, copies).allSatisfy { $0.shape == $1.shape && $0.dtype == $1.dtype },
            "the round trip changed the entries")
    } catch {
        fuzzRequire(false, "re-encoding the tensors of a valid file failed: \(error)")
    }
    return 0
}

runFuzzer(fuzzSafetensors)
