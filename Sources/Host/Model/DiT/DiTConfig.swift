import Foundation
import HostCore
import HostPlugins

/// A DiT's architecture, in the `facebookresearch/DiT` constructor's argument names.
///
/// The JSON form uses those names exactly:
/// ```json
/// {"input_size": 32, "patch_size": 2, "in_channels": 4, "hidden_size": 1152, "depth": 28,
///  "num_heads": 16, "mlp_ratio": 4.0, "class_dropout_prob": 0.1, "num_classes": 1000, "learn_sigma": true}
/// ```
public struct DiTConfig: Equatable, Sendable, Codable {
    public var inputSize: Int
    public var patchSize: Int
    public var inChannels: Int
    public var hiddenSize: Int
    public var depth: Int
    public var numHeads: Int
    public var mlpRatio: Double
    public var classDropoutProb: Double
    public var numClasses: Int
    public var learnSigma: Bool
    /// Not a DiT constructor argument: grafting's restructuring, where each pair of sequential blocks
    /// `(2k, 2k+1)` runs as one parallel block (see ``blockStages``). JSON key `parallel_pairs`, written only
    /// when true, so every plain DiT configuration reads and writes exactly DiT's names.
    public var parallelPairs: Bool = false
    /// Not a DiT constructor argument: the operator id every attention slot holds in the plain model (JSON
    /// `attn_operator`, written only when it is not ``defaultAttentionOperator``). With ``mlpOperator``, the one
    /// place the host names the DiT's own operators; everything else asks the configuration.
    public var attnOperator: String = DiTConfig.defaultAttentionOperator
    /// The operator id every MLP slot holds in the plain model (JSON `mlp_operator`, written only when it is not
    /// ``defaultMLPOperator``).
    public var mlpOperator: String = DiTConfig.defaultMLPOperator

    /// DiT's attention: multi-head self-attention (docs/OPERATORS.md section 1).
    public static let defaultAttentionOperator = "mha"
    /// DiT's MLP: timm's two-layer GELU MLP (docs/OPERATORS.md section 2).
    public static let defaultMLPOperator = "mlp"

    enum CodingKeys: String, CodingKey, CaseIterable {
        case inputSize = "input_size", patchSize = "patch_size", inChannels = "in_channels"
        case hiddenSize = "hidden_size", depth, numHeads = "num_heads", mlpRatio = "mlp_ratio"
        case classDropoutProb = "class_dropout_prob", numClasses = "num_classes", learnSigma = "learn_sigma"
        case parallelPairs = "parallel_pairs", attnOperator = "attn_operator", mlpOperator = "mlp_operator"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(inputSize, forKey: .inputSize)
        try c.encode(patchSize, forKey: .patchSize)
        try c.encode(inChannels, forKey: .inChannels)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(depth, forKey: .depth)
        try c.encode(numHeads, forKey: .numHeads)
        try c.encode(mlpRatio, forKey: .mlpRatio)
        try c.encode(classDropoutProb, forKey: .classDropoutProb)
        try c.encode(numClasses, forKey: .numClasses)
        try c.encode(learnSigma, forKey: .learnSigma)
        if parallelPairs { try c.encode(true, forKey: .parallelPairs) }
        if attnOperator != Self.defaultAttentionOperator { try c.encode(attnOperator, forKey: .attnOperator) }
        if mlpOperator != Self.defaultMLPOperator { try c.encode(mlpOperator, forKey: .mlpOperator) }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            inputSize: try c.decode(Int.self, forKey: .inputSize),
            patchSize: try c.decode(Int.self, forKey: .patchSize),
            inChannels: try c.decode(Int.self, forKey: .inChannels),
            hiddenSize: try c.decode(Int.self, forKey: .hiddenSize),
            depth: try c.decode(Int.self, forKey: .depth), numHeads: try c.decode(Int.self, forKey: .numHeads),
            mlpRatio: try c.decode(Double.self, forKey: .mlpRatio),
            classDropoutProb: try c.decode(Double.self, forKey: .classDropoutProb),
            numClasses: try c.decode(Int.self, forKey: .numClasses),
            learnSigma: try c.decode(Bool.self, forKey: .learnSigma))
        parallelPairs = try c.decodeIfPresent(Bool.self, forKey: .parallelPairs) ?? false
        attnOperator = try c.decodeIfPresent(String.self, forKey: .attnOperator) ?? Self.defaultAttentionOperator
        mlpOperator = try c.decodeIfPresent(String.self, forKey: .mlpOperator) ?? Self.defaultMLPOperator
    }

    /// A configuration with DiT's constructor defaults for the arguments not given.
    public init(
        inputSize: Int = 32, patchSize: Int = 2, inChannels: Int = 4, hiddenSize: Int = 1152, depth: Int = 28,
        numHeads: Int = 16, mlpRatio: Double = 4, classDropoutProb: Double = 0.1, numClasses: Int = 1000,
        learnSigma: Bool = true
    ) {
        self.inputSize = inputSize
        self.patchSize = patchSize
        self.inChannels = inChannels
        self.hiddenSize = hiddenSize
        self.depth = depth
        self.numHeads = numHeads
        self.mlpRatio = mlpRatio
        self.classDropoutProb = classDropoutProb
        self.numClasses = numClasses
        self.learnSigma = learnSigma
    }

    /// Output channels: twice the input when sigma is learned.
    public var outChannels: Int { learnSigma ? inChannels * 2 : inChannels }
    /// Patches per side.
    public var gridSize: Int { inputSize / patchSize }
    /// Tokens per image.
    public var tokenCount: Int { gridSize * gridSize }
    /// The MLP's hidden width, `int(hidden_size * mlp_ratio)` as timm computes it.
    public var mlpHidden: Int { Int(Double(hiddenSize) * mlpRatio) }
    /// Rows of the label table: one more than the classes when class dropout makes a null class.
    public var labelTableRows: Int { numClasses + (classDropoutProb > 0 ? 1 : 0) }
    /// The null ("unconditional") class id, when the model has one.
    public var nullClass: Int? { classDropoutProb > 0 ? numClasses : nil }
    /// The blocks in execution order, grouped into stages that read the same residual stream: `[[0], [1], ...]`
    /// for DiT, `[[0, 1], [2, 3], ...]` with ``parallelPairs`` (an odd last block stays alone).
    public var blockStages: [[Int]] {
        parallelPairs
            ? stride(from: 0, to: depth, by: 2).map { Array($0..<min($0 + 2, depth)) }
            : (0..<depth).map { [$0] }
    }

    /// The presets of DiT's `DiT_models` (`DiT-XL/2` ... `DiT-S/8`) at `inputSize` latent pixels.
    public static func preset(
        _ name: String, inputSize: Int = 32, inChannels: Int = 4, numClasses: Int = 1000
    ) -> DiTConfig? {
        let parts = name.split(separator: "/")
        guard parts.count == 2, let patch = Int(parts[1]), [2, 4, 8].contains(patch) else { return nil }
        let shape: (depth: Int, hidden: Int, heads: Int)
        switch parts[0] {
        case "DiT-XL": shape = (28, 1152, 16)
        case "DiT-L": shape = (24, 1024, 16)
        case "DiT-B": shape = (12, 768, 12)
        case "DiT-S": shape = (12, 384, 6)
        default: return nil
        }
        return DiTConfig(
            inputSize: inputSize, patchSize: patch, inChannels: inChannels, hiddenSize: shape.hidden,
            depth: shape.depth, numHeads: shape.heads, numClasses: numClasses)
    }

    /// Every preset name.
    public static let presetNames: [String] = ["DiT-XL", "DiT-L", "DiT-B", "DiT-S"].flatMap { m in
        [2, 4, 8].map { "\(m)/\($0)" }
    }

    /// Checks the values against what the model can build; `path` names the source in the error.
    public func validate(path: String = "config") throws(DiTError) {
        func fail(_ field: CodingKeys, _ expected: String) -> DiTError {
            .config(path: path, field: field.rawValue, expected: expected)
        }
        guard (1...4096).contains(patchSize) else {
            throw fail(.patchSize, "an integer in 1...4096 (found \(patchSize))")
        }
        guard inputSize >= 1, inputSize <= 65536, inputSize % patchSize == 0 else {
            throw fail(.inputSize, "a positive multiple of patch_size \(patchSize) (found \(inputSize))")
        }
        guard (1...4096).contains(inChannels) else {
            throw fail(.inChannels, "an integer in 1...4096 (found \(inChannels))")
        }
        guard (1...65536).contains(hiddenSize) else {
            throw fail(.hiddenSize, "an integer in 1...65536 (found \(hiddenSize))")
        }
        guard (1...1024).contains(depth) else { throw fail(.depth, "an integer in 1...1024 (found \(depth))") }
        guard numHeads >= 1, hiddenSize % numHeads == 0 else {
            throw fail(.numHeads, "a positive divisor of hidden_size \(hiddenSize) (found \(numHeads))")
        }
        guard mlpRatio.isFinite, mlpRatio > 0, mlpRatio <= 64, mlpHidden >= 1 else {
            throw fail(.mlpRatio, "a number in (0, 64] giving at least one hidden unit (found \(mlpRatio))")
        }
        guard classDropoutProb.isFinite, (0...1).contains(classDropoutProb) else {
            throw fail(.classDropoutProb, "a probability in [0, 1] (found \(classDropoutProb))")
        }
        guard (1...1_000_000).contains(numClasses) else {
            throw fail(.numClasses, "an integer in 1...1000000 (found \(numClasses))")
        }
        for (field, id) in [(CodingKeys.attnOperator, attnOperator), (.mlpOperator, mlpOperator)] {
            guard let first = id.unicodeScalars.first, ("a"..."z").contains(first),
                id.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" })
            else { throw fail(field, "an operator id [a-z][a-z0-9_]* (found '\(id)')") }
        }
    }

    /// The operator id the plain model holds in every slot of `kind`.
    public func standardOperator(_ kind: DiTSlotKind) -> String {
        kind == .attn ? attnOperator : mlpOperator
    }

    /// The attributes this configuration determines for the standard operator of `kind`: `num_heads` and
    /// `qkv_bias = true` (DiT's attention) for attention, `expansion_ratio = mlp_ratio` for the MLP. A slot takes
    /// those its operator's schema admits (``DiTSlotChoice/standard(_:config:host:)``).
    public func standardAttributes(_ kind: DiTSlotKind) -> [String: AttributeValue] {
        switch kind {
        case .attn: ["num_heads": .int(Int64(numHeads)), "qkv_bias": .bool(true)]
        case .mlp: ["expansion_ratio": .float(mlpRatio)]
        }
    }

    /// Reads and validates a configuration file; unknown keys are refused by name.
    public static func load(path: String) throws(DiTError) -> DiTConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .config(path: path, field: "(file)", expected: "a readable JSON file (\(error.localizedDescription))")
        }
        return try parse(data, path: path)
    }

    /// Parses and validates configuration JSON, read strictly (``StrictJSON/foundationObject(_:)``: a repeated key
    /// is refused, numbers are rounded correctly). Missing keys take DiT's constructor defaults, except
    /// `hidden_size`, `depth` and `num_heads`, which must be given.
    public static func parse(_ data: Data, path: String) throws(DiTError) -> DiTConfig {
        let parsed: Any
        do { parsed = try StrictJSON.foundationObject(data) } catch {
            throw .config(path: path, field: "(root)", expected: "valid JSON (\(error))")
        }
        guard let object = parsed as? [String: Any] else {
            throw .config(path: path, field: "(root)", expected: "a JSON object")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let extra = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw .config(
                path: path, field: extra, expected: "no such field (known: \(known.sorted().joined(separator: ", ")))")
        }
        func number(_ key: CodingKeys) throws(DiTError) -> NSNumber? {
            guard let value = object[key.rawValue] else { return nil }
            guard let n = value as? NSNumber, String(cString: n.objCType) != "c" else {
                throw .config(path: path, field: key.rawValue, expected: "a number (found \(value))")
            }
            return n
        }
        func integer(_ key: CodingKeys, default value: Int?) throws(DiTError) -> Int {
            guard let n = try number(key) else {
                guard let value else {
                    throw .config(path: path, field: key.rawValue, expected: "an integer (the field is required)")
                }
                return value
            }
            guard let i = Int(exactly: n.doubleValue) else {
                throw .config(path: path, field: key.rawValue, expected: "an integer (found \(n))")
            }
            return i
        }
        func real(_ key: CodingKeys, default value: Double) throws(DiTError) -> Double {
            try number(key)?.doubleValue ?? value
        }
        func boolean(_ key: CodingKeys, default value: Bool) throws(DiTError) -> Bool {
            guard let raw = object[key.rawValue] else { return value }
            guard let n = raw as? NSNumber, String(cString: n.objCType) == "c" else {
                throw .config(path: path, field: key.rawValue, expected: "true or false (found \(raw))")
            }
            return n.boolValue
        }
        let learnSigma = try boolean(.learnSigma, default: true)
        var config = DiTConfig(
            inputSize: try integer(.inputSize, default: 32), patchSize: try integer(.patchSize, default: 2),
            inChannels: try integer(.inChannels, default: 4), hiddenSize: try integer(.hiddenSize, default: nil),
            depth: try integer(.depth, default: nil), numHeads: try integer(.numHeads, default: nil),
            mlpRatio: try real(.mlpRatio, default: 4), classDropoutProb: try real(.classDropoutProb, default: 0.1),
            numClasses: try integer(.numClasses, default: 1000), learnSigma: learnSigma)
        config.parallelPairs = try boolean(.parallelPairs, default: false)
        func text(_ key: CodingKeys, default value: String) throws(DiTError) -> String {
            guard let raw = object[key.rawValue] else { return value }
            guard let string = raw as? String else {
                throw .config(path: path, field: key.rawValue, expected: "an operator id string (found \(raw))")
            }
            return string
        }
        config.attnOperator = try text(.attnOperator, default: defaultAttentionOperator)
        config.mlpOperator = try text(.mlpOperator, default: defaultMLPOperator)
        try config.validate(path: path)
        return config
    }

    /// The configuration as JSON with the constructor's names (sorted keys, so equal configs give equal bytes).
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

extension DiTConfig {
    /// The embedded default model's architecture: a small DiT in pixel space, patch 2 on 32x32 RGB images
    /// (256 tokens, like DiT-XL/2 at 256 px), for the synthetic-shapes dataset's classes.
    public static let embeddedDefault = DiTConfig(
        inputSize: 32, patchSize: 2, inChannels: 3, hiddenSize: 128, depth: 6, numHeads: 4, mlpRatio: 4,
        classDropoutProb: 0.1, numClasses: 11, learnSigma: true)
}
