import Foundation

/// Whole-file atomic writes for callers outside the host library (reports, CSV, JSON).
public enum AtomicFile {
    /// Why the write failed, naming the path.
    public struct WriteError: Error, CustomStringConvertible, Equatable {
        public let path: String
        public let reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    /// Writes `data` to a temporary file beside `path`, syncs it and renames it over `path`; on failure
    /// `path` is left as it was.
    public static func write(_ data: Data, to path: String) throws(WriteError) {
        do {
            let writer = try AtomicFileWriter(path: path)
            try writer.write([UInt8](data))
            try writer.commit()
        } catch {
            throw WriteError(path: path, reason: error.reason)
        }
    }
}
