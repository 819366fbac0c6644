import Foundation

/// The package root, found from this file's location.
let packageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Where SwiftPM put the test binary and, beside it, every product it built (`zoo`, `lib*.so`).
/// `ZOO_PRODUCTS_DIR` overrides it, e.g. to test plugins built elsewhere.
let productsDirectory: URL = {
    if let dir = ProcessInfo.processInfo.environment["ZOO_PRODUCTS_DIR"] {
        return URL(fileURLWithPath: dir, isDirectory: true)
    }
    var url = URL(fileURLWithPath: CommandLine.arguments[0])
    // The runner may be `…/debug/OperatorZooPackageTests.xctest` (a file) or a bundle directory inside it.
    while url.pathComponents.count > 1
        && !FileManager.default.fileExists(atPath: url.deletingLastPathComponent().appendingPathComponent("zoo").path)
    {
        url = url.deletingLastPathComponent()
    }
    return url.deletingLastPathComponent()
}()

struct MissingProduct: Error, CustomStringConvertible {
    let path: String
    var description: String { "\(path) is missing: run `swift build` before `swift test --skip-build`" }
}

/// The built plugin library `lib<product>.so`.
func pluginPath(product: String) throws -> String {
    let url = productsDirectory.appendingPathComponent("lib\(product).so")
    guard FileManager.default.fileExists(atPath: url.path) else { throw MissingProduct(path: url.path) }
    return url.path
}

/// The built `zoo` executable.
func zooPath() throws -> String {
    let url = productsDirectory.appendingPathComponent("zoo")
    guard FileManager.default.fileExists(atPath: url.path) else { throw MissingProduct(path: url.path) }
    return url.path
}

/// A fresh, empty temporary directory.
func makeTemporaryDirectory(_ label: String = "zoo-test") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The result of running a command.
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// This process's environment (OPENBLAS_CORETYPE and ZOO_THREADS included: a child with another BLAS kernel or pool
/// computes other bits) with `extra` set on top, for a child process.
func childEnvironment(adding extra: [String: String]) -> [String: String] {
    ProcessInfo.processInfo.environment.merging(extra) { $1 }
}

/// Runs `executable` with `arguments`, capturing its output.
@discardableResult
func runCommand(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
    directory: URL? = nil
) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = childEnvironment(adding: environment) }
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read before waiting, so a chatty child cannot block on a full pipe.
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// A unique directory under the system temporary directory, removed when the value is deinitialised.
final class TestDirectory {
    let path: String

    init() throws {
        path = try makeTemporaryDirectory("zoo-formats").path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}
