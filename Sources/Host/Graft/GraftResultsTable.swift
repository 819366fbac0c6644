import Foundation

/// The paper's hybrid table at small scale: one row per grafting report (``GraftReport``, `report.json`), the
/// teacher's figures once on top, as Markdown.
///
/// Columns: the plan, what it grafted (units and operator), held-out diffusion loss, the classifier metrics (class
/// accuracy, Fréchet distance in the classifier's feature space; "n/a" for reports without them), feature Fréchet
/// distance, sample PSNR against the teacher, parameters, FLOPs per image, and the forward time relative to the
/// teacher at the model's resolution and at 4x the tokens (teacher time over grafted time, measured in the same run,
/// so above 1 is faster), and the run's wall time.
public struct GraftResultsTable: Sendable {
    public var reports: [(path: String, report: GraftReport)]

    /// Reads every `report.json` in `paths`; a file that is not a grafting report is an error naming it.
    public init(paths: [String]) throws {
        reports = try paths.map { path in
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw GraftError.checkpoint(path: path, reason: "cannot be read (\(error.localizedDescription))")
            }
            do { return (path, try JSONDecoder().decode(GraftReport.self, from: data)) } catch {
                throw GraftError.checkpoint(path: path, reason: "not a zoo graft report.json (\(error))")
            }
        }
    }

    /// The table as Markdown.
    public var markdown: String {
        func f(_ v: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", v) }
        func flops(_ v: Int?) -> String { v.map { String(format: "%.3f G", Double($0) / 1e9) } ?? "not counted" }
        var md =
            "| plan | grafted | held-out loss | class accuracy | classifier Fréchet | Fréchet (features) | PSNR vs teacher | parameters | FLOPs / image | speed 1x | speed 4x tokens | run time |\n"
        md += "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        func quality(_ q: SampleQuality?) -> String {
            guard let q else { return "n/a | n/a" }
            return String(format: "%.1f%% | %.1f", 100 * q.classAccuracy, q.frechetDistance)
        }
        if let first = reports.first?.report {
            let t = first.teacher
            md +=
                "| teacher | (none) | \(f(t.heldOutLoss)) | \(quality(t.quality)) | \(f(t.frechetDistance, 2)) | n/a | \(t.parameters) | \(flops(t.flops)) | 1.00 | 1.00 | |\n"
        }
        for (_, r) in reports {
            let operators = Set(r.slots.map(\.operatorId)).sorted().joined(separator: ", ")
            let what = "\(r.slots.count) x \(operators)"
            let speed = r.teacher.forwardSeconds / r.student.forwardSeconds
            var speed4x: Double?
            if let a = r.teacher.forwardSeconds4x, let b = r.student.forwardSeconds4x { speed4x = a / b }
            md +=
                "| \(r.plan) | \(what) | \(f(r.student.heldOutLoss)) | \(quality(r.student.quality)) | \(f(r.student.frechetDistance, 2)) | \(f(r.samplePSNR, 1)) dB "
            md +=
                "| \(r.student.parameters) | \(flops(r.student.flops)) | \(f(speed, 2)) | \(speed4x.map { f($0, 2) } ?? "n/a") "
            md += "| \(String(format: "%.0f s", r.seconds)) |\n"
        }
        return md
    }
}
