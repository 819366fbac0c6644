/// The causal depthwise 1D convolution `CC_k` (`causal_conv1d_fn`, or `nn.Conv1d(groups=C, padding=k-1)` cut to
/// the first `T` outputs), with its vector-Jacobian product, over a strided `(batch, time, channel)` layout:
///
///     out[b, t, c] = bias[c] + sum_{j=0..<k} w[c, j] * in[b, t - (k-1) + j, c]     (in[b, s, c] = 0 for s < 0)
///
/// The last tap `w[c, k-1]` multiplies the current step. `w` is `(C, k)` row-major (PyTorch's `(C, 1, k)`), `bias`
/// is `(C)`. Element `(b, t, c)` of the input, the output and their gradients lives at
/// `b * batchStride + t * timeStride + c * channelStride`, so one helper serves both channels-last activations
/// (`[B, T, C]`, the token mixers) and channels-first ones (`[B, C, T]`, `causal_conv1d_fn`'s own layout).
///
/// Work is split over channels on the host's `parallel_for`. Every output and every gradient element is a sum in a
/// fixed order (taps ascending; for weight and bias gradients, batch then time ascending) that does not depend on
/// how the channels are split, so results are deterministic. With channels contiguous, each task first copies its
/// channels' taps tap-major (`w[j][c]`) so that the inner loops over channels read and write contiguous memory and
/// vectorise; the sums keep their order, so the results are the same bits either way.
public struct CausalDepthwiseConv: Sendable {
    /// Batch extent `B`.
    public let batch: Int
    /// Sequence extent `T` (the axis the filter slides along).
    public let length: Int
    /// Channel extent `C` (one filter per channel).
    public let channels: Int
    /// Filter taps `k` (>= 1).
    public let taps: Int
    /// Elements between consecutive batch entries.
    public let batchStride: Int
    /// Elements between consecutive steps of the sequence.
    public let timeStride: Int
    /// Elements between consecutive channels.
    public let channelStride: Int

    /// A convolution over `[batch, length, channels]` tensors (channels contiguous).
    public static func channelsLast(batch: Int, length: Int, channels: Int, taps: Int) -> CausalDepthwiseConv {
        CausalDepthwiseConv(
            batch: batch, length: length, channels: channels, taps: taps, batchStride: length * channels,
            timeStride: channels, channelStride: 1)
    }

    /// A convolution over `[batch, channels, length]` tensors (time contiguous), `causal_conv1d_fn`'s layout.
    public static func channelsFirst(batch: Int, channels: Int, length: Int, taps: Int) -> CausalDepthwiseConv {
        CausalDepthwiseConv(
            batch: batch, length: length, channels: channels, taps: taps, batchStride: channels * length,
            timeStride: 1, channelStride: length)
    }

    /// A convolution over an arbitrary strided layout.
    public init(
        batch: Int, length: Int, channels: Int, taps: Int, batchStride: Int, timeStride: Int, channelStride: Int
    ) {
        self.batch = batch
        self.length = length
        self.channels = channels
        self.taps = taps
        self.batchStride = batchStride
        self.timeStride = timeStride
        self.channelStride = channelStride
    }

    /// Channels per parallel task: about 16K multiply-adds each, at least one channel.
    private var grain: Int { max(1, 16384 / max(1, batch * length * taps)) }

    /// `out = CC_k(input; weight, bias)`, overwriting `out` (which must not overlap `input`).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func forward<S: KernelScalar>(
        _ input: UnsafePointer<S>, weight: UnsafePointer<S>, bias: UnsafePointer<S>?, into out: UnsafeMutablePointer<S>,
        parallel: ParallelFor
    ) {
        let (k, bs, ts, cs) = (taps, batchStride, timeStride, channelStride)
        parallel(channels, grain: grain) { c0, c1 in
            if cs == 1 {
                // Channels contiguous: sweep each (b, t) row across the task's channels, taps tap-major.
                let n = c1 - c0
                withUnsafeTemporaryAllocation(of: S.self, capacity: n * (k + 1)) { buffer in
                    let taps = buffer.baseAddress!, b0 = taps + n * k
                    for c in 0..<n {
                        for j in 0..<k { taps[j * n + c] = weight[(c0 + c) * k + j] }
                        b0[c] = bias?[c0 + c] ?? 0
                    }
                    for b in 0..<batch {
                        for t in 0..<length {
                            let o = out + b * bs + t * ts + c0
                            o.update(from: b0, count: n)
                            for j in max(0, k - 1 - t)..<k {
                                let i = input + b * bs + (t - (k - 1) + j) * ts + c0
                                let w = taps + j * n
                                for c in 0..<n { o[c] += w[c] * i[c] }
                            }
                        }
                    }
                }
            } else {
                // Time (or nothing) contiguous: run along each (b, c) sequence.
                for b in 0..<batch {
                    for c in c0..<c1 {
                        let i = input + b * bs + c * cs
                        let o = out + b * bs + c * cs
                        let w = weight + c * k
                        let b0 = bias?[c] ?? 0
                        if ts == 1 {
                            // One pass per tap over the contiguous sequence (vectorises); taps in the same order.
                            o.update(repeating: b0, count: length)
                            for j in 0..<k {
                                let shift = k - 1 - j
                                guard shift < length else { continue }
                                let (wj, src, dst) = (w[j], i, o + shift)
                                for t in 0..<(length - shift) { dst[t] += wj * src[t] }
                            }
                            continue
                        }
                        for t in 0..<length {
                            var acc = b0
                            for j in max(0, k - 1 - t)..<k { acc += w[j] * i[(t - (k - 1) + j) * ts] }
                            o[t * ts] = acc
                        }
                    }
                }
            }
        }
    }

    /// The vector-Jacobian product of ``forward(_:weight:bias:into:parallel:)`` for the output gradient `dOut`:
    ///
    ///     dIn[b, s, c] = sum_j w[c, j] * dOut[b, s + (k-1) - j, c]          (terms with s + (k-1) - j >= T dropped)
    ///     dW[c, j]     = sum_{b, t} dOut[b, t, c] * in[b, t - (k-1) + j, c]
    ///     dBias[c]     = sum_{b, t} dOut[b, t, c]
    ///
    /// Each non-nil output is overwritten; a nil one is not computed. `inputGradient` must not overlap `input` or
    /// `outputGradient`.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func backward<S: KernelScalar>(
        input: UnsafePointer<S>, weight: UnsafePointer<S>, outputGradient dOut: UnsafePointer<S>,
        inputGradient dIn: UnsafeMutablePointer<S>?, weightGradient dW: UnsafeMutablePointer<S>?,
        biasGradient dBias: UnsafeMutablePointer<S>?, parallel: ParallelFor
    ) {
        guard dIn != nil || dW != nil || dBias != nil else { return }
        let (k, bs, ts, cs) = (taps, batchStride, timeStride, channelStride)
        parallel(channels, grain: max(1, grain / 2)) { c0, c1 in
            dW?.advanced(by: c0 * k).update(repeating: 0, count: (c1 - c0) * k)
            dBias?.advanced(by: c0).update(repeating: 0, count: c1 - c0)
            if cs == 1 {
                // Taps and their gradients tap-major for the task's channels (see the type's documentation).
                let n = c1 - c0
                withUnsafeTemporaryAllocation(of: S.self, capacity: 2 * n * k) { buffer in
                    let taps = buffer.baseAddress!, dTaps = taps + n * k
                    for c in 0..<n {
                        for j in 0..<k { taps[j * n + c] = weight[(c0 + c) * k + j] }
                    }
                    dTaps.update(repeating: 0, count: n * k)
                    for b in 0..<batch {
                        for t in 0..<length {
                            let g = dOut + b * bs + t * ts + c0
                            if let dBias {
                                let db = dBias + c0
                                for c in 0..<n { db[c] += g[c] }
                            }
                            if dW != nil {
                                for j in max(0, k - 1 - t)..<k {
                                    let i = input + b * bs + (t - (k - 1) + j) * ts + c0
                                    let dw = dTaps + j * n
                                    for c in 0..<n { dw[c] += g[c] * i[c] }
                                }
                            }
                            if let dIn {
                                // Row t of dIn gathers dOut rows t + (k-1) - j, j descending from k-1.
                                let d = dIn + b * bs + t * ts + c0
                                d.update(repeating: 0, count: n)
                                for j in max(0, t + k - length)..<k {
                                    let gj = dOut + b * bs + (t + (k - 1) - j) * ts + c0
                                    let w = taps + j * n
                                    for c in 0..<n { d[c] += w[c] * gj[c] }
                                }
                            }
                        }
                    }
                    if let dW {
                        for c in 0..<n {
                            for j in 0..<k { dW[(c0 + c) * k + j] = dTaps[j * n + c] }
                        }
                    }
                }
            } else {
                for b in 0..<batch {
                    for c in c0..<c1 {
                        let i = input + b * bs + c * cs
                        let g = dOut + b * bs + c * cs
                        let w = weight + c * k
                        if ts == 1 {
                            // Contiguous sequences: one pass per tap (vectorises), every sum in the same order.
                            if let dBias {
                                var sum = dBias[c]
                                for t in 0..<length { sum += g[t] }
                                dBias[c] = sum
                            }
                            if let dW {
                                for j in 0..<k {
                                    let shift = k - 1 - j
                                    guard shift < length else { continue }
                                    var sum = dW[c * k + j]
                                    for t in shift..<length { sum += g[t] * i[t - shift] }
                                    dW[c * k + j] = sum
                                }
                            }
                            if let dIn {
                                let d = dIn + b * bs + c * cs
                                d.update(repeating: 0, count: length)
                                for j in 0..<k {
                                    // d[s] += w[j] g[s + shift] for s + shift < length; j ascending as before.
                                    let shift = k - 1 - j
                                    guard shift < length else { continue }
                                    let (wj, src) = (w[j], g + shift)
                                    for s in 0..<(length - shift) { d[s] += wj * src[s] }
                                }
                            }
                            continue
                        }
                        for t in 0..<length {
                            let gt = g[t * ts]
                            dBias?[c] += gt
                            if let dW {
                                for j in max(0, k - 1 - t)..<k { dW[c * k + j] += gt * i[(t - (k - 1) + j) * ts] }
                            }
                        }
                        if let dIn {
                            let d = dIn + b * bs + c * cs
                            for s in 0..<length {
                                var acc: S = 0
                                for j in max(0, s + k - length)..<k { acc += w[j] * g[(s + (k - 1) - j) * ts] }
                                d[s * ts] = acc
                            }
                        }
                    }
                }
            }
        }
    }
}
