import Foundation

/// Power-law fits of measured times, shared by benchmarks and the conformance harness's complexity check.
public enum ScalingFit {
    /// The least-squares slope of log(time) against log(L): the exponent `e` of `time ~ L^e`.
    /// `nan` when fewer than two distinct lengths are given.
    public static func exponent(_ points: [(Int, Double)]) -> Double {
        let xs = points.map { log(Double($0.0)) }, ys = points.map { log($0.1) }
        let mx = xs.reduce(0, +) / Double(xs.count), my = ys.reduce(0, +) / Double(ys.count)
        let num = zip(xs, ys).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
        let den = xs.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        return den > 0 ? num / den : .nan
    }
}
