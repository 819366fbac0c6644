import Foundation
import HostCore

/// The same workloads timed by another implementation on the same machine: `scripts/bench-peers` writes one for
/// PyTorch eager (the alternative a user weighs this tool against), its entries named as `zoo bench` names its own.
public struct PeerReport: Decodable, Sendable {
    /// One timed workload.
    public struct Entry: Decodable, Sendable {
        public var name: String
        public var timing: Timing
    }

    /// What ran the workloads, e.g. `pytorch`.
    public var peer: String
    /// Its version, when it reports one.
    public var version: String?
    /// Threads it ran with.
    public var threads: Int
    public var entries: [Entry]

    private enum CodingKeys: String, CodingKey {
        case peer, version = "torch_version", threads, entries
    }

    /// Reads a peer report. - Throws: ``BenchError/peerReport(path:reason:)`` naming the file and what is wrong.
    public static func read(path: String) throws(BenchError) -> PeerReport {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .peerReport(path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
        do { return try JSONDecoder().decode(PeerReport.self, from: data) } catch {
            throw .peerReport(
                path: path, reason: "not a peer report: expected {peer, threads, entries: [{name, timing}]} (\(error))")
        }
    }
}

extension BenchReport {
    /// Pairs every entry with the peer's entry of the same name: notes `peer` (name, version, threads),
    /// `peer_median_ms` and `speed_vs_peer` (the peer's median time over ours: above 1, zoo is faster). Returns how
    /// many entries were paired.
    @discardableResult
    public mutating func pair(with peer: PeerReport) -> Int {
        let byName = Dictionary(peer.entries.map { ($0.name, $0.timing) }, uniquingKeysWith: { first, _ in first })
        let label = "\(peer.peer)\(peer.version.map { " " + $0 } ?? ""), \(peer.threads) threads"
        var paired = 0
        for i in entries.indices {
            guard let theirs = byName[entries[i].name], entries[i].timing.median > 0 else { continue }
            entries[i].notes["peer"] = label
            entries[i].notes["peer_median_ms"] = String(format: "%.3f", theirs.median * 1e3)
            entries[i].notes["speed_vs_peer"] = String(format: "%.2f", theirs.median / entries[i].timing.median)
            paired += 1
        }
        return paired
    }

    /// The paired entries as a table: name, zoo's median, the peer's, and zoo's speed relative to it.
    public var peerTable: String {
        let paired = entries.filter { $0.notes["speed_vs_peer"] != nil }
        guard let label = paired.first?.notes["peer"] else { return "" }
        var lines = ["against \(label) (speed above 1: zoo is faster)"]
        for e in paired {
            let name =
                e.name.count > 50
                ? String(e.name.prefix(50)) : e.name.padding(toLength: 50, withPad: " ", startingAt: 0)
            lines.append(
                String(
                    format: "%@ %10.3f ms %10@ ms %6@x", name, e.timing.median * 1e3, e.notes["peer_median_ms"] ?? "-",
                    e.notes["speed_vs_peer"] ?? "-"))
        }
        return lines.joined(separator: "\n")
    }
}
