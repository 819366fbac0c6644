import Foundation
import HostCore
import HostModel

/// Reads the per-block locality a plan's locality selection ranks by, from a `zoo analyze` report.
enum LayerLocality {
    /// Block -> band mass of the slots of `kind` in the report `selection` names: of their influence maps, or of the
    /// attention weights their operators report.
    /// - Throws: ``GraftError/plan(source:field:expected:)`` naming the file when it cannot be read, lacks the band
    ///   width, describes another depth, or lacks the attention weights the selection asks for.
    static func masses(
        _ selection: GraftPlan.AnalysisSelection, kind: DiTSlotKind, depth: Int, source: String
    )
        throws(GraftError) -> [Int: Double]
    {
        // Mapped, so a FIFO or a device named in a plan is refused at once instead of blocking or filling memory.
        let data: Data
        do { data = try MappedFile.read(path: selection.file) } catch {
            throw .plan(
                source: source, field: "analysis.file",
                expected: "a readable zoo analyze report (analysis.json) at '\(selection.file)' (\(error.reason))")
        }
        let report: AnalysisReport
        do { report = try JSONDecoder().decode(AnalysisReport.self, from: data) } catch {
            throw .plan(
                source: source, field: "analysis.file",
                expected: "a zoo analyze report (analysis.json) at '\(selection.file)' (\(error))")
        }
        guard let column = report.bandWidths.firstIndex(of: selection.band) else {
            throw .plan(
                source: source, field: "analysis.band",
                expected: "one of the band widths of \(selection.file): \(report.bandWidths) (found \(selection.band))")
        }
        var masses: [Int: Double] = [:]
        for slot in report.slots where slot.slot.hasSuffix(".\(kind.rawValue)") {
            let parts = slot.slot.split(separator: ".")
            guard parts.count == 3, let block = Int(parts[1]) else { continue }
            var band = slot.band, neighbourhood = slot.neighbourhood
            if selection.attentionWeights {
                guard let attention = slot.attention else {
                    throw .plan(
                        source: source, field: "analysis.measure",
                        expected:
                            "attention weights for every \(kind.rawValue) slot in \(selection.file), but \(slot.slot) (\(slot.operatorId)) reports none: use \"influence\""
                    )
                }
                (band, neighbourhood) = (attention.band, attention.neighbourhood)
            }
            guard column < band.count, column < neighbourhood.count else { continue }
            masses[block] = selection.tokenOrder ? band[column] : neighbourhood[column]
        }
        guard masses.count == depth, masses.keys.allSatisfy({ (0..<depth).contains($0) }) else {
            throw .plan(
                source: source, field: "analysis.file",
                expected:
                    "an analysis of a model with \(depth) blocks ('\(selection.file)' has \(kind.rawValue) slots of \(masses.count))"
            )
        }
        return masses
    }
}
