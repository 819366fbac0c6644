/// An entry of the upstream module's `state_dict` that is not one of the kernel's parameters (ABI 1.5,
/// `oz_operator.get_state_entry`), so that a file PyTorch saved from the upstream module loads unchanged: the
/// host checks each such entry against what it declares instead of refusing or ignoring it.
public enum StateEntryDecl: Equatable {
    /// A buffer the operator computes from its attributes (e.g. a position grid); the file's must agree.
    case buffer(name: String, shape: [Int], values: [Double])
    /// A tied copy of parameter `parameter` (one module used at several places); the file's must be equal.
    case alias(name: String, parameter: Int)
    /// Rows `rows` of parameter `parameter` along its first axis: a file may give all the parts of a parameter
    /// instead of the parameter itself (e.g. separate query, key and value projections stacked into one).
    case part(name: String, parameter: Int, rows: Range<Int>)

    /// The upstream name.
    public var name: String {
        switch self {
        case .buffer(let name, _, _), .alias(let name, _), .part(let name, _, _): name
        }
    }
}
