import OperatorABI

/// How an instance's forward (and backward) time grows with the sequence length L at fixed B and D, as the
/// instance declares it (`oz_instance_info.complexity`, ABI 1.2). An upper bound: an operator that grows more
/// slowly than it declares is consistent with its declaration.
public enum OperatorComplexity: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Not declared: a 1.0 or 1.1 plugin (which never writes the field), or a class this host does not know.
    case undeclared
    /// O(L).
    case linear
    /// O(L log L).
    case linearithmic
    /// O(L^2).
    case quadratic

    /// The class of an `OZ_COMPLEXITY_*` code; a code this host does not know reads as ``undeclared``.
    public init(code: UInt32) {
        switch code {
        case OZ_COMPLEXITY_LINEAR: self = .linear
        case OZ_COMPLEXITY_LINEARITHMIC: self = .linearithmic
        case OZ_COMPLEXITY_QUADRATIC: self = .quadratic
        default: self = .undeclared
        }
    }

    /// The `OZ_COMPLEXITY_*` code.
    public var code: UInt32 {
        switch self {
        case .undeclared: OZ_COMPLEXITY_UNDECLARED
        case .linear: OZ_COMPLEXITY_LINEAR
        case .linearithmic: OZ_COMPLEXITY_LINEARITHMIC
        case .quadratic: OZ_COMPLEXITY_QUADRATIC
        }
    }

    /// The exponent p of time ~ L^p, after dividing the time by log L for ``linearithmic``; nil when undeclared.
    public var exponent: Double? {
        switch self {
        case .undeclared: nil
        case .linear, .linearithmic: 1
        case .quadratic: 2
        }
    }

    /// `O(L)`, `O(L log L)`, `O(L^2)` or `undeclared`.
    public var description: String {
        switch self {
        case .undeclared: "undeclared"
        case .linear: "O(L)"
        case .linearithmic: "O(L log L)"
        case .quadratic: "O(L^2)"
        }
    }
}
