/// Why a DiT configuration, checkpoint or call was refused. Every case names the file, field, tensor or
/// argument at fault and what was expected.
public enum DiTError: Error, Equatable, CustomStringConvertible {
    /// A configuration file or value is invalid (`field` names the JSON key).
    case config(path: String, field: String, expected: String)
    /// A checkpoint lacks a tensor the model needs.
    case missingTensor(path: String, name: String, expected: [Int])
    /// A checkpoint holds tensors the model has no place for.
    case unexpectedTensors(path: String, names: [String])
    /// A checkpoint tensor has the wrong shape or a non-float dtype.
    case tensorShape(path: String, name: String, expected: [Int], found: [Int])
    /// A checkpoint could not be read or written, or is not a DiT checkpoint.
    case checkpoint(path: String, reason: String)
    /// A call argument is invalid (`argument` names it: `x`, `timesteps`, `labels`, ...).
    case argument(name: String, expected: String, found: String)
    /// An operator slot failed (creation, shapes, or the plugin's own error).
    case slot(name: String, reason: String)

    public var description: String {
        switch self {
        case .config(let path, let field, let expected):
            "\(path): field '\(field)': expected \(expected)"
        case .missingTensor(let path, let name, let expected):
            "\(path): missing tensor '\(name)' (expected shape \(expected))"
        case .unexpectedTensors(let path, let names):
            "\(path): \(names.count) tensor(s) the model does not have: "
                + names.prefix(8).map { "'\($0)'" }.joined(separator: ", ") + (names.count > 8 ? ", ..." : "")
        case .tensorShape(let path, let name, let expected, let found):
            "\(path): tensor '\(name)' has shape \(found), expected \(expected)"
        case .checkpoint(let path, let reason): "\(path): \(reason)"
        case .argument(let name, let expected, let found): "argument '\(name)': expected \(expected), found \(found)"
        case .slot(let name, let reason): "slot \(name): \(reason)"
        }
    }
}
