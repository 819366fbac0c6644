import Foundation
import HostCore

/// A conformance run's results as a table, JSON and JUnit XML.
public struct ConformanceReport: Codable, Sendable {
    public var library: String
    public var harnessVersion: String
    public var date: String
    public var results: [ConformanceResult]

    enum CodingKeys: String, CodingKey {
        case library, date, results
        case harnessVersion = "harness_version"
    }

    public init(library: String, results: [ConformanceResult], date: Date = Date()) {
        self.library = library
        self.harnessVersion = ConformanceRunner.version
        let formatter = ISO8601DateFormatter()
        self.date = formatter.string(from: date)
        self.results = results
    }

    /// No check failed, crashed, timed out, or found a claimed capability missing.
    public var passed: Bool { !results.contains { $0.verdict.isFailure } }

    /// "12 passed, 1 failed, 2 skipped".
    public var summary: String {
        let counts = Dictionary(grouping: results, by: \.verdict).mapValues(\.count)
        return [ConformanceVerdict.pass, .fail, .crashed, .timeout, .notSupported, .skipped]
            .compactMap { v in
                counts[v].map { "\($0) \(v == .pass ? "passed" : v.rawValue.replacingOccurrences(of: "_", with: " "))" }
            }
            .joined(separator: ", ")
    }

    /// A readable table: check, operator, verdict, time (wall-clock seconds of the check), figure, reason.
    public var table: String {
        let rows =
            [["check", "operator", "verdict", "time", "figure", "reason"]]
            + results.map {
                [
                    $0.check.rawValue, $0.operatorId, $0.verdict.rawValue, $0.seconds.map(Self.duration) ?? "",
                    $0.figure ?? "", $0.reason,
                ]
            }
        let widths = (0..<5).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            (0..<5).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                + "  " + row[5]
        }.joined(separator: "\n")
    }

    /// Total wall-clock seconds of the timed checks.
    public var seconds: Double { results.reduce(0) { $0 + ($1.seconds ?? 0) } }

    /// "0.42s", "12.3s".
    static func duration(_ seconds: Double) -> String {
        String(format: seconds < 10 ? "%.2fs" : "%.1fs", seconds)
    }

    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }

    /// JUnit XML: one test suite per operator, one test case per check.
    public func junit() -> String {
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        let failures = results.filter { $0.verdict.isFailure }.count
        xml +=
            "<testsuites name=\"zoo conform \(escape(library))\" tests=\"\(results.count)\" failures=\"\(failures)\">\n"
        let byOperator = Dictionary(grouping: results, by: \.operatorId)
        for id in byOperator.keys.sorted() {
            let cases = byOperator[id]!
            let f = cases.filter { $0.verdict.isFailure }.count
            let s = cases.filter { $0.verdict == .skipped }.count
            xml +=
                "  <testsuite name=\"\(escape(id))\" tests=\"\(cases.count)\" failures=\"\(f)\" skipped=\"\(s)\" timestamp=\"\(date)\">\n"
            for r in cases {
                let time = r.seconds.map { " time=\"\(String(format: "%.3f", $0))\"" } ?? ""
                xml += "    <testcase classname=\"conform.\(escape(id))\" name=\"\(r.check.rawValue)\"\(time)>"
                switch r.verdict {
                case .pass: break
                case .skipped: xml += "<skipped message=\"\(escape(r.reason))\"/>"
                default:
                    xml +=
                        "<failure type=\"\(r.verdict.rawValue)\" message=\"\(escape(r.reason))\">\(escape(r.reproduce))</failure>"
                }
                xml += "</testcase>\n"
            }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>\n"
    }

    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String) throws {
        let writer = try AtomicFileWriter(path: path)
        try writer.write([UInt8](data))
        try writer.commit()
    }
}
