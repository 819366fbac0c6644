import PluginKit

/// The SSD scan of Mamba-2 in its chunked form, with its vector-Jacobian product, for every (batch, head) pair.
///
/// Per head h (group `g = h / (H/G)`), with `a_t = dt_t A_h` and the state `S` of shape `(P, N)`, `S_{-1} = 0`:
///
///     S_t = exp(a_t) S_{t-1} + dt_t x_t B_t^T,        y_t = S_t C_t + D_h x_t
///
/// equivalently `y_t = sum_{s<=t} (C_t . B_s) exp(cs_t - cs_s) dt_s x_s + D_h x_t` with `cs_t = sum_{r<=t} a_r`.
/// The sequence is cut into chunks of Q tokens (the last may be shorter). Inside a chunk the quadratic form is three
/// matrix products (`C B^T`, the masked decay-weighted `M`, `M X`); across chunks the state is carried by two more
/// (`C S^T` into the outputs, `X^T diag(w) B` into the state). Cost per head: O(L Q (N + P) + L N P), linear in L.
/// Every exponent is `cs_t - cs_s` with `s <= t` (never positive), so nothing overflows.
///
/// Backward, with `dX~_s = d<y, dy>/d(dt_s x_s) = sum_{t>=s} (C_t . B_s) exp(cs_t - cs_s) dy_t` (intra-chunk products
/// plus the carried state gradient `dS`) and `y~ = y - D x`:
///
///     dx_s = dt_s dX~_s + D dy_s,   d dt_s = x_s . dX~_s + A da_s,   dD = sum_t dy_t . x_t,   dA = sum_t dt_t da_t
///     dB_s = dt_s sum_{t>=s} exp(cs_t - cs_s) (dy_t . x_s) C_t,   dC_t = sum_{s<=t} exp(cs_t - cs_s) dt_s (dy_t . x_s) B_s
///     da_r = sum_{k>=r} (dy_k . y~_k - dt_k x_k . dX~_k)
///
/// (the last because `d<y, dy>/d cs_k` is the k-th row sum minus the k-th column sum of the quadratic form's terms).
/// Backward first reruns the forward to keep the state entering each chunk and `dy . y~`, then walks the chunks in
/// reverse.
///
/// Work is split into tasks `(batch, block)`, a block being up to `headsPerGroup / blocksPerGroup` heads of one group,
/// so that `C B^T` is computed once per group and chunk, and `dB`, `dC` (shared by a group's heads) accumulate per
/// block in a fixed order and are summed over blocks afterwards. Tasks run on the host's `parallel_for`, each in one
/// of `slots` scratch areas; every sum has a fixed order, so results do not depend on the scheduling or thread count.
struct ChunkedSSD {
    let batch: Int
    /// L.
    let length: Int
    /// H.
    let heads: Int
    /// P.
    let headDim: Int
    /// N.
    let dState: Int
    /// G.
    let groups: Int
    /// Q: `chunk_size`, or L when shorter.
    let chunk: Int
    /// Row stride of `u = [x | B | C]` (`conv_dim`).
    let uStride: Int
    /// Row stride of `y` and `dy` (`d_inner = H P`).
    let yStride: Int
    let parallel: ParallelFor

    init(batch: Int, length: Int, dimensions d: Mamba2Dimensions, parallel: ParallelFor) {
        self.batch = batch
        self.length = length
        heads = d.heads
        headDim = d.headDim
        dState = d.dState
        groups = d.groups
        chunk = min(d.chunkSize, length)
        uStride = d.convDim
        yStride = d.dInner
        self.parallel = parallel
    }

    var headsPerGroup: Int { heads / groups }
    /// Blocks per group: at most 16 blocks in all (or one per group when there are more groups).
    var blocksPerGroup: Int { max(1, min(headsPerGroup, 16 / groups)) }
    var blocks: Int { groups * blocksPerGroup }
    var tasks: Int { batch * blocks }
    var chunks: Int { (length + chunk - 1) / chunk }
    var maxHeadsPerBlock: Int { (headsPerGroup + blocksPerGroup - 1) / blocksPerGroup }
    /// Scratch areas: one per thread, at most one per task.
    var slots: Int { max(1, min(tasks, parallel.threads)) }

    /// The heads of block `k` (`k / blocksPerGroup` is its group).
    func headRange(block k: Int) -> Range<Int> {
        let (g, part) = (k / blocksPerGroup, k % blocksPerGroup)
        let base = g * headsPerGroup
        return (base + part * headsPerGroup / blocksPerGroup)..<(base + (part + 1) * headsPerGroup / blocksPerGroup)
    }

    /// Scratch elements of one forward slot: `C B^T`, `M` (Q x Q each), `cs` (Q), two Q x N weighted copies and the
    /// running states of a block's heads.
    var forwardSlotElements: Int {
        let (q, n, p) = (chunk, dState, headDim)
        return saturatingSum(
            saturatingProduct(2, q, q), q, saturatingProduct(2, q, n), saturatingProduct(maxHeadsPerBlock, p, n))
    }

    /// Scratch elements of one backward slot: three Q x Q matrices, `cs`, four Q x P and one Q x N work matrices, the
    /// states entering every chunk and the state gradients of a block's heads, `dy . y~` and `d cs` over the whole
    /// sequence, and a `dD` sum per head.
    var backwardSlotElements: Int {
        let (q, n, p, hb) = (chunk, dState, headDim, maxHeadsPerBlock)
        return saturatingSum(
            saturatingProduct(3, q, q), q, saturatingProduct(4, q, p), saturatingProduct(q, n),
            saturatingProduct(chunks + 1, hb, p, n), saturatingProduct(2, hb, length), hb)
    }

    /// Elements of the per-block `dB` and `dC` accumulators (`tasks x L x N` each).
    var accumulatorElements: Int { saturatingProduct(2, tasks, length, dState) }

    /// The inputs of one scan, all in the scan's token order.
    struct Inputs<S: KernelScalar> {
        /// `(B*L, conv_dim)`: `silu(conv1d(xBC))`, split `[x (H*P) | B (G*N) | C (G*N)]`.
        let u: UnsafePointer<S>
        /// `(B*L, H)`: `softplus(dt + dt_bias)`.
        let dt: UnsafePointer<S>
        /// `(H)`: `A = -exp(A_log)`.
        let a: UnsafePointer<S>
        /// `(H)`.
        let d: UnsafePointer<S>
    }

    /// Runs `body(task, slot)` for every task, each slot used by one thread at a time.
    private func forEachTask(_ body: (Int, Int) -> Void) {
        let (count, slots) = (tasks, self.slots)
        parallel(slots, grain: 1) { s0, s1 in
            for slot in s0..<s1 {
                for task in stride(from: slot, to: count, by: slots) { body(task, slot) }
            }
        }
    }

    // MARK: Forward

    /// `y[b, t, h*P ..< (h+1)*P] = y_t` of head h, overwriting all of `y` (`(B*L, d_inner)`).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(_ inputs: Inputs<S>, y: UnsafeMutablePointer<S>, scratch: UnsafeMutablePointer<S>) {
        let slotSize = forwardSlotElements
        forEachTask { task, slot in
            forwardTask(batch: task / blocks, block: task % blocks, inputs, y: y, scratch: scratch + slot * slotSize)
        }
    }

    /// `cs[i] = sum_{r<=i} dt[t0 + r] A` over one chunk.
    @inline(__always)
    private func cumulativeDecay<S: KernelScalar>(_ cs: UnsafeMutablePointer<S>, dt: UnsafePointer<S>, a: S, count q: Int) {
        var sum: S = 0
        for i in 0..<q {
            sum += dt[i * heads] * a
            cs[i] = sum
        }
    }

    /// `M[i, j] = G[i, j] exp(cs_i - cs_j) dt_j` for `j <= i`, else 0 (q x q, row stride q).
    @inline(__always)
    private func maskedDecay<S: KernelScalar>(
        _ m: UnsafeMutablePointer<S>, cb: UnsafePointer<S>, cs: UnsafePointer<S>, dt: UnsafePointer<S>, count q: Int
    ) {
        for i in 0..<q {
            let row = m + i * q
            let ci = cs[i]
            for j in 0...i { row[j] = cb[i * q + j] * S.exp(ci - cs[j]) * dt[j * heads] }
            for j in (i + 1)..<q { row[j] = 0 }
        }
    }

    private func forwardTask<S: KernelScalar>(
        batch b: Int, block: Int, _ inputs: Inputs<S>, y: UnsafeMutablePointer<S>, scratch: UnsafeMutablePointer<S>
    ) {
        let (bigQ, n, p, g) = (chunk, dState, headDim, block / blocksPerGroup)
        let cb = scratch
        let m = cb + bigQ * bigQ
        let cs = m + bigQ * bigQ
        let bw = cs + bigQ
        let cw = bw + bigQ * n
        let states = cw + bigQ * n
        let range = headRange(block: block)
        states.update(repeating: 0, count: range.count * p * n)
        let (bOffset, cOffset) = (heads * p + g * n, heads * p + groups * n + g * n)
        for c in 0..<chunks {
            let t0 = c * bigQ
            let q = min(bigQ, length - t0)
            let row0 = b * length + t0
            let bc = inputs.u + row0 * uStride + bOffset
            let cc = inputs.u + row0 * uStride + cOffset
            S.gemm(transA: false, transB: true, m: q, n: q, k: n, alpha: 1, a: cc, lda: uStride, b: bc, ldb: uStride,
                   beta: 0, c: cb, ldc: q)
            for (k, h) in range.enumerated() {
                let dt = inputs.dt + row0 * heads + h
                cumulativeDecay(cs, dt: dt, a: inputs.a[h], count: q)
                maskedDecay(m, cb: cb, cs: cs, dt: dt, count: q)
                let x = inputs.u + row0 * uStride + h * p
                let yh = y + row0 * yStride + h * p
                S.gemm(transA: false, transB: false, m: q, n: p, k: q, alpha: 1, a: m, lda: q, b: x, ldb: uStride,
                       beta: 0, c: yh, ldc: yStride)
                let state = states + k * p * n
                if c > 0 {
                    for i in 0..<q {
                        let e = S.exp(cs[i])
                        for j in 0..<n { cw[i * n + j] = e * cc[i * uStride + j] }
                    }
                    S.gemm(transA: false, transB: true, m: q, n: p, k: n, alpha: 1, a: cw, lda: n, b: state, ldb: n,
                           beta: 1, c: yh, ldc: yStride)
                }
                let skip = inputs.d[h]
                for i in 0..<q {
                    for j in 0..<p { yh[i * yStride + j] += skip * x[i * uStride + j] }
                }
                if c + 1 < chunks {
                    advance(state, into: state, cs: cs, dt: dt, x: x, b: bc, weighted: bw, count: q)
                }
            }
        }
    }

    /// `next = exp(cs_last) state + X^T diag(exp(cs_last - cs_j) dt_j) B` over one chunk (`next` may be `state`).
    @inline(__always)
    private func advance<S: KernelScalar>(
        _ state: UnsafePointer<S>, into next: UnsafeMutablePointer<S>, cs: UnsafePointer<S>, dt: UnsafePointer<S>,
        x: UnsafePointer<S>, b: UnsafePointer<S>, weighted bw: UnsafeMutablePointer<S>, count q: Int
    ) {
        let (n, p) = (dState, headDim)
        let last = cs[q - 1]
        let decay = S.exp(last)
        for e in 0..<(p * n) { next[e] = decay * state[e] }
        for j in 0..<q {
            let w = S.exp(last - cs[j]) * dt[j * heads]
            for i in 0..<n { bw[j * n + i] = w * b[j * uStride + i] }
        }
        S.gemm(transA: true, transB: false, m: p, n: n, k: q, alpha: 1, a: x, lda: uStride, b: bw, ldb: n, beta: 1,
               c: next, ldc: n)
    }

    // MARK: Backward

    /// The gradients of one scan for the output gradient `dy` (`(B*L, d_inner)`, scan order):
    /// - `du` (`(B*L, conv_dim)`): every column overwritten (`dx`, then `dB`, `dC` summed over the group's heads);
    /// - `ddt` (`(B*L, H)`): the gradient with respect to `dt` (after the softplus);
    /// - `dD`, `dA` (`(B, H)` each): per batch entry, to be summed over the batch.
    ///
    /// `accumulators` holds ``accumulatorElements``; `scratch` holds `slots` x ``backwardSlotElements``.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ inputs: Inputs<S>, dy: UnsafePointer<S>, du: UnsafeMutablePointer<S>, ddt: UnsafeMutablePointer<S>,
        dD: UnsafeMutablePointer<S>, dA: UnsafeMutablePointer<S>, accumulators: UnsafeMutablePointer<S>,
        scratch: UnsafeMutablePointer<S>
    ) {
        let slotSize = backwardSlotElements
        let perTask = length * dState
        let dBAll = accumulators
        let dCAll = accumulators + tasks * perTask
        forEachTask { task, slot in
            backwardTask(
                batch: task / blocks, block: task % blocks, inputs, dy: dy, du: du, ddt: ddt, dD: dD, dA: dA,
                dBAcc: dBAll + task * perTask, dCAcc: dCAll + task * perTask, scratch: scratch + slot * slotSize)
        }
        // dB and dC of group g: the sum of its blocks' accumulators, in block order.
        let (n, k, p) = (dState, blocksPerGroup, headDim)
        func sum(_ source: UnsafePointer<S>, first: Int, into out: UnsafeMutablePointer<S>) {
            for i in 0..<n { out[i] = source[first + i] }
            for block in 1..<max(1, k) {
                let s = source + first + block * perTask
                for i in 0..<n { out[i] += s[i] }
            }
        }
        parallel(batch * length, grain: max(1, 4096 / max(1, groups * n * k))) { r0, r1 in
            for row in r0..<r1 {
                let (b, t) = (row / length, row % length)
                let out = du + row * uStride + heads * p
                for g in 0..<groups {
                    let first = (b * blocks + g * k) * perTask + t * n
                    sum(dBAll, first: first, into: out + g * n)
                    sum(dCAll, first: first, into: out + groups * n + g * n)
                }
            }
        }
    }

    private func backwardTask<S: KernelScalar>(
        batch b: Int, block: Int, _ inputs: Inputs<S>, dy: UnsafePointer<S>, du: UnsafeMutablePointer<S>,
        ddt: UnsafeMutablePointer<S>, dD: UnsafeMutablePointer<S>, dA: UnsafeMutablePointer<S>,
        dBAcc: UnsafeMutablePointer<S>, dCAcc: UnsafeMutablePointer<S>, scratch: UnsafeMutablePointer<S>
    ) {
        let (bigQ, n, p, l, g) = (chunk, dState, headDim, length, block / blocksPerGroup)
        let range = headRange(block: block)
        let hb = range.count
        // Scratch layout (see backwardSlotElements).
        let cb = scratch
        let km = cb + bigQ * bigQ
        let em = km + bigQ * bigQ
        let cs = em + bigQ * bigQ
        let yt = cs + bigQ
        let dxdt = yt + bigQ * p
        let ys = dxdt + bigQ * p
        let xs = ys + bigQ * p
        let bw = xs + bigQ * p
        let states = bw + bigQ * n
        let dS = states + chunks * maxHeadsPerBlock * p * n
        let rowDot = dS + maxHeadsPerBlock * p * n
        let dcs = rowDot + maxHeadsPerBlock * l
        let dDSum = dcs + maxHeadsPerBlock * l
        let (bOffset, cOffset) = (heads * p + g * n, heads * p + groups * n + g * n)
        func state(_ c: Int, _ k: Int) -> UnsafeMutablePointer<S> { states + (c * hb + k) * p * n }

        dBAcc.update(repeating: 0, count: l * n)
        dCAcc.update(repeating: 0, count: l * n)
        dS.update(repeating: 0, count: hb * p * n)
        dDSum.update(repeating: 0, count: hb)
        states.update(repeating: 0, count: hb * p * n)

        // Pass 1: the forward again, keeping the state entering each chunk and dy_t . y~_t.
        for c in 0..<chunks {
            let t0 = c * bigQ
            let q = min(bigQ, l - t0)
            let row0 = b * l + t0
            let bc = inputs.u + row0 * uStride + bOffset
            let cc = inputs.u + row0 * uStride + cOffset
            S.gemm(transA: false, transB: true, m: q, n: q, k: n, alpha: 1, a: cc, lda: uStride, b: bc, ldb: uStride,
                   beta: 0, c: cb, ldc: q)
            for (k, h) in range.enumerated() {
                let dt = inputs.dt + row0 * heads + h
                cumulativeDecay(cs, dt: dt, a: inputs.a[h], count: q)
                maskedDecay(km, cb: cb, cs: cs, dt: dt, count: q)
                let x = inputs.u + row0 * uStride + h * p
                S.gemm(transA: false, transB: false, m: q, n: p, k: q, alpha: 1, a: km, lda: q, b: x, ldb: uStride,
                       beta: 0, c: yt, ldc: p)
                if c > 0 {
                    for i in 0..<q {
                        let e = S.exp(cs[i])
                        for j in 0..<n { bw[i * n + j] = e * cc[i * uStride + j] }
                    }
                    S.gemm(transA: false, transB: true, m: q, n: p, k: n, alpha: 1, a: bw, lda: n, b: state(c, k),
                           ldb: n, beta: 1, c: yt, ldc: p)
                }
                let dyh = dy + row0 * yStride + h * p
                for i in 0..<q {
                    var dot: S = 0
                    for j in 0..<p { dot += dyh[i * yStride + j] * yt[i * p + j] }
                    rowDot[k * l + t0 + i] = dot
                }
                if c + 1 < chunks {
                    advance(state(c, k), into: state(c + 1, k), cs: cs, dt: dt, x: x, b: bc, weighted: bw, count: q)
                }
            }
        }

        // Pass 2: the chunks in reverse, carrying dS (the gradient of the state leaving the chunk).
        for c in (0..<chunks).reversed() {
            let t0 = c * bigQ
            let q = min(bigQ, l - t0)
            let row0 = b * l + t0
            let bc = inputs.u + row0 * uStride + bOffset
            let cc = inputs.u + row0 * uStride + cOffset
            let dBc = dBAcc + t0 * n
            let dCc = dCAcc + t0 * n
            S.gemm(transA: false, transB: true, m: q, n: q, k: n, alpha: 1, a: cc, lda: uStride, b: bc, ldb: uStride,
                   beta: 0, c: cb, ldc: q)
            for (k, h) in range.enumerated() {
                let dt = inputs.dt + row0 * heads + h
                let x = inputs.u + row0 * uStride + h * p
                let dyh = dy + row0 * yStride + h * p
                let dSk = dS + k * p * n
                cumulativeDecay(cs, dt: dt, a: inputs.a[h], count: q)
                // E = dY X^T; then K = (C B^T) o decay and V = decay o dt_j o E, both masked to j <= i.
                S.gemm(transA: false, transB: true, m: q, n: q, k: p, alpha: 1, a: dyh, lda: yStride, b: x, ldb: uStride,
                       beta: 0, c: em, ldc: q)
                for i in 0..<q {
                    let ci = cs[i]
                    for j in 0...i {
                        let decay = S.exp(ci - cs[j])
                        km[i * q + j] = cb[i * q + j] * decay
                        em[i * q + j] *= decay * dt[j * heads]
                    }
                    for j in (i + 1)..<q {
                        km[i * q + j] = 0
                        em[i * q + j] = 0
                    }
                }
                // dX~ = K^T dY (+ the state path: diag(exp(cs_last - cs_j)) B dS^T).
                S.gemm(transA: true, transB: false, m: q, n: p, k: q, alpha: 1, a: km, lda: q, b: dyh, ldb: yStride,
                       beta: 0, c: dxdt, ldc: p)
                let last = cs[q - 1]
                if c + 1 < chunks {
                    for j in 0..<q {
                        let w = S.exp(last - cs[j])
                        for i in 0..<n { bw[j * n + i] = w * bc[j * uStride + i] }
                        let wx = w * dt[j * heads]
                        for i in 0..<p { xs[j * p + i] = wx * x[j * uStride + i] }
                    }
                    S.gemm(transA: false, transB: true, m: q, n: p, k: n, alpha: 1, a: bw, lda: n, b: dSk, ldb: n,
                           beta: 1, c: dxdt, ldc: p)
                    S.gemm(transA: false, transB: false, m: q, n: n, k: p, alpha: 1, a: xs, lda: p, b: dSk, ldb: n,
                           beta: 1, c: dBc, ldc: n)
                }
                // Intra-chunk dC = V B, dB = V^T C.
                S.gemm(transA: false, transB: false, m: q, n: n, k: q, alpha: 1, a: em, lda: q, b: bc, ldb: uStride,
                       beta: 1, c: dCc, ldc: n)
                S.gemm(transA: true, transB: false, m: q, n: n, k: q, alpha: 1, a: em, lda: q, b: cc, ldb: uStride,
                       beta: 1, c: dBc, ldc: n)
                if c > 0 {
                    // The state entering the chunk: dC += diag(exp(cs)) dY S^T-side, dS <- exp(cs_last) dS + (..)^T C.
                    for i in 0..<q {
                        let e = S.exp(cs[i])
                        for j in 0..<p { ys[i * p + j] = e * dyh[i * yStride + j] }
                    }
                    S.gemm(transA: false, transB: false, m: q, n: n, k: p, alpha: 1, a: ys, lda: p, b: state(c, k),
                           ldb: n, beta: 1, c: dCc, ldc: n)
                    let decay = S.exp(last)
                    for e in 0..<(p * n) { dSk[e] *= decay }
                    S.gemm(transA: true, transB: false, m: p, n: n, k: q, alpha: 1, a: ys, lda: p, b: cc, ldb: uStride,
                           beta: 1, c: dSk, ldc: n)
                }
                let skip = inputs.d[h]
                let dxh = du + row0 * uStride + h * p
                let ddth = ddt + row0 * heads + h
                var dDChunk: S = 0
                for j in 0..<q {
                    var xd: S = 0
                    var yx: S = 0
                    for i in 0..<p {
                        let (xv, gy) = (x[j * uStride + i], dyh[j * yStride + i])
                        xd += xv * dxdt[j * p + i]
                        yx += gy * xv
                        dxh[j * uStride + i] = dt[j * heads] * dxdt[j * p + i] + skip * gy
                    }
                    ddth[j * heads] = xd
                    dcs[k * l + t0 + j] = rowDot[k * l + t0 + j] - dt[j * heads] * xd
                    dDChunk += yx
                }
                dDSum[k] += dDChunk
            }
        }

        // da_r = sum_{k>=r} dcs_k over the whole sequence; d dt += A da, dA = sum dt da.
        for (k, h) in range.enumerated() {
            let a = inputs.a[h]
            var da: S = 0
            var dASum: S = 0
            for t in (0..<l).reversed() {
                da += dcs[k * l + t]
                let row = (b * l + t) * heads + h
                ddt[row] += a * da
                dASum += inputs.dt[row] * da
            }
            dA[b * heads + h] = dASum
            dD[b * heads + h] = dDSum[k]
        }
    }
}
