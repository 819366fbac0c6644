import HostCore

/// The pointer-level kernels of ``ShapeClassifier``: 3x3 "same" convolutions as im2col matrix products, 2x2 average
/// pooling and the layout changes, on activations stored **channel-major**, `[C, N, H, W]` (all images of one channel
/// together), so that one matrix product covers a whole batch: `Y[cout, N H W] = W[cout, cin 9] x col[cin 9, N H W]`.
///
/// Every loop over the pool writes disjoint outputs, and every sum runs in one fixed order inside one chunk (or one
/// BLAS call whose row blocks depend only on the shapes), so results do not depend on thread timing.
enum ChannelMajorKernels {
    /// The patch matrix of a 3x3 convolution with zero padding 1: row `9 ci + 3 (dy + 1) + (dx + 1)`, column
    /// `(n, y, x)` holds `x[ci, n, y + dy, x + dx]` (zero outside the image). `x`: `[cin, n, side, side]`.
    static func im2col(_ x: Tensor<Float>, channels: Int, images: Int, side: Int) -> Tensor<Float> {
        let plane = side * side, columns = images * plane
        precondition(x.count == channels * columns)
        var col = Tensor<Float>(uninitialized: [channels * 9, columns])
        let (xa, ca) = (UInt(bitPattern: x.baseAddressForReading), UInt(bitPattern: col.baseAddressForWriting()))
        ThreadPool.shared.parallelFor(channels * 9, grain: 1) { lo, hi in
            let x = UnsafePointer<Float>(bitPattern: xa)!, col = UnsafeMutablePointer<Float>(bitPattern: ca)!
            for row in lo..<hi {
                let ci = row / 9, dy = row / 3 % 3 - 1, dx = row % 3 - 1
                let first = max(0, -dx), last = min(side, side - dx)
                for n in 0..<images {
                    let source = x + ci * columns + n * plane
                    for y in 0..<side {
                        let out = col + row * columns + n * plane + y * side
                        let iy = y + dy
                        guard iy >= 0, iy < side else {
                            out.update(repeating: 0, count: side)
                            continue
                        }
                        for c in 0..<first { out[c] = 0 }
                        for c in last..<side { out[c] = 0 }
                        (out + first).update(from: source + iy * side + first + dx, count: last - first)
                    }
                }
            }
        }
        withExtendedLifetime(x) {}
        return col
    }

    /// The adjoint of ``im2col(_:channels:images:side:)``: `dx[ci, n, y, x]` is the sum of the patch-matrix
    /// gradients that read it, over the nine offsets in order.
    static func col2im(_ dcol: Tensor<Float>, channels: Int, images: Int, side: Int) -> Tensor<Float> {
        let plane = side * side, columns = images * plane
        precondition(dcol.count == channels * 9 * columns)
        var dx = Tensor<Float>(zeros: [channels, images, side, side])
        let (ga, da) = (UInt(bitPattern: dcol.baseAddressForReading), UInt(bitPattern: dx.baseAddressForWriting()))
        ThreadPool.shared.parallelFor(channels, grain: 1) { lo, hi in
            let g = UnsafePointer<Float>(bitPattern: ga)!, d = UnsafeMutablePointer<Float>(bitPattern: da)!
            for ci in lo..<hi {
                for k in 0..<9 {
                    let row = 9 * ci + k, dy = k / 3 - 1, dx = k % 3 - 1
                    let first = max(0, -dx), last = min(side, side - dx)
                    guard first < last else { continue }
                    for n in 0..<images {
                        for y in 0..<side where y + dy >= 0 && y + dy < side {
                            let source = g + row * columns + n * plane + y * side
                            let target = d + ci * columns + n * plane + (y + dy) * side + dx
                            for c in first..<last { target[c] += source[c] }
                        }
                    }
                }
            }
        }
        withExtendedLifetime(dcol) {}
        return dx
    }

    /// Adds `bias[c]` to every element of channel row `c` of `y` (`[C, rowLength]`) and applies ReLU in place.
    static func addBiasReLU(_ y: inout Tensor<Float>, bias: Tensor<Float>, rowLength: Int) {
        let channels = bias.count
        precondition(y.count == channels * rowLength)
        let (ya, ba) = (UInt(bitPattern: y.baseAddressForWriting()), UInt(bitPattern: bias.baseAddressForReading))
        ThreadPool.shared.parallelFor(channels, grain: 1) { lo, hi in
            let y = UnsafeMutablePointer<Float>(bitPattern: ya)!, b = UnsafePointer<Float>(bitPattern: ba)!
            for c in lo..<hi {
                let row = y + c * rowLength
                for i in 0..<rowLength { row[i] = max(0, row[i] + b[c]) }
            }
        }
        withExtendedLifetime(bias) {}
    }

    /// `gradient *= (output > 0)` (the ReLU's backward, from its output), then the per-row sums of the result
    /// (the bias gradient of a `[C, rowLength]` layer), each summed in index order.
    static func reluBackwardRowSums(
        _ gradient: inout Tensor<Float>, output: Tensor<Float>, rows: Int, rowLength: Int
    ) -> Tensor<Float> {
        precondition(gradient.count == rows * rowLength && output.count == gradient.count)
        var sums = Tensor<Float>(zeros: [rows])
        let (ga, oa, sa) = (
            UInt(bitPattern: gradient.baseAddressForWriting()), UInt(bitPattern: output.baseAddressForReading),
            UInt(bitPattern: sums.baseAddressForWriting())
        )
        ThreadPool.shared.parallelFor(rows, grain: 1) { lo, hi in
            let g = UnsafeMutablePointer<Float>(bitPattern: ga)!, o = UnsafePointer<Float>(bitPattern: oa)!
            let s = UnsafeMutablePointer<Float>(bitPattern: sa)!
            for r in lo..<hi {
                var total = 0.0
                for i in (r * rowLength)..<((r + 1) * rowLength) {
                    if o[i] <= 0 { g[i] = 0 }
                    total += Double(g[i])
                }
                s[r] = Float(total)
            }
        }
        withExtendedLifetime(output) {}
        return sums
    }

    /// 2x2 average pooling of `planes` maps of `side x side` (side even): `[planes, side/2, side/2]`.
    static func averagePool(_ x: Tensor<Float>, planes: Int, side: Int) -> Tensor<Float> {
        let half = side / 2
        precondition(side % 2 == 0 && x.count == planes * side * side)
        var y = Tensor<Float>(uninitialized: [planes * half * half])
        let (xa, ya) = (UInt(bitPattern: x.baseAddressForReading), UInt(bitPattern: y.baseAddressForWriting()))
        ThreadPool.shared.parallelFor(planes, grain: 8) { lo, hi in
            let x = UnsafePointer<Float>(bitPattern: xa)!, y = UnsafeMutablePointer<Float>(bitPattern: ya)!
            for p in lo..<hi {
                let src = x + p * side * side, dst = y + p * half * half
                for i in 0..<half {
                    for j in 0..<half {
                        let a = src + 2 * i * side + 2 * j
                        dst[i * half + j] = 0.25 * ((a[0] + a[1]) + (a[side] + a[side + 1]))
                    }
                }
            }
        }
        withExtendedLifetime(x) {}
        return y
    }

    /// The adjoint of ``averagePool(_:planes:side:)``: each input pixel gets a quarter of its output's gradient.
    static func averagePoolBackward(_ dy: Tensor<Float>, planes: Int, side: Int) -> Tensor<Float> {
        let half = side / 2
        precondition(dy.count == planes * half * half)
        var dx = Tensor<Float>(uninitialized: [planes * side * side])
        let (ga, da) = (UInt(bitPattern: dy.baseAddressForReading), UInt(bitPattern: dx.baseAddressForWriting()))
        ThreadPool.shared.parallelFor(planes, grain: 8) { lo, hi in
            let g = UnsafePointer<Float>(bitPattern: ga)!, d = UnsafeMutablePointer<Float>(bitPattern: da)!
            for p in lo..<hi {
                for y in 0..<side {
                    for x in 0..<side {
                        d[p * side * side + y * side + x] = 0.25 * g[p * half * half + y / 2 * half + x / 2]
                    }
                }
            }
        }
        withExtendedLifetime(dy) {}
        return dx
    }

    /// Swaps the two outer axes of `[a, b, inner]` into `[b, a, inner]`.
    static func swapOuterAxes(_ x: Tensor<Float>, _ a: Int, _ b: Int, inner: Int) -> Tensor<Float> {
        precondition(x.count == a * b * inner)
        var y = Tensor<Float>(uninitialized: [b, a, inner])
        let (xa, ya) = (UInt(bitPattern: x.baseAddressForReading), UInt(bitPattern: y.baseAddressForWriting()))
        ThreadPool.shared.parallelFor(b, grain: 4) { lo, hi in
            let x = UnsafePointer<Float>(bitPattern: xa)!, y = UnsafeMutablePointer<Float>(bitPattern: ya)!
            for j in lo..<hi {
                for i in 0..<a { (y + (j * a + i) * inner).update(from: x + (i * b + j) * inner, count: inner) }
            }
        }
        withExtendedLifetime(x) {}
        return y
    }

    /// `C = op(A) op(B) (+ C)` for tensors viewed as row-major matrices (``BLAS`` row blocks: deterministic).
    static func gemm(
        _ ta: BLAS.Transpose, _ tb: BLAS.Transpose, m: Int, n: Int, k: Int, _ a: Tensor<Float>, _ b: Tensor<Float>,
        into c: inout Tensor<Float>, accumulate: Bool = false
    ) throws(BLAS.DimensionError) {
        precondition(a.count == m * k && b.count == k * n && c.count == m * n)
        try BLAS.gemm(
            ta, tb, m: m, n: n, k: k, a: a.baseAddressForReading, lda: ta == .none ? k : m,
            b: b.baseAddressForReading, ldb: tb == .none ? n : k, beta: accumulate ? 1 : 0,
            c: c.baseAddressForWriting(), ldc: n)
        withExtendedLifetime((a, b)) {}
    }
}
