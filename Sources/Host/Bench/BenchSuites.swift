import Foundation
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// The benchmark suites of `zoo bench`. Every speed is also given relative to a baseline measured in the same
/// run (raw `sgemm` on matching shapes, or `mha` at the same length).
public enum BenchSuites {
    /// `sgemm` (`C = A B^T`, the layout of a linear layer) on `m x n x k`, through the host's row-split BLAS.
    public static func sgemm(m: Int, n: Int, k: Int, repeats: Int) throws -> BenchEntry {
        let a = Tensor<Float>.randomNormal([m, k], seed: 1), b = Tensor<Float>.randomNormal([n, k], seed: 2)
        var c = Tensor<Float>(zeros: [m, n])
        let timing = try Timing.measure(repeats: repeats) {
            try c.withUnsafeMutableBufferPointer { (cp) throws(BLAS.DimensionError) in
                try a.withUnsafeBufferPointer { (ap) throws(BLAS.DimensionError) in
                    try b.withUnsafeBufferPointer { (bp) throws(BLAS.DimensionError) in
                        try BLAS.gemm(
                            .none, .transposed, m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!,
                            ldb: k,
                            c: cp.baseAddress!, ldc: n)
                    }
                }
            }
        }
        return BenchEntry(
            suite: "blas", name: "sgemm \(m)x\(n)x\(k)", timing: timing, flops: 2 * Double(m) * Double(n) * Double(k))
    }

    /// sgemm on the linear layers of a DiT-S/2 forward at batch 8 (2048 token rows) and on 1024^3.
    public static func blas(repeats: Int) throws -> [BenchEntry] {
        try [(2048, 1152, 384), (2048, 384, 384), (2048, 1536, 384), (2048, 384, 1536), (1024, 1024, 1024)].map {
            try sgemm(m: $0.0, n: $0.1, k: $0.2, repeats: repeats)
        }
    }

    /// Forward, and forward plus backward, of `model` on a batch; GFLOP/s from ``FLOPCount`` (backward counted as
    /// twice the forward, the usual estimate) against in-run sgemm on the model's largest linear shape.
    public static func dit(model: DiTModel, batch: Int, repeats: Int) throws -> [BenchEntry] {
        let c = model.config
        let x = Tensor<Float>.randomNormal([batch, c.inChannels, c.inputSize, c.inputSize], seed: 3)
        let t = (0..<batch).map { Double($0 * 997 % 1000) }, y = (0..<batch).map { $0 % c.numClasses }
        let baseline = try sgemm(m: batch * c.tokenCount, n: c.mlpHidden, k: c.hiddenSize, repeats: repeats)
        let count = FLOPCount.forward(model: model)
        let flops = count.total.map { Double($0) * Double(batch) }
        let forward = try Timing.measure(repeats: repeats) { _ = try model.forward(x, timesteps: t, labels: y) }
        let dy = Tensor<Float>.randomNormal([batch, c.outChannels, c.inputSize, c.inputSize], seed: 4)
        let both = try Timing.measure(repeats: repeats) {
            let (_, trace) = try model.tracedForward(x, timesteps: t, labels: y)
            _ = try model.backward(trace, outputGradient: dy)
        }
        let name = "\(c.depth)x\(c.hiddenSize) p\(c.patchSize) T=\(c.tokenCount) batch \(batch)"
        var f = BenchEntry(
            suite: "dit", name: "forward \(name)", timing: forward, flops: flops, baseline: baseline.name)
        if let g = f.gflops, let b = baseline.gflops { f.ratio = g / b }
        var fb = BenchEntry(
            suite: "dit", name: "forward+backward \(name)", timing: both, flops: flops.map { 3 * $0 },
            baseline: baseline.name)
        if let g = fb.gflops, let b = baseline.gflops { fb.ratio = g / b }
        fb.notes["backward_over_forward"] = String(format: "%.2f", (both.median - forward.median) / forward.median)
        return [baseline, f, fb]
    }

    /// Forward and backward of each operator at width `dim` over `lengths` (batch 1), as training runs them: the
    /// backward from what a train-mode forward saved when the operator saves (ABI 1.4; else the backward that
    /// recomputes), and forward+backward (a train-mode forward plus that backward, what one training step pays for
    /// the operator and what PyTorch's forward-with-autograd plus `backward()` is paired with). With the exponent of
    /// time against L fitted by least squares on log-log axes, each time relative to the operator `baseline` (the
    /// model's own attention) at the same L when it is among them and measured first, and each pass's GFLOP/s (from
    /// the plugin's declared ``OperatorCost``, when it declares one) over in-run sgemm on that length's projection
    /// shape `L x 3D x D`.
    public static func operators(
        _ operators: [OperatorDescriptor], dim: Int, heads: Int, lengths: [Int], repeats: Int,
        baseline baselineId: String? = nil, log: ((String) -> Void)? = nil
    ) throws -> [BenchEntry] {
        var entries: [BenchEntry] = []
        var baselineTimes: [Int: Double] = [:]
        // In-run sgemm on each length's projection shape (L x 3D x D), the yardstick of each operator's GFLOP/s.
        var sgemmGflops: [Int: Double] = [:]
        for l in lengths {
            let baseline = try sgemm(m: l, n: 3 * dim, k: dim, repeats: repeats)
            sgemmGflops[l] = baseline.gflops
            entries.append(baseline)
        }
        for descriptor in operators {
            var forwardTimes: [(Int, Double)] = [], backwardTimes: [(Int, Double)] = []
            for l in lengths {
                let side = Int(Double(l).squareRoot())
                let grid = side * side == l ? (side, side) : (1, l)
                let op: Operator
                do {
                    op = try Operator(
                        descriptor, dim: dim, grid: grid,
                        attributes: descriptor.completing([:], heads: heads, tokens: l))
                } catch {
                    log?("\(descriptor.id) at L=\(l): skipped (\(error))")
                    continue
                }
                let params = try op.initialParameters(seed: 1)
                let x = Tensor<Float>.randomNormal([1, l, dim], seed: 2)
                // A length the operator cannot run here (e.g. mha's L x L scores beyond memory) is skipped, said why.
                let fwd: Timing, bwd: Timing, both: Timing
                let saves = descriptor.capabilities.contains(.saveForBackward)
                do {
                    fwd = try Timing.measure(repeats: repeats) { _ = try op.forward(x, parameters: params) }
                    let saved = try op.forward(x, parameters: params, saving: true).saved
                    bwd = try Timing.measure(repeats: repeats) {
                        _ = try op.backward(x, parameters: params, outputGradient: x, saved: saved)
                    }
                    both = try Timing.measure(repeats: repeats) {
                        let (_, saved) = try op.forward(x, parameters: params, saving: true)
                        _ = try op.backward(x, parameters: params, outputGradient: x, saved: saved)
                    }
                } catch {
                    log?("\(descriptor.id) at L=\(l): skipped (\(error))")
                    continue
                }
                forwardTimes.append((l, fwd.median))
                backwardTimes.append((l, bwd.median))
                if descriptor.id == baselineId { baselineTimes[l] = fwd.median }
                let cost = try op.cost(batch: 1, length: l)
                var e = BenchEntry(
                    suite: "operators", name: "\(descriptor.id) forward D=\(dim) L=\(l)", timing: fwd,
                    flops: cost.flatMap { $0.forwardFLOPs > 0 ? Double($0.forwardFLOPs) : nil })
                if let g = e.gflops, let s = sgemmGflops[l] {
                    e.notes["gflops_over_sgemm"] = String(format: "%.2f", g / s)
                    e.notes["sgemm_baseline"] = "sgemm \(l)x\(3 * dim)x\(dim)"
                }
                if let m = baselineTimes[l], let baselineId, descriptor.id != baselineId, descriptor.role == .tokenMixer
                {
                    e.baseline = "\(baselineId) forward D=\(dim) L=\(l)"
                    e.ratio = m / fwd.median
                }
                entries.append(e)
                var b = BenchEntry(
                    suite: "operators", name: "\(descriptor.id) backward D=\(dim) L=\(l)", timing: bwd,
                    flops: cost.flatMap { $0.backwardFLOPs > 0 ? Double($0.backwardFLOPs) : nil })
                if let g = b.gflops, let s = sgemmGflops[l] {
                    b.notes["gflops_over_sgemm"] = String(format: "%.2f", g / s)
                }
                b.notes["backward_over_forward"] = String(format: "%.2f", bwd.median / fwd.median)
                b.notes["backward"] =
                    saves ? "from the activations a train-mode forward saved (ABI 1.4)" : "recomputes its forward"
                entries.append(b)
                var fb = BenchEntry(
                    suite: "operators", name: "\(descriptor.id) forward+backward D=\(dim) L=\(l)", timing: both,
                    flops: cost.flatMap {
                        $0.forwardFLOPs + $0.backwardFLOPs > 0 ? Double($0.forwardFLOPs + $0.backwardFLOPs) : nil
                    })
                fb.notes["forward"] = saves ? "train-mode (saves for backward)" : "plain (backward recomputes)"
                entries.append(fb)
                log?(
                    "\(descriptor.id) L=\(l): forward \(String(format: "%.2f", fwd.median * 1e3)) ms, backward \(String(format: "%.2f", bwd.median * 1e3)) ms"
                )
            }
            if forwardTimes.count >= 2,
                let i = entries.lastIndex(where: { $0.name.hasPrefix("\(descriptor.id) forward D=") })
            {
                entries[i].notes["exponent_forward"] = String(format: "%.2f", ScalingFit.exponent(forwardTimes))
                entries[i].notes["exponent_backward"] = String(format: "%.2f", ScalingFit.exponent(backwardTimes))
            }
        }
        return entries
    }
}
