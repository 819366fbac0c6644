import Foundation

/// Builds the C fixture plugins of `Tests/Fixtures/Plugins/<Name>` with the system C compiler, once per
/// test process, into a temporary folder (they are not SwiftPM products, so they never sit beside `zoo`).
enum FixturePlugins {
    struct BuildFailure: Error, CustomStringConvertible {
        let name: String
        let output: String
        var description: String { "building fixture plugin \(name) failed:\n\(output)" }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var built: [String: String] = [:]
    private static let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-fixtures-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// The path of `libOZFixture<name>.so`, compiled on first use.
    static func path(_ name: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let path = built[name] { return path }
        let source = packageRoot.appendingPathComponent("Tests/Fixtures/Plugins/\(name)")
        let files = try FileManager.default.contentsOfDirectory(atPath: source.path).filter { $0.hasSuffix(".c") }
            .map { source.appendingPathComponent($0).path }
        let output = directory.appendingPathComponent("libOZFixture\(name).so").path
        let result = try runCommand(
            "/usr/bin/env",
            TestCCompiler.invocation(
                [
                    "-std=c99", "-O1", "-fPIC", "-shared", "-Wall", "-Werror",
                    "-I", packageRoot.appendingPathComponent("Sources/OperatorABI/include").path,
                    "-I", packageRoot.appendingPathComponent("Tests/Fixtures/Plugins/Common").path,
                    "-o", output,
                ] + files + ["-lm"]))
        guard result.status == 0 else { throw BuildFailure(name: name, output: result.stdout + result.stderr) }
        built[name] = output
        return output
    }
}
