import Foundation

// Naive float64 references for `swa`, `swa2d` and `linear_attn`, written from the math in OPERATORS.md sections
// 2-4 (plain loops, no BLAS, no windows cut into blocks), independent of the plugin. Arrays are row-major; weights
// are PyTorch `(out, in)`.

/// `x W^T + b` for one token of `x` (a slice of `D` values).
private func projectToken(_ x: ArraySlice<Double>, _ w: [Double], _ b: [Double]?, out: Int) -> [Double] {
    let inFeatures = x.count
    var y = [Double](repeating: 0, count: out)
    for o in 0..<out {
        var s = b?[o] ?? 0
        for i in 0..<inFeatures { s += w[o * inFeatures + i] * x[x.startIndex + i] }
        y[o] = s
    }
    return y
}

/// The projections every operator here shares: `qkv` `(3D, D)` split `(three, heads, head_dim)`, output `(D, D)`.
struct ReferenceProjections {
    let qkvW: [Double]
    let qkvB: [Double]?
    let outW: [Double]
    let outB: [Double]?

    /// From parameter arrays in the plugin's order, given which biases are present.
    init(_ p: [[Double]], qkvBias: Bool = true, outBias: Bool = true) {
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
}

/// Softmax attention with an arbitrary mask, as a masked O(L^2) computation: every pair `(i, j)` is visited,
/// and the score of a key `mask(i, j)` refuses is `-inf`. Returns `y` for the tokens `rows` of every batch
/// (`[B, rows.count, D]`); `rows` defaults to all. Only the tokens some requested row sees are projected.
func referenceMaskedAttention(
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
            let row = projectToken(x[(b * L + t) * D..<(b * L + t + 1) * D], p.qkvW, p.qkvB, out: 3 * D)
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
            y += projectToken(concat[...], p.outW, p.outB, out: D)
        }
    }
    return y
}

/// flash-attn's window: query `i` sees key `j` iff `i - left <= j <= i + right` (-1: unbounded side), and
/// `j <= i` when causal.
func slidingWindowMask(left: Int, right: Int, causal: Bool) -> (Int, Int) -> Bool {
    { i, j in (left < 0 || j >= i - left) && (right < 0 || j <= i + right) && (!causal || j <= i) }
}

/// The keys (grid cells) of cell `(r, c)`'s neighbourhood on an `H x W` grid, enumerated one by one.
/// `shift` (NATTEN): rows `clip(r - kh/2, 0, H - kh) ..< + kh`, likewise columns, with a kernel larger than the
/// grid taken as the whole axis. `clip`: `|r - r'| <= kh/2` and `|c - c'| <= kw/2`.
func neighbourhood(r: Int, c: Int, H: Int, W: Int, kh: Int, kw: Int, shift: Bool) -> [(Int, Int)] {
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
func neighbourhoodMask(H: Int, W: Int, kh: Int, kw: Int, shift: Bool) -> (Int, Int) -> Bool {
    let sets = (0..<H * W).map { i in
        Set(neighbourhood(r: i / W, c: i % W, H: H, W: W, kh: kh, kw: kw, shift: shift).map { $0.0 * W + $0.1 })
    }
    return { i, j in sets[i].contains(j) }
}

/// fast-transformers `LinearAttention` (non-causal): `phi(u) = elu(u) + 1`,
/// `O_l = phi(q_l)^T [sum_s phi(k_s) v_s^T] / (phi(q_l)^T sum_s phi(k_s) + 1e-6)`, written as the direct formula
/// per output element.
func referenceLinearAttention(x: [Double], B: Int, L: Int, D: Int, heads: Int, _ p: ReferenceProjections) -> [Double] {
    let dh = D / heads
    func phi(_ u: Double) -> Double { u > 0 ? u + 1 : exp(u) }
    var y = [Double](repeating: 0, count: B * L * D)
    for b in 0..<B {
        let qkv = (0..<L).map { t in projectToken(x[(b * L + t) * D..<(b * L + t + 1) * D], p.qkvW, p.qkvB, out: 3 * D) }
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
            let row = projectToken(concat[...], p.outW, p.outB, out: D)
            for o in 0..<D { y[(b * L + l) * D + o] = row[o] }
        }
    }
    return y
}
