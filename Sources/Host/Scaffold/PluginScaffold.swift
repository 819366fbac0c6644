import Foundation

/// Why a plugin scaffold could not be written.
public enum ScaffoldError: Error, Equatable, CustomStringConvertible {
    case invalidName(String)
    case exists(path: String)
    case headerNotFound(searched: [String])
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidName(let name): "plugin name '\(name)' is invalid: expected [a-z][a-z0-9_]* (it becomes the operator id)"
        case .exists(let path): "'\(path)' already exists; choose another --output"
        case .headerNotFound(let searched):
            "OperatorABI.h not found (looked in \(searched.joined(separator: ", "))); pass --abi-include DIR"
        case .writeFailed(let path, let reason): "could not write '\(path)': \(reason)"
        }
    }
}

/// `zoo plugin new`: a plugin folder with a working example operator (forward and backward) that builds with
/// its own build script and passes `zoo conform` as generated.
public enum PluginScaffold {
    /// Languages a scaffold can be written in (Swift scaffolds are planned; see issue 4's note).
    public enum Language: String, CaseIterable, Sendable { case c }

    /// The folder holding OperatorABI.h: `override`, else found above the running executable (an in-tree build).
    public static func headerDirectory(override: String?) throws(ScaffoldError) -> String {
        var searched: [String] = []
        if let override {
            searched.append(override)
            if FileManager.default.fileExists(atPath: override + "/OperatorABI.h") { return override }
            throw .headerNotFound(searched: searched)
        }
        var url = URL(fileURLWithPath: PluginSearchPath.executablePath).deletingLastPathComponent()
        for _ in 0..<8 {
            let candidate = url.appendingPathComponent("Sources/OperatorABI/include").path
            searched.append(candidate)
            if FileManager.default.fileExists(atPath: candidate + "/OperatorABI.h") { return candidate }
            url.deleteLastPathComponent()
        }
        throw .headerNotFound(searched: searched)
    }

    /// Writes the scaffold for `name` into `directory` (which must not exist) and returns the files written.
    public static func create(name: String, language: Language, directory: String, headerDirectory: String)
        throws(ScaffoldError) -> [String]
    {
        guard PluginLibrary.isValidOperatorId(name) else { throw .invalidName(name) }
        guard !FileManager.default.fileExists(atPath: directory) else { throw .exists(path: directory) }
        let files: [(String, String)]
        switch language {
        case .c:
            files = [
                ("\(name).c", CPluginTemplate.source(name: name)),
                ("Makefile", CPluginTemplate.makefile(name: name)),
                ("README.md", CPluginTemplate.readme(name: name)),
            ]
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            // The header travels with the plugin: the folder builds with nothing else.
            try FileManager.default.copyItem(atPath: headerDirectory + "/OperatorABI.h", toPath: directory + "/OperatorABI.h")
            for (file, text) in files {
                let writer = try AtomicFileWriter(path: directory + "/" + file)
                try writer.write(Array(text.utf8))
                try writer.commit()
            }
        } catch let error as AtomicWriteFailure {
            throw .writeFailed(path: directory, reason: error.reason)
        } catch {
            throw .writeFailed(path: directory, reason: error.localizedDescription)
        }
        return ["OperatorABI.h"] + files.map(\.0)
    }
}
