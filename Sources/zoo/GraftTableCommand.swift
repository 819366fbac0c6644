import ArgumentParser
import Foundation
import HostBench
import HostConformance
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// `zoo graft-table`: the hybrid table of several grafting runs, as Markdown.
struct GraftTableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graft-table",
        abstract: "Print (or write) a Markdown table of grafting reports, one row per report.json, the teacher on top.")

    @Argument(help: "report.json files of zoo graft runs (or their run folders).")
    var reports: [String]

    @Option(help: "Write the table here (atomically) instead of printing it.")
    var out: String?

    @Option(
        help:
            "Also plot quality against budget: PREFIX-held-out.png and PREFIX-class-accuracy.png, one line per hybrid over the runs' stage times (a budget study)."
    )
    var plots: String?

    func validate() throws {
        guard !reports.isEmpty else { throw ValidationError("give at least one report.json or run folder") }
    }

    func run() throws {
        let paths = reports.map { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
                ? path + "/report.json" : path
        }
        let table = try GraftResultsTable(paths: paths)
        if let plots {
            let plot = GraftBudgetPlot(reports: table.reports.map(\.report))
            let written = try plot.write(prefix: plots)
            print("wrote \(written.joined(separator: ", ")); teacher in grey, then:")
            for line in plot.legend { print(line) }
        }
        if let out {
            try AtomicFile.write(Data(table.markdown.utf8), to: out)
            print("wrote \(out): \(table.reports.count) row(s)")
        } else {
            print(table.markdown, terminator: "")
        }
    }
}
