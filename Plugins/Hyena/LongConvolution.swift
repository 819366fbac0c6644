import PluginKit

/// Hyena's long causal convolution with its skip term, per channel `c` of a `(B, L, C)` channels-last tensor:
///
///     out[b, t, c] = sum_{s <= t} k_c[t - s] * a[b, s, c] + bias_c * a[b, t, c]
///
/// (upstream `fftconv_ref(a, k, bias)`), computed through FFTs of a zero-padded size `N >= 2L`, so that the circular
/// convolution equals the linear one on `t < L`, in O(L log L) per channel. The filter `k_c[t]` is read from
/// float64 memory at `filter[t * filterTimeStride + c * filterChannelStride]` (the implicit filter's layout), the
/// bias from `bias[c * biasStride]`.
///
/// Channels are split over `tasks` parallel tasks; task `i` uses slice `i` of the scratch memory
/// (``taskBytes``) for its own FFT plans and buffers. Every channel's result is computed the same way whatever the
/// split, so results are deterministic.
struct LongConvolution<Engine: RealFFT> {
    typealias T = Engine.Scalar
    let batch: Int
    let length: Int
    let channels: Int
    let tasks: Int
    /// `N`.
    let fftSize: Int

    init(batch: Int, length: Int, channels: Int, tasks: Int) {
        self.batch = batch
        self.length = length
        self.channels = channels
        self.tasks = max(1, min(tasks, channels))
        fftSize = Engine.size(atLeast: 2 * length)
    }

    /// Scratch bytes of one task at sequence length `length`: plans, one signal and four spectra.
    static func taskBytes(length: Int) -> Int {
        let n = Engine.size(atLeast: 2 * length)
        let state = (Engine.stateBytes(size: n) + 63) / 64 * 64
        return state + ((n + 4 * (n + 2)) * MemoryLayout<T>.stride + 63) / 64 * 64
    }

    /// Where a channel's filter and bias live.
    struct Filter<S: KernelScalar> {
        let taps: UnsafePointer<Double>
        let timeStride: Int
        let channelStride: Int
        let bias: UnsafePointer<S>
        let biasStride: Int
    }

    /// One task's engine and buffers.
    private struct Slot {
        let fft: Engine
        let signal: UnsafeMutablePointer<T>
        let spectra:
            (UnsafeMutablePointer<T>, UnsafeMutablePointer<T>, UnsafeMutablePointer<T>, UnsafeMutablePointer<T>)
    }

    private func slot(_ scratch: UnsafeMutableRawPointer, task: Int) -> Slot {
        let base = scratch + task * Self.taskBytes(length: length)
        let fft = Engine(size: fftSize, state: base)
        let n = fftSize
        let signal = (base + (Engine.stateBytes(size: n) + 63) / 64 * 64).bindMemory(
            to: T.self, capacity: n + 4 * (n + 2))
        let s = signal + n
        return Slot(fft: fft, signal: signal, spectra: (s, s + (n + 2), s + 2 * (n + 2), s + 3 * (n + 2)))
    }

    /// Runs `body(slot, channel)` for every channel, channels split into `tasks` contiguous blocks.
    private func eachChannel(_ scratch: UnsafeMutableRawPointer, _ parallel: ParallelFor, _ body: (Slot, Int) -> Void) {
        let perTask = (channels + tasks - 1) / tasks
        parallel(tasks) { begin, end in
            for task in begin..<end {
                let s = slot(scratch, task: task)
                for c in task * perTask..<min(channels, (task + 1) * perTask) { body(s, c) }
            }
        }
    }

    /// Zero-pads `count` values `read(i)` to `N` points and transforms them into `spectrum`.
    private func transform(_ slot: Slot, count: Int, into spectrum: UnsafeMutablePointer<T>, _ read: (Int) -> T) {
        for i in 0..<count { slot.signal[i] = read(i) }
        for i in count..<fftSize { slot.signal[i] = 0 }
        slot.fft.forward(slot.signal, into: spectrum)
    }

    /// The forward pass into `out` (which must not overlap `a`).
    func forward<S: KernelScalar>(
        _ a: UnsafePointer<S>, filter f: Filter<S>, into out: UnsafeMutablePointer<S>, scratch: UnsafeMutableRawPointer,
        parallel: ParallelFor
    ) {
        let (l, c0, bins) = (length, channels, fftSize / 2 + 1)
        let scale = 1 / Double(fftSize)
        eachChannel(scratch, parallel) { slot, c in
            let (k, x, _, _) = slot.spectra
            transform(slot, count: l, into: k) { T(f.taps[$0 * f.timeStride + c * f.channelStride]) }
            let bias = f.bias[c * f.biasStride]
            for b in 0..<batch {
                let column = b * l * c0 + c
                transform(slot, count: l, into: x) { T(a[column + $0 * c0]) }
                for i in 0..<bins {
                    let (kr, ki, xr, xi) = (k[2 * i], k[2 * i + 1], x[2 * i], x[2 * i + 1])
                    (x[2 * i], x[2 * i + 1]) = (kr * xr - ki * xi, kr * xi + ki * xr)
                }
                slot.fft.inverse(x, into: slot.signal)
                for t in 0..<l {
                    let at = column + t * c0
                    out[at] = S(Double(slot.signal[t]) * scale) + bias * a[at]
                }
            }
        }
    }

    /// The vector-Jacobian product. Overwrites `inputGradient` (`d a`), the filter gradient
    /// `filterGradient[t * filterTimeStride + c * filterChannelStride]` (float64, `t < L`) and
    /// `biasGradient[c * biasStride]`; a nil output is skipped.
    func backward<S: KernelScalar>(
        _ a: UnsafePointer<S>, filter f: Filter<S>, outputGradient dy: UnsafePointer<S>,
        inputGradient da: UnsafeMutablePointer<S>?, filterGradient dk: UnsafeMutablePointer<Double>?,
        biasGradient dbias: UnsafeMutablePointer<S>?, scratch: UnsafeMutableRawPointer, parallel: ParallelFor
    ) {
        let (l, c0, bins) = (length, channels, fftSize / 2 + 1)
        let scale = 1 / Double(fftSize)
        eachChannel(scratch, parallel) { slot, c in
            let (k, x, g, accumulated) = slot.spectra
            if da != nil {
                transform(slot, count: l, into: k) { T(f.taps[$0 * f.timeStride + c * f.channelStride]) }
            }
            if dk != nil { accumulated.update(repeating: 0, count: 2 * bins) }
            let bias = f.bias[c * f.biasStride]
            var biasSum = 0.0
            for b in 0..<batch {
                let column = b * l * c0 + c
                transform(slot, count: l, into: g) { T(dy[column + $0 * c0]) }
                if dk != nil {
                    // d k[m] = sum_t dy[t] a[t - m]: the correlation, conj(A) * G summed over the batch.
                    transform(slot, count: l, into: x) { T(a[column + $0 * c0]) }
                    for i in 0..<bins {
                        let (xr, xi, gr, gi) = (x[2 * i], x[2 * i + 1], g[2 * i], g[2 * i + 1])
                        accumulated[2 * i] += xr * gr + xi * gi
                        accumulated[2 * i + 1] += xr * gi - xi * gr
                    }
                }
                if let da {
                    // d a[s] = sum_{t >= s} k[t - s] dy[t] + bias dy[s]: conj(K) * G.
                    for i in 0..<bins {
                        let (kr, ki, gr, gi) = (k[2 * i], k[2 * i + 1], g[2 * i], g[2 * i + 1])
                        (g[2 * i], g[2 * i + 1]) = (kr * gr + ki * gi, kr * gi - ki * gr)
                    }
                    slot.fft.inverse(g, into: slot.signal)
                    for t in 0..<l {
                        let at = column + t * c0
                        da[at] = S(Double(slot.signal[t]) * scale) + bias * dy[at]
                    }
                }
                if dbias != nil {
                    for t in 0..<l { biasSum += Double(dy[column + t * c0]) * Double(a[column + t * c0]) }
                }
            }
            if let dk {
                slot.fft.inverse(accumulated, into: slot.signal)
                for t in 0..<l { dk[t * f.timeStride + c * f.channelStride] = Double(slot.signal[t]) * scale }
            }
            if let dbias { dbias[c * f.biasStride] = S(biasSum) }
        }
    }
}
