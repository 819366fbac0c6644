import Foundation
import HostCore

/// Times of one pass (forward or backward) at several sequence lengths, each a set of repeats: the exponent of
/// time against L fitted on log-log axes through the medians, and how noisy the repeats were.
///
/// The medians make one or two disturbed repeats (another process taking the core) harmless; the spread says
/// when more than that happened, and the `complexity` check then reports instead of judging.
struct ComplexityMeasurement: Sendable {
    /// `(L, seconds of every repeat)`, in increasing L.
    var samples: [(length: Int, seconds: [Double])] = []

    /// The median of each length's repeats.
    var medians: [(length: Int, seconds: Double)] {
        samples.map { ($0.length, Self.median($0.seconds)) }
    }

    /// The least-squares slope of log(time) against log(L) through the medians: time ~ L^p.
    var exponent: Double {
        ScalingFit.exponent(medians.map { ($0.length, $0.seconds) })
    }

    /// The slope for time / log2(L) against L: 1 for an O(L log L) operator, as ``exponent`` is for O(L).
    var exponentOverLogL: Double {
        ScalingFit.exponent(medians.map { ($0.length, $0.seconds / log2(Double(max(2, $0.length)))) })
    }

    /// The largest relative interquartile spread `(q3 - q1) / median` over the lengths: 0 on a quiet machine.
    var spread: Double {
        samples.map { Self.relativeInterquartileRange($0.seconds) }.max() ?? 0
    }

    /// The middle value (the mean of the two middle ones for an even count).
    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// `(q3 - q1) / median`, with the quartiles taken as the order statistics at n/4 and 3n/4.
    static func relativeInterquartileRange(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard s.count >= 2 else { return 0 }
        let m = median(s)
        let q1 = s[s.count / 4]
        let q3 = s[min(s.count - 1, (3 * s.count) / 4)]
        return m > 0 ? (q3 - q1) / m : 0
    }
}
