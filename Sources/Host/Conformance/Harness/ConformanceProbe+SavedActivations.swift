import Foundation
import HostCore
import HostPlugins

/// The `save_for_backward` check: the train-mode forward of ABI 1.4 against the plain calls.
extension Probe {
    /// For an operator that declares `OZ_CAP_SAVE_FOR_BACKWARD`, as the host trains with it: a forward given a saved
    /// buffer full of garbage (NaN bytes, then random bytes) must give the plain forward's `y` and write nothing
    /// outside the buffer; two backward calls from that buffer must give the recomputing backward's `dx` and every
    /// parameter gradient and leave the buffer bitwise unchanged (it is read-only: one forward may serve several
    /// backward calls). Equal bitwise when the operator is deterministic, else within ``driftTolerance(_:)``. So a
    /// plugin that saves too little, reads the buffer before writing it, saves something other than what backward
    /// recomputes, or uses the buffer as scratch in backward, is caught here and not as a slow drift in training.
    func saveForBackward() throws -> ProbeOutcome {
        guard descriptor.capabilities.contains(.saveForBackward) else {
            return .skipped("the operator does not declare OZ_CAP_SAVE_FOR_BACKWARD: backward always recomputes")
        }
        let first = try savedPath(S.self)
        // The host trains in float32: a float64 probe checks that path too.
        guard S.bits == 64, first.verdict == .pass, descriptor.capabilities.contains(.float64) else { return first }
        let single = try savedPath(Float.self)
        guard single.verdict == .pass else { return single }
        return .pass(first.reason + "; in float32 too", figure: first.figure)
    }

    /// ``saveForBackward()`` in precision `T`.
    func savedPath<T: TensorScalar>(_: T.Type) throws -> ProbeOutcome {
        let op = try makeOperator()
        let params = try op.initialParameters(seed: seed, as: T.self)
        let exact = descriptor.capabilities.contains(.deterministic)
        var worst = 0.0
        var largest = 0
        for batch in [2, 1] {
            let inputs = callInputs([batch, length, dim], salt: 130 + UInt64(batch), params: params, dySalt: 135)
            let plainY = try outputs(op, backward: false, inputs)
            let plainGradients = try outputs(op, backward: true, inputs)
            let bytes = try op.savedSize(batch: batch, length: length)
            largest = max(largest, bytes)
            guard bytes > 0 else { continue }
            for fill in [WorkspaceFill.bytes(0xFF), .random(seed: seed &+ 17)] {
                let saved = ReusedWorkspace()
                let buffer = saved.lend(bytes, fill: fill)
                let at = "at B = \(batch), L = \(length) with the saved buffer filled with \(fill)"
                let y = try outputs(op, backward: false, inputs, saved: buffer)
                if let damage = saved.guardDamage {
                    return .fail(
                        "the forward that saves wrote outside its \(bytes)-byte saved buffer (offset \(damage)) \(at)")
                }
                if let problem = compare(y, plainY, names: ["y"], exact: exact, worst: &worst) {
                    return .fail("with the forward that saves, \(problem) differs from the plain forward's \(at)")
                }
                let snapshot = Data(bytes: buffer.pointer!, count: bytes)
                for call in ["first", "second"] {
                    let gradients = try outputs(op, backward: true, inputs, saved: buffer)
                    let names = outputNames(op, backward: true)
                    if let problem = compare(gradients, plainGradients, names: names, exact: exact, worst: &worst) {
                        return .fail(
                            "from the \(call) backward from the saved buffer, \(problem) differs from the recomputing backward's \(at)"
                        )
                    }
                    if Data(bytes: buffer.pointer!, count: bytes) != snapshot {
                        return .fail("the \(call) backward from the saved buffer changed it (it is read-only) \(at)")
                    }
                    if let damage = saved.guardDamage {
                        return .fail("the backward wrote outside the saved buffer (offset \(damage)) \(at)")
                    }
                }
            }
        }
        guard largest > 0 else {
            return .pass("declares OZ_CAP_SAVE_FOR_BACKWARD but asks for no saved buffer: nothing to check")
        }
        let how = exact ? "bitwise equal" : "within \(Self.driftTolerance(T.self))"
        return .pass(
            "y and every gradient \(how) to the plain calls at B = 2 and 1 (saved buffer of up to \(largest) bytes, given NaN and random bytes); the buffer unchanged by two backward calls",
            figure: exact ? nil : String(format: "%.2e", worst))
    }

    /// `nil` when `a` matches `reference` (bitwise when `exact`, else within the drift tolerance), else the name of
    /// the first output that does not; `worst` collects the largest relative difference.
    private func compare<T: TensorScalar>(
        _ a: [[T]], _ reference: [[T]], names: [String], exact: Bool, worst: inout Double
    ) -> String? {
        for (i, (u, v)) in zip(a, reference).enumerated() {
            if exact {
                if !Self.sameBits(u, v) { return names[i] }
            } else {
                let e = Self.relativeError(u, v)
                worst = max(worst, e)
                if !(e <= Self.driftTolerance(T.self)) { return names[i] }
            }
        }
        return nil
    }
}
