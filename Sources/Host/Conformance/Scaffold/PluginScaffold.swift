import Foundation
import HostCore
import HostPlugins

/// Why a plugin scaffold could not be written.
public enum ScaffoldError: Error, Equatable, CustomStringConvertible {
    case invalidName(String)
    case exists(path: String)
    case headerNotFound(searched: [String])
    case packageNotFound(searched: [String])
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            "plugin name '\(name)' is invalid: expected [a-z][a-z0-9_]* (it becomes the operator id)"
        case .exists(let path): "'\(path)' already exists; choose another --output"
        case .headerNotFound(let searched):
            "OperatorABI.h with OperatorPluginHelpers.h beside it not found (looked in \(searched.joined(separator: ", "))); pass --abi-include DIR"
        case .packageNotFound(let searched):
            "the OperatorZoo checkout (Package.swift with Plugins/PluginKit) was not found (looked in \(searched.joined(separator: ", "))); pass --package-path DIR"
        case .writeFailed(let path, let reason): "could not write '\(path)': \(reason)"
        }
    }
}

/// `zoo plugin new`: a plugin folder with a working example operator (forward and backward) that builds with
/// its own build script and passes `zoo conform` as generated, in C (``CPluginTemplate``) or Swift
/// (``SwiftPluginTemplate``).
public enum PluginScaffold {
    /// Languages a scaffold can be written in.
    public enum Language: String, CaseIterable, Sendable {
        /// Plain C99 with a Makefile; needs only `OperatorABI.h` and `OperatorPluginHelpers.h` (copied into the folder).
        case c
        /// A SwiftPM package depending on this checkout (by absolute path) for PluginKit, with a build script.
        case swift
    }

    /// The headers a C scaffold copies into its folder: the ABI and the header-only helpers its source includes.
    static let cHeaders = ["OperatorABI.h", "OperatorPluginHelpers.h"]

    /// The folder holding OperatorABI.h and OperatorPluginHelpers.h: `override`, else found above the running
    /// executable (an in-tree build).
    public static func headerDirectory(override: String?) throws(ScaffoldError) -> String {
        func hasHeaders(_ path: String) -> Bool {
            cHeaders.allSatisfy { FileManager.default.fileExists(atPath: path + "/" + $0) }
        }
        var searched: [String] = []
        if let override {
            searched.append(override)
            if hasHeaders(override) { return override }
            throw .headerNotFound(searched: searched)
        }
        var url = URL(fileURLWithPath: PluginSearchPath.executablePath).deletingLastPathComponent()
        for _ in 0..<8 {
            let candidate = url.appendingPathComponent("Sources/OperatorABI/include").path
            searched.append(candidate)
            if hasHeaders(candidate) { return candidate }
            url.deleteLastPathComponent()
        }
        throw .headerNotFound(searched: searched)
    }

    /// The OperatorZoo checkout a Swift scaffold depends on (a folder with `Package.swift` and `Plugins/PluginKit`),
    /// as an absolute path: `override`, else found above the running executable (an in-tree build).
    public static func packageRoot(override: String?) throws(ScaffoldError) -> String {
        func isCheckout(_ path: String) -> Bool {
            FileManager.default.fileExists(atPath: path + "/Package.swift")
                && FileManager.default.fileExists(atPath: path + "/Plugins/PluginKit")
        }
        if let override {
            let absolute = URL(fileURLWithPath: override).standardizedFileURL.path
            if isCheckout(absolute) { return absolute }
            throw .packageNotFound(searched: [absolute])
        }
        var searched: [String] = []
        var url = URL(fileURLWithPath: PluginSearchPath.executablePath).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for _ in 0..<8 {
            searched.append(url.path)
            if isCheckout(url.path) { return url.path }
            url.deleteLastPathComponent()
        }
        throw .packageNotFound(searched: searched)
    }

    /// Writes the scaffold for `name` into `directory` (which must not exist) and returns the files written.
    ///
    /// - Parameters:
    ///   - abiInclude: the folder holding `OperatorABI.h` and `OperatorPluginHelpers.h` for a C scaffold (default: found
    ///     above the executable).
    ///   - packageRoot: the OperatorZoo checkout a Swift scaffold depends on (default: found above the executable).
    public static func create(
        name: String, language: Language, directory: String, abiInclude: String? = nil, packageRoot root: String? = nil
    ) throws(ScaffoldError) -> [String] {
        guard PluginLibrary.isValidOperatorId(name) else { throw .invalidName(name) }
        guard !FileManager.default.fileExists(atPath: directory) else { throw .exists(path: directory) }
        var files: [(path: String, text: String, executable: Bool)]
        var copies: [(from: String, to: String)] = []
        switch language {
        case .c:
            // The headers travel with the plugin: the folder builds with nothing else.
            let include = try headerDirectory(override: abiInclude)
            copies = cHeaders.map { (include + "/" + $0, $0) }
            files = [
                ("\(name).c", CPluginTemplate.source(name: name), false),
                ("Makefile", CPluginTemplate.makefile(name: name), false),
                ("README.md", CPluginTemplate.readme(name: name), false),
            ]
        case .swift:
            let root = try packageRoot(override: root)
            let module = SwiftPluginTemplate.moduleName(name)
            files = [
                ("Package.swift", SwiftPluginTemplate.manifest(name: name, packageRoot: root), false),
                ("Sources/\(module)/Plugin.swift", SwiftPluginTemplate.plugin(name: name), false),
                ("Sources/\(module)/ShiftMixerKernel.swift", SwiftPluginTemplate.kernel(name: name), false),
                ("build.sh", SwiftPluginTemplate.buildScript(name: name), true),
                ("README.md", SwiftPluginTemplate.readme(name: name, packageRoot: root), false),
                (".gitignore", ".build/\n", false),
            ]
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (from, to) in copies {
                try FileManager.default.copyItem(atPath: from, toPath: directory + "/" + to)
            }
            for file in files {
                let path = directory + "/" + file.path
                try FileManager.default.createDirectory(
                    atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                    withIntermediateDirectories: true)
                let writer = try AtomicFileWriter(path: path)
                try writer.write(Array(file.text.utf8))
                try writer.commit()
                if file.executable {
                    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
                }
            }
        } catch let error as AtomicWriteFailure {
            throw .writeFailed(path: directory, reason: error.reason)
        } catch {
            throw .writeFailed(path: directory, reason: error.localizedDescription)
        }
        return copies.map(\.to) + files.map(\.path)
    }
}
