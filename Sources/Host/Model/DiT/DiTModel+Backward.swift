import Foundation
import HostCore

extension DiTModel {
    /// The gradient of `<output, outputGradient>` with respect to every parameter, for the pass that made
    /// `trace`. Built-in layers are differentiated here; each slot through its plugin's vector-Jacobian
    /// product. The position embedding is fixed and gets no gradient.
    /// - Parameters:
    ///   - trace: From ``tracedForward(_:timesteps:labels:)`` with the current parameters.
    ///   - outputGradient: `[N, out_channels, H, W]`.
    /// - Returns: Gradients in the layout of ``parameters``.
    public func backward(_ trace: DiTTrace, outputGradient: Tensor<Float>) throws(DiTError) -> ParameterSet {
        let c = config, d = c.hiddenSize, p = c.patchSize, t = c.tokenCount, n = trace.batch, s = c.inputSize
        guard outputGradient.shape == [n, c.outChannels, s, s] else {
            throw .argument(
                name: "outputGradient", expected: "shape \([n, c.outChannels, s, s])", found: "\(outputGradient.shape)")
        }
        guard trace.blocks.count == c.depth else {
            throw .argument(
                name: "trace", expected: "a trace of this model's forward pass", found: "\(trace.blocks.count) blocks")
        }
        let l = layout
        let w = parameters.tensors
        var grads = parameters.zeros()
        let outWidth = p * p * c.outChannels

        // Final layer.
        let dTokensOut = patchifyOutput(outputGradient, batch: n)
        var dModulated = Tensor<Float>(zeros: [n, t, d]), dNormalized = Tensor<Float>(zeros: [n, t, d])
        var dFinalModulation = Tensor<Float>(zeros: [n, 2 * d])
        var dh = Tensor<Float>(zeros: [n, t, d])
        var dSilu = Tensor<Float>(zeros: [n, d])
        try blas { () throws(BLAS.DimensionError) in
            try DiTKernels.linearBackward(
                dTokensOut.baseAddressForReading, trace.finalModulated.baseAddressForReading, rows: n * t, inDim: d,
                weight: w[l.finalLinearWeight].baseAddressForReading, outDim: outWidth,
                dx: dModulated.baseAddressForWriting(),
                dWeight: grads.tensors[l.finalLinearWeight].baseAddressForWriting(),
                dBias: grads.tensors[l.finalLinearBias].baseAddressForWriting())
            let dfm = dFinalModulation.baseAddressForWriting()
            DiTKernels.modulateBackward(
                dModulated.baseAddressForReading, trace.finalNormalized.baseAddressForReading, batch: n, tokens: t,
                dim: d,
                scale: trace.finalModulation.baseAddressForReading + d, modStride: 2 * d,
                dh: dNormalized.baseAddressForWriting(),
                dShift: dfm, dScale: dfm + d)
            DiTKernels.layerNormBackwardAdd(
                dNormalized.baseAddressForReading, trace.finalNormalized.baseAddressForReading,
                rstd: trace.finalRstd.baseAddressForReading, rows: n * t, dim: d, dx: dh.baseAddressForWriting())
            try DiTKernels.linearBackward(
                dFinalModulation.baseAddressForReading, trace.siluConditioning.baseAddressForReading, rows: n, inDim: d,
                weight: w[l.finalModWeight].baseAddressForReading, outDim: 2 * d, dx: dSilu.baseAddressForWriting(),
                dWeight: grads.tensors[l.finalModWeight].baseAddressForWriting(),
                dBias: grads.tensors[l.finalModBias].baseAddressForWriting())
        }

        // Blocks, last stage first; dh is the gradient of the residual stream.
        try blocksBackward(&dh, trace: trace, grads: &grads, dSilu: &dSilu)

        // Conditioning: c = t_embedder(t) + y_embedder(y).
        var dConditioning = Tensor<Float>(zeros: [n, d])
        DiTKernels.siluBackward(
            dSilu.baseAddressForReading, trace.conditioning.baseAddressForReading, count: n * d,
            dConditioning.baseAddressForWriting())
        do {
            let table = grads.tensors[l.labelTable].baseAddressForWriting(), dc = dConditioning.baseAddressForReading
            for b in 0..<n {
                for j in 0..<d { table[trace.labels[b] * d + j] += dc[b * d + j] }
            }
        }
        var dTimeActivated = Tensor<Float>(zeros: [n, d]), dTimeHidden = Tensor<Float>(zeros: [n, d])
        try blas { () throws(BLAS.DimensionError) in
            try DiTKernels.linearBackward(
                dConditioning.baseAddressForReading, trace.timeActivated.baseAddressForReading, rows: n, inDim: d,
                weight: w[l.time2Weight].baseAddressForReading, outDim: d, dx: dTimeActivated.baseAddressForWriting(),
                dWeight: grads.tensors[l.time2Weight].baseAddressForWriting(),
                dBias: grads.tensors[l.time2Bias].baseAddressForWriting())
            DiTKernels.siluBackward(
                dTimeActivated.baseAddressForReading, trace.timeHidden.baseAddressForReading, count: n * d,
                dTimeHidden.baseAddressForWriting())
            try DiTKernels.linearBackward(
                dTimeHidden.baseAddressForReading, trace.timeFrequencies.baseAddressForReading, rows: n,
                inDim: DiTEmbeddings.timestepFrequencies, weight: w[l.time0Weight].baseAddressForReading, outDim: d,
                dx: nil,
                dWeight: grads.tensors[l.time0Weight].baseAddressForWriting(),
                dBias: grads.tensors[l.time0Bias].baseAddressForWriting())
            // Patch embedding (the position embedding is fixed).
            try DiTKernels.linearBackward(
                dh.baseAddressForReading, trace.patches.baseAddressForReading, rows: n * t, inDim: c.inChannels * p * p,
                weight: w[l.patchWeight].baseAddressForReading, outDim: d, dx: nil,
                dWeight: grads.tensors[l.patchWeight].baseAddressForWriting(),
                dBias: grads.tensors[l.patchBias].baseAddressForWriting())
        }
        withExtendedLifetime((w, trace, dTokensOut, dModulated, dNormalized, dFinalModulation, dh, dSilu)) {}
        withExtendedLifetime((dConditioning, dTimeActivated, dTimeHidden)) {}
        return grads
    }
}
