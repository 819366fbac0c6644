/// The checks of the conformance harness. Each has a stable id (used in reports and to rerun it alone).
public enum ConformanceCheckID: String, CaseIterable, Codable, Sendable {
    case metadata
    case attributes
    case shapes
    case inputsUnmodified = "inputs_unmodified"
    case guardRegions = "guard_regions"
    case determinism
    case batchIndependence = "batch_independence"
    case receptiveField = "receptive_field"
    case finiteOutputs = "finite_outputs"
    case backward
    case reference
    case concurrency
    case resources
    case complexity
    case errorPath = "error_path"

    /// One line: what the check proves.
    public var summary: String {
        switch self {
        case .metadata:
            "entry symbol, ABI version, struct sizes and metadata strings are valid; ids well formed and unique"
        case .attributes:
            "defaults create an instance; out-of-range and wrong-typed attributes are refused with a status"
        case .shapes: "B=1, L=1, prime L and large D run; wrong shapes and dtypes are refused with a status"
        case .inputsUnmodified: "forward and backward leave x, dy and the parameters bitwise unchanged"
        case .guardRegions: "nothing is written outside y, dx, dparams and the workspace (guard bytes around each)"
        case .determinism: "repeated calls give bitwise-equal outputs and gradients (when declared deterministic)"
        case .batchIndependence: "changing sample b changes no other sample's output"
        case .receptiveField:
            "tokens outside the declared receptive field (or in the future, when causal) do not affect the output"
        case .finiteOutputs:
            "finite inputs of realistic scale, with DiT-like outlier channels, give finite outputs and gradients"
        case .backward:
            "VJP matches central finite differences for x and every parameter; dx/dparams overwritten; NULL outputs honoured"
        case .reference:
            "for known operator ids, the output agrees with the host's float64 reference on the same parameters"
        case .concurrency:
            "distinct instances called from several threads give the serial results; the same instance too when declared re-entrant"
        case .resources: "no memory growth and no threads left behind over many create/forward/backward/destroy cycles"
        case .complexity:
            "time against L at four lengths: the fitted exponent is within the declared class (report only when undeclared or noisy; fails only with --strict-timing)"
        case .errorPath: "a failing call returns a status with a message, and the instance stays usable"
        }
    }
}

/// The outcome of one check on one operator.
public enum ConformanceVerdict: String, Codable, Sendable {
    case pass, fail, crashed, timeout
    /// A capability the operator claims does not work (a failure).
    case notSupported = "not_supported"
    /// The check does not apply (the reason says why).
    case skipped

    /// Whether the verdict fails the run.
    public var isFailure: Bool { self == .fail || self == .crashed || self == .timeout || self == .notSupported }
}

/// One line of a conformance report.
public struct ConformanceResult: Codable, Sendable, Equatable {
    public var check: ConformanceCheckID
    public var operatorId: String
    public var verdict: ConformanceVerdict
    /// The measured figure, e.g. a relative error, when the check measures one.
    public var figure: String?
    /// Why it failed or was skipped, or what passing means.
    public var reason: String
    public var seed: UInt64
    /// A command that reruns this check alone.
    public var reproduce: String

    enum CodingKeys: String, CodingKey {
        case check, verdict, figure, reason, seed, reproduce
        case operatorId = "operator"
    }

    public init(
        check: ConformanceCheckID, operatorId: String, verdict: ConformanceVerdict, figure: String? = nil,
        reason: String,
        seed: UInt64, reproduce: String = ""
    ) {
        self.check = check
        self.operatorId = operatorId
        self.verdict = verdict
        self.figure = figure
        self.reason = reason
        self.seed = seed
        self.reproduce = reproduce
    }
}
