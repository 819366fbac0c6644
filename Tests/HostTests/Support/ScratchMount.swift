import Foundation

/// A tiny tmpfs mounted for one test (root with CAP_SYS_ADMIN only): a real full disk (`ENOSPC`) or a
/// read-only file system (`EROFS`), which root cannot otherwise get from a directory's permissions.
/// Unmounted and removed when the value goes away.
final class ScratchMount {
    let path: String

    /// Whether this process may mount a tmpfs (tried once, with a 4 KiB one).
    static let available: Bool = (try? ScratchMount(kibibytes: 4, readOnly: false)) != nil

    /// Mounts a tmpfs of `kibibytes`, read-only when asked; throws when mounting is not permitted.
    init(kibibytes: Int, readOnly: Bool) throws {
        path = try makeTemporaryDirectory("zoo-mount").path
        let options = "size=\(kibibytes)k,mode=0755" + (readOnly ? ",ro" : "")
        let result = try runCommand("/usr/bin/env", ["mount", "-t", "tmpfs", "-o", options, "tmpfs", path])
        guard result.status == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            struct MountRefused: Error { let reason: String }
            throw MountRefused(reason: result.stderr)
        }
    }

    deinit {
        _ = try? runCommand("/usr/bin/env", ["umount", path])
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }
}
