import HostCore
import VectorKernels

/// The VAE's mid-block attention: diffusers' `Attention` with one head of all `C` channels over the `H W`
/// positions, as `AttnProcessor` runs it: `x + to_out(softmax(q k^T / sqrt(C)) v)` with `q, k, v = to_q, to_k,
/// to_v(group_norm(x))` (GroupNorm without activation; the projections are linear layers over channels).
///
/// The scores are computed for blocks of query rows, at most ``blockFloats`` floats of them at a time, so the
/// `(H W)^2` matrix never has to exist whole at large latents.
struct MidBlockAttention {
    let norm: GroupNorm
    /// `[C, C]` weights (`out x in`) and `[C]` biases of to_q, to_k, to_v, to_out.0.
    let query: (weight: Tensor<Float>, bias: Tensor<Float>)
    let key: (weight: Tensor<Float>, bias: Tensor<Float>)
    let value: (weight: Tensor<Float>, bias: Tensor<Float>)
    let output: (weight: Tensor<Float>, bias: Tensor<Float>)

    /// Most floats of one block of attention scores (16 MiB).
    static let blockFloats = 1 << 22

    /// The attention whose tensors are `prefix.group_norm.weight`, `prefix.to_q.weight`, ... in `tensors`.
    init(_ tensors: [String: Tensor<Float>], prefix: String, groups: Int) {
        func t(_ name: String) -> Tensor<Float> { tensors[prefix + "." + name]! }
        norm = GroupNorm(groups: groups, scale: t("group_norm.weight"), shift: t("group_norm.bias"))
        query = (t("to_q.weight"), t("to_q.bias"))
        key = (t("to_k.weight"), t("to_k.bias"))
        value = (t("to_v.weight"), t("to_v.bias"))
        output = (t("to_out.0.weight"), t("to_out.0.bias"))
    }

    var channels: Int { norm.channels }

    /// Adds the attention's output to `x` (`[C, positions]`), as the block's residual connection does.
    /// `blockFloats` bounds the block of scores (tests make it small to cut many blocks).
    func apply(
        _ x: inout Tensor<Float>, positions n: Int, blockFloats: Int = MidBlockAttention.blockFloats
    ) throws(BLAS.DimensionError) {
        let c = channels
        let h = norm(x, plane: n, silu: false)
        // q, k, v as [positions, C]: h^T W^T + b.
        let q = try project(h, query, positions: n)
        let k = try project(h, key, positions: n)
        let v = try project(h, value, positions: n)
        var attended = Tensor<Float>(uninitialized: [n, c])
        let rowsPerBlock = max(1, min(n, blockFloats / n))
        var scores = Tensor<Float>(uninitialized: [rowsPerBlock, n])
        // diffusers: scale = dim_head ** -0.5 (a Python float), the alpha of baddbmm.
        let scale = Float(1 / Double(c).squareRoot())
        try q.withUnsafeBufferPointer { (qp) throws(BLAS.DimensionError) in
            try k.withUnsafeBufferPointer { (kp) throws(BLAS.DimensionError) in
                try v.withUnsafeBufferPointer { (vp) throws(BLAS.DimensionError) in
                    try scores.withUnsafeMutableBufferPointer { (sp) throws(BLAS.DimensionError) in
                        try attended.withUnsafeMutableBufferPointer { (op) throws(BLAS.DimensionError) in
                            var top = 0
                            while top < n {
                                let rows = min(rowsPerBlock, n - top)
                                try BLAS.gemm(
                                    .none, .transposed, m: rows, n: n, k: c, alpha: scale, a: qp.baseAddress! + top * c,
                                    lda: c, b: kp.baseAddress!, ldb: c, c: sp.baseAddress!, ldc: n)
                                let sa = UInt(bitPattern: sp.baseAddress!)
                                ThreadPool.shared.parallelFor(rows, grain: 8) { lo, hi in
                                    let s = UnsafeMutablePointer<Float>(bitPattern: sa)!
                                    for r in lo..<hi { ozv_softmax_row(s + r * n, Int64(n), Int64(n)) }
                                }
                                try BLAS.gemm(
                                    .none, .none, m: rows, n: c, k: n, a: sp.baseAddress!, lda: n, b: vp.baseAddress!,
                                    ldb: c, c: op.baseAddress! + top * c, ldc: c)
                                top += rows
                            }
                        }
                    }
                }
            }
        }
        // x += to_out(attended)^T: x[C, n] += W_o attended^T + b_o.
        try x.withUnsafeMutableBufferPointer { (xp) throws(BLAS.DimensionError) in
            try output.weight.withUnsafeBufferPointer { (wp) throws(BLAS.DimensionError) in
                try attended.withUnsafeBufferPointer { (ap) throws(BLAS.DimensionError) in
                    output.bias.withUnsafeBufferPointer { b in
                        for ch in 0..<c {
                            let row = xp.baseAddress! + ch * n
                            for i in 0..<n { row[i] += b[ch] }
                        }
                    }
                    try BLAS.gemm(
                        .none, .transposed, m: c, n: n, k: c, a: wp.baseAddress!, lda: c, b: ap.baseAddress!, ldb: c,
                        beta: 1, c: xp.baseAddress!, ldc: n)
                }
            }
        }
    }

    /// `h^T W^T + b` (`[positions, C]`) for `h` `[C, positions]`.
    private func project(
        _ h: Tensor<Float>, _ layer: (weight: Tensor<Float>, bias: Tensor<Float>), positions n: Int
    ) throws(BLAS.DimensionError) -> Tensor<Float> {
        let c = channels
        var out = Tensor<Float>(uninitialized: [n, c])
        try out.withUnsafeMutableBufferPointer { (yp) throws(BLAS.DimensionError) in
            layer.bias.withUnsafeBufferPointer { b in
                for i in 0..<n { (yp.baseAddress! + i * c).update(from: b.baseAddress!, count: c) }
            }
            try h.withUnsafeBufferPointer { (hp) throws(BLAS.DimensionError) in
                try layer.weight.withUnsafeBufferPointer { (wp) throws(BLAS.DimensionError) in
                    try BLAS.gemm(
                        .transposed, .transposed, m: n, n: c, k: c, a: hp.baseAddress!, lda: n, b: wp.baseAddress!,
                        ldb: c, beta: 1, c: yp.baseAddress!, ldc: c)
                }
            }
        }
        return out
    }
}
