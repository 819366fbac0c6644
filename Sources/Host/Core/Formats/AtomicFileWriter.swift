#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why an atomic file write failed: a sentence naming the path and the failing step.
package struct AtomicWriteFailure: Error, Equatable {
    package let reason: String
}

/// Writes a file so that readers see either the old file or the complete new one, never a partial file.
///
/// Bytes go to a temporary file in the destination's directory (created exclusively, mode 0644 less the
/// umask); ``commit()`` flushes it to disk (`fsync`), renames it over the destination and syncs the directory.
/// If the writer is discarded without a successful commit, the temporary file is removed. A process killed while
/// writing (SIGKILL, power loss) cannot remove its temporary file; the first writer in that directory in a later
/// process removes the temporary files whose writer process no longer exists (``StaleTemporaryFiles``).
///
/// ```swift
/// let writer = try AtomicFileWriter(path: "/tmp/x.bin")
/// try writer.write(header)
/// try writer.commit()
/// ```
package final class AtomicFileWriter {
    /// The destination path.
    package let path: String
    private let directory: String
    private let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private var committed = false
    private static let bufferCapacity = 1 << 20

    /// Creates the temporary file next to `path`.
    /// - Throws: ``AtomicWriteFailure`` when the directory does not exist or is not writable.
    package init(path: String) throws(AtomicWriteFailure) {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty else {
            throw AtomicWriteFailure(reason: "'\(path)' names a directory, not a file")
        }
        self.directory = directory
        StaleTemporaryFiles.sweepOnce(directory: directory)
        var created: (String, Int32)?
        var lastErrno: Int32 = 0
        for _ in 0..<16 {
            let candidate =
                "\(directory)/"
                + StaleTemporaryFiles.name(for: name, process: getpid(), nonce: UInt32.random(in: 0...UInt32.max))
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                created = (candidate, fd)
                break
            }
            lastErrno = errno
            if lastErrno != EEXIST { break }
        }
        guard let (temporaryPath, fd) = created else {
            throw AtomicWriteFailure(
                reason: "cannot create a temporary file in directory '\(directory)': "
                    + Self.describe(lastErrno)
            )
        }
        self.temporaryPath = temporaryPath
        self.descriptor = fd
        buffer.reserveCapacity(Self.bufferCapacity)
    }

    deinit {
        if !committed {
            if descriptor >= 0 { close(descriptor) }
            unlink(temporaryPath)
        }
    }

    /// Appends bytes (buffered).
    package func write(_ bytes: UnsafeRawBufferPointer) throws(AtomicWriteFailure) {
        if buffer.count + bytes.count > Self.bufferCapacity {
            try flush()
        }
        if bytes.count >= Self.bufferCapacity {
            try writeFully(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Appends bytes (buffered).
    package func write(_ bytes: [UInt8]) throws(AtomicWriteFailure) {
        // `Array.withUnsafeBytes` rethrows untyped errors; carry the typed one out in a Result.
        try bytes.withUnsafeBytes { raw in Result { () throws(AtomicWriteFailure) in try write(raw) } }.get()
    }

    /// Flushes, syncs and closes the temporary file, renames it over ``path`` and syncs the directory.
    package func commit() throws(AtomicWriteFailure) {
        try flush()
        if fsync(descriptor) != 0 {
            throw AtomicWriteFailure(reason: "cannot flush '\(temporaryPath)' to disk: \(Self.describe(errno))")
        }
        let closed = close(descriptor)
        descriptor = -1
        if closed != 0 {
            throw AtomicWriteFailure(reason: "cannot close '\(temporaryPath)': \(Self.describe(errno))")
        }
        if rename(temporaryPath, path) != 0 {
            throw AtomicWriteFailure(
                reason: "cannot rename the temporary file '\(temporaryPath)' to '\(path)': \(Self.describe(errno))"
            )
        }
        committed = true
        // Make the rename itself durable; failure here (e.g. a file system without directory fsync) is harmless.
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    private func flush() throws(AtomicWriteFailure) {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { raw in Result { () throws(AtomicWriteFailure) in try writeFully(raw) } }.get()
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws(AtomicWriteFailure) {
        guard let base = bytes.baseAddress else { return }
        var written = 0
        while written < bytes.count {
            let result = systemWrite(descriptor, base + written, bytes.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw AtomicWriteFailure(reason: "cannot write '\(temporaryPath)': \(Self.describe(errno))")
            }
            written += result
        }
    }

    private static func describe(_ code: Int32) -> String {
        guard let message = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: message)) (errno \(code))"
    }
}

/// The C `write(2)`, under a name the writer's own `write` methods do not shadow.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

extension AtomicWriteFailure: CustomStringConvertible {
    package var description: String { reason }
}
