import Foundation

// A naive float64 reference for safari's original Hyena operator (docs/OPERATORS.md section 7), with plain loops and a
// direct O(L^2) causal convolution (no FFT, no shared code with the plugin).

/// `HyenaOperator` with order `o`: `[x_0..x_{o-1}, v] = split(CC_ks(Lin_in(x)))`; for `j = 0..o-2`
/// (`i = o-1-j`): `a = v * x_i`, `v[t] = sum_{s<=t} h[t-s, c(o-1)+j] a[s] + bias[c(o-1)+j] a[t]`; `y = Lin_out(v * x_0)`.
/// The filter `h = HyenaFilter.filter(L)`: `z[:L]` through Linear/Sin layers (one shared `freq`), a bias-free
/// output Linear, times `exp(-t |delta|) + shift` when modulating.
public struct ReferenceHyenaOperator: Sendable {
    let D: Int, order: Int, shortTaps: Int, maxLength: Int, embedding: Int, inner: Int
    let modulate: Bool, shift: Double, fastDecay: Double, slowDecay: Double, target: Double
    let p: [String: [Double]]

    /// Reads attributes and upstream-named parameters; nil when one is missing.
    public init?(D: Int, attributes: ReferenceInput, parameters: [String: [Double]]) {
        let a = attributes
        guard let order = a.int("order"), let taps = a.int("short_filter_order"), let lMax = a.int("l_max"),
            let emb = a.int("emb_dim"), let inner = a.int("num_inner_mlps"), let modulate = a.bool("modulate"),
            let shift = a.float("shift"), let fast = a.float("fast_decay_pct"), let slow = a.float("slow_decay_pct"),
            let target = a.float("target")
        else { return nil }
        var names = [
            "in_proj.weight", "in_proj.bias", "short_filter.weight", "short_filter.bias", "filter_fn.pos_emb.z",
            "filter_fn.implicit_filter.1.freq", "filter_fn.bias", "out_proj.weight", "out_proj.bias",
            "filter_fn.implicit_filter.\(2 * (inner + 1)).weight",
        ]
        for i in 0...inner {
            names += ["filter_fn.implicit_filter.\(2 * i).weight", "filter_fn.implicit_filter.\(2 * i).bias"]
        }
        guard names.allSatisfy({ parameters[$0] != nil }) else { return nil }
        (self.D, self.order, shortTaps, maxLength, embedding, self.inner) = (D, order, taps, lMax, emb, inner)
        (self.modulate, self.shift, fastDecay, slowDecay, self.target) = (modulate, shift, fast, slow, target)
        p = parameters
    }

    static func linspace(_ lo: Double, _ hi: Double, _ n: Int, _ i: Int) -> Double {
        n <= 1 ? lo : lo + (hi - lo) * Double(i) / Double(n - 1)
    }

    /// `h[t][channel]` for `t < L`, channel `< D (o-1)`.
    public func filter(length L: Int) -> [[Double]] {
        let F = p["filter_fn.implicit_filter.0.bias"]!.count
        let C = D * (order - 1)
        let z = p["filter_fn.pos_emb.z"]!, freq = p["filter_fn.implicit_filter.1.freq"]!
        let out = p["filter_fn.implicit_filter.\(2 * (inner + 1)).weight"]!
        return (0..<L).map { t in
            var s = Array(z[t * embedding..<(t + 1) * embedding])
            for i in 0...inner {
                let pre = linearRow(
                    s[...], p["filter_fn.implicit_filter.\(2 * i).weight"]!,
                    p["filter_fn.implicit_filter.\(2 * i).bias"]!, out: F)
                s = (0..<F).map { sin(freq[$0] * pre[$0]) }
            }
            var h = linearRow(s[...], out, nil, out: C)
            if modulate {
                let time = Self.linspace(0, 1, maxLength, t)
                for c in 0..<C {
                    let delta = Self.linspace(log(target) / slowDecay, log(target) / fastDecay, C, c)
                    h[c] *= exp(-time * abs(delta)) + shift
                }
            }
            return h
        }
    }

    /// The whole output `(B, L, D)`.
    public func forward(_ x: [Double], B: Int, L: Int) -> [Double] {
        let P = (order + 1) * D
        let h = filter(length: L)
        let bias = p["filter_fn.bias"]!
        let (sw, sb) = (p["short_filter.weight"]!, p["short_filter.bias"]!)
        var y: [Double] = []
        for b in 0..<B {
            let u = (0..<L).map { t in
                linearRow(x[(b * L + t) * D..<(b * L + t + 1) * D], p["in_proj.weight"]!, p["in_proj.bias"]!, out: P)
            }
            let uc = (0..<L).map { t in
                (0..<P).map { c in
                    var s = sb[c]
                    for j in 0..<shortTaps where t - (shortTaps - 1) + j >= 0 {
                        s += sw[c * shortTaps + j] * u[t - (shortTaps - 1) + j][c]
                    }
                    return s
                }
            }
            var v = uc.map { Array($0[order * D..<P]) }
            for j in 0..<order - 1 {
                let i = order - 1 - j
                let a = (0..<L).map { t in (0..<D).map { c in v[t][c] * uc[t][i * D + c] } }
                v = (0..<L).map { t in
                    (0..<D).map { c in
                        let ch = c * (order - 1) + j
                        var s = bias[ch] * a[t][c]
                        for q in 0...t { s += h[t - q][ch] * a[q][c] }
                        return s
                    }
                }
            }
            for t in 0..<L {
                let g = (0..<D).map { v[t][$0] * uc[t][$0] }
                y += linearRow(g[...], p["out_proj.weight"]!, p["out_proj.bias"]!, out: D)
            }
        }
        return y
    }
}

extension ReferenceOperators {
    /// `hyena`: safari's HyenaOperator with the upstream-default heads, blocks and mixing.
    static func hyena(_ input: ReferenceInput) -> [Double]? {
        ReferenceHyenaOperator(D: input.dim, attributes: input, parameters: input.parameters)?
            .forward(input.x, B: input.batch, L: input.length)
    }
}
