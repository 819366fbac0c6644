import Foundation

/// Writes a safetensors file whose tensors are produced piece by piece (teacher activations batch after batch), so
/// the whole payload never has to be in memory: the tensors' names, storage dtypes and shapes are declared up front
/// (the header is written at once), then ``append(_:)`` adds values in file order (all of the first tensor, then the
/// next), converted to each tensor's dtype. ``commit()`` checks that every declared value came and renames the file
/// into place atomically (``AtomicFileWriter``); a writer dropped before that leaves no file.
///
/// ```swift
/// let writer = try SafetensorsStreamWriter(path: "acts.safetensors", tensors: [("rows", .float16, [1000, 64])])
/// for batch in batches { try writer.append(batch) }    // [n, 64] float32 each
/// try writer.commit()
/// ```
public final class SafetensorsStreamWriter {
    public let path: String
    private let writer: AtomicFileWriter
    private let tensors: [(name: String, dtype: SafetensorsDType, count: Int)]
    /// The tensor being filled and the values it has so far.
    private var current = 0, filled = 0

    /// Opens the temporary file and writes the header.
    /// - Throws: ``SafetensorsError/invalidTensorForWrite(path:tensor:reason:)`` for an empty, reserved or repeated
    ///   name or a dtype other than F32, F16, BF16 and F64; ``SafetensorsError/writeFailed(path:reason:)``.
    public init(
        path: String, tensors: [(name: String, dtype: SafetensorsDType, shape: [Int])],
        metadata: [String: String] = [:]
    ) throws(SafetensorsError) {
        var seen: Set<String> = []
        for t in tensors {
            func reject(_ reason: String) -> SafetensorsError {
                .invalidTensorForWrite(path: path, tensor: t.name, reason: reason)
            }
            guard !t.name.isEmpty, t.name != SafetensorsHeader.metadataKey else { throw reject("has a reserved name") }
            guard seen.insert(t.name).inserted else { throw reject("appears more than once") }
            guard SafetensorsDType.floatStorage.contains(t.dtype) else {
                throw reject("can be stored as F32, F16, BF16 or F64 only, not \(t.dtype)")
            }
            guard t.shape.allSatisfy({ $0 >= 0 }) else { throw reject("has a negative extent in \(t.shape)") }
        }
        self.path = path
        self.tensors = tensors.map { ($0.name, $0.dtype, $0.shape.reduce(1, *)) }
        do {
            writer = try AtomicFileWriter(path: path)
            try writer.write(SafetensorsFile.headerBytes(entries: tensors, metadata: metadata))
        } catch {
            throw .writeFailed(path: path, reason: error.reason)
        }
        skipEmpty()
    }

    /// Appends the next values in file order; they may run on from one tensor into the next.
    /// - Throws: ``SafetensorsError/writeFailed(path:reason:)``, also when more values come than were declared.
    public func append(_ values: Tensor<Float>) throws(SafetensorsError) {
        try values.withUnsafeBufferPointer { (all) throws(SafetensorsError) in
            var offset = 0
            while offset < all.count {
                guard current < tensors.count else {
                    throw .writeFailed(path: path, reason: "more values than the declared tensors hold")
                }
                let take = min(all.count - offset, tensors[current].count - filled)
                let piece = UnsafeBufferPointer(rebasing: all[offset..<(offset + take)])
                do throws(AtomicWriteFailure) {
                    try SafetensorsFile.emit(piece, as: tensors[current].dtype) { (bytes) throws(AtomicWriteFailure) in
                        try writer.write(bytes)
                    }
                } catch {
                    throw .writeFailed(path: path, reason: error.reason)
                }
                offset += take
                filled += take
                if filled == tensors[current].count {
                    current += 1
                    filled = 0
                    skipEmpty()
                }
            }
        }
    }

    /// Syncs and renames the file into place.
    /// - Throws: ``SafetensorsError/writeFailed(path:reason:)`` when values are missing or the write fails.
    public func commit() throws(SafetensorsError) {
        guard current == tensors.count else {
            throw .writeFailed(
                path: path,
                reason: "tensor '\(tensors[current].name)' has \(filled) of its \(tensors[current].count) values")
        }
        do { try writer.commit() } catch { throw .writeFailed(path: path, reason: error.reason) }
    }

    private func skipEmpty() {
        while current < tensors.count && tensors[current].count == 0 { current += 1 }
    }
}
