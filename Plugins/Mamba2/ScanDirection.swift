/// One SSM scan of a Mamba-2 operator: the order in which it visits the tokens of each sequence, and the prefix of
/// its own parameters (`conv1d.weight`, `conv1d.bias`, `dt_bias`, `A_log`, `D`).
///
/// A scan reads the sequence in its order, runs the causal conv1d and the causal SSD along that order, and writes its
/// output back to each token's own position. Token `r * W + c` is grid cell `(r, c)` (row-major, as DiT's
/// `PatchEmbed`).
struct ScanDirection: Sendable, Equatable {
    enum Order: Sendable, Equatable {
        /// Token order `0, 1, ..., L-1` (row-major on a grid).
        case forward
        /// Token order `L-1, ..., 1, 0`.
        case reversed
        /// Column-major on an `height x width` grid: `(0,0), (1,0), ..., (H-1,0), (0,1), ...`.
        case columnMajor(height: Int, width: Int)
        /// Column-major order reversed: `(H-1,W-1), (H-2,W-1), ..., (0,0)`.
        case columnMajorReversed(height: Int, width: Int)
    }

    let order: Order
    /// Prepended to the scan's parameter names (`""` for `mamba2`'s single scan).
    let prefix: String

    /// `true` when position i of the scan is token i (no reordering).
    var isIdentity: Bool { order == .forward }

    /// `tokens[i]`: the token that position i of the scan reads, for a sequence of `length` tokens.
    func tokens(length: Int) -> [Int] {
        switch order {
        case .forward: return Array(0..<length)
        case .reversed: return (0..<length).map { length - 1 - $0 }
        case .columnMajor(let h, let w):
            return (0..<length).map { ($0 % h) * w + $0 / h }
        case .columnMajorReversed(let h, let w):
            return (0..<length).map { i in
                let j = length - 1 - i
                return (j % h) * w + j / h
            }
        }
    }
}

/// Which operator a ``Mamba2Kernel`` computes: its scans, causality and name.
enum Mamba2Variant: Sendable {
    /// `mamba2`: upstream `Mamba2`, one causal scan in token order.
    case causal
    /// `mamba2_bidir`: a forward scan (`fwd.`) and a scan of the reversed sequence (`bwd.`).
    case bidirectional
    /// `mamba2_2d`: row-major and column-major scans, each forward and reversed (`row_fwd.`, `row_bwd.`, `col_fwd.`,
    /// `col_bwd.`), on the instance's `H x W` grid.
    case grid

    /// The scans, in the order their outputs are summed.
    func directions(height: Int, width: Int) -> [ScanDirection] {
        switch self {
        case .causal: [ScanDirection(order: .forward, prefix: "")]
        case .bidirectional:
            [ScanDirection(order: .forward, prefix: "fwd."), ScanDirection(order: .reversed, prefix: "bwd.")]
        case .grid:
            [
                ScanDirection(order: .forward, prefix: "row_fwd."),
                ScanDirection(order: .reversed, prefix: "row_bwd."),
                ScanDirection(order: .columnMajor(height: height, width: width), prefix: "col_fwd."),
                ScanDirection(order: .columnMajorReversed(height: height, width: width), prefix: "col_bwd."),
            ]
        }
    }
}

/// A type-level ``Mamba2Variant``, so that each operator gets its own kernel type (PluginKit creates kernels from
/// their type and the attributes alone).
protocol Mamba2VariantTag {
    static var variant: Mamba2Variant { get }
}

/// Tag of `mamba2`.
enum Mamba2CausalTag: Mamba2VariantTag {
    static var variant: Mamba2Variant { .causal }
}

/// Tag of `mamba2_bidir`.
enum Mamba2BidirectionalTag: Mamba2VariantTag {
    static var variant: Mamba2Variant { .bidirectional }
}

/// Tag of `mamba2_2d`.
enum Mamba2GridTag: Mamba2VariantTag {
    static var variant: Mamba2Variant { .grid }
}
