import HostCore
import Synchronization

/// A 2D convolution with stride 1 and "same" zero padding (`nn.Conv2d(cin, cout, k, padding=k // 2)`, k odd), as
/// the VAE decoder uses it: 3x3, and 1x1 for `post_quant_conv` and the resnets' `conv_shortcut`. The input may be
/// upsampled 2x by nearest neighbour on the fly (`F.interpolate(scale_factor=2, mode="nearest")` then the conv, as
/// diffusers' `Upsample2D` does), without materialising the upsampled map.
///
/// A k x k convolution is an im2col matrix product: the input patches of a strip of output rows are laid out as a
/// `[cin k k, positions]` matrix and multiplied by the weights `[cout, cin k k]` (sgemm through ``BLAS``), strip
/// after strip, so the patch buffer stays at most ``stripFloats`` floats (plus one output row) whatever the image
/// size. The strips depend only on the shapes. The patch copy is split over the pool by patch rows (plain copies);
/// the product into one block of output rows per thread (``BLAS/gemm(_:_:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``'s
/// fixed row blocks), or of output columns when there are fewer than 16 output channels. Every output element is one
/// dot product over the whole `cin k k`, never split, and the blocks depend only on the shapes and the thread count,
/// so the result does not depend on thread timing.
struct Conv2d {
    let inChannels: Int
    let outChannels: Int
    let kernel: Int
    /// `[cout, cin k k]`: PyTorch's `[cout, cin, k, k]` weight, flattened.
    let weight: Tensor<Float>
    /// `[cout]`.
    let bias: Tensor<Float>

    /// Most floats of one strip's patch matrix (16 MiB).
    static let stripFloats = 1 << 22

    /// A convolution from PyTorch's weight `[cout, cin, k, k]` (k odd) and bias `[cout]`.
    init(weight: Tensor<Float>, bias: Tensor<Float>) {
        precondition(weight.rank == 4 && weight.shape[2] == weight.shape[3] && weight.shape[2] % 2 == 1)
        precondition(bias.shape == [weight.shape[0]])
        outChannels = weight.shape[0]
        inChannels = weight.shape[1]
        kernel = weight.shape[2]
        self.weight = try! weight.reshaped([outChannels, inChannels * kernel * kernel])  // the same element count
        self.bias = bias
    }

    /// The output map `[cout, H', W']` of `x` (`[cin, H, W]`), where `H' = 2H, W' = 2W` when `upsample`.
    /// With `accumulate`, the convolution (bias included) is added to `output`'s values instead of replacing them.
    /// `stripFloats` bounds the patch buffer (tests make it small to cut many strips).
    func apply(
        _ x: Tensor<Float>, height: Int, width: Int, upsample: Bool = false, into output: inout Tensor<Float>,
        accumulate: Bool = false, stripFloats: Int = Conv2d.stripFloats
    ) throws(BLAS.DimensionError) {
        let (oh, ow) = upsample ? (2 * height, 2 * width) : (height, width)
        precondition(x.count == inChannels * height * width && output.count == outChannels * oh * ow)
        try x.withUnsafeBufferPointer { (xp) throws(BLAS.DimensionError) in
            try output.withUnsafeMutableBufferPointer { (yp) throws(BLAS.DimensionError) in
                try run(
                    xp.baseAddress!, height: height, width: width, upsample: upsample, yp.baseAddress!,
                    accumulate: accumulate, stripFloats: stripFloats)
            }
        }
    }

    /// ``apply(_:height:width:upsample:into:accumulate:)`` into a new tensor.
    func callAsFunction(
        _ x: Tensor<Float>, height: Int, width: Int, upsample: Bool = false
    ) throws(BLAS.DimensionError) -> Tensor<Float> {
        let (oh, ow) = upsample ? (2 * height, 2 * width) : (height, width)
        var y = Tensor<Float>(uninitialized: [outChannels, oh, ow])
        try apply(x, height: height, width: width, upsample: upsample, into: &y)
        return y
    }

    private func run(
        _ x: UnsafePointer<Float>, height: Int, width: Int, upsample: Bool, _ y: UnsafeMutablePointer<Float>,
        accumulate: Bool, stripFloats: Int
    ) throws(BLAS.DimensionError) {
        let (oh, ow) = upsample ? (2 * height, 2 * width) : (height, width)
        let plane = oh * ow
        // The bias first: the product below adds to it (beta 1).
        try bias.withUnsafeBufferPointer { (b) throws(BLAS.DimensionError) in
            let yAddress = UInt(bitPattern: y)
            ThreadPool.shared.parallelFor(outChannels, grain: 1) { lo, hi in
                let y = UnsafeMutablePointer<Float>(bitPattern: yAddress)!
                for co in lo..<hi {
                    let row = y + co * plane
                    if accumulate {
                        for i in 0..<plane { row[i] += b[co] }
                    } else {
                        row.update(repeating: b[co], count: plane)
                    }
                }
            }
        }
        try weight.withUnsafeBufferPointer { (w) throws(BLAS.DimensionError) in
            if kernel == 1 && !upsample {
                try product(w.baseAddress!, x, columns: plane, y, ldc: plane)
                return
            }
            let patch = inChannels * kernel * kernel
            let rowsPerStrip = max(1, min(oh, stripFloats / max(1, patch * ow)))
            var columns = Tensor<Float>(uninitialized: [patch * rowsPerStrip * ow])
            try columns.withUnsafeMutableBufferPointer { (col) throws(BLAS.DimensionError) in
                var top = 0
                while top < oh {
                    let rows = min(rowsPerStrip, oh - top)
                    gatherPatches(
                        x, height: height, width: width, upsample: upsample, top: top, rows: rows, col.baseAddress!)
                    try product(w.baseAddress!, col.baseAddress!, columns: rows * ow, y + top * ow, ldc: plane)
                    top += rows
                }
            }
        }
    }

    /// `y[cout, n] += W[cout, K] b[K, n]` (row stride of `y`: `ldc`), split over the pool in one block per thread: by
    /// rows (``BLAS``'s split), or by columns when there are fewer than 16 rows (BLAS would run them on one thread).
    /// (Splitting by columns whenever there are more columns than rows made no measurable difference here: about 90%
    /// of the decode's CPU time is in OpenBLAS's kernel and packing either way.)
    private func product(
        _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, columns n: Int, _ y: UnsafeMutablePointer<Float>,
        ldc: Int
    ) throws(BLAS.DimensionError) {
        let k = inChannels * kernel * kernel
        let threads = ThreadPool.shared.threadCount
        if outChannels >= 16 {
            try BLAS.gemm(
                .none, .none, m: outChannels, n: n, k: k, a: w, lda: k, b: b, ldb: n, beta: 1, c: y, ldc: ldc)
            return
        }
        // Column blocks of a multiple of 16, one per thread (the pool keeps a grain this long as its chunk).
        let block = max(16, ((n + threads - 1) / threads + 15) / 16 * 16)
        let (wa, ba, ya) = (UInt(bitPattern: w), UInt(bitPattern: b), UInt(bitPattern: y))
        let failure = Mutex<BLAS.DimensionError?>(nil)
        ThreadPool.shared.parallelFor(n, grain: block) { lo, hi in
            do throws(BLAS.DimensionError) {
                try BLAS.gemm(
                    .none, .none, m: outChannels, n: hi - lo, k: k, a: UnsafePointer(bitPattern: wa)!, lda: k,
                    b: UnsafePointer<Float>(bitPattern: ba)! + lo, ldb: n, beta: 1,
                    c: UnsafeMutablePointer<Float>(bitPattern: ya)! + lo, ldc: ldc)
            } catch {
                failure.withLock { $0 = error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Writes the patch matrix of output rows `top ..< top + rows` into `col` (`[cin k k, rows W']`): row
    /// `(ci k + dy) k + dx`, column `(r, c)` holds the input at `(top + r + dy - k/2, c + dx - k/2)` of channel `ci`
    /// (of the 2x upsampled input when `upsample`), zero outside the map.
    private func gatherPatches(
        _ x: UnsafePointer<Float>, height: Int, width: Int, upsample: Bool, top: Int, rows: Int,
        _ col: UnsafeMutablePointer<Float>
    ) {
        let k = kernel, pad = kernel / 2
        let (oh, ow) = upsample ? (2 * height, 2 * width) : (height, width)
        let n = rows * ow
        let (xa, ca) = (UInt(bitPattern: x), UInt(bitPattern: col))
        ThreadPool.shared.parallelFor(inChannels * k * k, grain: 4) { lo, hi in
            let x = UnsafePointer<Float>(bitPattern: xa)!, col = UnsafeMutablePointer<Float>(bitPattern: ca)!
            for patchRow in lo..<hi {
                let ci = patchRow / (k * k), dy = patchRow / k % k - pad, dx = patchRow % k - pad
                let source = x + ci * height * width
                // Output columns c whose input column c + dx lies inside the map.
                let first = max(0, -dx), last = min(ow, ow - dx)
                for r in 0..<rows {
                    let out = col + patchRow * n + r * ow
                    let iy = top + r + dy
                    guard iy >= 0, iy < oh, first < last else {
                        out.update(repeating: 0, count: ow)
                        continue
                    }
                    for c in 0..<first { out[c] = 0 }
                    for c in last..<ow { out[c] = 0 }
                    if upsample {
                        let line = source + (iy >> 1) * width
                        for c in first..<last { out[c] = line[(c + dx) >> 1] }
                    } else {
                        (out + first).update(from: source + iy * width + first + dx, count: last - first)
                    }
                }
            }
        }
    }
}
