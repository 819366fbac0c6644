/// An entry of an operator's upstream `state_dict` that is not one of its parameters (ABI 1.5,
/// `oz_operator.get_state_entry`). ``ParameterFile`` accepts these in a file PyTorch saved from the upstream module,
/// checked against what the operator declares: a buffer must agree with the values it computes, a tied copy must
/// equal its parameter, and the parts of a parameter (given instead of it) are stacked into it.
public enum UpstreamStateEntry: Equatable, Sendable {
    /// A buffer the operator computes from its attributes.
    case buffer(name: String, shape: [Int], values: [Double])
    /// A tied copy of parameter `parameter`.
    case alias(name: String, parameter: Int)
    /// Rows `rows` of parameter `parameter` along its first axis.
    case part(name: String, parameter: Int, rows: Range<Int>)

    /// The upstream name.
    public var name: String {
        switch self {
        case .buffer(let name, _, _), .alias(let name, _), .part(let name, _, _): name
        }
    }

    /// Checks the entries an instance declared against its parameters: names present, unique and not a parameter's;
    /// buffers' value counts equal to their shapes' and finite; parameter indices in range; and the parts of each
    /// parameter tiling its rows `0 ..< rows` exactly, in order.
    /// - Returns: Why the entries are inconsistent, or nil.
    static func problem(in entries: [UpstreamStateEntry], parameters: [ParameterSpec]) -> String? {
        var names = Set(parameters.map(\.name))
        var parts: [Int: [Range<Int>]] = [:]
        for entry in entries {
            guard !entry.name.isEmpty else { return "a state entry has no name" }
            guard names.insert(entry.name).inserted else {
                return "state entry '\(entry.name)' repeats a parameter's or another entry's name"
            }
            switch entry {
            case .buffer(let name, let shape, let values):
                guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
                    return "buffer '\(name)' has shape \(shape) but \(values.count) values"
                }
                guard values.allSatisfy(\.isFinite) else { return "buffer '\(name)' has a value that is not finite" }
            case .alias(let name, let parameter):
                guard parameters.indices.contains(parameter) else {
                    return "alias '\(name)' names parameter \(parameter) of \(parameters.count)"
                }
            case .part(let name, let parameter, let rows):
                guard parameters.indices.contains(parameter) else {
                    return "part '\(name)' names parameter \(parameter) of \(parameters.count)"
                }
                parts[parameter, default: []].append(rows)
            }
        }
        for (parameter, ranges) in parts {
            let spec = parameters[parameter]
            var next = 0
            for rows in ranges {
                guard rows.lowerBound == next, rows.upperBound > rows.lowerBound else {
                    return
                        "the parts of parameter '\(spec.name)' do not tile its rows in order (rows \(rows) after \(next))"
                }
                next = rows.upperBound
            }
            guard next == spec.shape[0] else {
                return "the parts of parameter '\(spec.name)' cover rows 0..<\(next) of \(spec.shape[0])"
            }
        }
        return nil
    }
}
