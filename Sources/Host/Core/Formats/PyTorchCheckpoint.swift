import Foundation

/// A PyTorch checkpoint written by `torch.save` (the zip format of PyTorch 1.6 and later), read weights-only as a
/// file of named tensors: the same ``SafetensorsFile`` value a safetensors file gives, so every reader of weights
/// takes either.
///
/// The archive's `*/data.pkl` is run by ``RestrictedUnpickler``, which builds dicts, lists, tuples, strings,
/// numbers and tensors and refuses every other global by name: nothing in the file is executed. Tensors are views
/// of the storages in `*/data/<key>` (float32, float16, bfloat16, float64 or int64): a contiguous view is read in
/// place from the mapped file, a strided one (a transpose, a slice of columns, an expanded view) is copied out.
/// Views of one shared storage are each read as their own tensor.
///
/// The state dict is the file's top-level dict of names to tensors or, when the top level is a dict of other
/// things (`{'ema': state_dict}`, `{'model': ..., 'epoch': 3}`), the one such dict one level down. When there are
/// several (`{'model': ..., 'ema': ...}`), `select` names the key to read (dotted for deeper levels, `a.b`).
///
/// ```swift
/// let file = try PyTorchCheckpoint.read(path: "DiT-XL-2-256x256.pt")
/// let w = try file.tensor(named: "blocks.0.attn.qkv.weight")
/// let ema = try PyTorchCheckpoint.read(path: "model.pt", select: "ema")
/// ```
public enum PyTorchCheckpoint {
    /// Whether `bytes` begin like a file `torch.save` wrote: a zip archive or the legacy pickle format.
    package static func hasSignature(_ bytes: UnsafeRawBufferPointer) -> Bool {
        StoredZipArchive.hasSignature(bytes) || isLegacy(bytes)
    }

    /// Reads the state dict of the checkpoint at `path` (memory-mapped).
    /// - Parameter select: The key of the state dict in a file that holds several (dotted for nested dicts).
    /// - Throws: ``PyTorchCheckpointError`` naming `path` and what is wrong.
    public static func read(path: String, select: String? = nil) throws(PyTorchCheckpointError) -> SafetensorsFile {
        let data: Data
        do { data = try MappedFile.read(path: path) } catch {
            throw .readFailed(path: path, reason: error.reason)
        }
        return try decode(data, path: path, select: select, fileMapped: true)
    }

    /// Reads a checkpoint held in memory (see ``read(path:select:)``); `path` is the name used in messages.
    public static func decode(
        _ data: Data, path: String, select: String? = nil
    ) throws(PyTorchCheckpointError)
        -> SafetensorsFile
    {
        try decode(data.startIndex == 0 ? data : Data(data), path: path, select: select, fileMapped: false)
    }

    private static func decode(
        _ data: Data, path: String, select: String?, fileMapped: Bool
    )
        throws(PyTorchCheckpointError) -> SafetensorsFile
    {
        let parsed = try data.withUnsafeBytes { bytes in
            Result { () throws(PyTorchCheckpointError) in try parse(bytes, path: path, select: select) }
        }.get()
        return SafetensorsFile.assembled(
            path: path, metadata: [:], entries: parsed.entries, data: data, fileMapped: fileMapped,
            separateBytes: parsed.separateBytes)
    }

    private struct Parsed {
        var entries: [SafetensorsEntry] = []
        var separateBytes: [String: Data] = [:]
    }

    private static func parse(
        _ bytes: UnsafeRawBufferPointer, path: String, select: String?
    )
        throws(PyTorchCheckpointError) -> Parsed
    {
        if isLegacy(bytes) { throw .legacyFormat(path: path) }
        guard StoredZipArchive.hasSignature(bytes) else {
            throw .notACheckpoint(path: path, reason: "it does not start like a zip archive (torch.save's format)")
        }
        let archive: StoredZipArchive
        do { archive = try StoredZipArchive.read(bytes) } catch {
            throw .invalidArchive(path: path, reason: error.reason)
        }
        let pickles = archive.members.filter { member in
            let parts = member.name.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 2 && parts[1] == "data.pkl"
        }
        guard pickles.count == 1, let pickle = pickles.first else {
            throw .invalidArchive(
                path: path,
                reason: pickles.isEmpty
                    ? "it has no '<folder>/data.pkl' member (a torch.save archive has one)"
                    : "it has \(pickles.count) '<folder>/data.pkl' members (expected one)")
        }
        let folder = String(pickle.name.dropLast("data.pkl".count))
        var members: [String: StoredZipArchive.Member] = [:]
        for member in archive.members { members[member.name] = member }
        if let order = members[folder + "byteorder"] {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[order.range]), as: UTF8.self)
            guard text == "little" else {
                throw .invalidArchive(
                    path: path, reason: "its tensors are stored '\(text)'-endian; only little-endian files are read")
            }
        }
        let pickleBytes = UnsafeRawBufferPointer(rebasing: bytes[pickle.range])
        guard CRC32.checksum(pickleBytes) == pickle.crc32 else {
            throw .invalidArchive(path: path, reason: "'\(pickle.name)' fails its CRC-32 check (the file is damaged)")
        }
        var unpickler = RestrictedUnpickler(pickleBytes)
        let root: PickleValue
        do { root = try unpickler.run() } catch {
            throw .refusedPickle(path: path, offset: error.offset, reason: error.reason)
        }
        let objects = unpickler.objects
        let stateDict = try StateDictSelection.find(root, objects: objects, select: select, path: path)

        var parsed = Parsed()
        for (name, tensorIndex) in stateDict {
            let tensor = objects.tensors[tensorIndex]
            let storage = objects.storages[tensor.storage]
            let record = folder + "data/" + storage.key
            guard let member = members[record] else {
                throw .invalidTensor(path: path, tensor: name, reason: "its storage '\(record)' is not in the archive")
            }
            let size = storage.type.dtype.byteSize
            guard member.range.count == storage.count * size else {
                throw .invalidTensor(
                    path: path, tensor: name,
                    reason:
                        "its storage '\(record)' has \(member.range.count) bytes, expected \(storage.count) \(storage.type.storageName) elements (\(storage.count * size) bytes)"
                )
            }
            let view = try StridedView(tensor, storageCount: storage.count, name: name, path: path)
            let byteCount = view.count * size
            if view.isContiguous {
                let start = member.range.lowerBound + tensor.offset * size
                parsed.entries.append(
                    SafetensorsEntry(
                        name: name, dtype: storage.type.dtype, shape: tensor.shape,
                        dataOffsets: start..<start + byteCount))
            } else {
                let storageBytes = UnsafeRawBufferPointer(rebasing: bytes[member.range])
                parsed.separateBytes[name] = view.gather(storageBytes, elementSize: size)
                parsed.entries.append(
                    SafetensorsEntry(
                        name: name, dtype: storage.type.dtype, shape: tensor.shape, dataOffsets: 0..<byteCount))
            }
        }
        return parsed
    }

    /// The legacy format (`_use_new_zipfile_serialization=False`, PyTorch before 1.6): a pickle of the magic
    /// number 0x1950a86a20f9469cfc6c (protocol 2, `LONG1` of 10 bytes).
    private static func isLegacy(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let magic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
        return bytes.count >= magic.count && zip(bytes.prefix(magic.count), magic).allSatisfy { $0 == $1 }
    }
}
