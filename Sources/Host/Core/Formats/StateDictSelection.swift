/// Finds the state dict (a dict of string names to tensors) in the value a checkpoint's pickle built.
enum StateDictSelection {
    /// The names and tensor indices of the state dict `select` names, or the only one at the top level or one
    /// level down.
    /// - Throws: ``PyTorchCheckpointError`` when there is none, several without `select`, or `select` names a
    ///   key that is missing or not a state dict.
    static func find(
        _ root: PickleValue, objects: PickleObjects, select: String?, path: String
    )
        throws(PyTorchCheckpointError) -> [(String, Int)]
    {
        if let select {
            var value = root
            var walked: [String] = []
            for key in select.split(separator: ".", omittingEmptySubsequences: false).map(String.init) {
                guard case .dict(let d) = value, let next = objects.dicts[d].value(for: .string(key)) else {
                    let here = walked.isEmpty ? "the top level" : "'\(walked.joined(separator: "."))'"
                    throw .selectionNotFound(
                        path: path, select: select, key: key, within: here, available: keys(of: value, objects))
                }
                walked.append(key)
                value = next
            }
            guard let tensors = stateDict(value, objects) else {
                throw .notAStateDict(path: path, select: select, found: describe(value, objects))
            }
            return tensors
        }
        if let tensors = stateDict(root, objects) { return tensors }
        guard case .dict(let d) = root else {
            throw .notAStateDict(path: path, select: nil, found: describe(root, objects))
        }
        let dict = objects.dicts[d]
        var candidates: [(String, [(String, Int)])] = []
        for (key, value) in zip(dict.keys, dict.values) {
            if case .string(let name) = key, let tensors = stateDict(value, objects) {
                candidates.append((name, tensors))
            }
        }
        switch candidates.count {
        case 1: return candidates[0].1
        case 0: throw .notAStateDict(path: path, select: nil, found: describe(root, objects))
        default: throw .ambiguous(path: path, candidates: candidates.map(\.0))
        }
    }

    /// The entries of `value` when it is a non-empty dict whose keys are strings and values tensors.
    private static func stateDict(_ value: PickleValue, _ objects: PickleObjects) -> [(String, Int)]? {
        guard case .dict(let d) = value, !objects.dicts[d].keys.isEmpty else { return nil }
        var out: [(String, Int)] = []
        for (key, item) in zip(objects.dicts[d].keys, objects.dicts[d].values) {
            guard case .string(let name) = key, case .tensor(let t) = item else { return nil }
            out.append((name, t))
        }
        return out
    }

    private static func keys(of value: PickleValue, _ objects: PickleObjects) -> [String] {
        guard case .dict(let d) = value else { return [] }
        return objects.dicts[d].keys.map { key in
            if case .string(let s) = key { s } else { "\(key)" }
        }
    }

    /// "a dict with keys 'a', 'b' (no dict of tensors)", "a list", ... for messages.
    private static func describe(_ value: PickleValue, _ objects: PickleObjects) -> String {
        guard case .dict(let d) = value else { return "a value of type \(value.kind)" }
        let dict = objects.dicts[d]
        let shown = zip(dict.keys, dict.values).prefix(8).map { key, item in
            let name = if case .string(let s) = key { "'\(s)'" } else { "\(key)" }
            return "\(name): \(item.kind)"
        }
        return
            "a dict of \(dict.keys.count) entries {\(shown.joined(separator: ", "))\(dict.keys.count > 8 ? ", ..." : "")}"
    }
}
