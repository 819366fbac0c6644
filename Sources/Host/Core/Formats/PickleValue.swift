/// A value built by ``RestrictedUnpickler``. Containers are indices into the unpickler's arenas (``PickleObjects``),
/// so a hostile pickle cannot build a value nested deeper than the call stack can release, nor a reference cycle.
enum PickleValue: Equatable {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes(count: Int)
    case list(Int)
    case tuple(Int)
    case dict(Int)
    /// One of the few globals a state dict needs (everything else is refused when the pickle names it).
    case global(PickleGlobal)
    /// A tensor storage (an index into ``PickleObjects/storages``).
    case storage(Int)
    /// A tensor: a view of a storage (an index into ``PickleObjects/tensors``).
    case tensor(Int)

    /// A short name of the value's kind, for error messages.
    var kind: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .list: "list"
        case .tuple: "tuple"
        case .dict: "dict"
        case .global(let g): g.pythonName
        case .storage: "storage"
        case .tensor: "tensor"
        }
    }
}

/// A dict key: the hashable scalar values Python allows as keys and a state dict uses (names; optimizer state
/// uses integers).
enum PickleKey: Hashable {
    case none, bool(Bool), int(Int64), float(Double), string(String), bytes(Int)

    init?(_ value: PickleValue) {
        switch value {
        case .none: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .float(let f): self = .float(f)
        case .string(let s): self = .string(s)
        case .bytes(let n): self = .bytes(n)
        default: return nil
        }
    }
}
