import Foundation

/// A one-line progress bar on standard error: redrawn in place on a terminal, printed as occasional lines
/// otherwise (logs, CI).
///
/// The time left is estimated from the progress made since the bar's first update, not since 0: a run resumed at
/// step 20,000 of 30,000 has 10,000 steps to go at the rate of this process, not the rate of all 20,000 before it.
public final class ProgressBar {
    private let total: Int
    private let label: String
    private let start: Date
    private let interactive = isatty(STDERR_FILENO) != 0
    private var lastPrint = Date.distantPast
    /// The first update's count and time: the rate is measured from here.
    private var first: (done: Int, time: Date)?

    /// A bar for `total` units of work, its clock starting at `start`.
    public init(_ label: String, total: Int, start: Date = Date()) {
        self.label = label
        self.total = max(1, total)
        self.start = start
    }

    /// Shows `done` of `total`, with `status` after the bar (at most every 0.2 s on a terminal, 30 s otherwise, and
    /// always when finished).
    public func update(_ done: Int, status: String = "") {
        let now = Date()
        let finished = done >= total
        if first == nil { first = (done, now) }  // the rate is measured from the first update, printed or not
        guard finished || now.timeIntervalSince(lastPrint) >= (interactive ? 0.2 : 30) else { return }
        lastPrint = now
        let text = line(done, status: status, at: now)
        FileHandle.standardError.write(
            Data(((interactive ? "\r\u{1B}[K" : "") + text + (interactive && !finished ? "" : "\n")).utf8))
    }

    /// The bar's text for `done` units at time `now`: label, bar, count, time since `start`, and the time left, or
    /// `eta --:--` until a second update has measured a rate. The first call fixes where the rate is measured from.
    public func line(_ done: Int, status: String = "", at now: Date) -> String {
        let origin = first ?? (done, now)
        first = origin
        let elapsed = now.timeIntervalSince(start)
        let measured = done - origin.done
        let span = now.timeIntervalSince(origin.time)
        let eta: String =
            done >= total
            ? Self.clock(0)
            : measured > 0 && span > 0 ? Self.clock(Double(total - done) * span / Double(measured)) : "--:--"
        let width = 24
        let filled = min(width, max(0, done) * width / total)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        return "\(label) [\(bar)] \(done)/\(total) \(Self.clock(elapsed)) eta \(eta) \(status)"
    }

    /// `m:ss`, or `h:mm:ss` from an hour.
    public static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600
            ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
