import Foundation
import HostCore
import HostPlugins

extension DiTModel {
    /// Runs the transformer blocks on the residual stream `h` `[N, T, D]`, stage by stage (see
    /// ``DiTConfig/blockStages``). In a stage of one block this is DiT's
    /// `x += gate_msa * attn(modulate(norm1(x)))`, then `x += gate_mlp * mlp(modulate(norm2(x)))`. In a parallel
    /// pair both blocks' attention reads the same `norm1(x)` and both updates are added; then both MLPs read the
    /// same `norm2(x)` of the result. Each block keeps its own adaLN modulation.
    package func runBlocks(
        _ h: inout Tensor<Float>, siluConditioning: Tensor<Float>, batch n: Int, trace: DiTTrace?
    ) throws(DiTError) {
        let d = config.hiddenSize, t = config.tokenCount
        let l = layout, w = parameters.tensors
        for stage in config.blockStages {
            trace?.stageInputs.append(h)
            var modulations: [Tensor<Float>] = []
            for block in stage {
                var modulation = Tensor<Float>(zeros: [n, 6 * d])
                try blas { () throws(BLAS.DimensionError) in
                    try DiTKernels.linear(
                        siluConditioning.baseAddressForReading, rows: n, inDim: d,
                        weight: w[l.blockModWeight[block]].baseAddressForReading,
                        bias: w[l.blockModBias[block]].baseAddressForReading, outDim: 6 * d,
                        modulation.baseAddressForWriting())
                }
                modulations.append(modulation)
            }
            var saved = modulations.map { DiTTrace.Block(modulation: $0) }
            for half in 0..<2 {
                let base = 3 * half * d  // shift, scale, gate at base, base + d, base + 2d
                var normalized = Tensor<Float>(zeros: [n, t, d]), rstd = Tensor<Float>(zeros: [n * t])
                DiTKernels.layerNorm(
                    h.baseAddressForReading, rows: n * t, dim: d, eps: 1e-6, normalized.baseAddressForWriting(),
                    rstd: rstd.baseAddressForWriting())
                // Every block of the stage reads `normalized`, taken before any of them adds to `h`.
                for (k, block) in stage.enumerated() {
                    let slot = slots[2 * block + half]
                    var modulated = Tensor<Float>(zeros: [n, t, d])
                    let mp = modulations[k].baseAddressForReading
                    DiTKernels.modulate(
                        normalized.baseAddressForReading, batch: n, tokens: t, dim: d, shift: mp + base,
                        scale: mp + base + d, modStride: 6 * d, modulated.baseAddressForWriting())
                    // Traced (training): the operator may save what its backward needs (ABI 1.4).
                    let y: Tensor<Float>, slotSaved: SavedActivations?
                    do {
                        (y, slotSaved) = try slot.op.forward(
                            modulated, parameters: slotParameters(slot), saving: trace != nil)
                    } catch {
                        throw .slot(name: slot.key.description, reason: error.description)
                    }
                    DiTKernels.gatedAdd(
                        h.baseAddressForWriting(), y.baseAddressForReading, batch: n, tokens: t, dim: d,
                        gate: mp + base + 2 * d, modStride: 6 * d)
                    if trace != nil {
                        saved[k].normalized.append(normalized)
                        saved[k].rstd.append(rstd)
                        saved[k].slotInput.append(modulated)
                        saved[k].slotOutput.append(y)
                        saved[k].slotSaved.append(slotSaved)
                    }
                    withExtendedLifetime((modulated, y)) {}
                }
                withExtendedLifetime((normalized, rstd)) {}
            }
            trace?.blocks.append(contentsOf: saved)
            withExtendedLifetime(modulations) {}
        }
        trace?.blocksOutput = h
        withExtendedLifetime((siluConditioning, w)) {}
    }

    /// The backward pass of ``runBlocks(_:siluConditioning:batch:trace:)``: turns `dh` (the gradient at the last
    /// block's output) into the gradient at the first block's input, writes every block parameter's gradient into
    /// `grads` and adds the modulations' input gradient to `dSilu`.
    package func blocksBackward(
        _ dh: inout Tensor<Float>, trace: DiTTrace, grads: inout ParameterSet, dSilu: inout Tensor<Float>
    ) throws(DiTError) {
        let d = config.hiddenSize, t = config.tokenCount, n = trace.batch
        let l = layout, w = parameters.tensors
        guard trace.blocks.count == config.depth else {
            throw .argument(
                name: "trace", expected: "a trace of this model's forward pass", found: "\(trace.blocks.count) blocks")
        }
        var dSlotOutput = Tensor<Float>(zeros: [n, t, d]), dNormalized = Tensor<Float>(zeros: [n, t, d])
        var dSiluPart = Tensor<Float>(zeros: [n, d])
        for stage in config.blockStages.reversed() {
            var dModulations = stage.map { _ in Tensor<Float>(zeros: [n, 6 * d]) }
            for half in [1, 0] {
                let base = 3 * half * d
                // The stage's blocks all added to the same stream: each sees the gradient at the stage's output.
                let dOut = dh
                for (k, block) in stage.enumerated().reversed() {
                    let saved = trace.blocks[block]
                    let slot = slots[2 * block + half]
                    let mp = saved.modulation.baseAddressForReading
                    let dmp = dModulations[k].baseAddressForWriting()
                    DiTKernels.gatedAddBackward(
                        dOut.baseAddressForReading, saved.slotOutput[half].baseAddressForReading, batch: n, tokens: t,
                        dim: d,
                        gate: mp + base + 2 * d, modStride: 6 * d, dy: dSlotOutput.baseAddressForWriting(),
                        dGate: dmp + base + 2 * d)
                    let slotGrads: (input: Tensor<Float>?, parameters: [Tensor<Float>?])
                    do {
                        slotGrads = try slot.op.backward(
                            saved.slotInput[half], parameters: slotParameters(slot), outputGradient: dSlotOutput,
                            saved: saved.slotSaved[half])
                    } catch {
                        throw .slot(name: slot.key.description, reason: error.description)
                    }
                    guard let dInput = slotGrads.input else {
                        throw .slot(name: slot.key.description, reason: "the plugin returned no input gradient")
                    }
                    for (position, g) in zip(slot.parameterPositions, slotGrads.parameters) {
                        if let g { grads.tensors[position] = g }
                    }
                    DiTKernels.modulateBackward(
                        dInput.baseAddressForReading, saved.normalized[half].baseAddressForReading, batch: n, tokens: t,
                        dim: d,
                        scale: mp + base + d, modStride: 6 * d, dh: dNormalized.baseAddressForWriting(),
                        dShift: dmp + base,
                        dScale: dmp + base + d)
                    DiTKernels.layerNormBackwardAdd(
                        dNormalized.baseAddressForReading, saved.normalized[half].baseAddressForReading,
                        rstd: saved.rstd[half].baseAddressForReading, rows: n * t, dim: d,
                        dx: dh.baseAddressForWriting())
                    withExtendedLifetime((dInput, saved)) {}
                }
                withExtendedLifetime(dOut) {}
            }
            for (k, block) in stage.enumerated() {
                try blas { () throws(BLAS.DimensionError) in
                    try DiTKernels.linearBackward(
                        dModulations[k].baseAddressForReading, trace.siluConditioning.baseAddressForReading, rows: n,
                        inDim: d,
                        weight: w[l.blockModWeight[block]].baseAddressForReading, outDim: 6 * d,
                        dx: dSiluPart.baseAddressForWriting(),
                        dWeight: grads.tensors[l.blockModWeight[block]].baseAddressForWriting(),
                        dBias: grads.tensors[l.blockModBias[block]].baseAddressForWriting())
                }
                let ds = dSilu.baseAddressForWriting(), dsp = dSiluPart.baseAddressForReading
                for i in 0..<(n * d) { ds[i] += dsp[i] }
            }
            withExtendedLifetime(dModulations) {}
        }
        withExtendedLifetime((w, trace, dSlotOutput, dNormalized, dSiluPart)) {}
    }
}
