/// What a traced forward pass keeps for the backward pass: every built-in layer's input (or normalized
/// input and reciprocal standard deviation) and every slot's input and output.
public final class DiTTrace: @unchecked Sendable {
    let batch: Int
    let labels: [Int]
    var patches = Tensor<Float>(zeros: [0])
    var timeFrequencies = Tensor<Float>(zeros: [0])
    var timeHidden = Tensor<Float>(zeros: [0])
    var timeActivated = Tensor<Float>(zeros: [0])
    var conditioning = Tensor<Float>(zeros: [0])
    var siluConditioning = Tensor<Float>(zeros: [0])
    var blocks: [Block] = []
    /// The residual stream entering each stage of ``DiTConfig/blockStages`` (`[N, T, D]` each).
    var stageInputs: [Tensor<Float>] = []
    /// The residual stream leaving the last block.
    var blocksOutput = Tensor<Float>(zeros: [0])
    var finalModulation = Tensor<Float>(zeros: [0])
    var finalNormalized = Tensor<Float>(zeros: [0])
    var finalRstd = Tensor<Float>(zeros: [0])
    var finalModulated = Tensor<Float>(zeros: [0])

    /// One block's saved tensors: for each half (attention, MLP) the LayerNorm output and 1/std, the slot's
    /// input (the modulated tensor) and output.
    struct Block {
        var modulation: Tensor<Float>
        var normalized: [Tensor<Float>]
        var rstd: [Tensor<Float>]
        var slotInput: [Tensor<Float>]
        var slotOutput: [Tensor<Float>]
    }

    init(batch: Int, labels: [Int]) {
        self.batch = batch
        self.labels = labels
    }
}
