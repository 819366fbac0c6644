#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Creates the folders that runs write into (`mkdir -p`), with failures described in POSIX terms and naming the
/// folder that could not be made ("cannot create directory 'runs/a': Read-only file system (errno 30)"), rather
/// than Foundation's Cocoa error text.
public enum OutputDirectory {
    /// Creates `path` and any missing parents (mode 0755 less the umask); an existing folder is fine.
    /// - Throws: ``AtomicFile/WriteError`` naming `path` and the component that could not be created.
    public static func create(_ path: String) throws(AtomicFile.WriteError) {
        guard !path.isEmpty else { throw AtomicFile.WriteError(path: path, reason: "an empty path names no directory") }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
            if mkdir(prefix, 0o755) == 0 { continue }
            let code = errno
            var status = stat()
            if code == EEXIST, stat(prefix, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR { continue }
            let reason = code == EEXIST ? "it exists and is not a directory" : describe(code)
            throw AtomicFile.WriteError(path: path, reason: "cannot create directory '\(prefix)': \(reason)")
        }
    }

    private static func describe(_ code: Int32) -> String {
        guard let message = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: message)) (errno \(code))"
    }
}
