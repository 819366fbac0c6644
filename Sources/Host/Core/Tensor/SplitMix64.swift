import Foundation

/// A small, fast, seedable generator (SplitMix64, Steele et al. 2014): the same seed gives the same stream
/// on every machine, which the CLI's `--seed` and the tests rely on.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for stream `stream` (a training step, say) of `seed`: seeded with the first output of a
    /// generator seeded by `seed ^ stream * golden`, so neighbouring streams start at unrelated states. (Seeding
    /// with `seed ^ stream * golden` directly would make stream s + 1 replay stream s shifted by one draw, since
    /// every draw adds the same golden increment.)
    public init(seed: UInt64, stream: UInt64) {
        var outer = SplitMix64(seed: seed ^ (stream &* 0x9E37_79B9_7F4A_7C15))
        state = outer.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A standard normal sample (Box-Muller).
    public mutating func nextNormal() -> Double {
        let u1 = max(nextUnit(), 0x1.0p-60)
        let u2 = nextUnit()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }
}

extension Tensor {
    /// A tensor of independent standard-normal samples scaled by `scale`, reproducible from `seed`.
    public static func randomNormal(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor {
        var rng = SplitMix64(seed: seed)
        var t = Tensor(zeros: shape)
        t.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices { buffer[i] = Scalar(rng.nextNormal() * scale) }
        }
        return t
    }
}

private func _log(_ x: Double) -> Double { Foundation.log(x) }
private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
