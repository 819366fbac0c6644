import HostCore
import HostPlugins

/// What a traced forward pass keeps for the backward pass: every built-in layer's input (or normalized
/// input and reciprocal standard deviation) and every slot's input and output.
public final class DiTTrace: @unchecked Sendable {
    package let batch: Int
    package let labels: [Int]
    package var patches = Tensor<Float>(zeros: [0])
    package var timeFrequencies = Tensor<Float>(zeros: [0])
    package var timeHidden = Tensor<Float>(zeros: [0])
    package var timeActivated = Tensor<Float>(zeros: [0])
    package var conditioning = Tensor<Float>(zeros: [0])
    package var siluConditioning = Tensor<Float>(zeros: [0])
    package var blocks: [Block] = []
    /// The residual stream entering each stage of ``DiTConfig/blockStages`` (`[N, T, D]` each).
    package var stageInputs: [Tensor<Float>] = []
    /// The residual stream leaving the last block.
    package var blocksOutput = Tensor<Float>(zeros: [0])
    package var finalModulation = Tensor<Float>(zeros: [0])
    package var finalNormalized = Tensor<Float>(zeros: [0])
    package var finalRstd = Tensor<Float>(zeros: [0])
    package var finalModulated = Tensor<Float>(zeros: [0])

    /// One block's saved tensors: for each half (attention, MLP) the LayerNorm output and 1/std, the slot's
    /// input (the modulated tensor) and output, and what the slot's operator saved for its backward (nil when it
    /// saves nothing: its backward recomputes).
    package struct Block {
        package var modulation: Tensor<Float>
        package var normalized: [Tensor<Float>] = []
        package var rstd: [Tensor<Float>] = []
        package var slotInput: [Tensor<Float>] = []
        package var slotOutput: [Tensor<Float>] = []
        package var slotSaved: [SavedActivations?] = []
    }

    package init(batch: Int, labels: [Int]) {
        self.batch = batch
        self.labels = labels
    }
}
