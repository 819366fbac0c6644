import HostCore

/// Moments and tails of a set of activations, accumulated in float64 in a fixed order (so the same values give the same
/// bits whatever the thread count): what the grafting paper looks at to choose stage 1's loss (heavy-tailed
/// activations, as attention's, favour L1).
public struct ActivationStatistics: Codable, Equatable, Sendable {
    /// Values seen.
    public var count = 0
    /// Mean.
    public var mean = 0.0
    /// Standard deviation (population).
    public var std = 0.0
    /// Root mean square: the activations' scale.
    public var rms = 0.0
    /// Largest magnitude.
    public var absMax = 0.0
    /// Excess kurtosis (0 for a Gaussian; large for heavy tails).
    public var kurtosis = 0.0
    /// Share of values more than ``outlierSigmas`` standard deviations from the mean.
    public var outlierShare = 0.0

    /// Share of the values in each bin of ``histogramBinWidth`` standard deviations from the tensor's own mean, from
    /// `-histogramReach` to `+histogramReach`, with one more bin at each end for everything beyond (so
    /// `2 * reach / width + 2` bins); nil in reports written before histograms.
    public var histogram: [Double]?

    /// What counts as an outlier, in standard deviations from the mean.
    public static let outlierSigmas = 6.0
    /// Width of a histogram bin, in standard deviations.
    public static let histogramBinWidth = 0.5
    /// How far the histogram's inner bins reach on each side, in standard deviations.
    public static let histogramReach = 12.0
    /// Bins of ``histogram``: the inner ones and the two tails.
    public static var histogramBins: Int { Int(2 * histogramReach / histogramBinWidth) + 2 }

    /// The lower edge (in standard deviations) of inner histogram bin `i` (1 ... bins - 2).
    public static func histogramEdge(_ i: Int) -> Double { -histogramReach + Double(i - 1) * histogramBinWidth }

    enum CodingKeys: String, CodingKey {
        case count, mean, std, rms
        case absMax = "abs_max"
        case kurtosis
        case outlierShare = "outlier_share"
        case histogram
    }

    public init() {}

    /// The statistics of `values`.
    public init(_ values: [Float]) {
        var accumulator = Accumulator()
        accumulator.add(values)
        self = accumulator.statistics
    }

    /// Pooled statistics of several tensors, added in a fixed order, without keeping their values: float64 power sums
    /// for the moments (activations are centred near 0, so the cancellation of the fourth moment stays far below the
    /// kurtosis' own scale), and each tensor's outliers and histogram judged against that tensor's own mean and
    /// deviation (a constant tensor counts in the centre bin).
    public struct Accumulator: Sendable {
        private var count = 0
        private var sums = [Double](repeating: 0, count: 4)
        private var absMax = 0.0
        private var outliers = 0.0
        private var bins = [Double](repeating: 0, count: ActivationStatistics.histogramBins)

        public init() {}

        public mutating func add(_ values: [Float]) {
            guard !values.isEmpty else { return }
            var local = [Double](repeating: 0, count: 4)
            for v in values {
                let x = Double(v), x2 = x * x
                local[0] += x
                local[1] += x2
                local[2] += x2 * x
                local[3] += x2 * x2
                absMax = max(absMax, abs(x))
            }
            let n = Double(values.count)
            let mean = local[0] / n
            let std = max(0, local[1] / n - mean * mean).squareRoot()
            if std > 0 {
                let bound = ActivationStatistics.outlierSigmas * std
                outliers += Double(values.lazy.filter { abs(Double($0) - mean) > bound }.count)
                let reach = ActivationStatistics.histogramReach, width = ActivationStatistics.histogramBinWidth
                let last = bins.count - 1
                for v in values {
                    let z = (Double(v) - mean) / std
                    bins[z < -reach ? 0 : z >= reach ? last : min(last - 1, 1 + Int((z + reach) / width))] += 1
                }
            } else {
                bins[bins.count / 2] += Double(values.count)
            }
            for i in 0..<4 { sums[i] += local[i] }
            count += values.count
        }

        /// Adds everything `other` holds (the pooled statistics of both, as if their values had been added here).
        public mutating func add(_ other: Accumulator) {
            for i in 0..<4 { sums[i] += other.sums[i] }
            count += other.count
            absMax = max(absMax, other.absMax)
            outliers += other.outliers
            for i in bins.indices { bins[i] += other.bins[i] }
        }

        /// The statistics of everything added.
        public var statistics: ActivationStatistics {
            var s = ActivationStatistics()
            s.count = count
            guard count > 0 else { return s }
            let n = Double(count)
            let (e1, e2, e3, e4) = (sums[0] / n, sums[1] / n, sums[2] / n, sums[3] / n)
            let variance = max(0, e2 - e1 * e1)
            let m4 = e4 - 4 * e1 * e3 + 6 * e1 * e1 * e2 - 3 * e1 * e1 * e1 * e1
            s.mean = e1
            s.std = variance.squareRoot()
            s.rms = e2.squareRoot()
            s.absMax = absMax
            s.kurtosis = variance > 0 ? m4 / (variance * variance) - 3 : 0
            s.outlierShare = outliers / n
            s.histogram = bins.map { $0 / n }
            return s
        }
    }
}
