import Foundation
import HostCore
import HostPlugins

/// The checks on the numbers a plugin computes as such: float32 against float64, and `init_params` as a function of
/// the seed.
extension Probe {
    // MARK: float32_agreement

    /// The unit roundoff of float32, 2^-24: the largest relative error of one rounding.
    static var float32Rounding: Double { 0x1p-24 }

    /// How many roundings of error the float32 path may accumulate per term of the reduction (see
    /// ``float32Tolerance(reductionSize:condition:)``).
    static var roundingsPerTerm: Double { 4 }

    /// The relative size of the perturbations that measure an output's condition number (float64 rounding is 2^-53,
    /// far below; the response stays linear).
    static var conditionProbe: Double { 0x1p-20 }

    /// The tolerance of one output of the float32 against float64 comparison, relative to the float64 output's
    /// largest magnitude: `4 n u max(1, kappa)`, with `u` = 2^-24, `n` the reduction size and `kappa` the output's
    /// measured relative condition number.
    ///
    /// A sum of n float32 terms carries at most about n u of relative error (the classical bound on recursive
    /// summation, gamma_n = n u / (1 - n u)), and each operation around it (a product, an exponential, a
    /// normalisation) a few u more, hence the factor 4. `n` is B * L * D, the number of input values: no output or
    /// gradient of an operator on [B, L, D] sums more terms than that (a parameter gradient sums over B and L, an
    /// attention output over L tokens of D channels). That bound is relative to the sum of the terms' magnitudes; an
    /// output that cancels (a gradient summing terms of both signs to something small, a scan's decay gradient) is
    /// relatively that much less accurate in any precision, which `kappa` measures: how far the float64 output moves,
    /// relative to its scale, when every input, parameter and dy moves by a random relative 2^-20, divided by 2^-20
    /// (the larger of two tries; 1 for well-conditioned outputs). At the probe's B = 2, L = 16, D = 16 and kappa = 1
    /// this is 1.2e-4; a float32 path that rounds intermediate results to a 16-bit format misses it by 4.9e-4 x kappa
    /// (float16) to 3.9e-3 x kappa (bfloat16) per rounding, 4 to 32 times the tolerance.
    static func float32Tolerance(reductionSize n: Int, condition kappa: Double) -> Double {
        roundingsPerTerm * Double(n) * float32Rounding * max(1, kappa)
    }

    /// The float32 path against the float64 path, on identical values: inputs, parameters (the plugin's
    /// initialisation plus 0.05 N(0, 1), so zero-initialised parameters still count) and dy are drawn in float32
    /// and widened exactly, so the two paths differ only in the arithmetic. y, dx and every parameter gradient are
    /// each compared relative to their own float64 scale, within ``float32Tolerance(reductionSize:condition:)``. An
    /// operator without a built-in reference has no other check of its float32 path (the backward check runs in
    /// float64 where offered).
    func float32Agreement() throws -> ProbeOutcome {
        guard descriptor.capabilities.contains(.float64) else {
            return .pass("the operator computes in float32 only: there is no float64 path to compare with")
        }
        let op = try makeOperator()
        let withBackward = descriptor.capabilities.contains(.backward)
        let shape = [2, length, dim]
        let initial = try op.initialParameters(seed: seed, as: Double.self)
        let params: [[Float]] = initial.enumerated().map { i, p in
            let noise = Tensor<Double>.randomNormal([p.count], seed: seed &+ 150 &+ UInt64(i), scale: 0.05).scalars
            return zip(p.scalars, noise).map { Float($0 + $1) }
        }
        let x = Tensor<Float>.randomNormal(shape, seed: seed &+ 160).scalars
        let dy = Tensor<Float>.randomNormal(shape, seed: seed &+ 161).scalars
        /// Every output at the drawn values, each value times (1 + jitter(i)) where a perturbation is asked for.
        func results<T: TensorScalar>(_: T.Type, perturbation: UInt64? = nil) throws -> [[T]] {
            var state = perturbation ?? 0
            func value(_ v: Float) -> T {
                guard perturbation != nil else { return T(Double(v)) }
                let r = Double(SplitMix.next(&state) >> 11) * 0x1p-53 * 2 - 1
                return T(Double(v) * (1 + Self.conditionProbe * r))
            }
            let inputs = CallInputs(
                shape: shape, x: x.map(value), dy: dy.map(value),
                params: zip(params, initial).map { (shape: $1.shape, values: $0.map(value)) })
            return try outputs(op, backward: false, inputs)
                + (withBackward ? try outputs(op, backward: true, inputs) : [])
        }
        let single = try results(Float.self)
        let double = try results(Double.self)
        let moved = try (1...2).map { try results(Double.self, perturbation: seed &+ 170 &+ UInt64($0)) }
        let names = outputNames(op, backward: false) + (withBackward ? outputNames(op, backward: true) : [])
        let n = shape.reduce(1, *)
        var worst = (ratio: 0.0, error: 0.0, tolerance: 0.0, kappa: 1.0, name: "y")
        for (k, name) in names.enumerated() {
            let error = Self.widenedError(single[k], double[k])
            let responses = moved.map { Probe<Double>.relativeError($0[k], double[k]) / Self.conditionProbe }
            let kappa = responses.allSatisfy(\.isFinite) ? responses.max() ?? 1 : 1
            let tolerance = Self.float32Tolerance(reductionSize: n, condition: kappa)
            let ratio = error.isNaN ? .infinity : error / tolerance
            if ratio >= worst.ratio { worst = (ratio, error, tolerance, max(1, kappa), name) }
        }
        let figure = String(
            format: "max rel. error %.2e (%@), %.2g of its tolerance", worst.error, worst.name, worst.ratio)
        let bound = String(
            format: "%.2e = %d x %d x 2^-24 x kappa %.3g", worst.tolerance, Int(Self.roundingsPerTerm), n, worst.kappa)
        guard worst.ratio <= 1 else {
            return .fail(
                "the float32 \(worst.name) disagrees with the float64 one on the same values (relative error \(String(format: "%.2e", worst.error)) > \(bound)): the float32 path loses far more precision than float32 rounding explains (a 16-bit intermediate?)",
                figure: figure)
        }
        return .pass(
            "float32 y\(withBackward ? ", dx and \(op.parameters.count) parameter gradient(s)" : "") agree with float64 within 4 n u max(1, kappa) (n = B L D = \(n); tightest: \(worst.name), \(bound))",
            figure: figure)
    }

    /// ``relativeError(_:_:)`` of a float32 result against a float64 one, in float64.
    static func widenedError(_ a: [Float], _ r: [Double]) -> Double {
        Probe<Double>.relativeError(a.map { Double($0) }, r)
    }

    // MARK: init_params

    /// `init_params` as a pure function of the seed: the same seed twice on one instance and once on a fresh one
    /// give identical bytes (float32, and float64 where offered); the runner runs the check in a second process and
    /// compares the digest of those bytes (the figure), which catches an address or the process id mixed in. Seeds
    /// differing in the lowest bit, bit 32 and bit 63 must each give different parameters, unless no parameter
    /// depends on the seed at all (a constant initialisation: ones, zeros, an identity filter).
    func initParams() throws -> ProbeOutcome {
        let op = try makeOperator()
        guard !op.parameters.isEmpty else { return .pass("the operator has no parameters", figure: "no parameters") }
        let names = op.parameters.map(\.name)
        let float64 = descriptor.capabilities.contains(.float64)
        /// Each parameter's bytes: float32, then float64 where offered.
        func bytes(_ op: Operator, _ seed: UInt64) throws -> [[UInt64]] {
            let single = try op.initialParameters(seed: seed, as: Float.self)
            var all = single.map { $0.scalars.map { UInt64($0.bitPattern) } }
            if float64 {
                let double = try op.initialParameters(seed: seed, as: Double.self)
                all += double.map { $0.scalars.map(\.bitPattern) }
            }
            return all
        }
        func firstDifference(_ a: [[UInt64]], _ b: [[UInt64]]) -> String? {
            for (k, (u, v)) in zip(a, b).enumerated() {
                if let i = u.indices.first(where: { $0 >= v.count || u[$0] != v[$0] }) {
                    let name = names[k % names.count]
                    return "'\(name)' (\(k < names.count ? "float32" : "float64")) first differs at element \(i)"
                }
            }
            return nil
        }
        let first = try bytes(op, seed)
        if let d = firstDifference(try bytes(op, seed), first) {
            return .fail(
                "two init_params calls with seed \(seed) on one instance gave different parameters: \(d); it mixes in something besides the seed (a call counter, the time, an address)"
            )
        }
        if let d = firstDifference(try bytes(try makeOperator(), seed), first) {
            return .fail(
                "init_params with seed \(seed) gave different parameters on two instances: \(d); it mixes in something besides the seed (an address, the time, per-instance state)"
            )
        }
        let others: [(String, UInt64)] = [
            ("lowest bit", seed ^ 1), ("bit 32", seed ^ (1 << 32)), ("bit 63", seed ^ (1 << 63)),
        ]
        let digests = try others.map { try Self.digest(bytes(op, $0.1)) }
        let digest = Self.digest(first)
        let figure = String(format: "digest %016llx", digest)
        if digests.allSatisfy({ $0 == digest }) {
            return .pass(
                "the same bytes from seed \(seed) twice and on a fresh instance; no parameter depends on the seed (a constant initialisation)",
                figure: figure)
        }
        let all = [digest] + digests
        for (i, (what, other)) in others.enumerated() {
            if let j = all.indices.first(where: { $0 != i + 1 && all[$0] == all[i + 1] }) {
                let against = j == 0 ? "seed \(seed)" : "seed \(others[j - 1].1)"
                return .fail(
                    "seed \(other) (seed \(seed) with its \(what) flipped) gives the same parameters as \(against), while other seeds give others: init_params ignores part of the seed (truncated to fewer bits?)",
                    figure: figure)
            }
        }
        return .pass(
            "the same bytes from seed \(seed) twice and on a fresh instance; seeds differing in the lowest bit, bit 32 and bit 63 give different parameters",
            figure: figure)
    }

    /// FNV-1a over the values' bytes.
    static func digest(_ values: [[UInt64]]) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for tensor in values {
            for v in tensor {
                var w = v
                for _ in 0..<8 {
                    h = (h ^ (w & 0xFF)) &* 0x100_0000_01B3
                    w >>= 8
                }
            }
            h = (h ^ 0xFF) &* 0x100_0000_01B3
        }
        return h
    }
}
