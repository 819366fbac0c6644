import PluginKit

/// Non-causal linear attention (Katharopoulos et al. 2020; fast-transformers `LinearAttention` with
/// `elu_feature_map`) for one (batch, head) pair: with `phi(u) = elu(u) + 1`,
/// `O_l = phi(q_l)^T KV / (phi(q_l) . ksum + eps)`, `KV = sum_s phi(k_s) v_s^T`, `ksum = sum_s phi(k_s)`.
///
/// `KV` (dh x dh) and `phi(Q) KV` are `gemm`s, so a pair costs O(L dh^2). The feature map writes `phi(Q)` and
/// `phi(K)` into the pair's scratch (`q` and `k` are left as they are, so a saved `qkv` buffer stays valid); because
/// `phi'(u) = 1` for `u > 0` and `exp(u) = phi(u)` for `u <= 0`, backward reads the derivative back as
/// `min(phi(u), 1)`. Backward, with `z_l = 1 / (phi(q_l) . ksum + eps)`:
/// `dnum_l = z_l dO_l`, `dden_l = -z_l dO_l . O_l`, `dphi(q_l) = KV dnum_l + dden_l ksum`,
/// `dKV = phi(Q)^T dnum`, `dksum = sum_l dden_l phi(q_l)`, `dphi(k_s) = dKV v_s + dksum`, `dv_s = dKV^T phi(k_s)`.
struct LinearAttentionCore {
    /// fast-transformers' `eps`.
    static let eps = 1e-6

    let headDim: Int

    /// Scratch elements per (batch, head) pair at length L: `KV`, `ksum`, `z`, `phi(Q)` and `phi(K)`, and in backward
    /// `dKV`, `dksum`, `dden` and `dnum`.
    func scratchElements(backward: Bool, length: Int) -> Int {
        let dh = headDim
        let sums = saturatingSum(dh * dh, dh, length)
        let forward = saturatingSum(sums, saturatingProduct(2, length, dh))
        return backward ? saturatingSum(forward, sums, saturatingProduct(length, dh)) : forward
    }

    func forward<S: KernelScalar>(_ h: HeadSlices<S>) {
        attend(h)
    }

    func backward<S: KernelScalar>(_ h: HeadSlices<S>) {
        let (l, dh, ld, ldo) = (h.length, h.headDim, h.qkvStride, h.outStride)
        let (kv, ksum, z, phiQs, phiKs) = attend(h)
        let dkv = phiKs + l * dh
        let dksum = dkv + dh * dh
        let dden = dksum + dh
        let dnum = dden + l
        for t in 0..<l {
            let dO = h.dOut + t * ldo
            let o = h.out + t * ldo
            var dot: S = 0
            for e in 0..<dh {
                dnum[t * dh + e] = z[t] * dO[e]
                dot += dO[e] * o[e]
            }
            dden[t] = -z[t] * dot
        }
        S.gemm(
            transA: true, transB: false, m: dh, n: dh, k: l, alpha: 1, a: phiQs, lda: dh, b: dnum, ldb: dh, beta: 0,
            c: dkv, ldc: dh)
        dksum.update(repeating: 0, count: dh)
        for t in 0..<l {
            let phiQ = phiQs + t * dh
            for d in 0..<dh { dksum[d] += dden[t] * phiQ[d] }
        }
        // dq = (dnum KV^T + dden ksum) * phi'(q).
        S.gemm(
            transA: false, transB: true, m: l, n: dh, k: dh, alpha: 1, a: dnum, lda: dh, b: kv, ldb: dh, beta: 0,
            c: h.dq, ldc: ld)
        for t in 0..<l {
            let (dq, phiQ) = (h.dq + t * ld, phiQs + t * dh)
            for d in 0..<dh { dq[d] = (dq[d] + dden[t] * ksum[d]) * min(phiQ[d], 1) }
        }
        // dk = (v dKV^T + dksum) * phi'(k), dv = phi(K) dKV.
        S.gemm(
            transA: false, transB: true, m: l, n: dh, k: dh, alpha: 1, a: h.v, lda: ld, b: dkv, ldb: dh, beta: 0,
            c: h.dk, ldc: ld)
        for t in 0..<l {
            let (dk, phiK) = (h.dk + t * ld, phiKs + t * dh)
            for d in 0..<dh { dk[d] = (dk[d] + dksum[d]) * min(phiK[d], 1) }
        }
        S.gemm(
            transA: false, transB: false, m: l, n: dh, k: dh, alpha: 1, a: phiKs, lda: dh, b: dkv, ldb: dh, beta: 0,
            c: h.dv, ldc: ld)
    }

    /// `phi(Q)` and `phi(K)` (into scratch, rows of dh), `KV`, `ksum`, `z` and the output rows; returns the scratch
    /// pieces.
    @discardableResult
    private func attend<S: KernelScalar>(
        _ h: HeadSlices<S>
    ) -> (
        kv: UnsafeMutablePointer<S>, ksum: UnsafeMutablePointer<S>, z: UnsafeMutablePointer<S>,
        phiQ: UnsafeMutablePointer<S>, phiK: UnsafeMutablePointer<S>
    ) {
        let (l, dh, ld, ldo) = (h.length, h.headDim, h.qkvStride, h.outStride)
        let kv = h.scratch
        let ksum = kv + dh * dh
        let z = ksum + dh
        let phiQs = z + l
        let phiKs = phiQs + l * dh
        for t in 0..<l {
            let (q, k, fq, fk) = (h.q + t * ld, h.k + t * ld, phiQs + t * dh, phiKs + t * dh)
            for d in 0..<dh {
                fq[d] = featureMap(q[d])
                fk[d] = featureMap(k[d])
            }
        }
        S.gemm(
            transA: true, transB: false, m: dh, n: dh, k: l, alpha: 1, a: phiKs, lda: dh, b: h.v, ldb: ld, beta: 0,
            c: kv, ldc: dh)
        ksum.update(repeating: 0, count: dh)
        for t in 0..<l {
            let phiK = phiKs + t * dh
            for d in 0..<dh { ksum[d] += phiK[d] }
        }
        S.gemm(
            transA: false, transB: false, m: l, n: dh, k: dh, alpha: 1, a: phiQs, lda: dh, b: kv, ldb: dh, beta: 0,
            c: h.out, ldc: ldo)
        let eps = S(Self.eps)
        for t in 0..<l {
            let (phiQ, o) = (phiQs + t * dh, h.out + t * ldo)
            var den: S = 0
            for d in 0..<dh { den += phiQ[d] * ksum[d] }
            z[t] = 1 / (den + eps)
            for e in 0..<dh { o[e] *= z[t] }
        }
        return (kv, ksum, z, phiQs, phiKs)
    }
}

/// `phi(u) = elu(u) + 1`: `u + 1` for `u > 0`, `exp(u)` otherwise.
private func featureMap<S: KernelScalar>(_ u: S) -> S {
    u > 0 ? u + 1 : S.exp(u)
}
