import Foundation

/// Which steps of an original process a respaced process keeps.
extension GaussianDiffusion {
    /// DiT's `space_timesteps`: the original steps (sorted, ascending) to keep out of `numTimesteps`.
    ///
    /// - `"ddimN"`: the smallest integer stride `s` for which `0, s, 2s, ... < numTimesteps` has exactly `N` entries
    ///   (the DDIM paper's striding).
    /// - `"a,b,c"` (one or more positive counts): the steps are cut into as many equal sections (the first
    ///   `numTimesteps % sections` one step longer), and from a section of `size` steps starting at `start` with count
    ///   `k` the steps `start + round(j * (size - 1) / (k - 1))`, `j = 0..<k`, are kept (the stride accumulated in
    ///   `Double` and rounded half to even, as Python does; `k = 1` keeps `start`).
    ///
    /// `spacedTimesteps(numTimesteps: 1000, sectionCounts: "ddim50")` is `0, 20, ..., 980`.
    /// - Throws: ``DiffusionError/invalidTimestepCount(_:)``, ``DiffusionError/malformedSpacing(spec:reason:)`` for a
    ///   string that is neither form, ``DiffusionError/noIntegerStride(numTimesteps:desiredCount:)``, and
    ///   ``DiffusionError/sectionTooSmall(spec:section:size:count:)`` when a section has fewer steps than asked for.
    public static func spacedTimesteps(numTimesteps: Int, sectionCounts: String) throws(DiffusionError) -> [Int] {
        guard numTimesteps >= 1 else { throw .invalidTimestepCount(numTimesteps) }
        let spec = sectionCounts.trimmingCharacters(in: .whitespaces)
        if spec.hasPrefix("ddim") {
            guard let desired = Int(spec.dropFirst(4)), desired >= 1 else {
                throw .malformedSpacing(spec: sectionCounts, reason: "expected 'ddimN' with a positive integer N")
            }
            for stride in 1..<max(1, numTimesteps) where (numTimesteps + stride - 1) / stride == desired {
                return Array(Swift.stride(from: 0, to: numTimesteps, by: stride))
            }
            throw .noIntegerStride(numTimesteps: numTimesteps, desiredCount: desired)
        }
        var counts: [Int] = []
        for token in spec.split(separator: ",", omittingEmptySubsequences: false) {
            let text = token.trimmingCharacters(in: .whitespaces)
            guard let count = Int(text), count >= 1 else {
                throw .malformedSpacing(
                    spec: sectionCounts,
                    reason:
                        "'\(text)' is not a positive integer; expected 'ddimN' or comma-separated positive step counts")
            }
            counts.append(count)
        }
        let sizePerSection = numTimesteps / counts.count
        let extra = numTimesteps % counts.count
        var start = 0
        var steps: [Int] = []
        for (section, count) in counts.enumerated() {
            let size = sizePerSection + (section < extra ? 1 : 0)
            guard size >= count else {
                throw .sectionTooSmall(spec: sectionCounts, section: section, size: size, count: count)
            }
            let stride = count <= 1 ? 1 : Double(size - 1) / Double(count - 1)
            var position = 0.0
            for _ in 0..<count {
                steps.append(start + Int(position.rounded(.toNearestOrEven)))
                position += stride
            }
            start += size
        }
        return Set(steps).sorted()
    }
}
