import HostCore

/// Where a softmax attention puts its weight, from the weights the operator itself reports (ABI 1.6
/// `OZ_DIAG_ATTENTION_WEIGHTS`): per head, the mean over queries of the mass within `k` tokens of the query in the token
/// order (the grafting paper's band-k, `|s - q| <= k`) and within `k` rows and `k` columns on the token grid, for each
/// band width `k`.
public struct AttentionLocality: Codable, Equatable, Sendable {
    /// Band mass per head (rows) and band width (columns).
    public var headBand: [[Double]]
    /// Grid neighbourhood mass per head and band width.
    public var headNeighbourhood: [[Double]]
    /// Band mass per band width, averaged over the heads.
    public var band: [Double]
    /// Grid neighbourhood mass per band width, averaged over the heads.
    public var neighbourhood: [Double]
    /// Query rows averaged per head (batch entries x tokens x measured timesteps).
    public var queries: Int

    enum CodingKeys: String, CodingKey {
        case headBand = "head_band"
        case headNeighbourhood = "head_neighbourhood"
        case band, neighbourhood, queries
    }

    /// Heads whose band mass at band width index `column` exceeds one half (the paper's "local" heads).
    public func localHeads(column: Int) -> Int { headBand.filter { $0[column] > 0.5 }.count }

    /// The locality of `weights` `[B, H, L, L]` on a `side x side` grid, at each of `bandWidths`: each row's weights
    /// are binned by token distance and by grid (Chebyshev) distance in float64, then summed cumulatively.
    public static func measure(_ weights: Tensor<Float>, side: Int, bandWidths: [Int]) -> AttentionLocality {
        let (b, h, l) = (weights.shape[0], weights.shape[1], weights.shape[2])
        precondition(weights.shape[3] == l && side * side == l, "weights must be [B, H, L, L] on a square grid")
        var tokens = [[Double]](repeating: [Double](repeating: 0, count: l), count: h)
        var grid = [[Double]](repeating: [Double](repeating: 0, count: side), count: h)
        weights.withUnsafeBufferPointer { w in
            for bi in 0..<b {
                for head in 0..<h {
                    for q in 0..<l {
                        let row = w.baseAddress! + ((bi * h + head) * l + q) * l
                        let (qr, qc) = (q / side, q % side)
                        for s in 0..<l {
                            let v = Double(row[s])
                            tokens[head][abs(s - q)] += v
                            grid[head][max(abs(s / side - qr), abs(s % side - qc))] += v
                        }
                    }
                }
            }
        }
        let rows = Double(b * l)
        func cumulative(_ histogram: [Double]) -> [Double] {
            bandWidths.map { k in histogram.prefix(min(k, histogram.count - 1) + 1).reduce(0, +) / rows }
        }
        return AttentionLocality(
            headBand: tokens.map(cumulative), headNeighbourhood: grid.map(cumulative), queries: b * l)
    }

    /// The masses of uniform attention (every query weighs all L = side^2 tokens alike) at each of `bandWidths`: the
    /// reference a layer's weights are local against.
    public static func uniform(side: Int, bandWidths: [Int]) -> AttentionLocality {
        // Ordered pairs (q, s) of n positions on a line with |s - q| <= k, as a share of all n^2.
        func share(_ n: Int, _ k: Int) -> Double {
            Double((0...min(k, n - 1)).reduce(0) { $0 + ($1 == 0 ? n : 2 * (n - $1)) }) / Double(n * n)
        }
        let l = side * side
        return AttentionLocality(
            headBand: [bandWidths.map { share(l, $0) }],
            headNeighbourhood: [bandWidths.map { share(side, $0) * share(side, $0) }], queries: l)
    }

    /// From per-head masses; the head averages are computed.
    public init(headBand: [[Double]], headNeighbourhood: [[Double]], queries: Int) {
        self.headBand = headBand
        self.headNeighbourhood = headNeighbourhood
        self.queries = queries
        band = Self.headMean(headBand)
        neighbourhood = Self.headMean(headNeighbourhood)
    }

    /// The mean of several measurements of one slot (each counted by its queries), or nil when there are none.
    public static func pooled(_ measurements: [AttentionLocality]) -> AttentionLocality? {
        guard let first = measurements.first else { return nil }
        let total = Double(measurements.reduce(0) { $0 + $1.queries })
        func mean(_ key: KeyPath<AttentionLocality, [[Double]]>) -> [[Double]] {
            first[keyPath: key].indices.map { head in
                first[keyPath: key][head].indices.map { column in
                    measurements.reduce(0) { $0 + $1[keyPath: key][head][column] * Double($1.queries) } / total
                }
            }
        }
        return AttentionLocality(
            headBand: mean(\.headBand), headNeighbourhood: mean(\.headNeighbourhood), queries: Int(total))
    }

    private static func headMean(_ perHead: [[Double]]) -> [Double] {
        guard let first = perHead.first else { return [] }
        return first.indices.map { c in perHead.reduce(0) { $0 + $1[c] } / Double(perHead.count) }
    }
}
