import OperatorABI

/// How an instance's forward (and backward) time grows with the sequence length L at fixed B and D: the value a
/// plugin reports as `oz_instance_info.complexity` (ABI 1.2). An upper bound, checked by `zoo conform`'s
/// `complexity` check, which times the instance at several L and fits the exponent.
///
/// Declare it on the ``OperatorDefinition`` when it holds for every configuration, or per instance from the
/// kernel's ``OperatorKernel/complexity`` when attributes change it (e.g. a window that may be unbounded).
public enum ComplexityClass: Sendable, Equatable {
    /// Not declared: the harness reports the measured exponent only.
    case undeclared
    /// O(L).
    case linear
    /// O(L log L).
    case linearithmic
    /// O(L^2).
    case quadratic

    /// The `OZ_COMPLEXITY_*` code.
    public var code: UInt32 {
        switch self {
        case .undeclared: OZ_COMPLEXITY_UNDECLARED
        case .linear: OZ_COMPLEXITY_LINEAR
        case .linearithmic: OZ_COMPLEXITY_LINEARITHMIC
        case .quadratic: OZ_COMPLEXITY_QUADRATIC
        }
    }
}
