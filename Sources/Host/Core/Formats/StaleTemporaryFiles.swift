import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The temporary files of ``AtomicFileWriter`` (`.<name>.<pid>.<nonce>.tmp` beside the destination), and the
/// removal of those left behind by writers that were killed before they could commit or clean up.
///
/// A temporary file is stale when the process named in it no longer exists (`kill(pid, 0)` fails with `ESRCH`).
/// A live process's files are never touched, whether it is this process or another one writing the same
/// destination. If the pid has since been reused by an unrelated process the file stays until that process
/// ends: the sweep errs on the side of keeping files. Each directory is swept at most once per process, by its
/// first writer, so writing many files into one folder (an image export) stays linear in the folder's size.
enum StaleTemporaryFiles {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var swept: Set<String> = []

    /// The name of the temporary file a writer in process `process` uses for destination file `name`.
    static func name(for name: String, process: pid_t, nonce: UInt32) -> String {
        ".\(name).\(process).\(nonce).tmp"
    }

    /// The writer process named by a temporary file name of ours, or `nil` for any other file name.
    static func writerProcess(ofTemporaryFile file: String) -> pid_t? {
        guard file.hasPrefix("."), file.hasSuffix(".tmp") else { return nil }
        // `.<name>.<pid>.<nonce>.tmp`: the name may itself contain dots, the two numbers never do.
        let parts = file.dropLast(4).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].isEmpty, UInt32(parts[parts.count - 1]) != nil,
            let pid = pid_t(parts[parts.count - 2]), pid > 0
        else { return nil }
        return pid
    }

    /// Removes the stale temporary files in `directory`, the first time this process writes there.
    /// Failures (an unreadable directory, a file removed meanwhile) are ignored: the sweep is housekeeping.
    static func sweepOnce(directory: String) {
        lock.lock()
        let first = swept.insert(directory).inserted
        lock.unlock()
        // Foundation lists the names (an earlier `readdir` version copied `d_name` as a fixed 256-byte tuple, past
        // the end of short directory records: AddressSanitizer found it).
        guard first, let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for file in files {
            guard let pid = writerProcess(ofTemporaryFile: file), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                unlink(directory + "/" + file)
            }
        }
    }
}
