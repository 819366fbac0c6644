import Foundation
import HostCore
import HostGraft
import HostModel
import HostPlugins

extension BenchSuites {
    /// Training throughput: images per second of one pretraining step of `model` (forward, backward, clip,
    /// AdamW, EMA) on the synthetic dataset at the model's resolution, and of one stage-1 distillation step of a
    /// single slot holding `slotOperator` (plugin forward and backward, AdamW) on random activations of the
    /// model's shape. Each is also given as GFLOP/s (a training step counted as three forwards) against in-run
    /// sgemm on the model's largest linear shape.
    public static func training(
        model: DiTModel, slotOperator: OperatorDescriptor, slotAttributes: [String: AttributeValue], batch: Int,
        repeats: Int
    ) throws -> [BenchEntry] {
        let c = model.config
        let baseline = try sgemm(m: batch * c.tokenCount, n: c.mlpHidden, k: c.hiddenSize, repeats: repeats)
        var settings = TrainingSettings()
        settings.batchSize = batch
        settings.steps = 1_000_000
        settings.heldOutSamples = 0
        let data = try SyntheticShapes.splits(seed: 0, for: c).train
        let trainer = try DiffusionTrainer(model: model, data: data, heldOut: nil, settings: settings)
        let step = try Timing.measure(repeats: repeats) { try trainer.trainStep() }
        let flops = FLOPCount.forward(model: model).total.map { 3 * Double($0) * Double(batch) }
        var pretrain = BenchEntry(
            suite: "train", name: "pretraining step \(c.depth)x\(c.hiddenSize) T=\(c.tokenCount) batch \(batch)",
            timing: step,
            flops: flops, baseline: baseline.name)
        if let g = pretrain.gflops, let b = baseline.gflops { pretrain.ratio = g / b }
        pretrain.notes["images_per_second"] = String(format: "%.1f", Double(batch) / step.median)

        let op = try Operator(
            slotOperator, dim: c.hiddenSize, grid: (c.gridSize, c.gridSize), attributes: slotAttributes)
        let samples = 4 * batch
        let activations = SlotDistiller.Activations(
            inputs: Tensor.randomNormal([samples, c.tokenCount, c.hiddenSize], seed: 5),
            outputs: Tensor.randomNormal([samples, c.tokenCount, c.hiddenSize], seed: 6, scale: 0.1))
        var stage1 = GraftPlan.Stage1()
        stage1.batchSize = batch
        stage1.steps = 1_000_000
        stage1.validateEvery = 1_000_000
        let distiller = try SlotDistiller(
            key: DiTSlotKey(block: 0, kind: .attn), op: op, initial: try op.initialParameters(seed: 1),
            activations: activations,
            settings: stage1, seed: 2)
        let distill = try Timing.measure(repeats: repeats) { try distiller.trainStep() }
        // A stage-1 step is one forward and one backward of the slot: both as the plugin declares them.
        let slotFlops = try op.cost(batch: batch, length: c.tokenCount).map {
            Double($0.forwardFLOPs + $0.backwardFLOPs)
        }
        var slot = BenchEntry(
            suite: "train",
            name: "stage-1 step, one \(slotOperator.id) slot D=\(c.hiddenSize) T=\(c.tokenCount) batch \(batch)",
            timing: distill, flops: slotFlops, baseline: baseline.name)
        if let g = slot.gflops, let b = baseline.gflops { slot.ratio = g / b }
        slot.notes["samples_per_second"] = String(format: "%.1f", Double(batch) / distill.median)
        return [baseline, pretrain, slot]
    }

    /// The grafting payoff: forward time (batch 1) of `model`'s architecture with every odd block's attention
    /// (the paper's interleave-50 plans) replaced by each of `replacements`, against the original, at each token
    /// count in `tokens` (the input side grown to match). Weights are freshly initialised: speed does not depend
    /// on them. The ratio is the original's time over the grafted model's.
    public static func graftPayoff(
        config: DiTConfig, standard: (DiTSlotKey, DiTConfig) throws -> DiTSlotChoice,
        replacements: [(name: String, choice: (DiTConfig) throws -> DiTSlotChoice)], tokens: [Int], repeats: Int,
        log: ((String) -> Void)? = nil
    ) throws -> [BenchEntry] {
        var entries: [BenchEntry] = []
        for count in tokens {
            let side = Int(Double(count).squareRoot())
            guard side * side == count else { throw BenchError.argument("token count \(count) is not a square") }
            var c = config
            c.inputSize = side * config.patchSize
            func timed(_ model: DiTModel) throws -> Timing {
                try model.initialize(seed: 0)
                let x = Tensor<Float>.randomNormal([1, c.inChannels, c.inputSize, c.inputSize], seed: 1)
                return try Timing.measure(repeats: repeats) { _ = try model.forward(x, timesteps: [500], labels: [0]) }
            }
            let original = try timed(try DiTModel(config: c) { key in try standard(key, c) })
            let name = "forward \(c.depth)x\(c.hiddenSize) T=\(count) batch 1"
            entries.append(BenchEntry(suite: "graft", name: "original " + name, timing: original))
            for replacement in replacements {
                let grafted = try DiTModel(config: c) { key in
                    key.kind == .attn && key.block % 2 == 1 ? try replacement.choice(c) : try standard(key, c)
                }
                let time = try timed(grafted)
                entries.append(
                    BenchEntry(
                        suite: "graft", name: "\(replacement.name) " + name, timing: time,
                        baseline: "original " + name, ratio: original.median / time.median))
                log?(
                    "T=\(count): original \(String(format: "%.3f", original.median)) s, \(replacement.name) \(String(format: "%.3f", time.median)) s"
                )
            }
        }
        return entries
    }
}

/// A benchmark that cannot run as asked.
