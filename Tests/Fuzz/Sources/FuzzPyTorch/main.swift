import Foundation
import FuzzSupport
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// PyTorch checkpoint reader (zip directory, restricted pickle, storages and views): every input opens or throws
/// a `PyTorchCheckpointError` naming the file; every tensor of a file that opened decodes with its entry's shape,
/// and the tensors re-encode to a safetensors file with the same entries.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPyTorch(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = "fuzz.pt"
    let file: SafetensorsFile
    do {
        file = try PyTorchCheckpoint.decode(fuzzData(start, count), path: path)
    } catch {
        fuzzRequireNames(error, path)
        return 0
    }
    do {
        let copies = try file.storedTensors()
        fuzzRequire(
            zip(copies, file.entries).allSatisfy { $0.shape == $1.shape && $0.dtype == $1.dtype },
            "decoded tensors differ from their entries")
        let again = try SafetensorsFile.decode(SafetensorsFile.encode(tensors: copies, metadata: [:]), path: path)
        fuzzRequire(again.names == file.names, "the round trip changed the names")
    } catch {
        fuzzRequire(false, "the tensors of a checkpoint that opened do not decode: \(error)")
    }
    return 0
}

runFuzzer(fuzzPyTorch)
