import Foundation
import FuzzSupport
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// The `cfunction` signature descriptions of `registry.json` (libffi adapter): every input parses or throws a
/// `CFunctionSpecError` naming the registry entry; a description that parsed is written back by its `Encodable`
/// conformance (what saving the registry does) to JSON that parses to the same bindings, types, parameters and
/// capabilities; and every shape expression it holds evaluates or throws (overflow, division by zero), never traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCFunctionSpec(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let entry = "fuzz_entry"
    let spec: CFunctionSpec
    do {
        spec = try CFunctionSpec.parse(json: Array(fuzzData(start, count)), entry: entry)
    } catch {
        fuzzRequire(error.entry == entry, "the error names entry '\(error.entry)', not '\(entry)'")
        fuzzRequireNames(error, entry)
        return 0
    }
    do {
        let again = try CFunctionSpec.parse(json: Array(JSONEncoder().encode(spec)), entry: entry)
        fuzzRequire(again == spec, "the round trip changed the description")
        fuzzRequire(again.forward == spec.forward && again.vjp == spec.vjp, "the round trip changed a signature")
        fuzzRequire(
            again.parameters == spec.parameters && again.attributes == spec.attributes,
            "the round trip changed the parameters or attributes")
        fuzzRequire(
            again.capabilities == spec.capabilities && again.complexity == spec.complexity,
            "the round trip changed the capabilities")
    } catch {
        fuzzRequire(false, "an encoded description does not parse: \(error)")
    }
    var expressions = spec.parameters.flatMap(\.shape)
    expressions += [spec.receptiveField?.left, spec.receptiveField?.right].compactMap { $0 ?? nil }
    expressions += [spec.forward.workspace?.count, spec.vjp?.workspace?.count].compactMap { $0 }
    for expression in expressions {
        for value: Int64 in [0, 1, 7, Int64.max / 3, Int64.max] {
            let values = Dictionary(uniqueKeysWithValues: expression.variables.map { ($0, value) })
            _ = try? expression.evaluate(values)
        }
    }
    return 0
}

runFuzzer(fuzzCFunctionSpec)
