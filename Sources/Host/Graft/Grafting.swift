import Foundation
import HostModel
import HostPlugins

/// Building grafted models: the teacher's architecture with some slots holding other operators.
public enum Grafting {
    /// The slot choice for a graft: the operator resolved through `host`, the plan's attributes parsed by
    /// its schema, completed with what the model determines (``OperatorDescriptor/completing(_:heads:tokens:)``:
    /// its heads and token count, where the schema admits them).
    public static func choice(for graft: GraftPlan.Graft, config: DiTConfig, host: PluginHost) throws -> DiTSlotChoice {
        let descriptor = try host.resolveOperator(graft.operatorId)
        let attributes = try descriptor.parseAssignments(graft.assignments)
        return DiTSlotChoice(
            descriptor, attributes: descriptor.completing(attributes, heads: config.numHeads, tokens: config.tokenCount)
        )
    }

    /// The student: `teacher`'s configuration with the slots in `assignments` replaced. Every tensor outside
    /// the grafted slots is copied from the teacher; grafted slots start from their plugin's (seeded)
    /// initialization.
    public static func makeStudent(
        teacher: DiTModel, assignments: [DiTSlotKey: GraftPlan.Graft], host: PluginHost, seed: UInt64
    ) throws -> DiTModel {
        try makeStudent(teacher: teacher, assignments: assignments, seed: seed) { graft in
            try choice(for: graft, config: teacher.config, host: host)
        }
    }

    /// ``makeStudent(teacher:assignments:host:seed:)`` with the grafted slots' operators chosen by `choose`.
    public static func makeStudent(
        teacher: DiTModel, assignments: [DiTSlotKey: GraftPlan.Graft], seed: UInt64,
        choose: (GraftPlan.Graft) throws -> DiTSlotChoice
    ) throws -> DiTModel {
        let config = teacher.config
        let student = try DiTModel(config: config) { key in
            if let graft = assignments[key] { return try choose(graft) }
            return teacher.slot(key).choice
        }
        for (index, name) in student.parameters.names.enumerated() {
            if let position = teacher.parameters.position(of: name),
                teacher.parameters.tensors[position].shape == student.parameters.tensors[index].shape,
                !isGrafted(name, assignments)
            {
                student.parameters.tensors[index] = teacher.parameters.tensors[position]
            }
        }
        student.positionEmbedding = teacher.positionEmbedding
        for (n, slot) in student.slots.enumerated() where assignments[slot.key] != nil {
            let fresh = try slot.op.initialParameters(seed: seed &+ UInt64(n) &* 0x9E37_79B9_7F4A_7C15)
            for (tensor, position) in zip(fresh, slot.parameterPositions) {
                student.parameters.tensors[position] = tensor
            }
        }
        return student
    }

    private static func isGrafted(_ name: String, _ assignments: [DiTSlotKey: GraftPlan.Graft]) -> Bool {
        assignments.keys.contains { name.hasPrefix("\($0).") }
    }
}

extension Grafting {
    /// A grafted checkpoint saved without zoo's slot manifest, such as the grafting repository's released `model.pt`
    /// (`{'ema': state_dict}` with `blocks.{i}.attn.*` holding the new operator's parameters): the model `plan`'s
    /// grafts describe (operator, attributes and layers; the other slots DiT's own), loaded from `path`.
    /// - Throws: ``GraftError`` for a plan that restructures blocks or names slots outside the model, ``DiTError``
    ///   naming the checkpoint's missing, extra or mis-shaped tensor.
    public static func open(
        checkpoint path: String, configPath: String?, plan: GraftPlan, host: PluginHost
    ) throws
        -> DiTModel
    {
        guard plan.restructure == nil else {
            throw GraftError.plan(
                source: plan.name, field: "restructure",
                expected: "no restructuring: a plan describes a checkpoint's slots only")
        }
        var assignments: [DiTSlotKey: GraftPlan.Graft]?
        return try DiTModel.open(checkpoint: path, configPath: configPath, host: host) { key, config in
            if assignments == nil { assignments = try plan.assignments(depth: config.depth, source: plan.name) }
            guard let graft = assignments?[key] else { return nil }
            return try choice(for: graft, config: config, host: host)
        }
    }
}
