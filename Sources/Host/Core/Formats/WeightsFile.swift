import Foundation

/// Reads a file of weights in whichever format it is: safetensors, or a PyTorch checkpoint written by
/// `torch.save` (recognised by its first bytes, not its name). Every command that reads weights reads through it.
///
/// A PyTorch file holding several state dicts is read with a selection: `select`, or a path written
/// `FILE.pt#KEY` (used when no file has the whole name, so a file whose name contains `#` still reads).
public enum WeightsFile {
    /// Reads the weights at `path`.
    /// - Parameter select: For a PyTorch checkpoint holding several state dicts, the key of the one to read.
    /// - Throws: ``WeightsFileError`` naming the file.
    public static func read(path: String, select: String? = nil) throws(WeightsFileError) -> SafetensorsFile {
        var path = path, select = select
        if !FileManager.default.fileExists(atPath: path), let hash = path.lastIndex(of: "#") {
            let key = String(path[path.index(after: hash)...])
            if let select, select != key {
                throw .conflictingSelection(path: path, select: select)
            }
            path = String(path[..<hash])
            select = key
        }
        if isPyTorch(path: path) {
            do { return try PyTorchCheckpoint.read(path: path, select: select) } catch { throw .pytorch(error) }
        }
        if let select { throw .selectionOnSafetensors(path: path, select: select) }
        do { return try SafetensorsFile.read(path: path) } catch { throw .safetensors(error) }
    }

    /// Whether the file at `path` begins like a PyTorch checkpoint (false when it cannot be read: the safetensors
    /// reader then reports why).
    private static func isPyTorch(path: String) -> Bool {
        // A mapping touches only the first page here (and refuses FIFOs and folders without blocking).
        guard let mapped = try? MappedFile.read(path: path) else { return false }
        return mapped.withUnsafeBytes { PyTorchCheckpoint.hasSignature($0) }
    }
}

/// Why ``WeightsFile/read(path:select:)`` failed.
public enum WeightsFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case safetensors(SafetensorsError)
    case pytorch(PyTorchCheckpointError)
    /// A selection was given for a safetensors file, which holds one set of tensors.
    case selectionOnSafetensors(path: String, select: String)
    /// Both `--select` and `PATH#KEY` were given, naming different keys.
    case conflictingSelection(path: String, select: String)

    public var description: String {
        switch self {
        case .safetensors(let error): error.description
        case .pytorch(let error): error.description
        case .selectionOnSafetensors(let path, let select):
            "'\(path)' is a safetensors file, which holds one set of tensors; the selection '\(select)' applies only to PyTorch checkpoints"
        case .conflictingSelection(let path, let select):
            "'\(path)' names a key after '#' that differs from the selection '\(select)'; give one of them"
        }
    }
}
