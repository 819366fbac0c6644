import Foundation

// Naive float64 references for `swa`, `swa2d` and `linear_attn`, written from the math in docs/OPERATORS.md sections
// 2-4 (plain loops, no BLAS, no windows cut into blocks), independent of the plugin: the conformance harness's
// `reference` check and the plugin's tests use them. Arrays are row-major; weights are PyTorch `(out, in)`.

/// The projections every operator here shares: `qkv` `(3D, D)` split `(three, heads, head_dim)`, output `(D, D)`.
public struct ReferenceProjections: Sendable {
    public let qkvW: [Double]
    public let qkvB: [Double]?
    public let outW: [Double]
    public let outB: [Double]?

    /// From parameter arrays in the plugin's order, given which biases are present.
    public init(_ p: [[Double]], qkvBias: Bool = true, outBias: Bool = true) {
        var i = 0
        func next() -> [Double] {
            defer { i += 1 }
            return p[i]
        }
        qkvW = next()
        qkvB = qkvBias ? next() : nil
        outW = next()
        outB = outBias ? next() : nil
    }

    /// From upstream-named parameters: `qkv` weight `(3D, D)` and `out` weight `(D, D)` required, biases where present;
    /// nil when a weight is missing.
    public init?(named p: [String: [Double]], qkv: String, out: String) {
        guard let qkvW = p[qkv + ".weight"], let outW = p[out + ".weight"] else { return nil }
        self.qkvW = qkvW
        qkvB = p[qkv + ".bias"]
        self.outW = outW
        outB = p[out + ".bias"]
    }
}

/// Softmax attention with an arbitrary mask, as a masked O(L^2) computation: every pair `(i, j)` is visited,
/// and the score of a key `mask(i, j)` refuses is `-inf`. Returns `y` for the tokens `rows` of every batch
/// (`[B, rows.count, D]`); `rows` defaults to all. Only the tokens some requested row sees are projected.
public func referenceMaskedAttention(
    x: [Double], B: Int, L: Int, D: Int, heads: Int, _ p: ReferenceProjections, rows: [Int]? = nil,
    mask: (_ query: Int, _ key: Int) -> Bool
) -> [Double] {
    let dh = D / heads
    let rows = rows ?? Array(0..<L)
    var y: [Double] = []
    for b in 0..<B {
        var qkv = [[Double]?](repeating: nil, count: L)
        func token(_ t: Int) -> [Double] {
            if let cached = qkv[t] { return cached }
            let row = linearRow(x[(b * L + t) * D..<(b * L + t + 1) * D], p.qkvW, p.qkvB, out: 3 * D)
            qkv[t] = row
            return row
        }
        for i in rows {
            var concat = [Double](repeating: 0, count: D)
            let q = token(i)
            for h in 0..<heads {
                var scores = [Double](repeating: -Double.infinity, count: L)
                for j in 0..<L where mask(i, j) {
                    let k = token(j)
                    var s = 0.0
                    for d in 0..<dh { s += q[h * dh + d] * k[D + h * dh + d] }
                    scores[j] = s / Double(dh).squareRoot()
                }
                let m = scores.max()!
                let e = scores.map { $0 == -Double.infinity ? 0 : exp($0 - m) }
                let z = e.reduce(0, +)
                for j in 0..<L where e[j] != 0 {
                    let v = token(j)
                    for d in 0..<dh { concat[h * dh + d] += e[j] / z * v[2 * D + h * dh + d] }
                }
            }
            y += linearRow(concat[...], p.outW, p.outB, out: D)
        }
    }
    return y
}

/// flash-attn's window: query `i` sees key `j` iff `i - left <= j <= i + right` (-1: unbounded side), and
/// `j <= i` when causal.
public func slidingWindowMask(left: Int, right: Int, causal: Bool) -> @Sendable (Int, Int) -> Bool {
    { i, j in (left < 0 || j >= i - left) && (right < 0 || j <= i + right) && (!causal || j <= i) }
}

/// The keys (grid cells) of cell `(r, c)`'s neighbourhood on an `H x W` grid, enumerated one by one.
/// `shift` (NATTEN): rows `clip(r - kh/2, 0, H - kh) ..< + kh`, likewise columns, with a kernel larger than the
/// grid taken as the whole axis. `clip`: `|r - r'| <= kh/2` and `|c - c'| <= kw/2`.
public func neighbourhood(r: Int, c: Int, H: Int, W: Int, kh: Int, kw: Int, shift: Bool) -> [(Int, Int)] {
    var keys: [(Int, Int)] = []
    if shift {
        let (kh, kw) = (min(kh, H), min(kw, W))
        let r0 = min(max(r - kh / 2, 0), H - kh)
        let c0 = min(max(c - kw / 2, 0), W - kw)
        for rr in r0..<r0 + kh {
            for cc in c0..<c0 + kw { keys.append((rr, cc)) }
        }
    } else {
        for rr in 0..<H where abs(rr - r) <= kh / 2 {
            for cc in 0..<W where abs(cc - c) <= kw / 2 { keys.append((rr, cc)) }
        }
    }
    return keys
}

/// The `swa2d` mask on tokens: key `j` is in query `i`'s ``neighbourhood(r:c:H:W:kh:kw:shift:)``.
public func neighbourhoodMask(H: Int, W: Int, kh: Int, kw: Int, shift: Bool) -> @Sendable (Int, Int) -> Bool {
    let sets = (0..<H * W).map { i in
        Set(neighbourhood(r: i / W, c: i % W, H: H, W: W, kh: kh, kw: kw, shift: shift).map { $0.0 * W + $0.1 })
    }
    return { i, j in sets[i].contains(j) }
}

/// fast-transformers `LinearAttention` (non-causal): `phi(u) = elu(u) + 1`,
/// `O_l = phi(q_l)^T [sum_s phi(k_s) v_s^T] / (phi(q_l)^T sum_s phi(k_s) + 1e-6)`, written as the direct formula
/// per output element.
public func referenceLinearAttention(
    x: [Double], B: Int, L: Int, D: Int, heads: Int, _ p: ReferenceProjections
) -> [Double] {
    let dh = D / heads
    func phi(_ u: Double) -> Double { u > 0 ? u + 1 : exp(u) }
    var y = [Double](repeating: 0, count: B * L * D)
    for b in 0..<B {
        let qkv = (0..<L).map { t in linearRow(x[(b * L + t) * D..<(b * L + t + 1) * D], p.qkvW, p.qkvB, out: 3 * D) }
        for l in 0..<L {
            var concat = [Double](repeating: 0, count: D)
            for h in 0..<heads {
                let q = (0..<dh).map { phi(qkv[l][h * dh + $0]) }
                var den = 1e-6
                for s in 0..<L {
                    for d in 0..<dh { den += q[d] * phi(qkv[s][D + h * dh + d]) }
                }
                for e in 0..<dh {
                    var num = 0.0
                    for s in 0..<L {
                        var qk = 0.0
                        for d in 0..<dh { qk += q[d] * phi(qkv[s][D + h * dh + d]) }
                        num += qk * qkv[s][2 * D + h * dh + e]
                    }
                    concat[h * dh + e] = num / den
                }
            }
            let row = linearRow(concat[...], p.outW, p.outB, out: D)
            for o in 0..<D { y[(b * L + l) * D + o] = row[o] }
        }
    }
    return y
}

extension ReferenceOperators {
    /// `swa` (flash-attn names `Wqkv.*`, `out_proj.*`; attributes `num_heads`, `window_size`, `causal`): masked O(L^2)
    /// attention, query `i` seeing keys `i - left <= j <= i + right` (-1 unbounded), and `j <= i` when causal.
    static func swa(_ input: ReferenceInput) -> [Double]? {
        guard let heads = input.int("num_heads"), let window = input.intList("window_size"), window.count == 2,
            let p = ReferenceProjections(named: input.parameters, qkv: "Wqkv", out: "out_proj")
        else { return nil }
        return referenceMaskedAttention(
            x: input.x, B: input.batch, L: input.length, D: input.dim, heads: heads, p,
            mask: slidingWindowMask(left: window[0], right: window[1], causal: input.bool("causal") ?? false))
    }

    /// `swa2d` (timm names; attributes `num_heads`, `kernel_size` (kh, kw), `border` shift | clip) on the grid.
    static func swa2d(_ input: ReferenceInput) -> [Double]? {
        guard let heads = input.int("num_heads"), let kernel = input.intList("kernel_size"), kernel.count == 2,
            let border = input.string("border"), let grid = input.grid, grid.height * grid.width == input.length,
            let p = ReferenceProjections(named: input.parameters, qkv: "qkv", out: "proj")
        else { return nil }
        return referenceMaskedAttention(
            x: input.x, B: input.batch, L: input.length, D: input.dim, heads: heads, p,
            mask: neighbourhoodMask(
                H: grid.height, W: grid.width, kh: kernel[0], kw: kernel[1], shift: border == "shift"))
    }

    /// `linear_attn` (timm names; attribute `num_heads`).
    static func linearAttention(_ input: ReferenceInput) -> [Double]? {
        guard let heads = input.int("num_heads"),
            let p = ReferenceProjections(named: input.parameters, qkv: "qkv", out: "proj")
        else { return nil }
        return referenceLinearAttention(x: input.x, B: input.batch, L: input.length, D: input.dim, heads: heads, p)
    }
}
