import HostCore

extension SplitMix64 {
    /// A uniform integer in `range`, by a fixed recipe (unlike `Int.random(in:using:)`, whose algorithm the
    /// standard library does not promise to keep), so datasets stay identical across toolchains.
    mutating func int(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(next() % span)
    }

    /// A uniform double in `[low, high)`.
    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextUnit() }
}
