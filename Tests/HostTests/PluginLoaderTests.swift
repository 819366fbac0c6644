import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// Every loader error path, each triggered by a small fixture library, plus ABI compatibility both ways.
@Suite struct PluginLoaderTests {
    @Test func missingFileIsNamed() {
        #expect(throws: PluginError.fileNotFound(path: "/nonexistent/libX.so")) {
            _ = try PluginLibrary(path: "/nonexistent/libX.so")
        }
    }

    @Test func textFileIsNotASharedObject() throws {
        let dir = try makeTemporaryDirectory()
        let path = dir.appendingPathComponent("libFake.so").path
        try "not a library\n".write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: PluginError.self) { _ = try PluginLibrary(path: path) }
        guard case .notSharedObject(let p, let reason) = error else {
            Issue.record("expected notSharedObject, got \(String(describing: error))")
            return
        }
        #expect(p == path)
        #expect(reason.contains("ELF magic"))
        #expect(error?.description.contains(path) == true)
    }

    @Test func directoryIsNotASharedObject() throws {
        let dir = try makeTemporaryDirectory()
        #expect(throws: PluginError.notSharedObject(path: dir.path, reason: "it is a directory")) {
            _ = try PluginLibrary(path: dir.path)
        }
    }

    @Test func foreignArchitectureIsRefusedBeforeDlopen() throws {
        // A 64-bit little-endian ELF header for aarch64 (e_machine 183), type ET_DYN.
        var header = [UInt8](repeating: 0, count: 64)
        header[0...3] = [0x7F, 0x45, 0x4C, 0x46]
        header[4] = 2
        header[5] = 1
        header[16] = 3
        header[18] = 183
        let dir = try makeTemporaryDirectory()
        let path = dir.appendingPathComponent("libArm.so").path
        try Data(header).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: PluginError.self) { _ = try PluginLibrary(path: path) }
        #expect(error == .wrongArchitecture(path: path, found: "aarch64 (64-bit)", expected: "x86_64 (64-bit)"))
    }

    @Test func executableIsNotASharedObjectOrFailsToLoad() throws {
        // A position-independent executable is ET_DYN too; dlopen refuses it and the error names the file.
        let error = #expect(throws: PluginError.self) { _ = try PluginLibrary(path: "/bin/ls") }
        #expect(error?.path == "/bin/ls")
    }

    @Test func missingEntry() throws {
        let path = try FixturePlugins.path("MissingEntry")
        #expect(throws: PluginError.missingEntry(path: path, symbol: "oz_plugin_entry")) {
            _ = try PluginLibrary(path: path)
        }
    }

    @Test func nullEntry() throws {
        let path = try FixturePlugins.path("NullEntry")
        #expect(throws: PluginError.nullEntry(path: path)) { _ = try PluginLibrary(path: path) }
    }

    @Test func majorMismatch() throws {
        let path = try FixturePlugins.path("MajorMismatch")
        let error = #expect(throws: PluginError.abiMajorMismatch(path: path, found: 2, expected: 1)) {
            _ = try PluginLibrary(path: path)
        }
        #expect(error?.description.contains("major version 2") == true)
    }

    @Test func structTooSmall() throws {
        let path = try FixturePlugins.path("StructTooSmall")
        let error = #expect(throws: PluginError.self) { _ = try PluginLibrary(path: path) }
        guard case .structTooSmall(let p, let name, let size, let minimum) = error else {
            Issue.record("expected structTooSmall, got \(String(describing: error))")
            return
        }
        #expect(p == path && name == "oz_plugin" && size == 12 && minimum > 12)
    }

    @Test func duplicateId() throws {
        let path = try FixturePlugins.path("DuplicateId")
        #expect(throws: PluginError.duplicateOperatorId(path: path, id: "dup_op")) { _ = try PluginLibrary(path: path) }
    }

    @Test func invalidId() throws {
        let path = try FixturePlugins.path("InvalidId")
        #expect(throws: PluginError.invalidOperatorId(path: path, id: "Bad Id!")) { _ = try PluginLibrary(path: path) }
    }

    @Test func invalidMetadata() throws {
        let path = try FixturePlugins.path("InvalidMetadata")
        #expect(throws: PluginError.invalidMetadata(path: path, field: "oz_plugin.name", reason: "not valid UTF-8")) {
            _ = try PluginLibrary(path: path)
        }
    }

    @Test func olderShorterTableLoadsAndRuns() throws {
        let plugin = try PluginLibrary(path: try FixturePlugins.path("OlderMinor"))
        let descriptor = try #require(plugin.operator("older_op"))
        #expect(!descriptor.capabilities.contains(.backward))
        #expect(!descriptor.table.hasBackward)
        let op = try Operator(descriptor, dim: 3, attributes: ["scale": .float(2)])
        let x = try Tensor<Float>(shape: [1, 2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let y = try op.forward(x, parameters: [])
        #expect(y.scalars == [2, 4, 6, 8, 10, 12])
        #expect(throws: OperatorError.self) {
            _ = try op.backward(x, parameters: [], outputGradient: x)
        }
    }

    @Test func newerLongerTableLoadsAndRuns() throws {
        let plugin = try PluginLibrary(path: try FixturePlugins.path("NewerMinor"))
        #expect(plugin.abiMinor == 9)
        let descriptor = try #require(plugin.operator("newer_op"))
        let op = try Operator(descriptor, dim: 2)
        let x = try Tensor<Float>(shape: [1, 2, 2], scalars: [1, -2, 3, -4])
        #expect(try op.forward(x, parameters: []).scalars == x.scalars)
        let grads = try op.backward(x, parameters: [], outputGradient: x)
        #expect(grads.input?.scalars == x.scalars)
    }

    @Test func operatorIdRule() {
        for good in ["mha", "hyena_x", "a1", "mamba2_2d"] { #expect(PluginLibrary.isValidOperatorId(good)) }
        for bad in ["", "Mha", "1a", "a-b", "a b", "_a", String(repeating: "a", count: 65), "é"] {
            #expect(!PluginLibrary.isValidOperatorId(bad), "\(bad)")
        }
    }
}
