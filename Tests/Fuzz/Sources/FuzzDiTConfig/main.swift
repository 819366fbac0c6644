import Foundation
import FuzzSupport
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// Model config JSON reader: every input parses or throws a `DiTError` naming the file; a config that parsed
/// is valid and its `jsonString()` (what checkpoints store and resume compares) parses back to the same config.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDiTConfig(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = "fuzz-config.json"
    let config: DiTConfig
    do {
        config = try DiTConfig.parse(fuzzData(start, count), path: path)
    } catch {
        fuzzRequireNames(error, path)
        return 0
    }
    do {
        try config.validate(path: path)
        let text = config.jsonString()
        let again = try DiTConfig.parse(Data(text.utf8), path: path)
        fuzzRequire(again == config, "the round trip changed the config: \(text)")
        fuzzRequire(again.jsonString() == text, "jsonString is not stable: \(text)")
    } catch {
        fuzzRequire(false, "a parsed config does not survive jsonString(): \(error)")
    }
    return 0
}

runFuzzer(fuzzDiTConfig)
