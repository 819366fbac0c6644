import Foundation
import HostCore
import HostPlugins

/// The DiT of `facebookresearch/DiT` `models.py`, with every block's attention and MLP an operator slot
/// filled through the operator ABI.
///
/// Parameters carry the original `state_dict` names; a slot's parameters are `blocks.{i}.attn.<name>` and
/// `blocks.{i}.mlp.<name>` with the plugin's own names (for `mha`/`mlp` exactly DiT's `qkv.weight`,
/// `fc1.weight`, ...). The fixed sin-cos position embedding is kept beside the parameters
/// (``positionEmbedding``), as DiT keeps it as a frozen parameter.
///
/// ```swift
/// let model = try DiTModel(config: config) { key in try DiTSlotChoice.standard(key, config: config, host: host) }
/// model.initialize(seed: 0)
/// let out = try model.forward(x, timesteps: [10, 500], labels: [3, 7])
/// ```
public final class DiTModel: @unchecked Sendable {
    public let config: DiTConfig
    /// Trainable tensors, in `state_dict` order.
    public var parameters: ParameterSet
    /// `pos_embed` without its leading 1: `[T, hidden_size]`, DiT's fixed 2D sin-cos embedding unless a
    /// checkpoint supplied other values.
    public var positionEmbedding: Tensor<Float>
    /// Slots in block order, attention before MLP: slot `2 i` is `blocks.i.attn`, `2 i + 1` is `blocks.i.mlp`.
    public let slots: [DiTSlot]
    package let layout: Layout

    /// Positions of the built-in parameters in ``parameters``.
    package struct Layout {
        var patchWeight = 0, patchBias = 0, time0Weight = 0, time0Bias = 0, time2Weight = 0, time2Bias = 0,
            labelTable = 0
        var blockModWeight: [Int] = [], blockModBias: [Int] = []
        var finalLinearWeight = 0, finalLinearBias = 0, finalModWeight = 0, finalModBias = 0
    }

    /// Builds the model with every slot filled by `choose`; parameters start at zero (call ``initialize(seed:)``
    /// or load a checkpoint).
    /// - Throws: ``DiTError`` for an invalid configuration or a slot whose operator cannot be created.
    public init(config: DiTConfig, slots choose: (DiTSlotKey) throws -> DiTSlotChoice) throws {
        try config.validate()
        guard config.hiddenSize % 4 == 0 else {
            throw DiTError.config(
                path: "config", field: "hidden_size", expected: "a multiple of 4 (the 2D sin-cos position embedding)")
        }
        self.config = config
        let d = config.hiddenSize, p = config.patchSize
        var set = ParameterSet()
        var layout = Layout()
        func add(_ name: String, _ shape: [Int]) -> Int {
            set.append(name, Tensor<Float>(zeros: shape))
            return set.count - 1
        }
        layout.patchWeight = add("x_embedder.proj.weight", [d, config.inChannels, p, p])
        layout.patchBias = add("x_embedder.proj.bias", [d])
        layout.time0Weight = add("t_embedder.mlp.0.weight", [d, DiTEmbeddings.timestepFrequencies])
        layout.time0Bias = add("t_embedder.mlp.0.bias", [d])
        layout.time2Weight = add("t_embedder.mlp.2.weight", [d, d])
        layout.time2Bias = add("t_embedder.mlp.2.bias", [d])
        layout.labelTable = add("y_embedder.embedding_table.weight", [config.labelTableRows, d])
        var slots: [DiTSlot] = []
        let grid = config.gridSize
        for block in 0..<config.depth {
            for kind in DiTSlotKind.allCases {
                let key = DiTSlotKey(block: block, kind: kind)
                let choice = try choose(key)
                let op: Operator
                do {
                    op = try Operator(choice.descriptor, dim: d, grid: (grid, grid), attributes: choice.attributes)
                } catch {
                    throw DiTError.slot(name: key.description, reason: "operator '\(choice.descriptor.id)': \(error)")
                }
                if let fixed = op.fixedLength, fixed != config.tokenCount {
                    throw DiTError.slot(
                        name: key.description,
                        reason:
                            "operator '\(op.descriptor.id)' takes L = \(fixed) only, the model has \(config.tokenCount) tokens"
                    )
                }
                let positions = op.parameters.map { add("\(key).\($0.name)", $0.shape) }
                slots.append(DiTSlot(key: key, op: op, parameterPositions: positions))
            }
            layout.blockModWeight.append(add("blocks.\(block).adaLN_modulation.1.weight", [6 * d, d]))
            layout.blockModBias.append(add("blocks.\(block).adaLN_modulation.1.bias", [6 * d]))
        }
        layout.finalLinearWeight = add("final_layer.linear.weight", [p * p * config.outChannels, d])
        layout.finalLinearBias = add("final_layer.linear.bias", [p * p * config.outChannels])
        layout.finalModWeight = add("final_layer.adaLN_modulation.1.weight", [2 * d, d])
        layout.finalModBias = add("final_layer.adaLN_modulation.1.bias", [2 * d])
        self.parameters = set
        self.layout = layout
        self.slots = slots
        self.positionEmbedding = DiTEmbeddings.sinCos2D(dim: d, gridSize: grid)
    }

    /// The slot at `key`.
    public func slot(_ key: DiTSlotKey) -> DiTSlot { slots[2 * key.block + (key.kind == .attn ? 0 : 1)] }

    /// Positions in ``parameters`` of everything block `block` owns, in a fixed structural order: its attention
    /// slot's parameters, its MLP slot's, then its adaLN modulation weight and bias. Two models whose blocks hold
    /// the same operators list corresponding tensors at corresponding places, whatever the blocks' numbers.
    public func blockParameterPositions(_ block: Int) -> [Int] {
        slot(DiTSlotKey(block: block, kind: .attn)).parameterPositions
            + slot(DiTSlotKey(block: block, kind: .mlp)).parameterPositions
            + [layout.blockModWeight[block], layout.blockModBias[block]]
    }

    /// DiT's `initialize_weights`: Xavier-uniform linear weights (the patch embedding's viewed as
    /// `[D, C p p]`) with zero biases, label table and timestep-MLP weights normal(0, 0.02), adaLN modulations
    /// and the final linear zero. Slots holding `mha`/`mlp` get DiT's Xavier init too; any other operator
    /// gets its plugin's own (upstream) initialization, seeded from `seed` and the slot's position.
    public func initialize(seed: UInt64) throws(DiTError) {
        var rng = SplitMix64(seed: seed)
        func xavier(_ index: Int) {
            let shape = parameters.tensors[index].shape
            let fanOut = shape[0], fanIn = shape.dropFirst().reduce(1, *)
            let bound = (6 / Double(fanIn + fanOut)).squareRoot()
            parameters.tensors[index].withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count { p[i] = Float((rng.nextUnit() * 2 - 1) * bound) }
            }
        }
        func normal(_ index: Int, std: Double) {
            parameters.tensors[index].withUnsafeMutableBufferPointer { p in
                for i in 0..<p.count { p[i] = Float(rng.nextNormal() * std) }
            }
        }
        func zero(_ index: Int) { parameters.tensors[index] = Tensor(zeros: parameters.tensors[index].shape) }
        let l = layout
        xavier(l.patchWeight)
        zero(l.patchBias)
        normal(l.time0Weight, std: 0.02)
        zero(l.time0Bias)
        normal(l.time2Weight, std: 0.02)
        zero(l.time2Bias)
        normal(l.labelTable, std: 0.02)
        for (index, slot) in slots.enumerated() {
            if slot.isStandard(for: config) {
                for (spec, position) in zip(slot.op.parameters, slot.parameterPositions) {
                    if spec.shape.count == 2 { xavier(position) } else { zero(position) }
                }
            } else {
                let fresh: [Tensor<Float>]
                do {
                    fresh = try slot.op.initialParameters(seed: seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15)
                } catch {
                    throw .slot(name: slot.key.description, reason: "initialization failed: \(error)")
                }
                for (tensor, position) in zip(fresh, slot.parameterPositions) { parameters.tensors[position] = tensor }
            }
        }
        for block in 0..<config.depth {
            zero(l.blockModWeight[block])
            zero(l.blockModBias[block])
        }
        for index in [l.finalLinearWeight, l.finalLinearBias, l.finalModWeight, l.finalModBias] { zero(index) }
        positionEmbedding = DiTEmbeddings.sinCos2D(dim: config.hiddenSize, gridSize: config.gridSize)
    }

    /// The parameters of `slot`, in the plugin's order.
    package func slotParameters(_ slot: DiTSlot) -> [Tensor<Float>] {
        slot.parameterPositions.map { parameters.tensors[$0] }
    }
}
