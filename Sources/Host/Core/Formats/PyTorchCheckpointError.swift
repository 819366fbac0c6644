/// Why a PyTorch checkpoint could not be read. Every case names the file; the description is one sentence saying
/// what was found and what was expected.
public enum PyTorchCheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened or read.
    case readFailed(path: String, reason: String)
    /// The file is not something `torch.save` writes.
    case notACheckpoint(path: String, reason: String)
    /// The pre-1.6 format (`_use_new_zipfile_serialization=False`), which this reader does not take.
    case legacyFormat(path: String)
    /// The zip container is damaged or not as `torch.save` writes it.
    case invalidArchive(path: String, reason: String)
    /// The pickle names a global that is not allowed, uses an unsupported opcode or is malformed (`offset`: the
    /// byte offset of the opcode within `data.pkl`).
    case refusedPickle(path: String, offset: Int, reason: String)
    /// The file holds no state dict where one was looked for (`found` describes what it holds).
    case notAStateDict(path: String, select: String?, found: String)
    /// The file holds several state dicts and no selection was given.
    case ambiguous(path: String, candidates: [String])
    /// The selection names a key that is not there (`key`, looked up within `within`).
    case selectionNotFound(path: String, select: String, key: String, within: String, available: [String])
    /// A tensor's storage or view does not fit the archive.
    case invalidTensor(path: String, tensor: String, reason: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .readFailed(let path, _), .notACheckpoint(let path, _), .legacyFormat(let path),
            .invalidArchive(let path, _), .refusedPickle(let path, _, _), .notAStateDict(let path, _, _),
            .ambiguous(let path, _), .selectionNotFound(let path, _, _, _, _), .invalidTensor(let path, _, _):
            path
        }
    }

    public var description: String {
        switch self {
        case .readFailed(let path, let reason):
            "PyTorch checkpoint '\(path)' cannot be read: \(reason)"
        case .notACheckpoint(let path, let reason):
            "'\(path)' is not a PyTorch checkpoint: \(reason)"
        case .legacyFormat(let path):
            "PyTorch checkpoint '\(path)' uses the legacy format of PyTorch before 1.6 (_use_new_zipfile_serialization=False), which is not read; save it again with torch.save(torch.load(path), new_path) in a current PyTorch, or convert it to safetensors"
        case .invalidArchive(let path, let reason):
            "PyTorch checkpoint '\(path)' is not a valid torch.save archive: \(reason)"
        case .refusedPickle(let path, let offset, let reason):
            "PyTorch checkpoint '\(path)' is refused: its data.pkl at byte \(offset): \(reason)"
        case .notAStateDict(let path, let select, let found):
            if let select {
                "PyTorch checkpoint '\(path)': '\(select)' is \(found), not a state dict (a dict of names to tensors)"
            } else {
                "PyTorch checkpoint '\(path)' holds no state dict (a dict of names to tensors) at its top level or one level down; it holds \(found)"
            }
        case .ambiguous(let path, let candidates):
            "PyTorch checkpoint '\(path)' holds several state dicts (\(candidates.map { "'\($0)'" }.joined(separator: ", "))); choose one with --select (or PATH#KEY), e.g. --select \(candidates.contains("ema") ? "ema" : candidates[0])"
        case .selectionNotFound(let path, let select, let key, let within, let available):
            "PyTorch checkpoint '\(path)': selection '\(select)': there is no key '\(key)' in \(within) (keys there: \(available.isEmpty ? "none, it is not a dict" : available.map { "'\($0)'" }.joined(separator: ", ")))"
        case .invalidTensor(let path, let tensor, let reason):
            "PyTorch checkpoint '\(path)': tensor '\(tensor)': \(reason)"
        }
    }
}
