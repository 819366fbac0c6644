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
package enum MappedFile {
    /// The contents of the regular file at `path`, memory-mapped read-only (`MAP_PRIVATE`), unmapped when the
    /// last copy of the `Data` goes away.
    ///
    /// The file is opened with `O_NONBLOCK`, so a FIFO (say, `x.png` in a dataset folder) is refused as "not a
    /// regular file" at once instead of blocking the reader until some process opens it for writing; for regular
    /// files the flag changes nothing.
    /// - Throws: A sentence describing why the file cannot be read (without the path; callers add it).
    package static func read(path: String) throws(MappedFileFailure) -> Data {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw MappedFileFailure(reason: describe(errno)) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw MappedFileFailure(reason: describe(errno)) }
        guard (status.st_mode & S_IFMT) != S_IFDIR else { throw MappedFileFailure(reason: "it is a directory") }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw MappedFileFailure(reason: "it is not a regular file") }
        let size = Int(status.st_size)
        guard size > 0 else { return Data() }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            throw MappedFileFailure(reason: describe(errno))
        }
        return Data(bytesNoCopy: base, count: size, deallocator: .custom { pointer, count in munmap(pointer, count) })
    }

    /// Drops the resident pages wholly inside `bytes`, a range of a mapping made by ``read(path:)``, so a reader
    /// that has copied them out no longer holds them in memory (they are read from the file again if touched).
    /// Never call it on other memory: on anonymous memory it would zero the pages.
    package static func releasePages(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress, bytes.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + bytes.count) / page * page
        guard end > first, let pointer = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(pointer, end - first, Int32(MADV_DONTNEED))
    }

    private static func describe(_ code: Int32) -> String {
        guard let message = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: message)) (errno \(code))"
    }
}

/// Why ``MappedFile/read(path:)`` failed.
package struct MappedFileFailure: Error, Equatable {
    package let reason: String
}
