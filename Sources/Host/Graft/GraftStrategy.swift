import Foundation
import HostCore
import HostModel
import HostPlugins

/// What one unit of stage 1 distils.
public enum Stage1Target: Sendable, Equatable {
    /// A grafted slot and the operator id it holds.
    case slot(DiTSlotKey, operatorId: String)
    /// A restructured pair of blocks, by its first block.
    case pair(firstBlock: Int)
}

/// One unit of stage 1: what it distils, the student's parameters it trains and the names its result file stores
/// them under.
public struct Stage1Unit: Sendable {
    public let target: Stage1Target
    /// Positions of the trained parameters in the student's ``DiTModel/parameters``.
    public let positions: [Int]
    /// Their names in the student (and in the unit's result file).
    public let tensorNames: [String]

    /// `blocks.3.attn` for a slot, `blocks.0+1` for a pair.
    public var name: String {
        switch target {
        case .slot(let key, _): key.description
        case .pair(let block): Restructuring.name(ofPairAt: block)
        }
    }

    /// What the unit holds: the slot's operator id, or `parallel pair`.
    public var holds: String {
        switch target {
        case .slot(_, let id): id
        case .pair: "parallel pair"
        }
    }

    /// The offset of the unit's seed from the plan's: its first slot's index in the model.
    var seedOffset: Int {
        switch target {
        case .slot(let key, _): key.block * 2 + (key.kind == .attn ? 0 : 1)
        case .pair(let block): block * 2
        }
    }
}

/// How a plan turns the teacher into a student, and what its stage 1 distils: one conformer per kind of plan,
/// chosen once (``GraftPlan/strategy(depth:source:)``), so the run itself never branches on the plan's mode.
public protocol GraftStrategy: Sendable {
    /// What a unit is, for messages: `slot` or `pair`.
    var unitNoun: String { get }
    /// The student built from `teacher` (operators resolved through `host`, fresh ones initialised from `seed`).
    func makeStudent(teacher: DiTModel, host: PluginHost, seed: UInt64) throws -> DiTModel
    /// Stage 1's units of `student`, in model order.
    func units(of student: DiTModel) -> [Stage1Unit]
    /// Whether the units read the conditioning `SiLU(c)` (block pairs do, slots do not).
    var unitsReadConditioning: Bool { get }
    /// The teacher's activations for every unit (in the order of `units`) over `samples` noised training images,
    /// one batch at a time: `body(first sample, per unit its rows)`.
    func streamActivations(
        teacher: DiTModel, units: [Stage1Unit], data: any ImageDataset, samples: Int, batchSize: Int, seed: UInt64,
        progress: ((Int, Int) -> Void)?, _ body: (Int, [SlotDistiller.Activations]) throws -> Void
    ) throws
    /// The module stage 1 trains for `unit` of `student`.
    func module(for unit: Stage1Unit, of student: DiTModel) throws -> SlotDistiller.Module
}

/// Grafting proper: slots of the teacher hold other operators; stage 1 distils each grafted slot alone.
public struct SlotGrafting: GraftStrategy {
    /// The plan's graft of every replaced slot.
    public let assignments: [DiTSlotKey: GraftPlan.Graft]

    public init(assignments: [DiTSlotKey: GraftPlan.Graft]) { self.assignments = assignments }

    public var unitNoun: String { "slot" }

    /// Grafted slots in model order.
    public var keys: [DiTSlotKey] {
        assignments.keys.sorted { ($0.block, $0.kind == .attn ? 0 : 1) < ($1.block, $1.kind == .attn ? 0 : 1) }
    }

    public func makeStudent(teacher: DiTModel, host: PluginHost, seed: UInt64) throws -> DiTModel {
        try Grafting.makeStudent(teacher: teacher, assignments: assignments, host: host, seed: seed)
    }

    public func units(of student: DiTModel) -> [Stage1Unit] {
        keys.compactMap { key in
            guard let graft = assignments[key] else { return nil }
            let slot = student.slot(key)
            return Stage1Unit(
                target: .slot(key, operatorId: graft.operatorId), positions: slot.parameterPositions,
                tensorNames: slot.op.parameters.map(\.name))
        }
    }

    public var unitsReadConditioning: Bool { false }

    public func streamActivations(
        teacher: DiTModel, units: [Stage1Unit], data: any ImageDataset, samples: Int, batchSize: Int, seed: UInt64,
        progress: ((Int, Int) -> Void)?, _ body: (Int, [SlotDistiller.Activations]) throws -> Void
    ) throws {
        let keys = units.compactMap { unit -> DiTSlotKey? in
            if case .slot(let key, _) = unit.target { key } else { nil }
        }
        guard keys.count == units.count else {
            throw GraftError.stage(name: "stage 1", reason: "slot grafting has units that are not slots")
        }
        try SlotDistiller.streamSlots(
            teacher: teacher, keys: keys, data: data, samples: samples, batchSize: batchSize, seed: seed,
            progress: progress, body)
    }

    public func module(for unit: Stage1Unit, of student: DiTModel) throws -> SlotDistiller.Module {
        guard case .slot(let key, _) = unit.target else {
            throw GraftError.stage(name: "stage 1 \(unit.name)", reason: "slot grafting has no unit '\(unit.name)'")
        }
        return .slot(student.slot(key).op)
    }
}

/// Restructuring into parallel pairs (``Restructuring``): stage 1 distils each pair of blocks.
public struct ParallelPairs: GraftStrategy {
    public init() {}

    public var unitNoun: String { "pair" }

    public func makeStudent(teacher: DiTModel, host: PluginHost, seed: UInt64) throws -> DiTModel {
        try Restructuring.parallelPairs(teacher: teacher)
    }

    public func units(of student: DiTModel) -> [Stage1Unit] {
        Restructuring.pairs(depth: student.config.depth).map { block in
            let positions = Restructuring.parameterPositions(ofPairAt: block, in: student)
            return Stage1Unit(
                target: .pair(firstBlock: block), positions: positions,
                tensorNames: positions.map { student.parameters.names[$0] })
        }
    }

    public var unitsReadConditioning: Bool { true }

    public func streamActivations(
        teacher: DiTModel, units: [Stage1Unit], data: any ImageDataset, samples: Int, batchSize: Int, seed: UInt64,
        progress: ((Int, Int) -> Void)?, _ body: (Int, [SlotDistiller.Activations]) throws -> Void
    ) throws {
        let blocks = units.compactMap { unit -> Int? in if case .pair(let block) = unit.target { block } else { nil } }
        guard blocks.count == units.count else {
            throw GraftError.stage(name: "stage 1", reason: "restructuring has units that are not block pairs")
        }
        try SlotDistiller.streamPairs(
            teacher: teacher, firstBlocks: blocks, data: data, samples: samples, batchSize: batchSize, seed: seed,
            progress: progress, body)
    }

    public func module(for unit: Stage1Unit, of student: DiTModel) throws -> SlotDistiller.Module {
        guard case .pair(let block) = unit.target else {
            throw GraftError.stage(name: "stage 1 \(unit.name)", reason: "restructuring has no unit '\(unit.name)'")
        }
        return try Restructuring.module(forPairAt: block, of: student)
    }
}

extension GraftPlan {
    /// The strategy this plan runs: ``ParallelPairs`` for `restructure: parallel_pairs`, else ``SlotGrafting`` of
    /// its grafts on a teacher of `depth` blocks.
    public func strategy(depth: Int, source: String) throws(GraftError) -> any GraftStrategy {
        switch restructure {
        case .parallelPairs: ParallelPairs()
        case nil: SlotGrafting(assignments: try assignments(depth: depth, source: source))
        }
    }
}

/// A finished unit of stage 1, as its result file records it (metadata `zoo.stage1.*` beside the best weights).
public struct Stage1Result: Sendable {
    public var initialValidationLoss: Double
    public var bestValidationLoss: Double
    public var bestStep: Int
    public var history: [SlotDistiller.Record]

    private enum Key {
        static let initialLoss = "zoo.stage1.initial_loss", bestLoss = "zoo.stage1.best_loss"
        static let bestStep = "zoo.stage1.best_step", history = "zoo.stage1.history"
    }

    public init(
        initialValidationLoss: Double, bestValidationLoss: Double, bestStep: Int, history: [SlotDistiller.Record]
    ) {
        self.initialValidationLoss = initialValidationLoss
        self.bestValidationLoss = bestValidationLoss
        self.bestStep = bestStep
        self.history = history
    }

    /// The result a distiller ended with.
    init(_ distiller: SlotDistiller) {
        self.init(
            initialValidationLoss: distiller.initialValidationLoss, bestValidationLoss: distiller.best.loss,
            bestStep: distiller.best.step, history: distiller.history)
    }

    /// Reads the metadata of a result file (`path` names it in errors); a missing loss reads as NaN.
    init(metadata: [String: String], path: String) throws(GraftError) {
        let history: [SlotDistiller.Record]
        do {
            history = try JSONDecoder().decode(
                [SlotDistiller.Record].self, from: Data((metadata[Key.history] ?? "[]").utf8))
        } catch {
            throw .checkpoint(path: path, reason: "metadata '\(Key.history)' is not a stage-1 history (\(error))")
        }
        self.init(
            initialValidationLoss: Double(metadata[Key.initialLoss] ?? "") ?? .nan,
            bestValidationLoss: Double(metadata[Key.bestLoss] ?? "") ?? .nan,
            bestStep: Int(metadata[Key.bestStep] ?? "") ?? 0, history: history)
    }

    /// The metadata a result file records. - Throws: the encoder's error for a non-finite loss in the history.
    func metadata() throws -> [String: String] {
        let history = String(decoding: try JSONEncoder().encode(history), as: UTF8.self)
        return [
            Key.bestStep: "\(bestStep)", Key.bestLoss: "\(bestValidationLoss)",
            Key.initialLoss: "\(initialValidationLoss)", Key.history: history,
        ]
    }
}
