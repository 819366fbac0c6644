import Foundation
import PluginKit

/// The float64 engine: an iterative radix-2 complex FFT in Swift, applied to the real signal as a complex one.
///
/// Debian's KISS FFT exists for `float` only (see ``KissRealFFT``); float64 calls need a float64 transform to keep
/// the operator's float64 results accurate to ~1e-15, so they come here. Sizes are powers of two; the twiddle
/// table and the complex work buffer live in the task's state memory.
struct RadixTwoRealFFT: RealFFT {
    let size: Int
    /// `exp(-2 pi i k / N)` for `k < N/2`, interleaved.
    private let twiddles: UnsafeMutablePointer<Double>
    /// `N` complex values, interleaved.
    private let work: UnsafeMutablePointer<Double>

    static func size(atLeast n: Int) -> Int {
        var size = 2
        while size < n { size <<= 1 }
        return size
    }

    /// `N` twiddle scalars and `2N` work scalars.
    static func stateBytes(size: Int) -> Int { 3 * size * MemoryLayout<Double>.stride }

    init(size: Int, state: UnsafeMutableRawPointer) {
        self.size = size
        twiddles = state.bindMemory(to: Double.self, capacity: 3 * size)
        work = twiddles + size
        for k in 0..<size / 2 {
            let angle = -2 * Double.pi * Double(k) / Double(size)
            twiddles[2 * k] = cos(angle)
            twiddles[2 * k + 1] = sin(angle)
        }
    }

    func forward(_ time: UnsafePointer<Double>, into spectrum: UnsafeMutablePointer<Double>) {
        for i in 0..<size { (work[2 * i], work[2 * i + 1]) = (time[i], 0) }
        transform(inverse: false)
        spectrum.update(from: work, count: size + 2)
    }

    func inverse(_ spectrum: UnsafePointer<Double>, into time: UnsafeMutablePointer<Double>) {
        let half = size / 2
        work.update(from: spectrum, count: size + 2)
        // The upper half of a real signal's spectrum is the conjugate mirror of the lower half.
        for k in half + 1..<max(half + 1, size) {
            (work[2 * k], work[2 * k + 1]) = (spectrum[2 * (size - k)], -spectrum[2 * (size - k) + 1])
        }
        transform(inverse: true)
        for i in 0..<size { time[i] = work[2 * i] }
    }

    /// In-place complex FFT of `work` (bit-reversal, then butterflies); `inverse` conjugates the twiddles.
    private func transform(inverse: Bool) {
        let n = size
        var j = 0
        for i in 1..<n {
            var bit = n >> 1
            while j & bit != 0 {
                j ^= bit
                bit >>= 1
            }
            j |= bit
            if i < j {
                (work[2 * i], work[2 * j]) = (work[2 * j], work[2 * i])
                (work[2 * i + 1], work[2 * j + 1]) = (work[2 * j + 1], work[2 * i + 1])
            }
        }
        let sign: Double = inverse ? -1 : 1
        var half = 1
        while half < n {
            let step = n / (2 * half)
            for start in stride(from: 0, to: n, by: 2 * half) {
                for k in 0..<half {
                    let (wr, wi) = (twiddles[2 * k * step], sign * twiddles[2 * k * step + 1])
                    let (p, q) = (start + k, start + k + half)
                    let (qr, qi) = (work[2 * q], work[2 * q + 1])
                    let (tr, ti) = (wr * qr - wi * qi, wr * qi + wi * qr)
                    let (pr, pi) = (work[2 * p], work[2 * p + 1])
                    (work[2 * p], work[2 * p + 1]) = (pr + tr, pi + ti)
                    (work[2 * q], work[2 * q + 1]) = (pr - tr, pi - ti)
                }
            }
            half <<= 1
        }
    }
}
