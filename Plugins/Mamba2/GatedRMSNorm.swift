import Foundation
import PluginKit

/// Mamba-2's gated RMSNorm (`RMSNormGated(d_inner, eps, norm_before_gate, group_size = d_inner / ngroups)`,
/// upstream `mamba_ssm/ops/triton/layernorm_gated.py` `rms_norm_ref`), normalising each group of
/// `groupSize` channels of a token separately:
///
///     norm_before_gate = false:  g = y * silu(z),  out = g / sqrt(mean_group(g^2) + eps) * w
///     norm_before_gate = true:   out = y / sqrt(mean_group(y^2) + eps) * w * silu(z)
///
/// Rows are split over the host's `parallel_for`; the weight gradient is summed over rows in ascending order per
/// channel, so results do not depend on the split.
struct GatedRMSNorm {
    let width: Int
    let groups: Int
    let eps: Double
    let normBeforeGate: Bool
    let parallel: ParallelFor

    var groupSize: Int { width / groups }
    private var grain: Int { max(1, 16384 / max(1, width)) }

    /// `out = norm(y, z) * w` for `rows` rows; `y` and `out` have row stride `width`, `z` has `zStride`.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func forward<S: KernelScalar>(
        _ y: UnsafePointer<S>, z: UnsafePointer<S>, zStride: Int, weight: UnsafePointer<S>, rows: Int,
        into out: UnsafeMutablePointer<S>
    ) {
        let (gs, eps) = (groupSize, S(eps))
        parallel(rows, grain: grain) { r0, r1 in
            for r in r0..<r1 {
                let (yr, zr, o) = (y + r * width, z + r * zStride, out + r * width)
                for g in 0..<groups {
                    let c0 = g * gs
                    var squares: S = 0
                    if normBeforeGate {
                        for c in c0..<(c0 + gs) { squares += yr[c] * yr[c] }
                    } else {
                        for c in c0..<(c0 + gs) {
                            let v = yr[c] * Activations.silu(zr[c])
                            o[c] = v
                            squares += v * v
                        }
                    }
                    let rstd = 1 / (squares / S(gs) + eps).squareRoot()
                    if normBeforeGate {
                        for c in c0..<(c0 + gs) { o[c] = yr[c] * rstd * weight[c] * Activations.silu(zr[c]) }
                    } else {
                        for c in c0..<(c0 + gs) { o[c] = o[c] * rstd * weight[c] }
                    }
                }
            }
        }
    }

    /// The vector-Jacobian product for `dOut`: `dy` (row stride `width`, overwritten), `dz` (row stride `zStride`,
    /// overwritten when non-nil) and `dWeight` (overwritten when non-nil). `rstd` is scratch of `rows * groups`.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func backward<S: KernelScalar>(
        _ y: UnsafePointer<S>, z: UnsafePointer<S>, zStride: Int, weight: UnsafePointer<S>, dOut: UnsafePointer<S>,
        rows: Int, dy: UnsafeMutablePointer<S>, dz: UnsafeMutablePointer<S>?, dWeight: UnsafeMutablePointer<S>?,
        rstd: UnsafeMutablePointer<S>
    ) {
        let (gs, eps) = (groupSize, S(eps))
        parallel(rows, grain: grain) { r0, r1 in
            // sigmoid(z) of one group, so that silu(z) and silu'(z) cost one exp per element.
            withUnsafeTemporaryAllocation(of: S.self, capacity: gs) { sigmoid in
                let sg = sigmoid.baseAddress!
                for r in r0..<r1 {
                    let (yr, zr, dor, dyr) = (y + r * width, z + r * zStride, dOut + r * width, dy + r * width)
                    let dzr = dz.map { $0 + r * zStride }
                    for g in 0..<groups {
                        let c0 = g * gs
                        let (yg, zg, dg, dyg, wg) = (yr + c0, zr + c0, dor + c0, dyr + c0, weight + c0)
                        // xhat = n * rstd with n = y (gate after) or y * silu(z); dn = w * (dOut * silu(z) or dOut).
                        var squares: S = 0
                        for c in 0..<gs {
                            sg[c] = Activations.sigmoid(zg[c])
                            let v = normBeforeGate ? yg[c] : yg[c] * zg[c] * sg[c]
                            squares += v * v
                        }
                        let rs = 1 / (squares / S(gs) + eps).squareRoot()
                        rstd[r * groups + g] = rs
                        var c1: S = 0
                        for c in 0..<gs {
                            let s = zg[c] * sg[c]
                            let xhat = (normBeforeGate ? yg[c] : yg[c] * s) * rs
                            c1 += xhat * wg[c] * (normBeforeGate ? dg[c] * s : dg[c])
                        }
                        c1 /= S(gs)
                        for c in 0..<gs {
                            let s = zg[c] * sg[c]
                            let siluDerivative = sg[c] * (1 + zg[c] * (1 - sg[c]))
                            let xhat = (normBeforeGate ? yg[c] : yg[c] * s) * rs
                            let wdn = wg[c] * (normBeforeGate ? dg[c] * s : dg[c])
                            let dn = (wdn - xhat * c1) * rs
                            if normBeforeGate {
                                dyg[c] = dn
                                dzr?[c0 + c] = dg[c] * xhat * wg[c] * siluDerivative
                            } else {
                                dyg[c] = dn * s
                                dzr?[c0 + c] = dn * yg[c] * siluDerivative
                            }
                        }
                    }
                }
            }
        }
        guard let dWeight else { return }
        // dw_c = sum_rows dOut * xhat (* silu(z) when the gate follows the norm), rows ascending.
        parallel(width, grain: max(1, 16384 / max(1, rows))) { c0, c1 in
            for c in c0..<c1 { dWeight[c] = 0 }
            for r in 0..<rows {
                let (yr, zr, dor) = (y + r * width, z + r * zStride, dOut + r * width)
                for c in c0..<c1 {
                    let s = Activations.silu(zr[c])
                    let rs = rstd[r * groups + c / gs]
                    dWeight[c] += normBeforeGate ? dor[c] * s * yr[c] * rs : dor[c] * yr[c] * s * rs
                }
            }
        }
    }
}
