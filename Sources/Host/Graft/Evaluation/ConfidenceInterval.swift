import Foundation

/// A two-sided 95% confidence interval.
public struct ConfidenceInterval: Codable, Equatable, Sendable {
    public var low: Double
    public var high: Double

    public init(low: Double, high: Double) {
        self.low = low
        self.high = high
    }

    /// The Wilson score interval of a binomial proportion (`successes` of `trials`), z = 1.96: unlike the normal
    /// approximation it stays inside [0, 1] and is not empty at 0 or 1 successes.
    public static func wilson(successes: Int, trials: Int) -> ConfidenceInterval {
        guard trials > 0 else { return ConfidenceInterval(low: 0, high: 1) }
        let z = 1.959_963_984_540_054, n = Double(trials), p = Double(successes) / n
        let denominator = 1 + z * z / n
        let centre = (p + z * z / (2 * n)) / denominator
        let half = z * (p * (1 - p) / n + z * z / (4 * n * n)).squareRoot() / denominator
        // At 0 (or all) successes the bound is exactly 0 (or 1); computed, it would carry round-off.
        return ConfidenceInterval(
            low: successes == 0 ? 0 : max(0, centre - half), high: successes == trials ? 1 : min(1, centre + half))
    }

    /// The normal interval around `estimate` with the bootstrap standard error: `estimate ± 1.96 sd(replicates)`
    /// (sample standard deviation), cut at `floor`. Used for the Fréchet distance and the score, whose bootstrap
    /// replicates are biased (a resample repeats about a third of its points, which inflates the Fréchet distance
    /// and lowers the score), so their percentiles need not even contain the estimate; their spread is still a
    /// usable standard error. Approximate: it ignores that bias.
    public static func normal(estimate: Double, replicates: [Double], floor: Double = -.infinity) -> ConfidenceInterval
    {
        guard replicates.count > 1 else { return ConfidenceInterval(low: estimate, high: estimate) }
        let mean = replicates.reduce(0, +) / Double(replicates.count)
        let variance = replicates.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(replicates.count - 1)
        let half = 1.959_963_984_540_054 * variance.squareRoot()
        return ConfidenceInterval(low: max(floor, estimate - half), high: estimate + half)
    }

    /// The percentile bootstrap interval: the 2.5% and 97.5% quantiles (linear interpolation between order
    /// statistics) of `replicates`.
    public static func percentile(_ replicates: [Double]) -> ConfidenceInterval {
        let sorted = replicates.sorted()
        func quantile(_ q: Double) -> Double {
            guard sorted.count > 1 else { return sorted.first ?? .nan }
            let position = q * Double(sorted.count - 1)
            let below = Int(position.rounded(.down)), above = min(sorted.count - 1, below + 1)
            return sorted[below] + (position - Double(below)) * (sorted[above] - sorted[below])
        }
        return ConfidenceInterval(low: quantile(0.025), high: quantile(0.975))
    }
}
