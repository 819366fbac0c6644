import Foundation
import HostCore

extension DiTModel {
    /// The raw model output `[N, out_channels, H, W]` for images `x` `[N, in_channels, H, W]`, timesteps
    /// (one per sample, DiT's `t`) and class labels (`num_classes` is the null class when the model has one).
    /// - Throws: ``DiTError`` naming the argument for wrong shapes, counts or label ranges, or the slot whose
    ///   operator failed.
    public func forward(_ x: Tensor<Float>, timesteps: [Double], labels: [Int]) throws(DiTError) -> Tensor<Float> {
        try run(x, timesteps: timesteps, labels: labels, trace: nil)
    }

    /// ``forward(_:timesteps:labels:)`` that also returns what ``backward(_:outputGradient:)`` needs.
    public func tracedForward(
        _ x: Tensor<Float>, timesteps: [Double], labels: [Int]
    ) throws(DiTError) -> (output: Tensor<Float>, trace: DiTTrace) {
        let trace = DiTTrace(batch: x.shape.first ?? 0, labels: labels)
        let out = try run(x, timesteps: timesteps, labels: labels, trace: trace)
        return (out, trace)
    }

    package func checkInputs(_ x: Tensor<Float>, timesteps: [Double], labels: [Int]) throws(DiTError) -> Int {
        let c = config, s = c.inputSize
        guard x.rank == 4, x.shape[0] >= 1, x.shape[1] == c.inChannels, x.shape[2] == s, x.shape[3] == s else {
            throw .argument(
                name: "x", expected: "shape [N, \(c.inChannels), \(s), \(s)] with N >= 1", found: "\(x.shape)")
        }
        let n = x.shape[0]
        guard timesteps.count == n else {
            throw .argument(name: "timesteps", expected: "\(n) values (one per sample)", found: "\(timesteps.count)")
        }
        if let bad = timesteps.first(where: { !$0.isFinite }) {
            throw .argument(name: "timesteps", expected: "finite values", found: "\(bad)")
        }
        guard labels.count == n else {
            throw .argument(name: "labels", expected: "\(n) values (one per sample)", found: "\(labels.count)")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= c.labelTableRows }) {
            let range = c.nullClass.map { "0...\($0) (\($0) is the null class)" } ?? "0..<\(c.numClasses)"
            throw .argument(name: "labels", expected: "class ids in \(range)", found: "\(bad)")
        }
        return n
    }

    private func run(
        _ x: Tensor<Float>, timesteps: [Double], labels: [Int], trace: DiTTrace?
    ) throws(DiTError) -> Tensor<Float> {
        let n = try checkInputs(x, timesteps: timesteps, labels: labels)
        let c = config, d = c.hiddenSize, p = c.patchSize, g = c.gridSize, t = c.tokenCount, s = c.inputSize
        let patchWidth = c.inChannels * p * p
        let l = layout
        let w = parameters.tensors

        // Patch embedding: a stride-p convolution is a linear map of each patch, flattened as (c, pi, qi).
        var patches = Tensor<Float>(zeros: [n * t, patchWidth])
        do {
            let pp = patches.baseAddressForWriting(), xp = x.baseAddressForReading
            for b in 0..<n {
                for ch in 0..<c.inChannels {
                    for i in 0..<g {
                        for pi in 0..<p {
                            let src = xp + ((b * c.inChannels + ch) * s + i * p + pi) * s
                            for j in 0..<g {
                                let dst = pp + (b * t + i * g + j) * patchWidth + ch * p * p + pi * p
                                for qi in 0..<p { dst[qi] = src[j * p + qi] }
                            }
                        }
                    }
                }
            }
        }
        var h = Tensor<Float>(zeros: [n, t, d])
        try blas { () throws(BLAS.DimensionError) in
            try DiTKernels.linear(
                patches.baseAddressForReading, rows: n * t, inDim: patchWidth,
                weight: w[l.patchWeight].baseAddressForReading,
                bias: w[l.patchBias].baseAddressForReading, outDim: d, h.baseAddressForWriting())
        }
        do {
            let hp = h.baseAddressForWriting(), pe = positionEmbedding.baseAddressForReading
            for b in 0..<n {
                for i in 0..<(t * d) { hp[b * t * d + i] += pe[i] }
            }
        }

        // Conditioning c = t_embedder(t) + y_embedder(y), and SiLU(c) shared by every adaLN modulation.
        let frequencies = DiTEmbeddings.timestep(timesteps)
        var timeHidden = Tensor<Float>(zeros: [n, d]), timeActivated = Tensor<Float>(zeros: [n, d])
        var conditioning = Tensor<Float>(zeros: [n, d]), siluConditioning = Tensor<Float>(zeros: [n, d])
        try blas { () throws(BLAS.DimensionError) in
            try DiTKernels.linear(
                frequencies.baseAddressForReading, rows: n, inDim: DiTEmbeddings.timestepFrequencies,
                weight: w[l.time0Weight].baseAddressForReading, bias: w[l.time0Bias].baseAddressForReading, outDim: d,
                timeHidden.baseAddressForWriting())
            DiTKernels.silu(timeHidden.baseAddressForReading, count: n * d, timeActivated.baseAddressForWriting())
            try DiTKernels.linear(
                timeActivated.baseAddressForReading, rows: n, inDim: d, weight: w[l.time2Weight].baseAddressForReading,
                bias: w[l.time2Bias].baseAddressForReading, outDim: d, conditioning.baseAddressForWriting())
        }
        do {
            let cp = conditioning.baseAddressForWriting(), table = w[l.labelTable].baseAddressForReading
            for b in 0..<n {
                for j in 0..<d { cp[b * d + j] += table[labels[b] * d + j] }
            }
            DiTKernels.silu(conditioning.baseAddressForReading, count: n * d, siluConditioning.baseAddressForWriting())
        }

        // Blocks (in stages: one block, or a parallel pair).
        try runBlocks(&h, siluConditioning: siluConditioning, batch: n, trace: trace)

        // Final layer: linear(modulate(norm_final(x), shift, scale)), then unpatchify.
        let outWidth = p * p * c.outChannels
        var finalModulation = Tensor<Float>(zeros: [n, 2 * d])
        var normalized = Tensor<Float>(zeros: [n, t, d]), rstd = Tensor<Float>(zeros: [n * t])
        var modulated = Tensor<Float>(zeros: [n, t, d]), tokensOut = Tensor<Float>(zeros: [n * t, outWidth])
        try blas { () throws(BLAS.DimensionError) in
            try DiTKernels.linear(
                siluConditioning.baseAddressForReading, rows: n, inDim: d,
                weight: w[l.finalModWeight].baseAddressForReading,
                bias: w[l.finalModBias].baseAddressForReading, outDim: 2 * d, finalModulation.baseAddressForWriting())
            DiTKernels.layerNorm(
                h.baseAddressForReading, rows: n * t, dim: d, eps: 1e-6, normalized.baseAddressForWriting(),
                rstd: rstd.baseAddressForWriting())
            let fm = finalModulation.baseAddressForReading
            DiTKernels.modulate(
                normalized.baseAddressForReading, batch: n, tokens: t, dim: d, shift: fm, scale: fm + d,
                modStride: 2 * d, modulated.baseAddressForWriting())
            try DiTKernels.linear(
                modulated.baseAddressForReading, rows: n * t, inDim: d,
                weight: w[l.finalLinearWeight].baseAddressForReading,
                bias: w[l.finalLinearBias].baseAddressForReading, outDim: outWidth, tokensOut.baseAddressForWriting())
        }
        let output = unpatchify(tokensOut, batch: n)

        if let trace {
            trace.patches = patches
            trace.timeFrequencies = frequencies
            trace.timeHidden = timeHidden
            trace.timeActivated = timeActivated
            trace.conditioning = conditioning
            trace.siluConditioning = siluConditioning
            trace.finalModulation = finalModulation
            trace.finalNormalized = normalized
            trace.finalRstd = rstd
            trace.finalModulated = modulated
        }
        withExtendedLifetime((x, patches, frequencies, timeHidden, timeActivated, conditioning, siluConditioning, w)) {}
        withExtendedLifetime((finalModulation, normalized, rstd, modulated, tokensOut, h)) {}
        return output
    }

    /// `[N*T, p*p*C_out]` tokens to `[N, C_out, H, W]` (DiT's `unpatchify`: einsum `nhwpqc->nchpwq`).
    package func unpatchify(_ tokens: Tensor<Float>, batch n: Int) -> Tensor<Float> {
        var out = Tensor<Float>(zeros: [n, config.outChannels, config.inputSize, config.inputSize])
        let op = out.baseAddressForWriting(), tp = tokens.baseAddressForReading
        forEachOutputPixel(batch: n) { image, token in op[image] = tp[token] }
        withExtendedLifetime(tokens) {}
        return out
    }

    /// The inverse of ``unpatchify(_:batch:)``: `[N, C_out, H, W]` to `[N*T, p*p*C_out]`.
    package func patchifyOutput(_ image: Tensor<Float>, batch n: Int) -> Tensor<Float> {
        var tokens = Tensor<Float>(zeros: [
            n * config.tokenCount, config.patchSize * config.patchSize * config.outChannels,
        ])
        let tp = tokens.baseAddressForWriting(), ip = image.baseAddressForReading
        forEachOutputPixel(batch: n) { pixel, token in tp[token] = ip[pixel] }
        withExtendedLifetime(image) {}
        return tokens
    }

    /// Calls `body(imageOffset, tokenOffset)` for every output element: its flat offset in `[N, C_out, H, W]` and
    /// in `[N*T, p*p*C_out]` (token `i*g + j`, entry `(pi*p + qi)*C_out + c`).
    private func forEachOutputPixel(batch n: Int, _ body: (Int, Int) -> Void) {
        let c = config, p = c.patchSize, g = c.gridSize, s = c.inputSize, co = c.outChannels, t = c.tokenCount
        for b in 0..<n {
            for i in 0..<g {
                for j in 0..<g {
                    let row = (b * t + i * g + j) * p * p * co
                    for pi in 0..<p {
                        for qi in 0..<p {
                            for ch in 0..<co {
                                body(((b * co + ch) * s + i * p + pi) * s + j * p + qi, row + (pi * p + qi) * co + ch)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs BLAS calls, turning a dimension error (a model bug, not user input) into ``DiTError``.
    package func blas(_ body: () throws(BLAS.DimensionError) -> Void) throws(DiTError) {
        do { try body() } catch {
            throw .argument(name: "matrix product", expected: "consistent extents", found: error.message)
        }
    }
}
