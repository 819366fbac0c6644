import Crypto
import Foundation

/// sha256 of files, as registry pins spell it (64 lower-case hex digits).
public enum FileHash {
    /// The sha256 of the file at `path`, read in 1 MiB blocks.
    /// - Throws: ``RegistryError/unreadable(path:reason:)`` when the file cannot be read.
    public static func sha256(path: String) throws(RegistryError) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .unreadable(path: path, reason: "the file cannot be opened")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        do {
            while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty {
                hasher.update(data: block)
            }
        } catch {
            throw .unreadable(path: path, reason: error.localizedDescription)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
