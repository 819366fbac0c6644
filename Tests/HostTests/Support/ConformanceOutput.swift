import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// Checks the table `zoo conform` printed: every check has a row; each passed, except `reference` (skipped for ids
/// without a built-in reference) and `complexity` (skipped when the machine is too busy to time it fairly), which
/// may be skipped but never fail.
func expectEveryCheckPassed(_ stdout: String, operatorId: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let rows = stdout.split(separator: "\n").map {
        $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
    }
    for check in ConformanceCheckID.allCases {
        guard let row = rows.first(where: { $0.count >= 3 && $0[0] == check.rawValue && $0[1] == operatorId }) else {
            Issue.record("no row for check '\(check.rawValue)' in:\n\(stdout)", sourceLocation: sourceLocation)
            continue
        }
        // reference: ids without a built-in reference; complexity: noisy timings; save_for_backward: operators
        // without the ABI 1.4 train-mode forward; state_entries: operators whose parameters are the whole upstream
        // state dict (ABI 1.5); diagnostics: operators without attention weights (ABI 1.6).
        let allowed =
            [.reference, .complexity, .saveForBackward, .stateEntries, .diagnostics].contains(check)
            ? ["pass", "skipped"] : ["pass"]
        #expect(
            allowed.contains(row[2]), "check '\(check.rawValue)': \(row.joined(separator: " "))",
            sourceLocation: sourceLocation)
    }
}
