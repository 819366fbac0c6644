import HostCore

/// Why a VAE weights file or a decode call was refused. Every case names the file, tensor, field or argument at
/// fault and what was expected.
public enum VAEError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The weights file could not be read (missing, not safetensors or a PyTorch checkpoint, damaged).
    case file(WeightsFileError)
    /// The file lacks a tensor the decoder needs; `expected` describes its shape.
    case missingTensor(path: String, name: String, expected: String)
    /// A tensor has the wrong shape; `expected` lists the accepted shapes.
    case tensorShape(path: String, name: String, expected: String, found: [Int])
    /// A tensor is not floating point (F32, F16, BF16 or F64).
    case tensorType(path: String, name: String, found: String)
    /// A tensor is present under both its current diffusers name and its old one (`query` / `to_q`, ...).
    case duplicateTensor(path: String, name: String, alias: String)
    /// Tensors that are neither part of the decoder nor of the encoder (`encoder.*`, `quant_conv.*`, ignored).
    case unexpectedTensors(path: String, names: [String])
    /// A configuration value (inferred from the file or given as an option) does not fit; `field` uses diffusers'
    /// `AutoencoderKL` names (`norm_num_groups`, `scaling_factor`, `block_out_channels`, ...).
    case config(path: String, field: String, reason: String)
    /// A decode argument is invalid (`name`: `latents`, ...).
    case argument(name: String, expected: String, found: String)

    public var description: String {
        switch self {
        case .file(let error):
            error.description
        case .missingTensor(let path, let name, let expected):
            "\(path): missing tensor '\(name)' of the VAE decoder (expected shape \(expected))"
        case .tensorShape(let path, let name, let expected, let found):
            "\(path): tensor '\(name)' has shape \(found), expected \(expected)"
        case .tensorType(let path, let name, let found):
            "\(path): tensor '\(name)' has dtype \(found); expected a floating-point tensor (F32, F16, BF16, F64)"
        case .duplicateTensor(let path, let name, let alias):
            "\(path): tensor '\(name)' is present under its old name '\(alias)' too; keep one of them"
        case .unexpectedTensors(let path, let names):
            "\(path): \(names.count) tensor(s) that are not part of an AutoencoderKL decoder (nor of its encoder, "
                + "which is ignored): " + names.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
                + (names.count > 8 ? ", ..." : "")
        case .config(let path, let field, let reason):
            "\(path): \(field): \(reason)"
        case .argument(let name, let expected, let found):
            "argument '\(name)': expected \(expected), found \(found)"
        }
    }
}

extension Array where Element == Int {
    /// `[a, b, c]`, as the errors print shapes.
    var shapeText: String { "[" + map(String.init).joined(separator: ", ") + "]" }
}
