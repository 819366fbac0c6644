import Foundation

/// Two benchmark reports side by side: each figure present in both, its change, and whether it regressed.
///
/// On these shared machines absolute times drift between runs, so a figure with an in-run ratio (GFLOP/s over
/// sgemm, speed over `mha`, ...) is judged by that ratio, which the noise of the machine mostly cancels; a figure
/// without one is judged by its median time. A regression is a ratio that fell, or a time that rose, by more
/// than `tolerance` (relative).
public struct BenchComparison: Sendable {
    public struct Row: Sendable {
        public var suite: String
        public var name: String
        /// What was compared: `ratio` or `time`.
        public var measure: String
        public var old: Double
        public var new: Double
        /// `new / old` for ratios (above 1 is better), `old / new` for times (above 1 is faster).
        public var change: Double
        public var regressed: Bool
    }

    public var rows: [Row]
    /// Figures in only one of the reports, by `suite/name`.
    public var onlyOld: [String]
    public var onlyNew: [String]
    public var regressions: [Row] { rows.filter(\.regressed) }

    public init(old: BenchReport, new: BenchReport, tolerance: Double) {
        var rows: [Row] = []
        // A figure may repeat within a report (each suite measures its own sgemm baseline): the k-th occurrence of
        // a name is paired with the k-th occurrence in the other report.
        func keyed(_ entries: [BenchEntry]) -> [(key: String, entry: BenchEntry)] {
            var seen: [String: Int] = [:]
            return entries.map { e in
                let name = "\(e.suite)/\(e.name)"
                let k = seen[name, default: 0]
                seen[name] = k + 1
                return (k == 0 ? name : "\(name) #\(k + 1)", e)
            }
        }
        let oldKeyed = keyed(old.entries), newKeyed = keyed(new.entries)
        let olds = Dictionary(uniqueKeysWithValues: oldKeyed.map { ($0.key, $0.entry) })
        let news = Dictionary(uniqueKeysWithValues: newKeyed.map { ($0.key, $0.entry) })
        for (key, e) in newKeyed {
            guard let o = olds[key] else { continue }
            if let a = o.ratio, let b = e.ratio, a > 0, b > 0 {
                rows.append(
                    Row(
                        suite: e.suite, name: e.name, measure: "ratio", old: a, new: b, change: b / a,
                        regressed: b < a * (1 - tolerance)))
            } else if o.timing.median > 0, e.timing.median > 0 {
                let change = o.timing.median / e.timing.median
                rows.append(
                    Row(
                        suite: e.suite, name: e.name, measure: "time", old: o.timing.median, new: e.timing.median,
                        change: change,
                        regressed: e.timing.median > o.timing.median * (1 + tolerance)))
            }
        }
        self.rows = rows
        onlyOld = oldKeyed.map(\.key).filter { news[$0] == nil }
        onlyNew = newKeyed.map(\.key).filter { olds[$0] == nil }
    }

    /// A plain-text table, regressions marked.
    public var table: String {
        var lines = ["suite      name                                        measure        old        new   change"]
        for r in rows {
            let name =
                r.name.count > 42
                ? String(r.name.prefix(42)) : r.name.padding(toLength: 42, withPad: " ", startingAt: 0)
            let suite = r.suite.padding(toLength: 10, withPad: " ", startingAt: 0)
            lines.append(
                String(
                    format: "%@ %@ %-7@ %10.4g %10.4g   %5.2fx%@", suite, name, r.measure, r.old, r.new, r.change,
                    r.regressed ? "  REGRESSED" : ""))
        }
        if !onlyOld.isEmpty { lines.append("only in the old report: \(onlyOld.joined(separator: ", "))") }
        if !onlyNew.isEmpty { lines.append("only in the new report: \(onlyNew.joined(separator: ", "))") }
        return lines.joined(separator: "\n")
    }
}
