import HostCore

/// Why a parameter file does not fit an operator instance. Every case names the file and the tensor.
public enum ParameterFileError: Error, Equatable, CustomStringConvertible {
    case missing(path: String, tensor: String, operatorId: String)
    case unexpected(path: String, tensor: String, operatorId: String, expected: [String])
    case shape(path: String, tensor: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .missing(let path, let tensor, let op):
            "parameters '\(path)': tensor '\(tensor)' that operator '\(op)' needs is missing"
        case .unexpected(let path, let tensor, let op, let expected):
            "parameters '\(path)': tensor '\(tensor)' is not a parameter of operator '\(op)' (expected: \(expected.joined(separator: ", ")))"
        case .shape(let path, let tensor, let expected, let found):
            "parameters '\(path)': tensor '\(tensor)' has shape \(found), expected \(expected)"
        }
    }
}

/// An operator's parameters in a safetensors file, under their upstream `state_dict` names.
///
/// The file's `__metadata__` records the operator id, version and attributes it was written for.
public enum ParameterFile {
    /// Reads the parameters of `op` from `path`: every parameter present, nothing extra, shapes exact.
    public static func load(_ path: String, for op: Operator) throws -> [Tensor<Float>] {
        let file = try WeightsFile.read(path: path)
        let expected = op.parameters.map(\.name)
        if let extra = file.names.first(where: { !expected.contains($0) }) {
            throw ParameterFileError.unexpected(
                path: path, tensor: extra, operatorId: op.descriptor.id, expected: expected)
        }
        return try op.parameters.map { spec in
            guard let entry = file.entry(named: spec.name) else {
                throw ParameterFileError.missing(path: path, tensor: spec.name, operatorId: op.descriptor.id)
            }
            guard entry.shape == spec.shape else {
                throw ParameterFileError.shape(path: path, tensor: spec.name, expected: spec.shape, found: entry.shape)
            }
            return try file.tensor(named: spec.name)
        }
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
