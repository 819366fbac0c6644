import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads whole files for the format readers, memory-mapped, with failures described in POSIX terms
/// ("No such file or directory", "Permission denied", "is a directory") rather than Foundation's generic
/// Cocoa error text.
enum MappedFile {
    /// The contents of the regular file at `path`, memory-mapped.
    /// - Throws: A sentence describing why the file cannot be read (without the path; callers add it).
    static func read(path: String) throws(MappedFileFailure) -> Data {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw MappedFileFailure(reason: describe(errno)) }
        var status = stat()
        let statResult = fstat(descriptor, &status)
        let statErrno = errno
        close(descriptor)
        guard statResult == 0 else { throw MappedFileFailure(reason: describe(statErrno)) }
        guard (status.st_mode & S_IFMT) != S_IFDIR else { throw MappedFileFailure(reason: "it is a directory") }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw MappedFileFailure(reason: "\(error.localizedDescription)")
        }
    }

    private static func describe(_ code: Int32) -> String {
        guard let message = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: message)) (errno \(code))"
    }
}

/// Why ``MappedFile/read(path:)`` failed.
struct MappedFileFailure: Error, Equatable {
    let reason: String
}
