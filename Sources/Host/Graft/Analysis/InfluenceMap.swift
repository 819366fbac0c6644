import HostCore
import HostModel
import HostPlugins

/// How much each output token of an operator depends on the input tokens at each offset, measured with the host's own
/// vector-Jacobian products, so any operator (attention, Hyena, Mamba-2, a third-party mixer) is measured on the same
/// axis: for a query token q and a fixed random direction u, `dx = J^T (u at token q)`; the influence of input token s
/// on q is `||dx[s]||`, normalised to sum 1 over s. Offsets are taken in the 1D token order (`s - q`) and on the token
/// grid (rows and columns apart), averaged over the query tokens and batch entries.
public struct InfluenceMap: Codable, Equatable, Sendable {
    /// Mass at 1D offset `s - q`, index `offset + (L - 1)` (length `2L - 1`).
    public var offsets: [Double]
    /// Mass at grid offset `(dr, dc)`, row-major over `dr, dc` in `-(side - 1) ... side - 1`.
    public var grid: [Double]
    /// Grid side (tokens per row and column).
    public var side: Int
    /// Query tokens and batch entries averaged.
    public var queries: Int

    /// Share of the mass within `|s - q| <= k` in the token order.
    public func band(_ k: Int) -> Double {
        let l = (offsets.count + 1) / 2
        return (max(-k, -(l - 1))...min(k, l - 1)).reduce(0) { $0 + offsets[$1 + l - 1] }
    }

    /// Share of the mass within `k` rows and `k` columns on the grid (a (2k+1)^2 neighbourhood).
    public func neighbourhood(_ k: Int) -> Double {
        let width = 2 * side - 1
        var mass = 0.0
        for dr in max(-k, -(side - 1))...min(k, side - 1) {
            for dc in max(-k, -(side - 1))...min(k, side - 1) { mass += grid[(dr + side - 1) * width + dc + side - 1] }
        }
        return mass
    }

    /// The influence map of `op` at inputs `x` `[B, L, D]` (L = side^2) with `parameters`, over about `queries` query
    /// tokens on an evenly spread square sub-grid; `seed` draws the directions.
    /// - Throws: ``OperatorError`` when the operator has no backward or refuses the input.
    public static func measure(
        _ op: Operator, x: Tensor<Float>, parameters: [Tensor<Float>], side: Int, queries: Int, seed: UInt64
    ) throws -> InfluenceMap {
        let (b, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        precondition(side * side == l, "the token grid must be square")
        // Query tokens on an evenly spread g x g sub-grid (g = floor(sqrt(queries))), so both grid directions are
        // sampled away from the edges alike (spreading them through the token order would put them all in one column).
        let g = max(1, min(side, Int(Double(queries).squareRoot())))
        let lines = (0..<g).map { (2 * $0 + 1) * side / (2 * g) }
        let picks = lines.flatMap { r in lines.map { c in r * side + c } }
        var offsets = [Double](repeating: 0, count: 2 * l - 1)
        let width = 2 * side - 1
        var grid = [Double](repeating: 0, count: width * width)
        var rng = SplitMix64(seed: seed)
        var dy = Tensor<Float>(zeros: [b, l, d])
        func setRow(_ q: Int, _ value: () -> Float) {
            dy.withUnsafeMutableBufferPointer { p in
                for batch in 0..<b { for c in 0..<d { p[(batch * l + q) * d + c] = value() } }
            }
        }
        for q in picks {
            setRow(q) { Float(rng.nextNormal()) }
            let dx = try op.backward(x, parameters: parameters, outputGradient: dy, parameterGradients: []).input!
            setRow(q) { 0 }
            dx.withUnsafeBufferPointer { g in
                for batch in 0..<b {
                    var norms = [Double](repeating: 0, count: l)
                    for s in 0..<l {
                        var sum = 0.0
                        for c in 0..<d {
                            let v = Double(g[(batch * l + s) * d + c])
                            sum += v * v
                        }
                        norms[s] = sum.squareRoot()
                    }
                    let total = norms.reduce(0, +)
                    guard total > 0 else { continue }
                    for s in 0..<l {
                        let w = norms[s] / total
                        offsets[s - q + l - 1] += w
                        let (dr, dc) = (s / side - q / side, s % side - q % side)
                        grid[(dr + side - 1) * width + dc + side - 1] += w
                    }
                }
            }
        }
        let count = Double(picks.count * b)
        return InfluenceMap(
            offsets: offsets.map { $0 / count }, grid: grid.map { $0 / count }, side: side, queries: picks.count * b)
    }
}
