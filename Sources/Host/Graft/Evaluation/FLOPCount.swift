import HostModel
import HostPlugins

/// Multiply-add FLOPs of one DiT forward pass for one image, counting a multiply-add as 2 FLOPs.
///
/// Only matrix products are counted (the convention of the DiT paper's Gflops and of fvcore): linear layers,
/// the patch-embedding convolution and the attention products. Biases, LayerNorm, adaLN `modulate`/gates,
/// activations, softmax, the sinusoidal embeddings and the label lookup are elementwise or lookups and are
/// left out; for DiT-XL/2 they are well under 1% of the total. With T tokens, width D, C input channels,
/// patch p and C' output channels:
///
/// - **built-in** (``builtIn(config:)``): patch embedding `2 T (C p²) D`; timestep MLP `2 (256 D + D²)`;
///   adaLN modulation `2 D (6D)` per block and `2 D (2D)` in the final layer (once per image, not per
///   token); final linear `2 T D (p² C')`.
/// - **slots**: whatever each slot's plugin declares through the ABI's `cost` entry (ABI 1.3, the same
///   convention; docs/OPERATORS.md gives each shipped operator's formula), for one image of T tokens. A slot whose
///   plugin declares no cost (an older plugin, a C function) is `nil`, "not counted", and makes the total unknown.
///
/// For DiT-XL/2 (T = 256, D = 1152, depth 28) this gives 237.243e9 FLOPs, i.e. 118.621e9 multiply-adds (0.02% above)
/// the 118.6 Gflops the DiT paper reports counting one multiply-add as one flop.
public enum FLOPCount {
    /// FLOPs of one forward of `model` for one image: the built-in layers, each slot by its `blocks.{i}.attn` /
    /// `blocks.{i}.mlp` name (`nil` for an operator whose cost is unknown), and the total (`nil` when any slot
    /// is unknown).
    public static func forward(model: DiTModel) -> (total: Int?, builtIn: Int, slots: [String: Int?]) {
        let config = model.config
        let builtIn = builtIn(config: config)
        var slots: [String: Int?] = [:]
        var total: Int? = builtIn
        for slot in model.slots {
            let count = (try? slot.op.cost(batch: 1, length: config.tokenCount))?.forwardFLOPs
            slots[slot.key.description] = .some(count)
            if let running = total, let count { total = running + count } else { total = nil }
        }
        return (total, builtIn, slots)
    }

    /// FLOPs of DiT's own layers for one image (everything but the slots): patch embedding, timestep MLP,
    /// every block's adaLN modulation, the final layer's modulation and linear.
    public static func builtIn(config: DiTConfig) -> Int {
        let t = config.tokenCount, d = config.hiddenSize, p = config.patchSize
        let patchEmbed = 2 * t * (config.inChannels * p * p) * d
        let timestepMLP = 2 * (DiTEmbeddings.timestepFrequencies * d + d * d)
        let blockModulation = config.depth * 2 * d * (6 * d)
        let finalModulation = 2 * d * (2 * d)
        let finalLinear = 2 * t * d * (p * p * config.outChannels)
        return patchEmbed + timestepMLP + blockModulation + finalModulation + finalLinear
    }
}
