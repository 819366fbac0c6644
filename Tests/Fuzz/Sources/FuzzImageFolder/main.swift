import Foundation
import FuzzSupport
import HostCore
import HostGraft
import HostModel
import HostPlugins

#if canImport(Glibc)
    import Glibc
#endif

/// The ImageFolder walk: the input describes a small folder tree (class folders, files, symbolic links,
/// FIFOs), which is built in a scratch folder; opening it as a dataset and reading every sample must succeed
/// or throw an `ImageFolderError` naming the folder or file at fault, without hanging on special files.
///
/// Input layout: byte 0 chooses the resolution (`1 + b % 32`); then records, each
/// `op, parent, nameLength, name...` followed for files by `lengthLow, lengthHigh, content...`:
/// - `op % 4 == 0`: a folder; `1`: a regular file; `2`: a symbolic link (to a sibling name, `/dev/null`,
///   `/dev/zero` or a missing path, chosen by the next byte); `3`: a FIFO.
/// - `parent` picks one of the folders made so far (`parent % count`; the root is folder 0).
/// - Names keep their bytes except `/` and NUL (replaced by `_`); `.` and `..` are skipped.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImageFolder(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = [UInt8](fuzzData(start, count))
    guard let first = bytes.first else { return 0 }
    let resolution = 1 + Int(first % 32)
    let root = scratch + "/tree"
    defer { try? FileManager.default.removeItem(atPath: root) }
    guard mkdir(root, 0o755) == 0 else { fatalError("cannot create \(root): errno \(errno)") }
    build(bytes.dropFirst(), root: root)

    let dataset: ImageFolder
    do {
        dataset = try ImageFolder(root: root, resolution: resolution)
    } catch {
        fuzzRequire(error.path.hasPrefix(root), "the error names \(error.path), not a path under \(root)")
        fuzzRequireNames(error, root)
        return 0
    }
    fuzzRequire(!dataset.entries.isEmpty && dataset.numClasses >= 1, "an opened dataset is empty")
    for index in 0..<min(dataset.count, 64) {
        do {
            let (image, label) = try dataset.sample(index)
            fuzzRequire(image.shape == [3, resolution, resolution], "sample \(index) has shape \(image.shape)")
            fuzzRequire(label == dataset.entries[index].label, "sample \(index) has label \(label)")
        } catch {
            fuzzRequireNames(error, dataset.entries[index].path)
            // A read that blocked (a FIFO named like an image) ends only when libFuzzer's SIGALRM interrupts it,
            // which looks like an error rather than a hang: count it as the hang it is.
            fuzzRequire(
                !"\(error)".contains("Interrupted system call"), "reading \(dataset.entries[index].path) blocked")
        }
    }
    return 0
}

/// A per-process scratch folder on a memory file system when there is one.
private let scratch: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = base + "/zoo-fuzz-imagefolder-\(getpid())"
    try? FileManager.default.removeItem(atPath: path)
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

/// Creates the records of `input` under `root` (see the input layout above); stops at the first short record.
private func build(_ input: ArraySlice<UInt8>, root: String) {
    var folders: [[UInt8]] = [Array(root.utf8)]
    var rest = input
    func take(_ n: Int) -> [UInt8]? {
        guard rest.count >= n else { return nil }
        defer { rest = rest.dropFirst(n) }
        return Array(rest.prefix(n))
    }
    /// A file name from fuzz bytes: no `/` or NUL, never `.` or `..`.
    func sanitized(_ raw: [UInt8]) -> [UInt8]? {
        let name = raw.map { $0 == 0x2F || $0 == 0 ? 0x5F : $0 }
        return name == [0x2E] || name == [0x2E, 0x2E] ? nil : name
    }
    while let header = take(3) {
        let parent = folders[Int(header[1]) % folders.count]
        guard let raw = take(Int(header[2]) % 32 + 1) else { return }
        guard let name = sanitized(raw) else { continue }
        let path = parent + [0x2F] + name
        switch header[0] % 4 {
        case 0:
            if withCPath(path, { mkdir($0, 0o755) }) == 0 { folders.append(path) }
        case 1:
            guard let size = take(2) else { return }
            let content = take(min(Int(size[0]) | Int(size[1]) << 8, rest.count)) ?? []
            let fd = withCPath(path) { open($0, O_WRONLY | O_CREAT | O_EXCL, 0o644) }
            guard fd >= 0 else { continue }
            _ = content.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        case 2:
            guard let choice = take(1)?.first else { return }
            let target: [UInt8]
            switch choice % 4 {
            case 0: target = Array("/dev/null".utf8)
            case 1: target = Array("/dev/zero".utf8)
            case 2: target = Array("missing.png".utf8)
            default:
                guard let sibling = take(Int(choice / 4) % 8 + 1).flatMap(sanitized) else { return }
                target = sibling
            }
            _ = withCPath(target) { t in withCPath(path) { symlink(t, $0) } }
        default:
            _ = withCPath(path) { mkfifo($0, 0o644) }
        }
    }
}

/// Calls `body` with `path` as a NUL-terminated C string.
private func withCPath<R>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
    (path + [0]).withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
    }
}

runFuzzer(fuzzImageFolder)
