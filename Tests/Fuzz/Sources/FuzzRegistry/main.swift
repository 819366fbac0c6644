import Foundation
import FuzzSupport
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `registry.json` reader: every input parses or throws a `RegistryError` naming the file; a registry that
/// parsed is written by `encoded()` to JSON that parses back to the same registry.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRegistry(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = "fuzz-registry.json"
    let registry: Registry
    do {
        registry = try Registry.parse(fuzzData(start, count), path: path)
    } catch {
        fuzzRequireNames(error, path)
        return 0
    }
    do {
        let again = try Registry.parse(registry.encoded(), path: path)
        fuzzRequire(again == registry, "the round trip changed the registry")
    } catch {
        fuzzRequire(false, "an encoded registry does not parse: \(error)")
    }
    return 0
}

runFuzzer(fuzzRegistry)
