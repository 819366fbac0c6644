import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Runs a child process and reports its peak resident memory, from the kernel's accounting of that one child
/// (`wait4`'s `ru_maxrss`), with its exit status and wall time.
public enum PeakMemory {
    public struct Measurement: Sendable {
        public var status: Int32
        public var peakResidentBytes: Int
        public var seconds: Double
        /// The child's standard error (its last 2,000 characters).
        public var errorOutput: String
    }

    /// Runs `executable` with `arguments` (standard output discarded, standard error kept) and waits for it.
    public static func run(_ executable: String, _ arguments: [String]) throws -> Measurement {
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent(
            "zoo-peak-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).err"
        ).path
        defer { try? FileManager.default.removeItem(atPath: errorFile) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errorFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid = pid_t()
        let start = DispatchTime.now().uptimeNanoseconds
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw BenchError.argument("could not start \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else {
                throw BenchError.argument("waiting for \(executable): \(String(cString: strerror(errno)))")
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let exited = status & 0x7f == 0
        let errorOutput = String(
            String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: errorFile))) ?? Data(), as: UTF8.self).suffix(
                2000))
        return Measurement(
            status: exited ? (status >> 8) & 0xff : -(status & 0x7f), peakResidentBytes: Int(usage.ru_maxrss) * 1024,
            seconds: seconds,
            errorOutput: errorOutput)
    }
}
