import Foundation
import HostCore
import HostModel

/// Grafting's restructuring (`restructure: parallel_pairs`): every pair of sequential blocks `(2k, 2k+1)` of the
/// teacher becomes one parallel block of the student (``DiTConfig/parallelPairs``), depth halved. The student
/// starts from the teacher's weights (same names, same shapes); stage 1 distils each pair so that the
/// parallel block reproduces the teacher's residual stream after the sequential pair from the stream before
/// it (with the sample's conditioning), stage 2 fine-tunes the whole model.
public enum Restructuring {
    /// The teacher restructured into parallel pairs, every tensor copied.
    public static func parallelPairs(teacher: DiTModel) throws -> DiTModel {
        var config = teacher.config
        guard !config.parallelPairs else {
            throw GraftError.plan(
                source: "restructure", field: "restructure",
                expected: "a sequential teacher (this one already runs parallel pairs)")
        }
        guard config.depth >= 2 else {
            throw GraftError.plan(
                source: "restructure", field: "restructure",
                expected: "a teacher with at least 2 blocks (found \(config.depth))")
        }
        config.parallelPairs = true
        let student = try DiTModel(config: config) { key in teacher.slot(key).choice }
        student.parameters = teacher.parameters
        student.positionEmbedding = teacher.positionEmbedding
        return student
    }

    /// The first block of every pair that runs in parallel (an odd last block stays alone and is not distilled).
    public static func pairs(depth: Int) -> [Int] { stride(from: 0, to: depth - 1, by: 2).map { $0 } }

    /// The name of the pair starting at `block`: `blocks.4+5`.
    public static func name(ofPairAt block: Int) -> String { "blocks.\(block)+\(block + 1)" }

    /// The parameter positions of the pair starting at `block` in `model` (both blocks' slots and modulations, in
    /// ``DiTModel/blockParameterPositions(_:)`` order).
    public static func parameterPositions(ofPairAt block: Int, in model: DiTModel) -> [Int] {
        model.blockParameterPositions(block) + model.blockParameterPositions(block + 1)
    }

    /// A distillation module for the pair starting at `block` of `student`: a two-block parallel DiT holding
    /// the pair's operators, whose block parameters (named as in `student`) are trained.
    public static func module(forPairAt block: Int, of student: DiTModel) throws -> SlotDistiller.Module {
        var config = student.config
        config.depth = 2
        config.parallelPairs = true
        let pair = try DiTModel(config: config) { key in
            student.slot(DiTSlotKey(block: block + key.block, kind: key.kind)).choice
        }
        // The pair model's blocks 0 and 1 hold the student's blocks `block` and `block + 1`'s operators, so their
        // tensors correspond place by place.
        let studentPositions = parameterPositions(ofPairAt: block, in: student)
        let positions = parameterPositions(ofPairAt: 0, in: pair)
        let names = studentPositions.map { student.parameters.names[$0] }
        for (s, p) in zip(studentPositions, positions)
        where student.parameters.tensors[s].shape != pair.parameters.tensors[p].shape {
            throw GraftError.stage(
                name: "stage 1 \(self.name(ofPairAt: block))",
                reason:
                    "'\(student.parameters.names[s])' has shape \(student.parameters.tensors[s].shape) in the student, \(pair.parameters.tensors[p].shape) in the pair model"
            )
        }
        let lock = NSLock()
        func load(_ parameters: [Tensor<Float>]) {
            for (position, tensor) in zip(positions, parameters) { pair.parameters.tensors[position] = tensor }
        }
        func checkConditioning(_ c: Tensor<Float>?) throws -> Tensor<Float> {
            guard let c else {
                throw GraftError.stage(
                    name: "stage 1 \(self.name(ofPairAt: block))", reason: "activations without conditioning")
            }
            return c
        }
        return SlotDistiller.Module(
            names: names,
            forward: { x, c, parameters in
                lock.lock()
                defer { lock.unlock() }
                load(parameters)
                var h = x
                try pair.runBlocks(&h, siluConditioning: try checkConditioning(c), batch: x.shape[0], trace: nil)
                return h
            },
            gradients: { x, c, parameters, loss in
                lock.lock()
                defer { lock.unlock() }
                load(parameters)
                let conditioning = try checkConditioning(c)
                let trace = DiTTrace(batch: x.shape[0], labels: [])
                trace.siluConditioning = conditioning
                var h = x
                try pair.runBlocks(&h, siluConditioning: conditioning, batch: x.shape[0], trace: trace)
                let (value, gradient) = loss(h)
                var dh = gradient
                var grads = pair.parameters.zeros()
                var dSilu = Tensor<Float>(zeros: conditioning.shape)
                try pair.blocksBackward(&dh, trace: trace, grads: &grads, dSilu: &dSilu)
                return (value, positions.map { grads.tensors[$0] })
            })
    }
}
