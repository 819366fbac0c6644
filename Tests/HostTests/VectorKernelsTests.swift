import Foundation
import Testing
import VectorKernels

/// The float32 vector kernels against the same functions written here in float64, on whichever instruction set
/// this machine runs them with (`ozv_isa`). Tolerances: exp and tanh are accurate to a few float32 ulp (FastMath's
/// method, `FastMathTests`), so GELU and its derivative, built from them with a handful of float32 operations, are
/// held to 2e-6 absolute + 4e-6 relative; softmax rows of up to 1000 keys sum 1000 rounded terms, held to 1e-6
/// absolute per probability.
@Suite struct VectorKernelsTests {
    private static let inputs: [Float] =
        stride(from: -12.0, through: 12.0, by: 0.0173).map { Float($0) } + [0, -0.0, 1e-8]

    private func geluExact(_ u: Double) -> Double {
        0.5 * u * (1 + tanh(0.7978845608028654 * (u + 0.044715 * u * u * u)))
    }

    private func geluDerivativeExact(_ u: Double) -> Double {
        let k = 0.7978845608028654
        let t = tanh(k * (u + 0.044715 * u * u * u))
        return 0.5 * (1 + t) + 0.5 * u * (1 - t * t) * k * (1 + 3 * 0.044715 * u * u)
    }

    @Test func isaIsNamed() {
        #expect(["x86-64-v4", "x86-64-v3", "baseline"].contains(String(cString: ozv_isa())))
    }

    @Test func geluAndItsDerivativeMatchFloat64() {
        let x = Self.inputs
        var act = [Float](repeating: .nan, count: x.count)
        ozv_gelu_tanh(&act, x, Int64(x.count))
        var g = [Float](repeating: 1, count: x.count)
        g[7] = -2.5  // the backward multiplies the incoming gradient
        ozv_gelu_tanh_backward(&g, x, Int64(x.count))
        for i in x.indices {
            let u = Double(x[i])
            let exact = geluExact(u), slope = (i == 7 ? -2.5 : 1) * geluDerivativeExact(u)
            #expect(
                abs(Double(act[i]) - exact) <= 2e-6 + 4e-6 * abs(exact), "GELU(\(u)) = \(act[i]), expected \(exact)")
            #expect(abs(Double(g[i]) - slope) <= 2e-6 + 4e-6 * abs(slope), "GELU'(\(u)) = \(g[i]), expected \(slope)")
        }
    }

    @Test func expAndSiluMatchFloat64() {
        let x = Self.inputs.map { $0 * 7 }  // -84 ... 84
        var y = [Float](repeating: 0, count: x.count)
        ozv_exp(&y, x, Int64(x.count))
        var s = [Float](repeating: 0, count: x.count)
        ozv_silu(&s, x, Int64(x.count))
        for i in x.indices {
            let exact = Foundation.exp(Double(x[i]))
            #expect(abs(Double(y[i]) - exact) <= 4e-7 * exact, "exp(\(x[i]))")
            let silu = Double(x[i]) / (1 + Foundation.exp(-Double(x[i])))
            #expect(abs(Double(s[i]) - silu) <= 1e-6 + 1e-6 * abs(silu), "silu(\(x[i]))")
        }
    }

    /// Rows of every length around the 16-lane boundary, causal (visible < length) and full, with large logits.
    @Test func softmaxRowsMatchFloat64() {
        var rng = SystemRandomNumberGenerator()
        for length in [1, 2, 15, 16, 17, 33, 255, 1000] {
            for visible in Set([1, max(1, length / 2), length]) {
                let logits = (0..<length).map { _ in Float.random(in: -30...30, using: &rng) }
                var row = logits
                ozv_softmax_row(&row, Int64(visible), Int64(length))
                let m = logits[0..<visible].max()!
                let exps = logits[0..<visible].map { Foundation.exp(Double($0 - m)) }
                let total = exps.reduce(0, +)
                for j in 0..<visible {
                    #expect(abs(Double(row[j]) - exps[j] / total) <= 1e-6, "L=\(length) visible=\(visible) j=\(j)")
                }
                #expect(row[visible...].allSatisfy { $0 == 0 }, "masked keys are zero")
            }
        }
    }

    /// One machine, one answer: the same row twice gives the same bits.
    @Test func softmaxIsReproducible() {
        let logits = (0..<777).map { Float(sin(Double($0) * 0.37) * 9) }
        var a = logits, b = logits
        ozv_softmax_row(&a, 700, 777)
        ozv_softmax_row(&b, 700, 777)
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
    }

    /// The softmax's vector-Jacobian product against float64: g = p * (g - <p, g>), rows around the lane boundary.
    @Test func softmaxBackwardMatchesFloat64() {
        for n in [1, 15, 16, 17, 300] {
            var p = (0..<n).map { Float(1 + sin(Double($0))) }
            let total = p.reduce(0, +)
            p = p.map { $0 / total }
            let g = (0..<n).map { Float(cos(Double($0) * 0.7) * 3) }
            var out = g
            ozv_softmax_backward_row(p, &out, Int64(n))
            let dot = zip(p, g).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            for j in 0..<n {
                let exact = Double(p[j]) * (Double(g[j]) - dot)
                #expect(abs(Double(out[j]) - exact) <= 1e-6 * max(1, abs(exact)), "n=\(n) j=\(j)")
            }
        }
    }

    /// AdamW and the EMA are compiled without FMA contraction, so they give exactly the bits of the formula written
    /// in scalar float32 here (what the host's loop computed before), on any instruction set; and the float64
    /// formula within float32 rounding of a handful of operations. 1,003 elements: vector body and scalar tail.
    @Test func adamwAndEMAAreTheirFormulasBitForBit() {
        let n = 1003
        var state: UInt64 = 7
        func random() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 250_000
        }
        let g0 = (0..<n).map { _ in random() }, p0 = (0..<n).map { _ in random() }
        let m0 = (0..<n).map { _ in random() / 10 }, v0 = (0..<n).map { _ in abs(random()) / 10 }
        let (decay, b1, b2, c1, c2, rate, eps): (Float, Float, Float, Float, Float, Float, Float) =
            (0.9999, 0.9, 0.999, 0.271, 0.00299, 1e-3, 1e-8)
        var p = p0, m = m0, v = v0
        ozv_adamw(&p, &m, &v, g0, Int64(n), decay, b1, b2, c1, c2, rate, eps)
        for i in 0..<n {
            var (ps, ms, vs) = (p0[i], m0[i], v0[i])
            ps *= decay
            ms = b1 * ms + (1 - b1) * g0[i]
            vs = b2 * vs + (1 - b2) * g0[i] * g0[i]
            ps -= rate * (ms / c1) / ((vs / c2).squareRoot() + eps)
            #expect(p[i].bitPattern == ps.bitPattern && m[i].bitPattern == ms.bitPattern, "element \(i)")
            #expect(v[i].bitPattern == vs.bitPattern, "element \(i)")
            let m64 = 0.9 * Double(m0[i]) + 0.1 * Double(g0[i])
            let v64 = 0.999 * Double(v0[i]) + 0.001 * Double(g0[i]) * Double(g0[i])
            let p64 =
                Double(p0[i]) * Double(decay) - 1e-3 * (m64 / Double(c1)) / ((v64 / Double(c2)).squareRoot() + 1e-8)
            #expect(abs(Double(p[i]) - p64) <= 1e-6 * max(1, abs(p64)), "element \(i): \(p[i]) against \(p64)")
        }
        var e = m0
        ozv_ema(&e, p0, Int64(n), 0.999)
        for i in 0..<n {
            let es: Float = 0.999 * m0[i] + (1 - 0.999) * p0[i]
            #expect(e[i].bitPattern == es.bitPattern, "EMA element \(i)")
        }
    }
}
