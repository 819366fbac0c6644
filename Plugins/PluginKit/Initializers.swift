import Foundation

/// SplitMix64: a small seedable generator, so `init_params(seed)` gives the same tensors everywhere.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// Upstream parameter initialisers, deterministic in `(seed, parameter index)`.
public enum Initializer {
    /// The generator for parameter `index` under `seed` (independent streams per parameter).
    public static func generator(seed: UInt64, index: Int) -> SplitMix64 {
        var mix = SplitMix64(seed: seed ^ (UInt64(index) &* 0xD6E8_FEB8_6659_FD93))
        return SplitMix64(seed: mix.next())
    }

    /// PyTorch's default `nn.Linear` initialisation, for weight and bias alike:
    /// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` (kaiming_uniform with a = sqrt(5) gives the same bound for the weight).
    public static func linearUniform<S: KernelScalar>(_ view: TensorView<S>, fanIn: Int, seed: UInt64, index: Int) {
        var rng = generator(seed: seed, index: index)
        let bound = 1 / Double(max(1, fanIn)).squareRoot()
        for i in 0..<view.count { view.base[i] = S((rng.unit() * 2 - 1) * bound) }
    }

    /// A constant.
    public static func constant<S: KernelScalar>(_ view: TensorView<S>, _ value: Double) {
        view.fill(S(value))
    }
}
