import PluginKit

/// Softmax attention inside a window, for one (batch, head) pair: `P = softmax(q k^T / sqrt(head_dim))` over the
/// keys each query's window holds (exactly 0 elsewhere), then `O = P v`.
///
/// Computed block by block as ``WindowPlan`` cuts the queries: per block, `S = scale Q K^T`, the window softmax,
/// and `O = P V` are `gemm`s against the runs of key tokens of the block's rectangle. Backward, per block:
/// `dP = dO V^T`, `dS = P * (dP - rowsum(dP * P))`, `dQ = scale dS K`, `dK += scale dS^T Q`, `dV += P^T dO`
/// (keys shared by neighbouring blocks accumulate, in the blocks' fixed order).
struct WindowedAttention {
    let plan: WindowPlan

    /// Scratch elements per (batch, head) pair: one block's probabilities, and in backward their gradients.
    func scratchElements(backward: Bool) -> Int {
        saturatingProduct(plan.maxScores, backward ? 2 : 1)
    }

    func forward<S: KernelScalar>(_ h: HeadSlices<S>) {
        let scale = 1 / S(h.headDim).squareRoot()
        plan.forEachBlock { block in attend(h, block, scale: scale, probs: h.scratch) }
    }

    func backward<S: KernelScalar>(_ h: HeadSlices<S>) {
        let (ld, ldo, dh) = (h.qkvStride, h.outStride, h.headDim)
        let scale = 1 / S(dh).squareRoot()
        let probs = h.scratch
        let dprobs = h.scratch + plan.maxScores
        for t in 0..<h.length {
            (h.dk + t * ld).update(repeating: 0, count: dh)
            (h.dv + t * ld).update(repeating: 0, count: dh)
        }
        plan.forEachBlock { block in
            attend(h, block, scale: scale, probs: probs)
            let (nq, nk) = (block.queries.count, block.keyCount)
            let q0 = block.queries.lowerBound
            let dO = h.dOut + q0 * ldo
            plan.forEachRun(of: block) { _, token, count, offset in
                S.gemm(
                    transA: false, transB: true, m: nq, n: count, k: dh, alpha: 1, a: dO, lda: ldo, b: h.v + token * ld,
                    ldb: ld, beta: 0, c: dprobs + offset, ldc: nk)
            }
            for t in 0..<nq {
                let prow = probs + t * nk
                let drow = dprobs + t * nk
                var dot: S = 0
                for j in 0..<nk { dot += prow[j] * drow[j] }
                for j in 0..<nk { drow[j] = prow[j] * (drow[j] - dot) }
            }
            plan.forEachRun(of: block) { run, token, count, offset in
                S.gemm(
                    transA: false, transB: false, m: nq, n: dh, k: count, alpha: scale, a: dprobs + offset, lda: nk,
                    b: h.k + token * ld, ldb: ld, beta: run == 0 ? 0 : 1, c: h.dq + q0 * ld, ldc: ld)
                S.gemm(
                    transA: true, transB: false, m: count, n: dh, k: nq, alpha: scale, a: dprobs + offset, lda: nk,
                    b: h.q + q0 * ld, ldb: ld, beta: 1, c: h.dk + token * ld, ldc: ld)
                S.gemm(
                    transA: true, transB: false, m: count, n: dh, k: nq, alpha: 1, a: probs + offset, lda: nk, b: dO,
                    ldb: ldo, beta: 1, c: h.dv + token * ld, ldc: ld)
            }
        }
    }

    /// This pair's weights into `dense` (`L x L`, row q holding query q's weight on every key): the forward's blocks,
    /// each block's probabilities copied to its keys' columns, 0 outside the windows (ABI 1.6 diagnostic).
    func weights<S: KernelScalar>(_ h: HeadSlices<S>, into dense: UnsafeMutablePointer<S>) {
        let l = h.length
        dense.update(repeating: 0, count: l * l)
        let scale = 1 / S(h.headDim).squareRoot()
        plan.forEachBlock { block in
            attend(h, block, scale: scale, probs: h.scratch)
            let nk = block.keyCount
            plan.forEachRun(of: block) { _, token, count, offset in
                for (t, q) in block.queries.enumerated() {
                    (dense + q * l + token).update(from: h.scratch + t * nk + offset, count: count)
                }
            }
        }
    }

    /// One block's scores, window softmax (left in `probs`, rows of `keyCount`) and output rows.
    private func attend<S: KernelScalar>(
        _ h: HeadSlices<S>, _ block: AttentionBlock, scale: S, probs: UnsafeMutablePointer<S>
    ) {
        let (ld, dh) = (h.qkvStride, h.headDim)
        let (nq, nk) = (block.queries.count, block.keyCount)
        let q = h.q + block.queries.lowerBound * ld
        plan.forEachRun(of: block) { _, token, count, offset in
            S.gemm(
                transA: false, transB: true, m: nq, n: count, k: dh, alpha: scale, a: q, lda: ld, b: h.k + token * ld,
                ldb: ld, beta: 0, c: probs + offset, ldc: nk)
        }
        for (t, i) in block.queries.enumerated() {
            let window = plan.geometry.keys(of: i)
            softmaxInWindow(probs + t * nk, block: block, rows: window.rows, cols: window.cols)
        }
        plan.forEachRun(of: block) { run, token, count, offset in
            S.gemm(
                transA: false, transB: false, m: nq, n: dh, k: count, alpha: 1, a: probs + offset, lda: nk,
                b: h.v + token * ld, ldb: ld, beta: run == 0 ? 0 : 1, c: h.out + block.queries.lowerBound * h.outStride,
                ldc: h.outStride)
        }
    }
}

/// Softmax over the entries of one score row (laid out `[keyRow][keyCol]` over `block`'s key rectangle) that lie
/// in the query's window `rows x cols`; every other entry becomes exactly 0.
private func softmaxInWindow<S: KernelScalar>(
    _ row: UnsafeMutablePointer<S>, block: AttentionBlock, rows: Range<Int>, cols: Range<Int>
) {
    let width = block.keyCols.count
    let lo = cols.lowerBound - block.keyCols.lowerBound
    let hi = cols.upperBound - block.keyCols.lowerBound
    let first = rows.lowerBound - block.keyRows.lowerBound
    let segments = first..<first + rows.count
    var m = -S.infinity
    for a in segments {
        let seg = row + a * width
        for j in lo..<hi where seg[j] > m { m = seg[j] }
    }
    var sum: S = 0
    for a in segments {
        let seg = row + a * width
        for j in lo..<hi {
            seg[j] = S.exp(seg[j] - m)
            sum += seg[j]
        }
    }
    let inv = 1 / sum
    for a in 0..<block.keyRows.count {
        let seg = row + a * width
        guard segments.contains(a) else {
            seg.update(repeating: 0, count: width)
            continue
        }
        for j in 0..<lo { seg[j] = 0 }
        for j in lo..<hi { seg[j] *= inv }
        for j in hi..<width { seg[j] = 0 }
    }
}
