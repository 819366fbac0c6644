import Foundation
import HostCore
import HostModel
import HostPlugins

/// The grafting paper's testbed analyses on a DiT (`zoo analyze`): DDIM sampling from noise, and at evenly spread
/// steps each slot's input and output statistics, its influence map (``InfluenceMap``, from the slot operator's own
/// vector-Jacobian products, so every operator is measured the same way) and, where the operator reports its softmax
/// attention weights (ABI 1.6), their locality per head (``AttentionLocality``).
public enum ModelAnalysis {
    /// Band widths the summaries report.
    public static let bandWidths = [1, 2, 4, 8, 16, 32]

    /// Output excess kurtosis above which stage 1's L1 loss is recommended (heavy tails: a few large errors would
    /// dominate an L2 loss).
    public static let heavyTailKurtosis = 3.0

    /// Analyses `model` as `settings` say; `progress` is called after each sampling step.
    /// - Throws: ``DiTError`` for bad classes, ``OperatorError`` when a slot's operator has no backward.
    public static func run(
        _ model: DiTModel, settings: AnalysisSettings, progress: ((Int, Int) -> Void)? = nil
    ) throws -> AnalysisReport {
        let c = model.config
        guard settings.samples >= 1, settings.steps >= 1, settings.measuredSteps >= 1, settings.queries >= 1 else {
            throw DiTError.argument(
                name: "analysis settings", expected: "samples, steps, measured steps and queries >= 1",
                found: "\(settings)")
        }
        let classes =
            settings.classes.isEmpty
            ? (0..<min(c.numClasses, settings.samples)).map { $0 * c.numClasses / min(c.numClasses, settings.samples) }
            : settings.classes
        if let bad = classes.first(where: { $0 < 0 || $0 >= c.numClasses }) {
            throw DiTError.argument(name: "classes", expected: "class ids in 0..<\(c.numClasses)", found: "\(bad)")
        }
        let labels = (0..<settings.samples).map { classes[$0 % classes.count] }
        let diffusion = try GaussianDiffusion(respacing: "\(settings.steps)", learnSigma: c.learnSigma)
        let steps = diffusion.numTimesteps
        let measured = Set(
            (0..<min(settings.measuredSteps, steps)).map { i in
                settings.measuredSteps == 1 ? 0 : i * (steps - 1) / (min(settings.measuredSteps, steps) - 1)
            })
        var call = 0
        var timesteps: [Int] = []
        var perSlot: [[TimestepAnalysis]] = Array(repeating: [], count: model.slots.count)
        var pooled = Array(
            repeating: (input: ActivationStatistics.Accumulator(), output: ActivationStatistics.Accumulator()),
            count: model.slots.count)
        let side = c.gridSize
        _ = try diffusion.ddimSample(
            shape: [settings.samples, c.inChannels, c.inputSize, c.inputSize], seed: settings.seed,
            progress: progress
        ) { x, t in
            defer { call += 1 }
            guard measured.contains(call) else {
                return try model.forward(x, timesteps: t.map(Double.init), labels: labels)
            }
            let (out, trace) = try model.tracedForward(x, timesteps: t.map(Double.init), labels: labels)
            timesteps.append(t[0])
            for (index, slot) in model.slots.enumerated() {
                let half = slot.key.kind == .attn ? 0 : 1
                let input = trace.blocks[slot.key.block].slotInput[half]
                let output = trace.blocks[slot.key.block].slotOutput[half]
                let influence = try InfluenceMap.measure(
                    slot.op, x: input, parameters: model.slotParameters(slot), side: side, queries: settings.queries,
                    seed: settings.seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(call))
                let attention =
                    slot.op.attentionHeads == nil
                    ? nil : try attentionLocality(slot.op, x: input, parameters: model.slotParameters(slot), side: side)
                var now = (input: ActivationStatistics.Accumulator(), output: ActivationStatistics.Accumulator())
                now.input.add(input.scalars)
                now.output.add(output.scalars)
                pooled[index].input.add(now.input)
                pooled[index].output.add(now.output)
                perSlot[index].append(
                    TimestepAnalysis(
                        timestep: t[0], input: now.input.statistics, output: now.output.statistics,
                        influence: influence, attention: attention))
            }
            return out
        }
        let slots = model.slots.indices.map { i in
            summary(
                model.slots[i], perSlot[i], input: pooled[i].input.statistics, output: pooled[i].output.statistics)
        }
        return AnalysisReport(settings: settings, timesteps: timesteps, bandWidths: bandWidths, slots: slots)
    }

    /// Most attention weights (`B H L^2`) held at once: 2^25 (128 MiB in float32); a larger batch is measured a few
    /// samples at a time.
    static let attentionWeightLimit = 1 << 25

    /// The attention locality of `op` at `x` `[B, L, D]` from the weights it reports, a few samples at a time.
    static func attentionLocality(
        _ op: Operator, x: Tensor<Float>, parameters: [Tensor<Float>], side: Int
    ) throws -> AttentionLocality? {
        let (b, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        let heads = op.attentionHeads ?? 1
        let chunk = max(1, min(b, attentionWeightLimit / max(1, heads * l * l)))
        var parts: [AttentionLocality] = []
        for first in stride(from: 0, to: b, by: chunk) {
            let n = min(chunk, b - first)
            let slice = try Tensor(shape: [n, l, d], scalars: x.scalars[(first * l * d)..<((first + n) * l * d)])
            let weights = try op.attentionWeights(slice, parameters: parameters)
            parts.append(AttentionLocality.measure(weights, side: side, bandWidths: bandWidths))
        }
        return AttentionLocality.pooled(parts)
    }

    /// A slot's summary over its measured timesteps.
    static func summary(
        _ slot: DiTSlot, _ measured: [TimestepAnalysis], input: ActivationStatistics,
        output pooledOutput: ActivationStatistics
    ) -> SlotAnalysis {
        var band = [Double](repeating: 0, count: bandWidths.count)
        var neighbourhood = band
        for m in measured {
            for (i, k) in bandWidths.enumerated() {
                band[i] += m.influence.band(k) / Double(measured.count)
                neighbourhood[i] += m.influence.neighbourhood(k) / Double(measured.count)
            }
        }
        let heavy = pooledOutput.kurtosis > heavyTailKurtosis
        return SlotAnalysis(
            slot: slot.key.description, operatorId: slot.op.descriptor.id, input: input,
            output: pooledOutput, band: band, neighbourhood: neighbourhood,
            attention: AttentionLocality.pooled(measured.compactMap(\.attention)), timesteps: measured,
            recommendedLoss: heavy ? "l1" : "l2",
            reason: heavy
                ? String(
                    format:
                        "output excess kurtosis %.1f > %.0f (heavy tails: L1 keeps a few large values from dominating)",
                    pooledOutput.kurtosis, heavyTailKurtosis)
                : String(
                    format: "output excess kurtosis %.1f <= %.0f (light tails: L2)", pooledOutput.kurtosis,
                    heavyTailKurtosis))
    }
}
