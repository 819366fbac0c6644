import Foundation
import HostPlugins

/// How the `complexity` check judges a fitted exponent.
///
/// - The declared class is an upper bound (big O): the check fails an operator whose time grows faster than it
///   declares, never one that grows more slowly (per-call overhead flattens the curve at short lengths).
/// - Report only (verdict `skipped`, with the measured exponent as the figure and the reason saying why) when
///   the instance declares no class, when the repeats are too noisy to judge, or when the exponent exceeds the
///   declared one without `--strict-timing`: timing on a shared machine is evidence, not proof, so only a user who
///   trusts the machine turns it into a failure.
/// - With `--strict-timing` an exponent above the declared one plus ``tolerance`` fails even on a noisy machine
///   (medians of several repeats keep a few disturbed runs from moving the fit; the spread is in the reason).
enum ComplexityPolicy {
    /// How far above the declared exponent the fit may go: generous, so cache effects and a busy machine do not
    /// fail an honest operator, while O(L^2) work declared as O(L) (2 against at most 1.5) still fails.
    static let tolerance = 0.5
    /// Above this relative interquartile spread of the repeats (at any length) the timings are too noisy to judge.
    static let noiseLimit = 0.3
    /// Lengths are `firstLength * 2^step` (grids `firstGridSide x firstGridSide` times `2^step`, as square as
    /// possible: a small grid would make a 2D window cover most of it); the check times four consecutive steps
    /// (three at least).
    static let firstLength = 64
    static let firstGridSide = 16
    static let maxStep = 9
    static let lengthsTimed = 4
    /// A length whose workspace exceeds this is not timed (quadratic operators at large L).
    static let maxWorkspaceBytes = 512 << 20

    /// The verdict for the measured exponents against `declared` (see the type's rules).
    static func verdict(
        declared: OperatorComplexity, forward: ComplexityMeasurement, backward: ComplexityMeasurement?,
        strictTiming: Bool
    ) -> ProbeOutcome {
        let passes = [("forward", forward)] + (backward.map { [("backward", $0)] } ?? [])
        let lengths = forward.samples.map(\.length)
        let range = "L = \(lengths.map(String.init).joined(separator: ", "))"
        let spread = passes.map { $0.1.spread }.max() ?? 0
        let figure =
            passes.map { String(format: "%@ L^%.2f", $0.0 == "forward" ? "fwd" : "bwd", $0.1.exponent) }.joined(
                separator: ", ")
            + String(format: " (spread %.0f%%)", spread * 100)
        // For O(L log L) the fit runs on time / log L, whose exponent is 1 like O(L)'s.
        let fitted = passes.map {
            (name: $0.0, exponent: declared == .linearithmic ? $0.1.exponentOverLogL : $0.1.exponent)
        }
        let worst = fitted.max { $0.exponent < $1.exponent }!
        let growth = String(
            format: "%@ time grows as %@L^%.2f over %@", worst.name, declared == .linearithmic ? "log L * " : "",
            worst.exponent, range)
        let noisy = spread > ComplexityPolicy.noiseLimit
        let noise = String(
            format: "repeats spread up to %.0f%%, above the %.0f%% this check trusts", spread * 100,
            ComplexityPolicy.noiseLimit * 100)
        guard let expected = declared.exponent else {
            return .skipped("the instance declares no complexity class (report only): \(growth)", figure: figure)
        }
        let limit = expected + ComplexityPolicy.tolerance
        let bound = String(format: "%@ (exponent at most %.1f)", declared.description, limit)
        if worst.exponent > limit {
            if strictTiming {
                return .fail(
                    "\(growth), faster than the declared \(bound) allows\(noisy ? " (\(noise))" : "")", figure: figure)
            }
            return .skipped(
                "\(growth), faster than the declared \(bound) allows; report only: rerun with --strict-timing to fail on it\(noisy ? " (\(noise))" : "")",
                figure: figure)
        }
        if noisy {
            return .skipped("timings too noisy to judge (\(noise)); report only: \(growth)", figure: figure)
        }
        let slower =
            worst.exponent < expected - ComplexityPolicy.tolerance
            ? "; it grows more slowly than declared (overhead dominates, or the class is pessimistic)" : ""
        return .pass("\(growth), consistent with the declared \(bound)\(slower)", figure: figure)
    }
}
