import Foundation

/// The C libraries built by their own Makefiles, not by SwiftPM (`Plugins/GatedConvC`, `examples/cfunction`),
/// and the C-function test fixtures (`Tests/Fixtures/CFunctions`): each is copied into a temporary folder and
/// built there once per test process, as a user would build it.
enum MadeLibraries {
    struct BuildFailure: Error, CustomStringConvertible {
        let what: String
        let output: String
        var description: String { "building \(what) failed:\n\(output)" }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var built: [String: String] = [:]

    /// `Plugins/GatedConvC/build/libOZGatedConvC.so`, made with its Makefile.
    static func gatedConv() throws -> String {
        try make(
            folder: "Plugins/GatedConvC", files: ["gated_conv.c", "gated_conv_kernels.h", "Makefile"],
            product: "build/libOZGatedConvC.so")
    }

    /// `examples/cfunction/build/libtoken_shift.so`, made with its Makefile.
    static func tokenShift() throws -> String {
        try make(
            folder: "examples/cfunction", files: ["token_shift.c", "Makefile"], product: "build/libtoken_shift.so")
    }

    /// `Tests/Fixtures/CFunctions/<name>.c` compiled into `lib<name>.so` with one `cc` line.
    static func fixture(_ name: String) throws -> String {
        try cached("fixture \(name)") { dir in
            let output = dir.appendingPathComponent("lib\(name).so").path
            let source = packageRoot.appendingPathComponent("Tests/Fixtures/CFunctions/\(name).c").path
            let result = try runCommand(
                "/usr/bin/env",
                ["cc", "-std=c99", "-O1", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror", "-o", output, source])
            guard result.status == 0 else { throw BuildFailure(what: name, output: result.stdout + result.stderr) }
            return output
        }
    }

    private static func make(folder: String, files: [String], product: String) throws -> String {
        try cached(folder) { dir in
            let source = packageRoot.appendingPathComponent(folder)
            for file in files {
                try FileManager.default.copyItem(
                    at: source.appendingPathComponent(file), to: dir.appendingPathComponent(file))
            }
            let result = try runCommand(
                "/usr/bin/env",
                [
                    "make", "-C", dir.path,
                    "ABI_INCLUDE=\(packageRoot.appendingPathComponent("Sources/OperatorABI/include").path)",
                ])
            guard result.status == 0 else { throw BuildFailure(what: folder, output: result.stdout + result.stderr) }
            return dir.appendingPathComponent(product).path
        }
    }

    private static func cached(_ key: String, _ build: (URL) throws -> String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let path = built[key] { return path }
        let path = try build(try makeTemporaryDirectory("zoo-made"))
        built[key] = path
        return path
    }
}
