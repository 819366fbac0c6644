import Foundation
import HostCore
import HostPlugins

/// The `state_entries` check: the upstream state-dict entries of ABI 1.5 as the host uses them.
extension Probe {
    /// For an operator that declares upstream state entries (buffers, tied copies, parts of parameters): the
    /// declarations are consistent (the host checks that when it creates the instance); asked again after a forward
    /// and a backward, and on a second instance with the same attributes, every entry is the same (a buffer's
    /// `values` must stay valid and unchanged until destroy, not point into scratch); and a file laid out as the
    /// upstream state dict (parameters, buffers, tied copies, and the parts instead of each parameter that has them)
    /// loads back, through the host's parameter loader, to exactly the parameters it was made from.
    func stateEntries() throws -> ProbeOutcome {
        let op = try makeOperator()
        guard !op.stateEntries.isEmpty else {
            return .skipped("the operator declares no state entries: its parameters are the whole upstream state dict")
        }
        let params = try op.initialParameters(seed: seed, as: Float.self)
        let inputs = callInputs([2, length, dim], salt: 150, params: params, dySalt: 151)
        _ = try outputs(op, backward: false, inputs)
        if descriptor.capabilities.contains(.backward) { _ = try outputs(op, backward: true, inputs) }
        for index in op.stateEntries.indices {
            let again = try op.table.stateEntry(op.instance, index: index)
            guard again == op.stateEntries[index] else {
                return .fail(
                    "state entry '\(op.stateEntries[index].name)' changed after a forward and a backward (a buffer's values must stay valid and unchanged until destroy)"
                )
            }
        }
        let other = try makeOperator()
        guard other.stateEntries == op.stateEntries else {
            return .fail("a second instance with the same attributes declares other state entries")
        }

        let tensors = try ParameterFile.upstreamLayout(params, for: op, parts: true)
        let loaded: [Tensor<Float>]
        do {
            let bytes = try SafetensorsFile.encode(tensors: tensors.map { SafetensorsTensor(name: $0.name, $0.tensor) })
            loaded = try ParameterFile.load(try SafetensorsFile.decode(bytes, path: "upstream layout"), for: op)
        } catch {
            return .fail("a file in the upstream layout the operator declares does not load: \(error)")
        }
        guard loaded == params else {
            return .fail("a file in the upstream layout loads to other parameters than it was made from")
        }
        let kinds = Dictionary(grouping: op.stateEntries) { entry -> String in
            switch entry {
            case .buffer: "buffers"
            case .alias: "tied copies"
            case .part: "parts"
            }
        }.map { "\($0.value.count) \($0.key)" }.sorted()
        return .pass(
            "\(kinds.joined(separator: ", ")): stable across calls and instances; the upstream layout loads back exactly"
        )
    }
}
