import Foundation
import Testing

@testable import HostCore
@testable import HostModel
@testable import HostPlugins

/// The train-mode forward of ABI 1.4 (`OZ_CAP_SAVE_FOR_BACKWARD`) as the host uses it: the output and every
/// gradient equal the plain calls' bitwise (saving only skips recomputation, and `mha`/`mlp` are deterministic), a
/// saved buffer is refused where it does not belong, and the DiT's training backward takes the saved path.
@Suite struct SavedActivationsTests {
    /// `mha` at L = 700 (two query blocks, the last one short; causal), at L = 9, and at L = 4097 with one head,
    /// where `P` (4097^2 > ``MHAKernel``'s 2^24 kept probabilities) is recomputed block by block from the saved
    /// projections; `mlp`; the three grafting Hyena mixers (their whole forward is saved); safari's `hyena` (its
    /// activations and the implicit filter's float64 weights and activations); `swa` (projections saved, window
    /// probabilities recomputed); the `mamba2` family; and `gated_conv` (the C plugin built by its own Makefile:
    /// `in_proj(x)`, the conv output and the gated product), in each of its modes.
    static let cases: [(id: String, product: String, attributes: [String: AttributeValue], b: Int, l: Int)] = [
        ("mha", "OZMHA", ["num_heads": .int(2), "causal": .bool(true)], 2, 700),
        ("mha", "OZMHA", ["num_heads": .int(1)], 1, 4097),
        ("mha", "OZMHA", ["num_heads": .int(4)], 3, 9),
        ("mlp", "OZMLP", ["expansion_ratio": .float(2.5)], 2, 33),
        ("hyena_x", "OZHyena", [:], 2, 40),
        ("hyena_se", "OZHyena", [:], 2, 40),
        ("hyena_y", "OZHyena", [:], 1, 57),
        ("swa", "OZLocalAttention", ["num_heads": .int(2), "window_size": .intList([3, 2])], 2, 45),
        ("mamba2", "OZMamba2", ["d_state": .int(8), "headdim": .int(4), "chunk_size": .int(16)], 2, 37),
        ("mamba2_bidir", "OZMamba2", ["d_state": .int(8), "headdim": .int(4), "chunk_size": .int(16)], 1, 37),
        ("hyena", "OZHyena", ["l_max": .int(64), "order": .int(3)], 2, 37),
        ("gated_conv", "gated_conv", ["mode": .string("causal1d"), "act": .string("silu")], 2, 23),
        ("gated_conv", "gated_conv", ["mode": .string("same1d"), "act": .string("sigmoid")], 1, 30),
        ("gated_conv", "gated_conv", ["mode": .string("same2d"), "kernel_size": .intList([3, 5])], 2, 20),
    ]

    /// The operator from its product, or `gated_conv` from the library its Makefile builds.
    static func descriptor(_ id: String, product: String) throws -> OperatorDescriptor {
        guard product == "gated_conv" else { return try TestOperators.descriptor(id, product: product) }
        return try #require(try PluginLibrary(path: try MadeLibraries.gatedConv()).operator(id))
    }

    @Test(arguments: cases.indices)
    func savingChangesNothingButTheWork(index: Int) throws {
        let c = Self.cases[index]
        let descriptor = try Self.descriptor(c.id, product: c.product)
        #expect(descriptor.capabilities.contains(.saveForBackward))
        // same2d runs on a 4 x 5 grid of its 20 tokens.
        let grid: (height: Int, width: Int)? = c.attributes["mode"] == .string("same2d") ? (4, 5) : nil
        let op = try Operator(descriptor, dim: 16, grid: grid, attributes: c.attributes)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 3)
        let x = Tensor<Float>.randomNormal([c.b, c.l, 16], seed: 4)
        let dy = Tensor<Float>.randomNormal([c.b, c.l, 16], seed: 5)
        let plainY = try op.forward(x, parameters: params)
        let plain = try op.backward(x, parameters: params, outputGradient: dy)
        let (y, saved) = try op.forward(x, parameters: params, saving: true)
        let savedActivations = try #require(saved, "\(c.id) saves for backward")
        #expect(savedActivations.bytes == (try op.savedSize(batch: c.b, length: c.l)))
        if c.id == "mha" {
            // qkv and O always, P while B H L^2 <= 2^24 (8 bytes an element as PluginKit counts, plus slack).
            let heads = c.attributes["num_heads"] == .int(1) ? 1 : (c.attributes["num_heads"] == .int(2) ? 2 : 4)
            let probabilities = c.b * heads * c.l * c.l
            let elements = c.b * c.l * 4 * 16 + (probabilities <= 1 << 24 ? probabilities : 0)
            #expect(savedActivations.bytes == elements * 8 + 64 * 32, "mha saved size at L = \(c.l)")
        }
        #expect(y == plainY, "\(c.id): the forward that saves computes the same y")
        // Twice from one saved buffer: backward only reads it.
        for _ in 0..<2 {
            let fromSaved = try op.backward(x, parameters: params, outputGradient: dy, saved: saved)
            #expect(fromSaved.input == plain.input, "\(c.id): dx")
            #expect(fromSaved.parameters == plain.parameters, "\(c.id): parameter gradients")
        }
        // Not saving is the plain forward.
        #expect(try op.forward(x, parameters: params, saving: false).saved == nil)
    }

    @Test func savedActivationsAreRefusedWhereTheyDoNotBelong() throws {
        let descriptor = try TestOperators.descriptor("mlp", product: "OZMLP")
        let op = try Operator(descriptor, dim: 8)
        let other = try Operator(descriptor, dim: 8)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 1)
        let x = Tensor<Float>.randomNormal([2, 5, 8], seed: 2)
        let saved = try op.forward(x, parameters: params, saving: true).saved
        let oneSample = Tensor<Float>.randomNormal([1, 5, 8], seed: 2)
        for (target, input) in [(op, oneSample), (other, x)] {
            #expect {
                _ = try target.backward(input, parameters: params, outputGradient: input, saved: saved)
            } throws: { error in
                "\(error)".contains("saved activations come from another instance or call")
            }
        }
    }

    /// A traced DiT forward keeps each slot's saved activations, and the model's backward from them equals the
    /// backward from the same trace with them dropped (every slot then recomputes), bitwise.
    @Test func ditBackwardFromSavedActivationsEqualsRecomputing() throws {
        let model = try goldenDiT()
        let c = model.config
        let x = Tensor<Float>.randomNormal([2, c.inChannels, c.inputSize, c.inputSize], seed: 7)
        let dy = Tensor<Float>.randomNormal([2, c.outChannels, c.inputSize, c.inputSize], seed: 8)
        let (_, trace) = try model.tracedForward(x, timesteps: [3, 900], labels: [0, 1])
        #expect(trace.blocks.allSatisfy { $0.slotSaved.count == 2 && $0.slotSaved.allSatisfy { $0 != nil } })
        let fromSaved = try model.backward(trace, outputGradient: dy)
        for i in trace.blocks.indices { trace.blocks[i].slotSaved = [nil, nil] }
        let recomputed = try model.backward(trace, outputGradient: dy)
        #expect(fromSaved.tensors == recomputed.tensors)
    }
}
