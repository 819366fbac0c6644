import Foundation
import HostModel

/// Quality against budget for several grafting runs (a budget study): one line per hybrid (runs grafting the same
/// operators into the same number of units), its runs ordered by the stages' wall time, x = stages 1 and 2 in
/// minutes. Two charts: held-out loss (log scale) and class accuracy by the shapes classifier; the teacher is a
/// dashed grey level. The colours, in order of the hybrids' first appearance, are listed in ``legend``.
public struct GraftBudgetPlot: Sendable {
    public let reports: [GraftReport]

    public init(reports: [GraftReport]) { self.reports = reports }

    /// The palette, in series order.
    public static let palette: [(name: String, color: LinePlot.Color)] = [
        ("blue", (31, 119, 180)), ("orange", (255, 127, 14)), ("green", (44, 160, 44)), ("red", (214, 39, 40)),
        ("purple", (148, 103, 189)), ("brown", (140, 86, 75)), ("pink", (227, 119, 194)), ("olive", (188, 189, 34)),
    ]

    /// The hybrids in order of first appearance, with their runs sorted by wall time.
    public var series: [(hybrid: String, runs: [GraftReport])] {
        var order: [String] = []
        var runs: [String: [GraftReport]] = [:]
        for r in reports {
            let operators = Set(r.slots.map(\.operatorId)).sorted().joined(separator: ", ")
            let hybrid = "\(r.slots.count) x \(operators)"
            if runs[hybrid] == nil { order.append(hybrid) }
            runs[hybrid, default: []].append(r)
        }
        return order.map { ($0, runs[$0]!.sorted { $0.seconds < $1.seconds }) }
    }

    /// Which colour is which hybrid, as Markdown list lines.
    public var legend: [String] {
        series.enumerated().map { i, s in "- \(Self.palette[i % Self.palette.count].name): \(s.hybrid)" }
    }

    /// Writes `<prefix>-held-out.png` and `<prefix>-class-accuracy.png`; returns their paths.
    public func write(prefix: String) throws -> [String] {
        var loss = LinePlot(width: 720, height: 400, logY: true)
        var accuracy = LinePlot(width: 720, height: 400)
        let minutes = reports.map { $0.seconds / 60 }
        let span = [(minutes.min() ?? 0), (minutes.max() ?? 1)]
        if let teacher = reports.first?.teacher {
            loss.add(x: span, y: [teacher.heldOutLoss, teacher.heldOutLoss], color: (160, 160, 160))
            if let q = teacher.quality {
                accuracy.add(x: span, y: [q.classAccuracy, q.classAccuracy], color: (160, 160, 160))
            }
        }
        for (i, s) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count].color
            let x = s.runs.map { $0.seconds / 60 }
            loss.add(x: x, y: s.runs.map(\.student.heldOutLoss), color: color)
            accuracy.add(x: x, y: s.runs.map { $0.student.quality?.classAccuracy ?? .nan }, color: color)
        }
        let paths = [prefix + "-held-out.png", prefix + "-class-accuracy.png"]
        try loss.write(path: paths[0])
        try accuracy.write(path: paths[1])
        return paths
    }
}
