import HostCore

/// Why a parameter file does not fit an operator instance. Every case names the file and the tensor.
public enum ParameterFileError: Error, Equatable, CustomStringConvertible {
    case missing(path: String, tensor: String, operatorId: String)
    case unexpected(path: String, tensor: String, operatorId: String, expected: [String])
    case shape(path: String, tensor: String, expected: [Int], found: [Int])
    /// A buffer or tied copy of the upstream state dict that disagrees with what the operator computes or loaded.
    case disagrees(path: String, tensor: String, reason: String)
    /// Both a parameter and its parts were given.
    case partsAndWhole(path: String, parameter: String, part: String)
    /// Some but not all parts of a parameter were given.
    case missingPart(path: String, parameter: String, part: String)

    public var description: String {
        switch self {
        case .missing(let path, let tensor, let op):
            "parameters '\(path)': tensor '\(tensor)' that operator '\(op)' needs is missing"
        case .unexpected(let path, let tensor, let op, let expected):
            "parameters '\(path)': tensor '\(tensor)' is not a parameter of operator '\(op)' (expected: \(expected.joined(separator: ", ")))"
        case .shape(let path, let tensor, let expected, let found):
            "parameters '\(path)': tensor '\(tensor)' has shape \(found), expected \(expected)"
        case .disagrees(let path, let tensor, let reason):
            "parameters '\(path)': tensor '\(tensor)' \(reason)"
        case .partsAndWhole(let path, let parameter, let part):
            "parameters '\(path)': both '\(parameter)' and its part '\(part)' are given; give one or the other"
        case .missingPart(let path, let parameter, let part):
            "parameters '\(path)': '\(parameter)' is given as parts but its part '\(part)' is missing"
        }
    }
}

/// An operator's parameters in a safetensors file or a PyTorch checkpoint, under their upstream `state_dict` names.
///
/// Besides the parameters, a file may hold what the upstream module's `state_dict` holds (ABI 1.5 state entries,
/// ``Operator/stateEntries``): buffers, which must agree with the values the operator computes from its attributes
/// (within 8 units of the file's storage precision, relative to the buffer's largest magnitude: PyTorch computed
/// them in float32 or rounded them to the file's type); tied copies, which must equal their parameter bit for bit;
/// and the parts of a parameter (e.g. separate query, key and value projections), stacked into it. The file's
/// `__metadata__` (when written by ``save(_:for:path:)``) records the operator id, version and attributes.
public enum ParameterFile {
    /// Reads the parameters of `op` from `path` (see ``WeightsFile`` for the formats and `FILE.pt#KEY`).
    public static func load(_ path: String, for op: Operator) throws -> [Tensor<Float>] {
        try load(try WeightsFile.read(path: path), for: op)
    }

    /// Reads the parameters of `op` from the tensors of `file` named `prefix` + an upstream name; every such tensor
    /// must be a parameter or a state entry of `op`, every parameter present (whole or as all its parts).
    public static func load(_ file: SafetensorsFile, prefix: String = "", for op: Operator) throws -> [Tensor<Float>] {
        let path = file.path
        let parameterIndex = Dictionary(uniqueKeysWithValues: op.parameters.enumerated().map { ($1.name, $0) })
        let entries = Dictionary(uniqueKeysWithValues: op.stateEntries.map { ($0.name, $0) })
        var values = [Tensor<Float>?](repeating: nil, count: op.parameters.count)
        var parts: [Int: [(name: String, rows: Range<Int>, tensor: Tensor<Float>)]] = [:]
        var checks: [(UpstreamStateEntry, String)] = []
        for fullName in file.names where fullName.hasPrefix(prefix) {
            let name = String(fullName.dropFirst(prefix.count))
            let shape = file.entry(named: fullName)!.shape
            if let index = parameterIndex[name] {
                let spec = op.parameters[index]
                guard shape == spec.shape else {
                    throw ParameterFileError.shape(path: path, tensor: fullName, expected: spec.shape, found: shape)
                }
                values[index] = try file.tensor(named: fullName)
            } else if let entry = entries[name] {
                if case .part(_, let index, let rows) = entry {
                    let expected = [rows.count] + op.parameters[index].shape.dropFirst()
                    guard shape == expected else {
                        throw ParameterFileError.shape(path: path, tensor: fullName, expected: expected, found: shape)
                    }
                    parts[index, default: []].append((name, rows, try file.tensor(named: fullName)))
                } else {
                    checks.append((entry, fullName))
                }
            } else {
                throw ParameterFileError.unexpected(
                    path: path, tensor: fullName, operatorId: op.descriptor.id,
                    expected: op.parameters.map(\.name) + op.stateEntries.map(\.name))
            }
        }
        try stackParts(parts, into: &values, op: op, prefix: prefix, path: path)
        let loaded = try op.parameters.enumerated().map { index, spec in
            guard let value = values[index] else {
                throw ParameterFileError.missing(path: path, tensor: prefix + spec.name, operatorId: op.descriptor.id)
            }
            return value
        }
        for (entry, fullName) in checks { try check(entry, file: file, name: fullName, parameters: loaded, op: op) }
        return loaded
    }

    /// Stacks the parts given for each parameter; a parameter given both whole and in parts, or in some of its parts
    /// only, is an error.
    private static func stackParts(
        _ parts: [Int: [(name: String, rows: Range<Int>, tensor: Tensor<Float>)]], into values: inout [Tensor<Float>?],
        op: Operator, prefix: String, path: String
    ) throws {
        for (index, given) in parts.sorted(by: { $0.key < $1.key }) {
            let spec = op.parameters[index]
            guard values[index] == nil else {
                throw ParameterFileError.partsAndWhole(
                    path: path, parameter: prefix + spec.name, part: prefix + given[0].name)
            }
            let declared = op.stateEntries.compactMap { entry -> (String, Range<Int>)? in
                if case .part(let name, index, let rows) = entry { (name, rows) } else { nil }
            }
            var scalars: [Float] = []
            scalars.reserveCapacity(spec.shape.reduce(1, *))
            for (name, _) in declared {
                guard let part = given.first(where: { $0.name == name }) else {
                    throw ParameterFileError.missingPart(path: path, parameter: prefix + spec.name, part: prefix + name)
                }
                scalars += part.tensor.scalars
            }
            values[index] = try Tensor(shape: spec.shape, scalars: scalars)
        }
    }

    /// A buffer must agree with the operator's values, a tied copy must equal its parameter.
    private static func check(
        _ entry: UpstreamStateEntry, file: SafetensorsFile, name: String, parameters: [Tensor<Float>], op: Operator
    ) throws {
        let path = file.path
        let stored = file.entry(named: name)!
        switch entry {
        case .alias(_, let index):
            let tied = parameters[index]
            guard stored.shape == tied.shape else {
                throw ParameterFileError.shape(path: path, tensor: name, expected: tied.shape, found: stored.shape)
            }
            guard try file.tensor(named: name) == tied else {
                throw ParameterFileError.disagrees(
                    path: path, tensor: name,
                    reason:
                        "is a tied copy of '\(op.parameters[index].name)' in the upstream module but differs from it")
            }
        case .buffer(_, let shape, let expected):
            guard stored.shape == shape else {
                throw ParameterFileError.shape(path: path, tensor: name, expected: shape, found: stored.shape)
            }
            let found = try file.tensor(named: name, as: Double.self).scalars
            let scale = expected.reduce(0) { max($0, abs($1)) }
            let tolerance = 8 * precision(of: stored.dtype) * max(scale, .leastNormalMagnitude)
            if let i = found.indices.first(where: { !(abs(found[$0] - expected[$0]) <= tolerance) }) {
                throw ParameterFileError.disagrees(
                    path: path, tensor: name,
                    reason:
                        "is a buffer operator '\(op.descriptor.id)' computes from its attributes, but element \(i) is \(found[i]) where the operator has \(expected[i]) (tolerance \(tolerance)); the file was saved with other attributes"
                )
            }
        case .part:
            break  // stacked by stackParts
        }
    }

    /// The unit roundoff of a stored type, at least float32's (PyTorch computes buffers in float32 at best).
    private static func precision(of dtype: SafetensorsDType) -> Double {
        switch dtype {
        case .float16: 0x1p-11
        case .bfloat16: 0x1p-8
        default: 0x1p-24
        }
    }

    /// `tensors` (one per parameter of `op`) laid out as the upstream module's `state_dict`: the parameters, every
    /// buffer with the values the operator computes, every tied copy, and, with `parts`, each parameter that has parts
    /// given as its parts instead of whole.
    public static func upstreamLayout(
        _ tensors: [Tensor<Float>], for op: Operator, parts: Bool
    ) throws -> [(
        name: String, tensor: Tensor<Float>
    )] {
        precondition(tensors.count == op.parameters.count, "one tensor per parameter")
        let partitioned = Set(
            op.stateEntries.compactMap { entry -> Int? in
                if parts, case .part(_, let p, _) = entry { p } else { nil }
            })
        var out = op.parameters.indices.filter { !partitioned.contains($0) }.map {
            (name: op.parameters[$0].name, tensor: tensors[$0])
        }
        for entry in op.stateEntries {
            switch entry {
            case .buffer(let name, let shape, let values):
                out.append((name, try Tensor(shape: shape, scalars: values.map(Float.init))))
            case .alias(let name, let p):
                out.append((name, tensors[p]))
            case .part(let name, let p, let rows) where parts:
                let shape = op.parameters[p].shape
                let width = shape.dropFirst().reduce(1, *)
                let scalars = tensors[p].scalars[rows.lowerBound * width..<rows.upperBound * width]
                out.append((name, try Tensor(shape: [rows.count] + shape.dropFirst(), scalars: scalars)))
            case .part:
                break
            }
        }
        return out
    }

    /// Writes `tensors` (one per parameter of `op`, in order) to `path` atomically, as float32.
    public static func save(_ tensors: [Tensor<Float>], for op: Operator, path: String) throws {
        precondition(tensors.count == op.parameters.count, "one tensor per parameter")
        var metadata = [
            "operator": op.descriptor.id, "operator_version": op.descriptor.version,
            "dim": "\(op.dim)",
        ]
        for (name, value) in op.attributes { metadata["attr.\(name)"] = value.description }
        try SafetensorsFile.write(
            path: path, tensors: zip(op.parameters, tensors).map { (name: $0.name, tensor: $1) }, metadata: metadata)
    }
}
