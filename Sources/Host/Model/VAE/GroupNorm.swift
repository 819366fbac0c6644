import HostCore
import VectorKernels

/// `nn.GroupNorm(groups, channels, eps)` with its affine scale and shift, on one image's map `[C, H, W]`,
/// optionally followed by SiLU (the decoder always activates after a GroupNorm except before its attention).
///
/// Each group's mean and biased variance are summed in float64, in a fixed order, by one thread; the channels are then
/// normalised in parallel as `y = (x - mean) gamma / sqrt(var + eps) + beta`, in float64 and rounded once (PyTorch's
/// float32 `x a + (beta - a mean)` loses digits to cancellation when the mean is large against the spread), so the
/// result does not depend on thread timing.
struct GroupNorm {
    let groups: Int
    let eps: Double
    /// `[C]`.
    let scale: Tensor<Float>
    /// `[C]`.
    let shift: Tensor<Float>

    var channels: Int { scale.count }

    /// Floats normalised at a time before SiLU (a stack buffer of 4 KiB).
    static let tile = 1024

    init(groups: Int, eps: Double = 1e-6, scale: Tensor<Float>, shift: Tensor<Float>) {
        precondition(groups >= 1 && scale.count % groups == 0 && shift.count == scale.count)
        self.groups = groups
        self.eps = eps
        self.scale = scale
        self.shift = shift
    }

    /// The normalised map of `x` (`[C, plane]` elements), SiLU applied when `silu`.
    func callAsFunction(_ x: Tensor<Float>, plane: Int, silu: Bool) -> Tensor<Float> {
        var y = Tensor<Float>(uninitialized: x.shape)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in run(xp.baseAddress!, plane: plane, silu: silu, yp.baseAddress!) }
        }
        return y
    }

    /// Normalises `x` in place.
    func applyInPlace(_ x: inout Tensor<Float>, plane: Int, silu: Bool) {
        x.withUnsafeMutableBufferPointer { xp in
            run(xp.baseAddress!, plane: plane, silu: silu, xp.baseAddress!)
        }
    }

    /// `sum(x)`, or `sum((x - center)^2)` when `center` is given, in float64 over four lanes in a fixed order (so
    /// the compiler can vectorise it).
    static func sum(_ x: UnsafePointer<Float>, _ n: Int, center: Double?) -> Double {
        var lanes = SIMD4<Double>(repeating: 0)
        let body = n & ~3
        var i = 0
        if let center {
            let c = SIMD4<Double>(repeating: center)
            while i < body {
                let d = SIMD4<Double>(Double(x[i]), Double(x[i + 1]), Double(x[i + 2]), Double(x[i + 3])) - c
                lanes += d * d
                i += 4
            }
        } else {
            while i < body {
                lanes += SIMD4<Double>(Double(x[i]), Double(x[i + 1]), Double(x[i + 2]), Double(x[i + 3]))
                i += 4
            }
        }
        var total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
        while i < n {
            let v = Double(x[i]) - (center ?? 0)
            total += center == nil ? v : v * v
            i += 1
        }
        return total
    }

    /// `x` and `y` may be the same buffer.
    private func run(_ x: UnsafePointer<Float>, plane: Int, silu: Bool, _ y: UnsafeMutablePointer<Float>) {
        let perGroup = channels / groups
        let count = Double(perGroup * plane)
        var mean = [Double](repeating: 0, count: groups)
        var rstd = [Double](repeating: 0, count: groups)
        let xa = UInt(bitPattern: x), ya = UInt(bitPattern: y)
        mean.withUnsafeMutableBufferPointer { meanBuffer in
            rstd.withUnsafeMutableBufferPointer { rstdBuffer in
                let (ma, ra) = (UInt(bitPattern: meanBuffer.baseAddress!), UInt(bitPattern: rstdBuffer.baseAddress!))
                ThreadPool.shared.parallelFor(groups, grain: 1) { lo, hi in
                    let x = UnsafePointer<Float>(bitPattern: xa)!
                    let mean = UnsafeMutablePointer<Double>(bitPattern: ma)!
                    let rstd = UnsafeMutablePointer<Double>(bitPattern: ra)!
                    for g in lo..<hi {
                        let values = x + g * perGroup * plane
                        let m = Self.sum(values, perGroup * plane, center: nil) / count
                        mean[g] = m
                        rstd[g] = 1 / (Self.sum(values, perGroup * plane, center: m) / count + eps).squareRoot()
                    }
                }
            }
        }
        scale.withUnsafeBufferPointer { gamma in
            shift.withUnsafeBufferPointer { beta in
                ThreadPool.shared.parallelFor(channels, grain: 1) { lo, hi in
                    let x = UnsafePointer<Float>(bitPattern: xa)!, y = UnsafeMutablePointer<Float>(bitPattern: ya)!
                    // SiLU reads a tile of normalised values and writes the output: `ozv_silu` called in place
                    // (y == x) fails its vectoriser's overlap check and runs scalar, about 16x slower.
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: Self.tile) { tile in
                        for c in lo..<hi {
                            let g = c / perGroup
                            let a = Double(gamma[c]) * rstd[g], b = Double(beta[c]), m = mean[g]
                            let source = x + c * plane, out = y + c * plane
                            var start = 0
                            while start < plane {
                                let count = min(Self.tile, plane - start)
                                let target = silu ? tile.baseAddress! : out + start
                                for i in 0..<count { target[i] = Float((Double(source[start + i]) - m) * a + b) }
                                if silu { ozv_silu(out + start, tile.baseAddress!, Int64(count)) }
                                start += count
                            }
                        }
                    }
                }
            }
        }
    }
}
