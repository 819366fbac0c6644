import PluginKit

/// Which key positions one axis of a window lets a query at position `p` of `0..<extent` see.
struct AxisWindow: Sendable {
    /// How the window sits around the query.
    enum Rule: Sendable {
        /// `[p - before, p + after]` cut at the ends of the axis (flash-attn's window; the `clip` border);
        /// `nil` is unbounded on that side.
        case offsets(before: Int?, after: Int?)
        /// NATTEN's neighbourhood: `size` keys from `clamp(p - size / 2, 0, extent - size)`, so every query sees
        /// `size` keys; a `size` above the extent is clamped to it (the whole axis).
        case shifted(size: Int)
    }

    let rule: Rule

    /// The keys position `p` sees (never empty: it holds `p`).
    func keys(of p: Int, extent: Int) -> Range<Int> {
        switch rule {
        case .offsets(let before, let after):
            let lower = before.map { max(0, p - $0) } ?? 0
            let upper = after.map { min(extent, p + $0 + 1) } ?? extent
            return lower..<upper
        case .shifted(let size):
            let k = min(size, extent)
            let start = min(max(p - size / 2, 0), extent - k)
            return start..<start + k
        }
    }

    /// An upper bound on the keys any one position sees.
    func maxSpan(extent: Int) -> Int {
        switch rule {
        case .offsets(let before, let after): min(extent, saturatingAdd(before ?? extent, after ?? extent, 1))
        case .shifted(let size): min(size, extent)
        }
    }

    /// The farthest key before (`.0`) and after (`.1`) its query that any position of `0..<extent` sees.
    func reach(extent: Int) -> (before: Int, after: Int) {
        switch rule {
        case .offsets(let before, let after): (min(before ?? extent, extent - 1), min(after ?? extent, extent - 1))
        // The window [s, s + k) with s = clamp(p - size/2, 0, extent - k): at p = 0 it reaches k - 1 ahead, at
        // p = extent - 1 it reaches k - 1 behind, and nowhere farther.
        case .shifted(let size): (min(size, extent) - 1, min(size, extent) - 1)
        }
    }
}

private func saturatingAdd(_ a: Int, _ b: Int, _ c: Int) -> Int {
    let (ab, o1) = a.addingReportingOverflow(b)
    let (abc, o2) = ab.addingReportingOverflow(c)
    return o1 || o2 ? Int.max : abc
}

/// A window on a `height x width` token grid in row-major order: the query at token `i = r * width + c` sees the
/// keys `rows.keys(of: r) x cols.keys(of: c)`. A 1D window over L tokens is the grid `1 x L`.
struct WindowGeometry: Sendable {
    let height: Int
    let width: Int
    let rows: AxisWindow
    let cols: AxisWindow

    var length: Int { height * width }

    /// The grid rows and columns of the keys token `i` sees.
    func keys(of i: Int) -> (rows: Range<Int>, cols: Range<Int>) {
        (rows.keys(of: i / width, extent: height), cols.keys(of: i % width, extent: width))
    }
}

/// Queries `queries` (consecutive tokens) scored against the keys in grid rows `keyRows` x columns `keyCols`, a
/// rectangle that holds every one of their windows. A score row is laid out `[keyRow][keyCol]`.
struct AttentionBlock {
    let queries: Range<Int>
    let keyRows: Range<Int>
    let keyCols: Range<Int>

    var keyCount: Int { keyRows.count * keyCols.count }
}

/// How one (batch, head) pair's attention is cut into blocks of queries, each scored with `gemm`s against the key
/// rectangle covering their windows, so the cost follows the window and not L^2.
///
/// - Blocked (the window holds at most half of the L tokens): one block per run of `tile` query columns of one
///   grid row. Those queries share their key rows (a window's rows depend only on the query's row), and their key
///   columns are the union of `tile` windows whose ends move monotonically with the query, at most
///   `tile + colSpan - 1` wide. With `tile = max(colSpan, 8)` (at most W) a query is scored against at most
///   `rowSpan * (tile + colSpan - 1) <= rowSpan * (2 colSpan + 7)` keys: O(window), not O(L).
/// - Dense (the window holds more than half of the tokens, e.g. flash-attn's unbounded `(-1, -1)`): one block
///   with every query and the whole grid, as in `mha`; the mask zeroes the probabilities outside each window.
///   L^2 < 2 L w there, so the cost is still O(L w).
struct WindowPlan {
    let geometry: WindowGeometry
    let dense: Bool
    let tile: Int

    init(_ geometry: WindowGeometry) {
        self.geometry = geometry
        let rowSpan = geometry.rows.maxSpan(extent: geometry.height)
        let colSpan = geometry.cols.maxSpan(extent: geometry.width)
        let window = rowSpan.multipliedReportingOverflow(by: colSpan)
        dense = window.overflow || window.partialValue > geometry.length / 2
        tile = dense ? geometry.width : min(geometry.width, max(colSpan, 8))
    }

    /// The most score entries one block holds (query count times key count).
    var maxScores: Int {
        let g = geometry
        if dense { return saturatingProduct(g.length, g.length) }
        let keyCols = min(g.width, tile + g.cols.maxSpan(extent: g.width) - 1)
        return saturatingProduct(tile, g.rows.maxSpan(extent: g.height), keyCols)
    }

    /// Calls `body` on every block, in a fixed order; the blocks' queries partition `0..<L`.
    func forEachBlock(_ body: (AttentionBlock) -> Void) {
        let g = geometry
        if dense {
            body(AttentionBlock(queries: 0..<g.length, keyRows: 0..<g.height, keyCols: 0..<g.width))
            return
        }
        for r in 0..<g.height {
            for c0 in stride(from: 0, to: g.width, by: tile) {
                let c1 = min(g.width, c0 + tile)
                let first = g.cols.keys(of: c0, extent: g.width)
                let last = g.cols.keys(of: c1 - 1, extent: g.width)
                body(
                    AttentionBlock(
                        queries: r * g.width + c0..<r * g.width + c1, keyRows: g.rows.keys(of: r, extent: g.height),
                        keyCols: first.lowerBound..<last.upperBound))
            }
        }
    }

    /// Calls `body(run, firstKeyToken, count, scoreOffset)` for the block's keys as runs of consecutive tokens:
    /// one run when the block's columns span the grid's width (its key rows are then contiguous), else one per row.
    func forEachRun(of block: AttentionBlock, _ body: (_ run: Int, _ token: Int, _ count: Int, _ offset: Int) -> Void) {
        let width = geometry.width
        if block.keyCols.count == width {
            body(0, block.keyRows.lowerBound * width, block.keyCount, 0)
            return
        }
        for (a, r) in block.keyRows.enumerated() {
            body(a, r * width + block.keyCols.lowerBound, block.keyCols.count, a * block.keyCols.count)
        }
    }
}
