import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// A parser error that names the file it is about (``NPYError``, ``SafetensorsError``).
protocol FileNamingError: Error, CustomStringConvertible {
    var path: String { get }
}

extension NPYError: FileNamingError {}
extension SafetensorsError: FileNamingError {}

/// The committed format fixture `name` (Tests/HostTests/Fixtures/Formats).
func formatFixture(_ name: String) -> String {
    packageRoot.appendingPathComponent("Tests/HostTests/Fixtures/Formats/\(name)").path
}

/// Runs `body`, which must throw an `E` of the named case whose `path` is `path` and whose description names
/// `path` and contains each of `mentions`.
func expectFileError<E: FileNamingError>(
    _: E.Type, _ path: String, _ expectedCase: String, mentioning mentions: [String],
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected \(E.self).\(expectedCase), but no error was thrown", sourceLocation: sourceLocation)
    } catch let error as E {
        let found = Mirror(reflecting: error).children.first?.label ?? "\(error)"
        #expect(found == expectedCase, "\(error)", sourceLocation: sourceLocation)
        #expect(error.path == path, sourceLocation: sourceLocation)
        #expect(error.description.contains(path), "\(error)", sourceLocation: sourceLocation)
        for mention in mentions {
            #expect(
                error.description.contains(mention), "\(error) should mention \(mention)",
                sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record(
            "expected \(E.self).\(expectedCase), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
}
