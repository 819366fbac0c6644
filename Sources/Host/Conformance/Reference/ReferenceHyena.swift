import Foundation

// Naive float64 references for the Hyena operators, written from the math in docs/OPERATORS.md sections 6 and 9 with
// plain loops (no BLAS, no shared code with the plugin), for the conformance harness's `reference` check and the
// tests. Arrays are row-major; Linear weights are PyTorch `(out, in)`; a conv weight `(C, 1, k)` is read as `(C, k)`.
// Outputs are computed one token at a time from that token's own history, so a test can ask for a few tokens of a
// long sequence.

/// The grafting Hyena token mixers (section 6):
/// X: `y = Lin_out(q * k * v)` with `[q,k,v] = split(CC_ks(Lin_in(x); short))`;
/// SE: `y = Lin_out(q * CC_ki(k * v; inner))` with the same `[q,k,v]`;
/// Y: `y = Lin_out(q * CC_ki(k * v; inner))` with `[q,k,v] = split(Lin_in(x))`.
/// `CC_k(u; w, b)[t, c] = b[c] + sum_j w[c, j] * u[t-(k-1)+j, c]`, zero below index 0.
public struct ReferenceHyenaMixer: Sendable {
    public enum Variant: Sendable { case x, se, y }

    let variant: Variant
    let D: Int
    let inW: [Double], inB: [Double]
    /// `(3D, ks)` and `(3D)`; unused by Y.
    let shortW: [Double], shortB: [Double], shortTaps: Int
    /// `(D, ki)` and `(D)`; unused by X.
    let innerW: [Double], innerB: [Double], innerTaps: Int
    let outW: [Double], outB: [Double]

    /// Reads the parameters by their upstream names; nil when one the variant uses is missing.
    public init?(_ variant: Variant, D: Int, parameters: [String: [Double]], shortTaps: Int, innerTaps: Int) {
        guard let inW = parameters["in_proj.weight"], let inB = parameters["in_proj.bias"],
            let outW = parameters["out_proj.weight"], let outB = parameters["out_proj.bias"]
        else { return nil }
        if variant != .y && (parameters["short_filter.weight"] == nil || parameters["short_filter.bias"] == nil) {
            return nil
        }
        if variant != .x && (parameters["inner_filter.weight"] == nil || parameters["inner_filter.bias"] == nil) {
            return nil
        }
        self.variant = variant
        self.D = D
        (self.inW, self.inB, self.outW, self.outB) = (inW, inB, outW, outB)
        shortW = parameters["short_filter.weight"] ?? []
        shortB = parameters["short_filter.bias"] ?? []
        self.shortTaps = shortTaps
        innerW = parameters["inner_filter.weight"] ?? []
        innerB = parameters["inner_filter.bias"] ?? []
        self.innerTaps = innerTaps
    }

    /// `y[b, t, :]` for `x` of shape `(B, L, D)`.
    public func output(_ x: [Double], L: Int, batch b: Int, token t: Int) -> [Double] {
        // u[s] = Lin_in(x[b, s]), each row computed once.
        var rows: [Int: [Double]] = [:]
        func u(_ s: Int) -> [Double] {
            if let row = rows[s] { return row }
            let row = linearRow(x[(b * L + s) * D..<(b * L + s + 1) * D], inW, inB, out: 3 * D)
            rows[s] = row
            return row
        }
        // [q, k, v][s]: the featurizer conv of u (X, SE) or u itself (Y).
        func qkv(_ s: Int) -> [Double] {
            guard variant != .y else { return u(s) }
            var r = shortB
            for j in 0..<shortTaps where s - (shortTaps - 1) + j >= 0 {
                let row = u(s - (shortTaps - 1) + j)
                for c in 0..<3 * D { r[c] += shortW[c * shortTaps + j] * row[c] }
            }
            return r
        }
        let now = qkv(t)
        var gated = [Double](repeating: 0, count: D)
        switch variant {
        case .x:
            for c in 0..<D { gated[c] = now[c] * now[D + c] * now[2 * D + c] }
        case .se, .y:
            // f = CC_ki(k * v; inner)[t], then q * f.
            var f = innerB
            for j in 0..<innerTaps where t - (innerTaps - 1) + j >= 0 {
                let row = qkv(t - (innerTaps - 1) + j)
                for c in 0..<D { f[c] += innerW[c * innerTaps + j] * row[D + c] * row[2 * D + c] }
            }
            for c in 0..<D { gated[c] = now[c] * f[c] }
        }
        return linearRow(gated[...], outW, outB, out: D)
    }

    /// The whole output `(B, L, D)`.
    public func forward(_ x: [Double], B: Int, L: Int) -> [Double] {
        (0..<B).flatMap { b in (0..<L).flatMap { t in output(x, L: L, batch: b, token: t) } }
    }
}

/// The grafting convolutional MLP `mlp_hyena_x` (section 9), with `H = r D`: `u = Lin_in(x)` of width `3H`,
/// `uc[b, l, f] = short_b[l] + sum_j short_w[l, j] * u[b, l, f-(k-1)+j]` (a causal conv along the features, one
/// kernel per token position), `[q,k,v] = split_H(uc)`, `y = Lin_out(q * k * v)`.
public struct ReferenceMLPHyenaX: Sendable {
    let D: Int
    let H: Int
    let inW: [Double], inB: [Double]
    /// `(L, k)` and `(L)`.
    let shortW: [Double], shortB: [Double], taps: Int
    let outW: [Double], outB: [Double]

    /// Reads the parameters by their upstream names; nil when one is missing.
    public init?(D: Int, H: Int, parameters: [String: [Double]], taps: Int) {
        guard let inW = parameters["in_proj.weight"], let inB = parameters["in_proj.bias"],
            let shortW = parameters["short_filter.weight"], let shortB = parameters["short_filter.bias"],
            let outW = parameters["out_proj.weight"], let outB = parameters["out_proj.bias"]
        else { return nil }
        self.D = D
        self.H = H
        (self.inW, self.inB, self.shortW, self.shortB, self.outW, self.outB) = (inW, inB, shortW, shortB, outW, outB)
        self.taps = taps
    }

    /// `y[b, l, :]` for `x` of shape `(B, L, D)`.
    func output(_ x: [Double], L: Int, batch b: Int, token l: Int) -> [Double] {
        let u = linearRow(x[(b * L + l) * D..<(b * L + l + 1) * D], inW, inB, out: 3 * H)
        var uc = [Double](repeating: shortB[l], count: 3 * H)
        for f in 0..<3 * H {
            for j in 0..<taps where f - (taps - 1) + j >= 0 {
                uc[f] += shortW[l * taps + j] * u[f - (taps - 1) + j]
            }
        }
        let gated = (0..<H).map { c in uc[c] * uc[H + c] * uc[2 * H + c] }
        return linearRow(gated[...], outW, outB, out: D)
    }

    /// The whole output `(B, L, D)`.
    public func forward(_ x: [Double], B: Int, L: Int) -> [Double] {
        (0..<B).flatMap { b in (0..<L).flatMap { l in output(x, L: L, batch: b, token: l) } }
    }
}

extension ReferenceOperators {
    /// `hyena_x`: `short_filter_order` taps of the featurizer conv.
    static func hyenaX(_ input: ReferenceInput) -> [Double]? {
        guard let taps = input.int("short_filter_order") else { return nil }
        return ReferenceHyenaMixer(.x, D: input.dim, parameters: input.parameters, shortTaps: taps, innerTaps: 0)?
            .forward(input.x, B: input.batch, L: input.length)
    }

    /// `hyena_se`: upstream builds the inner filter with `short_filter_order` taps too (`inner_filter_len` only sets
    /// an unused padding).
    static func hyenaSE(_ input: ReferenceInput) -> [Double]? {
        guard let taps = input.int("short_filter_order") else { return nil }
        return ReferenceHyenaMixer(.se, D: input.dim, parameters: input.parameters, shortTaps: taps, innerTaps: taps)?
            .forward(input.x, B: input.batch, L: input.length)
    }

    /// `hyena_y`: `inner_filter_len` taps, no featurizer conv.
    static func hyenaY(_ input: ReferenceInput) -> [Double]? {
        guard let taps = input.int("inner_filter_len") else { return nil }
        return ReferenceHyenaMixer(.y, D: input.dim, parameters: input.parameters, shortTaps: 0, innerTaps: taps)?
            .forward(input.x, B: input.batch, L: input.length)
    }

    /// `mlp_hyena_x`: hidden width `expansion_ratio * D`, `short_filter_order` taps along the features.
    static func mlpHyenaX(_ input: ReferenceInput) -> [Double]? {
        guard let ratio = input.int("expansion_ratio"), let taps = input.int("short_filter_order") else { return nil }
        return ReferenceMLPHyenaX(D: input.dim, H: ratio * input.dim, parameters: input.parameters, taps: taps)?
            .forward(input.x, B: input.batch, L: input.length)
    }
}
