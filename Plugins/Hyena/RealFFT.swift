import PluginKit

/// A real-input FFT of one fixed even size `N`, built in caller-owned memory: one per parallel task, because a
/// plan may keep scratch inside itself (KISS FFT's real plans do), so plans are never shared between threads.
///
/// Spectra hold the `N/2 + 1` bins of a real signal as interleaved `(re, im)` pairs (`N + 2` scalars). Neither
/// direction normalises: `inverse(forward(x)) = N * x`.
protocol RealFFT {
    associatedtype Scalar: KernelScalar
    /// The size this engine uses for a signal that needs at least `n` points (even, >= n).
    static func size(atLeast n: Int) -> Int
    /// Bytes of plan state ``init(size:state:)`` needs.
    static func stateBytes(size: Int) -> Int
    /// Builds the plans for `size` points in `state` (``stateBytes(size:)`` bytes, 64-byte aligned).
    init(size: Int, state: UnsafeMutableRawPointer)
    var size: Int { get }
    /// `N` real samples to `N/2 + 1` complex bins.
    func forward(_ time: UnsafePointer<Scalar>, into spectrum: UnsafeMutablePointer<Scalar>)
    /// `N/2 + 1` complex bins (a Hermitian spectrum) to `N` real samples, scaled by `N`.
    func inverse(_ spectrum: UnsafePointer<Scalar>, into time: UnsafeMutablePointer<Scalar>)
}
