/// Why a benchmark could not run or a report could not be read.
public enum BenchError: Error, CustomStringConvertible {
    /// An argument is invalid.
    case argument(String)
    /// A peer report (`scripts/bench-peers`) is missing or not one.
    case peerReport(path: String, reason: String)

    public var description: String {
        switch self {
        case .argument(let message): "bench: \(message)"
        case .peerReport(let path, let reason): "bench: peer report \(path): \(reason)"
        }
    }
}
