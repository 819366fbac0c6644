/// The checks of the conformance harness. Each has a stable id (used in reports and to rerun it alone).
public enum ConformanceCheckID: String, CaseIterable, Codable, Sendable {
    case metadata
    case attributes
    case initParams = "init_params"
    case shapes
    case inputsUnmodified = "inputs_unmodified"
    case guardRegions = "guard_regions"
    case workspace
    case determinism
    case batchIndependence = "batch_independence"
    case receptiveField = "receptive_field"
    case finiteOutputs = "finite_outputs"
    case backward
    case saveForBackward = "save_for_backward"
    case stateEntries = "state_entries"
    case diagnostics
    case float32Agreement = "float32_agreement"
    case reference
    case concurrency
    case reentrancy
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
        case .initParams:
            "init_params is a pure function of the seed: the same bytes twice, on another instance and in another process; seeds differing in one bit give different values (unless no parameter depends on the seed)"
        case .shapes: "B=1, L=1, prime L and large D run; wrong shapes and dtypes are refused with a status"
        case .inputsUnmodified: "forward and backward leave x, dy and the parameters bitwise unchanged"
        case .guardRegions: "nothing is written outside y, dx, dparams and the workspace (guard bytes around each)"
        case .workspace:
            "one workspace per instance, reused from call to call as the host does and filled with garbage before each call: outputs and gradients match a clean workspace's"
        case .determinism:
            "repeated calls give bitwise-equal outputs and gradients (when declared deterministic), also at sizes the host pool splits, on one instance with its workspace reused, and with the pool busy"
        case .batchIndependence: "changing sample b changes no other sample's output"
        case .receptiveField:
            "tokens outside the declared receptive field (or in the future, when causal) do not affect the output"
        case .finiteOutputs:
            "finite inputs of realistic scale, with DiT-like outlier channels, give finite outputs and gradients"
        case .backward:
            "VJP matches central finite differences for x and every parameter; dx/dparams overwritten; NULL outputs honoured"
        case .saveForBackward:
            "with OZ_CAP_SAVE_FOR_BACKWARD: a forward that saves gives the same y, writes only inside the saved buffer (given garbage), and backward from it gives the recomputing backward's gradients without changing it"
        case .stateEntries:
            "with upstream state entries (ABI 1.5): they stay the same across calls and instances, and a file in the upstream state-dict layout (buffers, tied copies, parts) loads back to exactly the parameters it was made from"
        case .diagnostics:
            "with attention weights for analysis (ABI 1.6): written only inside their output, rows non-negative summing to 1, zero outside the receptive field, deterministic, unknown kinds refused, and their support equals the tokens the backward says each output depends on"
        case .float32Agreement:
            "float32 forward and every float32 gradient agree with float64 on the same values (when float64 is offered), within float32 rounding over the reduction size"
        case .reference:
            "for known operator ids, the output agrees with the host's float64 reference on the same parameters"
        case .concurrency:
            "distinct instances called from several threads give the serial results"
        case .reentrancy:
            "one re-entrant instance called from many threads at once, calls long enough to overlap, random interleavings: every result matches the serial one (when declared re-entrant)"
        case .resources:
            "no memory growth and no threads left behind over many create/forward/backward/destroy cycles and over thousands of calls on one instance; resident memory stays under the limit"
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
    /// Wall-clock seconds the check took (its child processes included), when the runner timed it.
    public var seconds: Double?

    enum CodingKeys: String, CodingKey {
        case check, verdict, figure, reason, seed, reproduce, seconds
        case operatorId = "operator"
    }

    public init(
        check: ConformanceCheckID, operatorId: String, verdict: ConformanceVerdict, figure: String? = nil,
        reason: String,
        seed: UInt64, reproduce: String = "", seconds: Double? = nil
    ) {
        self.check = check
        self.operatorId = operatorId
        self.verdict = verdict
        self.figure = figure
        self.reason = reason
        self.seed = seed
        self.reproduce = reproduce
        self.seconds = seconds
    }
}
