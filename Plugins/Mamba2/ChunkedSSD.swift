import PluginKit

/// The SSD scan of Mamba-2 in its chunked form, with its vector-Jacobian product, for every (batch, head) pair.
///
/// Per head h (group `g = h / (H/G)`), with `a_t = dt_t A_h` and the state `S` of shape `(P, N)`, `S_{-1} = 0`:
///
///     S_t = exp(a_t) S_{t-1} + dt_t x_t B_t^T,        y_t = S_t C_t + D_h x_t
///
/// equivalently `y_t = sum_{s<=t} (C_t . B_s) exp(cs_t - cs_s) dt_s x_s + D_h x_t` with `cs_t = sum_{r<=t} a_r`.
/// The sequence is cut into chunks of Q tokens (the last may be shorter). Inside a chunk the quadratic form is
/// matrix products (`C B^T`, shared by a group's heads, then `M X` with the masked, decay-weighted `M`); across
/// chunks the state is carried by two more (`C S^T` into the outputs, `X^T diag(w) B` into the state). Cost per
/// head: O(L Q P + L N P), plus O(L Q N) per group: linear in L. Every exponent is `cs_t - cs_s` with `s <= t`
/// (never positive), so nothing overflows.
///
/// Backward, with `dX~_s = d<y, dy>/d(dt_s x_s) = sum_{t>=s} (C_t . B_s) exp(cs_t - cs_s) dy_t` (intra-chunk products
/// plus the carried state gradient `dS`) and `y~ = y - D x`:
///
///     dx_s = dt_s dX~_s + D dy_s,   d dt_s = x_s . dX~_s + A da_s,   dD = sum_t dy_t . x_t,   dA = sum_t dt_t da_t
///     dB_s = sum_{t>=s} V_ts C_t,   dC_t = sum_{s<=t} V_ts B_s,   V_ts = sum_h exp(cs_t - cs_s) dt_s (dy_t . x_s)
///     da_r = sum_{k>=r} (dy_k . y~_k - dt_k x_k . dX~_k)
///
/// (the last because `d<y, dy>/d cs_k` is the k-th row sum minus the k-th column sum of the quadratic form's terms;
/// `V` is summed over a block's heads before its two products). Backward takes the forward's `y`, walks the chunks
/// forward once to keep the state entering each, then in reverse.
///
/// Work is split into tasks `(batch, block)`, a block being up to `headsPerGroup / blocksPerGroup` heads of one group.
/// When a group has several blocks, its `C B^T` products are computed once beforehand (``products(_:into:)``);
/// `dB`, `dC` accumulate per block in a fixed order and are summed over blocks afterwards. Tasks run on the host's
/// `parallel_for`, each in one of `slots` scratch areas; every sum has a fixed order, so results do not depend on the
/// scheduling or thread count.
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
    /// Blocks per group: one per four heads (rounded up), at most 16 blocks in all (one per group when there are more
    /// groups). A block's heads share its `dB`, `dC` products; more blocks give more parallel tasks.
    var blocksPerGroup: Int { max(1, min((headsPerGroup + 3) / 4, 16 / groups)) }
    var blocks: Int { groups * blocksPerGroup }
    var tasks: Int { batch * blocks }
    var chunks: Int { (length + chunk - 1) / chunk }
    var maxHeadsPerBlock: Int { (headsPerGroup + blocksPerGroup - 1) / blocksPerGroup }
    /// Scratch areas: one per thread, at most one per task.
    var slots: Int { max(1, min(tasks, parallel.threads)) }
    /// Whether the `C B^T` products are computed once per group beforehand (several blocks share them).
    var sharesProducts: Bool { blocksPerGroup > 1 }

    /// The heads of block `k` (`k / blocksPerGroup` is its group).
    func headRange(block k: Int) -> Range<Int> {
        let (g, part) = (k / blocksPerGroup, k % blocksPerGroup)
        let base = g * headsPerGroup
        return (base + part * headsPerGroup / blocksPerGroup)..<(base + (part + 1) * headsPerGroup / blocksPerGroup)
    }

    /// Elements of the shared `C B^T` products (`B x G x chunks` of Q x Q), or 0 when each task computes its own.
    var productElements: Int { sharesProducts ? saturatingProduct(batch, groups, chunks, chunk, chunk) : 0 }

    /// Scratch elements of one forward slot: `C B^T` and `M` (Q x Q each), `cs` and `dt` of a chunk (Q each), a
    /// Q x N weighted copy, and the running states of a block's heads.
    var forwardSlotElements: Int {
        let (q, n, p) = (chunk, dState, headDim)
        return saturatingSum(
            saturatingProduct(2, q, q), 2 * q, saturatingProduct(q, n), saturatingProduct(maxHeadsPerBlock, p, n))
    }

    /// Scratch elements of one backward slot: four Q x Q matrices (`C B^T`, decay-weighted `C B^T`, `V` of one head
    /// and of the block), `cs` and `dt` of a chunk, three Q x P and one Q x N work matrices, the states entering
    /// every chunk and the state gradients of a block's heads, `dy . y~` and `d cs` over the sequence, and a `dD` sum
    /// per head.
    var backwardSlotElements: Int {
        let (q, n, p, hb) = (chunk, dState, headDim, maxHeadsPerBlock)
        return saturatingSum(
            saturatingProduct(4, q, q), 2 * q, saturatingProduct(3, q, p), saturatingProduct(q, n),
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

    /// One chunk of the sequence of batch entry `b`: its first row and its length.
    private func rows(batch b: Int, chunk c: Int) -> (row0: Int, q: Int) {
        (b * length + c * chunk, min(chunk, length - c * chunk))
    }

    /// `C_c B_c^T` (q x q, row stride q) of group g.
    @inline(__always)
    private func product<S: KernelScalar>(
        _ u: UnsafePointer<S>, batch b: Int, group g: Int, chunk c: Int, into cb: UnsafeMutablePointer<S>
    ) {
        let (row0, q) = rows(batch: b, chunk: c)
        let n = dState
        let bc = u + row0 * uStride + heads * headDim + g * n
        S.gemm(
            transA: false, transB: true, m: q, n: q, k: n, alpha: 1, a: bc + groups * n, lda: uStride, b: bc,
            ldb: uStride, beta: 0, c: cb, ldc: q)
    }

    /// The shared `C B^T` of every (batch, group, chunk), when ``sharesProducts``; `into` holds ``productElements``.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func products<S: KernelScalar>(_ u: UnsafePointer<S>, into all: UnsafeMutablePointer<S>) {
        guard sharesProducts else { return }
        let (nc, qq) = (chunks, chunk * chunk)
        parallel(batch * groups * nc, grain: 1) { i0, i1 in
            for i in i0..<i1 {
                product(u, batch: i / (groups * nc), group: i / nc % groups, chunk: i % nc, into: all + i * qq)
            }
        }
    }

    /// `C_c B_c^T` of the block's group: the shared one, or computed into `own`.
    @inline(__always)
    private func product<S: KernelScalar>(
        _ u: UnsafePointer<S>, shared: UnsafePointer<S>, batch b: Int, group g: Int, chunk c: Int,
        own: UnsafeMutablePointer<S>
    ) -> UnsafePointer<S> {
        if sharesProducts { return shared + ((b * groups + g) * chunks + c) * chunk * chunk }
        product(u, batch: b, group: g, chunk: c, into: own)
        return UnsafePointer(own)
    }

    /// `dt[i]` of head h over one chunk, contiguous, and `cs[i] = sum_{r<=i} dt_r A`.
    @inline(__always)
    private func decay<S: KernelScalar>(
        _ dt: UnsafePointer<S>, head h: Int, a: S, count q: Int, dtc: UnsafeMutablePointer<S>,
        cs: UnsafeMutablePointer<S>
    ) {
        var sum: S = 0
        for i in 0..<q {
            let v = dt[i * heads + h]
            dtc[i] = v
            sum += v * a
            cs[i] = sum
        }
    }

    // MARK: Forward

    /// `y[b, t, h*P ..< (h+1)*P] = y_t` of head h, overwriting all of `y` (`(B*L, d_inner)`). `shared` holds the
    /// products of ``products(_:into:)``; `scratch` holds `slots` x ``forwardSlotElements``.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ inputs: Inputs<S>, y: UnsafeMutablePointer<S>, shared: UnsafePointer<S>, scratch: UnsafeMutablePointer<S>
    ) {
        let slotSize = forwardSlotElements
        forEachTask { task, slot in
            forwardTask(
                batch: task / blocks, block: task % blocks, inputs, y: y, shared: shared,
                scratch: scratch + slot * slotSize)
        }
    }

    private func forwardTask<S: KernelScalar>(
        batch b: Int, block: Int, _ inputs: Inputs<S>, y: UnsafeMutablePointer<S>, shared: UnsafePointer<S>,
        scratch: UnsafeMutablePointer<S>
    ) {
        let (bigQ, n, p, g) = (chunk, dState, headDim, block / blocksPerGroup)
        let own = scratch
        let m = own + bigQ * bigQ
        let cs = m + bigQ * bigQ
        let dtc = cs + bigQ
        let bw = dtc + bigQ
        let states = bw + bigQ * n
        let range = headRange(block: block)
        states.update(repeating: 0, count: range.count * p * n)
        for c in 0..<chunks {
            let (row0, q) = rows(batch: b, chunk: c)
            let bc = inputs.u + row0 * uStride + heads * p + g * n
            let cc = bc + groups * n
            let cb = product(inputs.u, shared: shared, batch: b, group: g, chunk: c, own: own)
            for (k, h) in range.enumerated() {
                decay(inputs.dt + row0 * heads, head: h, a: inputs.a[h], count: q, dtc: dtc, cs: cs)
                // M = (C B^T) o exp(cs_i - cs_j) dt_j, masked to j <= i.
                for i in 0..<q {
                    let (row, cbRow, ci) = (m + i * q, cb + i * q, cs[i])
                    for j in 0..<(i + 1) { row[j] = cbRow[j] * S.exp(ci - cs[j]) * dtc[j] }
                    for j in (i + 1)..<q { row[j] = 0 }
                }
                let x = inputs.u + row0 * uStride + h * p
                let yh = y + row0 * yStride + h * p
                S.gemm(
                    transA: false, transB: false, m: q, n: p, k: q, alpha: 1, a: m, lda: q, b: x, ldb: uStride,
                    beta: 0, c: yh, ldc: yStride)
                let state = states + k * p * n
                if c > 0 {
                    // y += diag(exp(cs)) C S^T.
                    for i in 0..<q {
                        let (e, out, row) = (S.exp(cs[i]), bw + i * n, cc + i * uStride)
                        for j in 0..<n { out[j] = e * row[j] }
                    }
                    S.gemm(
                        transA: false, transB: true, m: q, n: p, k: n, alpha: 1, a: bw, lda: n, b: state, ldb: n,
                        beta: 1, c: yh, ldc: yStride)
                }
                let skip = inputs.d[h]
                for i in 0..<q {
                    let (out, row) = (yh + i * yStride, x + i * uStride)
                    for j in 0..<p { out[j] += skip * row[j] }
                }
                if c + 1 < chunks {
                    advance(state, into: state, cs: cs, dt: dtc, x: x, b: bc, weighted: bw, count: q)
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
            let (w, out, row) = (S.exp(last - cs[j]) * dt[j], bw + j * n, b + j * uStride)
            for i in 0..<n { out[i] = w * row[i] }
        }
        S.gemm(
            transA: true, transB: false, m: p, n: n, k: q, alpha: 1, a: x, lda: uStride, b: bw, ldb: n, beta: 1,
            c: next, ldc: n)
    }

    // MARK: Backward

    /// The gradients of one scan, given its forward output `y` and the output gradient `dy` (both `(B*L, d_inner)`,
    /// scan order):
    /// - `du` (`(B*L, conv_dim)`): every column overwritten (`dx`, then `dB`, `dC` summed over the group's heads);
    /// - `ddt` (`(B*L, H)`): the gradient with respect to `dt` (after the softplus);
    /// - `dD`, `dA` (`(B, H)` each): per batch entry, to be summed over the batch.
    ///
    /// `shared` holds the products of ``products(_:into:)``, `accumulators` ``accumulatorElements``, `scratch`
    /// `slots` x ``backwardSlotElements``.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ inputs: Inputs<S>, y: UnsafePointer<S>, dy: UnsafePointer<S>, du: UnsafeMutablePointer<S>,
        ddt: UnsafeMutablePointer<S>, dD: UnsafeMutablePointer<S>, dA: UnsafeMutablePointer<S>,
        shared: UnsafePointer<S>,
        accumulators: UnsafeMutablePointer<S>, scratch: UnsafeMutablePointer<S>
    ) {
        let slotSize = backwardSlotElements
        let perTask = length * dState
        let dBAll = accumulators
        let dCAll = accumulators + tasks * perTask
        forEachTask { task, slot in
            backwardTask(
                batch: task / blocks, block: task % blocks, inputs, y: y, dy: dy, du: du, ddt: ddt, dD: dD, dA: dA,
                shared: shared, dBAcc: dBAll + task * perTask, dCAcc: dCAll + task * perTask,
                scratch: scratch + slot * slotSize)
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
        batch b: Int, block: Int, _ inputs: Inputs<S>, y: UnsafePointer<S>, dy: UnsafePointer<S>,
        du: UnsafeMutablePointer<S>, ddt: UnsafeMutablePointer<S>, dD: UnsafeMutablePointer<S>,
        dA: UnsafeMutablePointer<S>, shared: UnsafePointer<S>, dBAcc: UnsafeMutablePointer<S>,
        dCAcc: UnsafeMutablePointer<S>, scratch: UnsafeMutablePointer<S>
    ) {
        let (bigQ, n, p, l, g) = (chunk, dState, headDim, length, block / blocksPerGroup)
        let range = headRange(block: block)
        let hb = range.count
        // Scratch layout (see backwardSlotElements).
        let own = scratch
        let km = own + bigQ * bigQ
        let vm = km + bigQ * bigQ
        let vsum = vm + bigQ * bigQ
        let cs = vsum + bigQ * bigQ
        let dtc = cs + bigQ
        let dxdt = dtc + bigQ
        let ys = dxdt + bigQ * p
        let xs = ys + bigQ * p
        let bw = xs + bigQ * p
        let states = bw + bigQ * n
        let dS = states + chunks * maxHeadsPerBlock * p * n
        let rowDot = dS + maxHeadsPerBlock * p * n
        let dcs = rowDot + maxHeadsPerBlock * l
        let dDSum = dcs + maxHeadsPerBlock * l
        func state(_ c: Int, _ k: Int) -> UnsafeMutablePointer<S> { states + (c * hb + k) * p * n }

        dBAcc.update(repeating: 0, count: l * n)
        dCAcc.update(repeating: 0, count: l * n)
        dS.update(repeating: 0, count: hb * p * n)
        dDSum.update(repeating: 0, count: hb)
        states.update(repeating: 0, count: hb * p * n)

        // Pass 1: the state entering each chunk, and dy_t . y~_t from the forward's y (y~ = y - D x).
        for c in 0..<chunks {
            let (row0, q) = rows(batch: b, chunk: c)
            let bc = inputs.u + row0 * uStride + heads * p + g * n
            for (k, h) in range.enumerated() {
                let x = inputs.u + row0 * uStride + h * p
                let (yh, dyh, skip) = (y + row0 * yStride + h * p, dy + row0 * yStride + h * p, inputs.d[h])
                for i in 0..<q {
                    let (dyr, yr, xr) = (dyh + i * yStride, yh + i * yStride, x + i * uStride)
                    var dot: S = 0
                    for j in 0..<p { dot += dyr[j] * (yr[j] - skip * xr[j]) }
                    rowDot[k * l + c * bigQ + i] = dot
                }
                if c + 1 < chunks {
                    decay(inputs.dt + row0 * heads, head: h, a: inputs.a[h], count: q, dtc: dtc, cs: cs)
                    advance(state(c, k), into: state(c + 1, k), cs: cs, dt: dtc, x: x, b: bc, weighted: bw, count: q)
                }
            }
        }

        // Pass 2: the chunks in reverse, carrying dS (the gradient of the state leaving the chunk).
        for c in (0..<chunks).reversed() {
            let (row0, q) = rows(batch: b, chunk: c)
            let t0 = c * bigQ
            let bc = inputs.u + row0 * uStride + heads * p + g * n
            let cc = bc + groups * n
            let dBc = dBAcc + t0 * n
            let dCc = dCAcc + t0 * n
            let cb = product(inputs.u, shared: shared, batch: b, group: g, chunk: c, own: own)
            vsum.update(repeating: 0, count: q * q)
            for (k, h) in range.enumerated() {
                let x = inputs.u + row0 * uStride + h * p
                let dyh = dy + row0 * yStride + h * p
                let dSk = dS + k * p * n
                decay(inputs.dt + row0 * heads, head: h, a: inputs.a[h], count: q, dtc: dtc, cs: cs)
                // E = dY X^T; K = (C B^T) o decay and V = decay o dt_j o E, both masked to j <= i.
                S.gemm(
                    transA: false, transB: true, m: q, n: q, k: p, alpha: 1, a: dyh, lda: yStride, b: x, ldb: uStride,
                    beta: 0, c: vm, ldc: q)
                for i in 0..<q {
                    let (ci, kr, vr, sr, cbRow) = (cs[i], km + i * q, vm + i * q, vsum + i * q, cb + i * q)
                    for j in 0..<(i + 1) {
                        let e = S.exp(ci - cs[j])
                        kr[j] = cbRow[j] * e
                        sr[j] += vr[j] * e * dtc[j]
                    }
                    for j in (i + 1)..<q { kr[j] = 0 }
                }
                // dX~ = K^T dY (+ the state path: diag(exp(cs_last - cs_j)) B dS^T).
                S.gemm(
                    transA: true, transB: false, m: q, n: p, k: q, alpha: 1, a: km, lda: q, b: dyh, ldb: yStride,
                    beta: 0, c: dxdt, ldc: p)
                let last = cs[q - 1]
                if c + 1 < chunks {
                    for j in 0..<q {
                        let w = S.exp(last - cs[j])
                        let (bOut, bRow, xOut, xRow, wx) = (
                            bw + j * n, bc + j * uStride, xs + j * p, x + j * uStride, w * dtc[j]
                        )
                        for i in 0..<n { bOut[i] = w * bRow[i] }
                        for i in 0..<p { xOut[i] = wx * xRow[i] }
                    }
                    S.gemm(
                        transA: false, transB: true, m: q, n: p, k: n, alpha: 1, a: bw, lda: n, b: dSk, ldb: n,
                        beta: 1, c: dxdt, ldc: p)
                    S.gemm(
                        transA: false, transB: false, m: q, n: n, k: p, alpha: 1, a: xs, lda: p, b: dSk, ldb: n,
                        beta: 1, c: dBc, ldc: n)
                }
                if c > 0 {
                    // The state entering the chunk: dC += diag(exp(cs)) dY S, dS <- exp(cs_last) dS + (..)^T C.
                    for i in 0..<q {
                        let (e, out, row) = (S.exp(cs[i]), ys + i * p, dyh + i * yStride)
                        for j in 0..<p { out[j] = e * row[j] }
                    }
                    S.gemm(
                        transA: false, transB: false, m: q, n: n, k: p, alpha: 1, a: ys, lda: p, b: state(c, k),
                        ldb: n, beta: 1, c: dCc, ldc: n)
                    let decay = S.exp(last)
                    for e in 0..<(p * n) { dSk[e] *= decay }
                    S.gemm(
                        transA: true, transB: false, m: p, n: n, k: q, alpha: 1, a: ys, lda: p, b: cc, ldb: uStride,
                        beta: 1, c: dSk, ldc: n)
                }
                let skip = inputs.d[h]
                let dxh = du + row0 * uStride + h * p
                let ddth = ddt + row0 * heads + h
                var dDChunk: S = 0
                for j in 0..<q {
                    let (xr, gr, dr, out, dtj) = (
                        x + j * uStride, dyh + j * yStride, dxdt + j * p, dxh + j * uStride, dtc[j]
                    )
                    var xd: S = 0
                    var yx: S = 0
                    for i in 0..<p {
                        xd += xr[i] * dr[i]
                        yx += gr[i] * xr[i]
                        out[i] = dtj * dr[i] + skip * gr[i]
                    }
                    ddth[j * heads] = xd
                    dcs[k * l + t0 + j] = rowDot[k * l + t0 + j] - dtc[j] * xd
                    dDChunk += yx
                }
                dDSum[k] += dDChunk
            }
            // Intra-chunk dC = V B, dB = V^T C with V summed over the block's heads (V is 0 above the diagonal).
            S.gemm(
                transA: false, transB: false, m: q, n: n, k: q, alpha: 1, a: vsum, lda: q, b: bc, ldb: uStride,
                beta: 1, c: dCc, ldc: n)
            S.gemm(
                transA: true, transB: false, m: q, n: n, k: q, alpha: 1, a: vsum, lda: q, b: cc, ldb: uStride,
                beta: 1, c: dBc, ldc: n)
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
