import Foundation
import HostCore
import HostPlugins
import OperatorABI

/// The `diagnostics` check: the analysis diagnostics of ABI 1.6 as `zoo analyze` uses them.
extension Probe {
    /// For an operator that gives its attention weights (`OZ_DIAG_ATTENTION_WEIGHTS`): the call writes only inside
    /// its `[B, H, L, L]` output; every row is finite, non-negative and sums to 1; a key outside the declared receptive
    /// field (or in the future, when causal) has weight exactly 0; repeated calls give the same bits (when declared
    /// deterministic); a kind the instance does not list is refused with OZ_ERR_UNSUPPORTED; and the weights agree with
    /// the operator's own vector-Jacobian product: for each query q and sample, the keys s != q with weight > 0 in
    /// some head are exactly the input tokens the output at q depends on (weights that describe another function,
    /// transposed or shifted, fail here).
    func diagnostics() throws -> ProbeOutcome {
        let op = try makeOperator()
        guard let heads = op.attentionHeads else {
            return .skipped("the operator gives no diagnostics (ABI 1.6 attention weights)")
        }
        let (b, l) = (2, length)
        let shape = [b, l, dim]
        let params = try parameters(op)
        let x = GuardedBuffer<S>(shape: shape, values: input(shape, salt: 160))
        let out = GuardedBuffer<S>(shape: [b, heads, l, l], fill: S(-7))
        let ws = GuardedWorkspace(size: try op.workspaceSize(backward: false, batch: b, length: l))
        do {
            try op.table.diagnose(
                op.instance, kind: OZ_DIAG_ATTENTION_WEIGHTS, x: x.argument, params: params.map(\.argument),
                out: out.argument, workspace: ws.pointer, workspaceSize: ws.size)
        } catch { return .fail("the attention weights it lists were refused: \(error)") }
        if let damage = out.damage ?? ws.damage {
            return .fail("diagnose wrote outside its output or workspace (\(damage) guard bytes changed)")
        }
        do {
            try op.table.diagnose(
                op.instance, kind: 0x8000_0000, x: x.argument, params: params.map(\.argument), out: out.argument,
                workspace: ws.pointer, workspaceSize: ws.size)
            return .fail("a diagnostic kind it does not list (0x80000000) was accepted")
        } catch  where error.status == OZ_ERR_UNSUPPORTED {
        } catch {
            return .fail("a diagnostic kind it does not list was refused with \(error.statusName), not unsupported")
        }

        let xs = try Tensor<S>(shape: shape, scalars: x.values)
        let ps = try params.map { try Tensor<S>(shape: $0.shape, scalars: $0.values) }
        let w = try op.attentionWeights(xs, parameters: ps).scalars.map { Double($0) }
        let tolerance = S.bits == 32 ? 1e-4 : 1e-10  // a row of L <= 64 probabilities summed in the plugin's precision
        let bound: (left: Int?, right: Int?) =
            op.receptiveField.map { ($0.left, op.isCausal ? min($0.right ?? 0, 0) : $0.right) }
            ?? (nil, op.isCausal ? 0 : nil)
        for row in 0..<(b * heads * l) {
            let q = row % l
            let weights = w[(row * l)..<(row * l + l)]
            guard weights.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                return .fail("row \(row) (query \(q)) has a negative or non-finite weight")
            }
            let sum = weights.reduce(0, +)
            guard abs(sum - 1) <= tolerance else {
                return .fail(
                    String(format: "row %d (query %d) sums to %.9g, not 1 (tolerance %.0e)", row, q, sum, tolerance))
            }
            for s in 0..<l where weights[row * l + s] != 0 {
                if (bound.left.map { s < q - $0 } ?? false) || (bound.right.map { s > q + $0 } ?? false) {
                    return .fail(
                        "query \(q) gives key \(s) weight \(weights[row * l + s]), outside its declared receptive field"
                    )
                }
            }
        }
        if descriptor.capabilities.contains(.deterministic) {
            let again = try op.attentionWeights(xs, parameters: ps).scalars.map { Double($0) }
            guard again.elementsEqual(w, by: { $0.bitPattern == $1.bitPattern }) else {
                return .fail(
                    "two calls on the same input gave different weights (the operator declares itself deterministic)")
            }
        }
        guard descriptor.capabilities.contains(.backward) else {
            return .pass("\(heads) head(s): rows sum to 1 within the receptive field (no backward to compare with)")
        }
        // Which input tokens each output token depends on, from the VJP of one random direction at token q.
        var rng = SplitMix64(seed: seed &+ 161)
        for q in 0..<l {
            var dy = [S](repeating: 0, count: b * l * dim)
            for bi in 0..<b { for c in 0..<dim { dy[(bi * l + q) * dim + c] = S(rng.nextNormal()) } }
            let dx = try op.backward(
                xs, parameters: ps, outputGradient: try Tensor<S>(shape: shape, scalars: dy), parameterGradients: []
            ).input!.scalars
            for bi in 0..<b {
                for s in 0..<l where s != q {
                    let depends = (0..<dim).contains { dx[(bi * l + s) * dim + $0] != 0 }
                    let weighted = (0..<heads).contains { w[((bi * heads + $0) * l + q) * l + s] > 0 }
                    if depends != weighted {
                        return .fail(
                            "sample \(bi): output token \(q) \(depends ? "depends" : "does not depend") on input token \(s) (its backward), but the attention weights give that key \(weighted ? "a positive weight" : "no weight") in every head"
                        )
                    }
                }
            }
        }
        return .pass(
            "\(heads) head(s) of \(l) x \(l) weights: rows sum to 1, zero outside the receptive field, and their support is the backward's"
        )
    }
}
