import CKissFFT
import PluginKit

/// The float32 engine: KISS FFT's real transform (`kiss_fftr`, Debian `libkissfft-dev`, BSD-3-Clause). The only
/// code that calls KISS FFT.
///
/// Debian ships KISS FFT for `float` only, so this engine serves float32 calls; float64 calls use
/// ``RadixTwoRealFFT``, since a float FFT inside a float64 operator would cut its accuracy to ~1e-7 and break the
/// float64 reference and gradient checks. A `kiss_fftr` plan writes into its own scratch (`tmpbuf`) on every
/// call, so each parallel task builds its own plans in its workspace slice (`mem`/`lenmem` of `kiss_fftr_alloc`;
/// KISS FFT then allocates nothing), which keeps one instance safe to call from several threads.
struct KissRealFFT: RealFFT {
    let size: Int
    private let forwardPlan: kiss_fftr_cfg
    private let inversePlan: kiss_fftr_cfg

    /// An even size >= n whose half has only the factors 2, 3 and 5 (`kiss_fftr_next_fast_size_real`).
    static func size(atLeast n: Int) -> Int { Int(kiss_fft_next_fast_size(Int32((max(n, 2) + 1) / 2))) * 2 }

    static func stateBytes(size: Int) -> Int { 2 * planBytes(size: size) }

    /// The bytes of one plan (forward and inverse plans are the same size), rounded up to 64.
    private static func planBytes(size: Int) -> Int {
        var bytes = 0
        _ = kiss_fftr_alloc(Int32(size), 0, nil, &bytes)
        return (bytes + 63) / 64 * 64
    }

    init(size: Int, state: UnsafeMutableRawPointer) {
        self.size = size
        let bytes = Self.planBytes(size: size)
        var length = bytes
        // Both calls succeed: `size` is even and the memory is as large as the query above said.
        forwardPlan = kiss_fftr_alloc(Int32(size), 0, state, &length)!
        length = bytes
        inversePlan = kiss_fftr_alloc(Int32(size), 1, state + bytes, &length)!
    }

    func forward(_ time: UnsafePointer<Float>, into spectrum: UnsafeMutablePointer<Float>) {
        let bins = UnsafeMutableRawPointer(spectrum).assumingMemoryBound(to: kiss_fft_cpx.self)
        kiss_fftr(forwardPlan, time, bins)
    }

    func inverse(_ spectrum: UnsafePointer<Float>, into time: UnsafeMutablePointer<Float>) {
        let bins = UnsafeRawPointer(spectrum).assumingMemoryBound(to: kiss_fft_cpx.self)
        kiss_fftri(inversePlan, bins, time)
    }
}
