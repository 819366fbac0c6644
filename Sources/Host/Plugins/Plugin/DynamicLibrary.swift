import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A shared library opened with `dlopen(RTLD_NOW | RTLD_LOCAL)`: the host's only `dlopen`/`dlsym` code.
///
/// Libraries are never closed: unloading one that contains Swift code leaves the Swift runtime with
/// dangling metadata (swiftlang/swift#75889), so handles live as long as the process.
package final class DynamicLibrary: @unchecked Sendable {
    let path: String
    private let handle: UnsafeMutableRawPointer

    /// Opens `path` after checking that it is an ELF shared object for this machine.
    init(path: String) throws(PluginError) {
        self.path = path
        try Self.checkELF(path: path)
        _ = dlerror()
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
            throw .loadFailed(path: path, reason: reason)
        }
        self.handle = handle
    }

    /// The address of `symbol`, or nil when the library does not define it.
    func address(of symbol: String) -> UnsafeMutableRawPointer? {
        _ = dlerror()
        return dlsym(handle, symbol)
    }

    /// `symbol` reinterpreted as the C function type `T` (the one `unsafeBitCast` of the loader).
    func function<T>(_ symbol: String, as type: T.Type) -> T? {
        address(of: symbol).map { unsafeBitCast($0, to: type) }
    }

    /// Whether the running process defines `symbol` (a `dlsym` with `RTLD_DEFAULT`): in the executable or any
    /// library loaded so far, including `LD_PRELOAD`ed ones.
    package static func processDefines(_ symbol: String) -> Bool {
        _ = dlerror()
        return dlsym(nil, symbol) != nil
    }

    /// Checks the ELF identification and machine before `dlopen`, so the common mistakes get a clear error.
    static func checkELF(path: String) throws(PluginError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path: path)
        }
        guard !isDirectory.boolValue else { throw .notSharedObject(path: path, reason: "it is a directory") }
        guard let file = FileHandle(forReadingAtPath: path) else {
            throw .loadFailed(path: path, reason: "the file cannot be opened for reading")
        }
        defer { try? file.close() }
        let header = [UInt8]((try? file.read(upToCount: 64)) ?? Data())
        guard header.count >= 20, header[0] == 0x7F, header[1] == 0x45, header[2] == 0x4C, header[3] == 0x46 else {
            throw .notSharedObject(path: path, reason: "the file does not start with the ELF magic number")
        }
        let bits = header[4] == 2 ? "64-bit" : "32-bit"
        let machine = UInt16(header[18]) | UInt16(header[19]) << 8
        let type = UInt16(header[16]) | UInt16(header[17]) << 8
        guard header[4] == hostClass, machine == hostMachine else {
            throw .wrongArchitecture(
                path: path, found: "\(machineName(machine)) (\(bits))", expected: "\(machineName(hostMachine)) (64-bit)"
            )
        }
        guard type == 3 else {  // ET_DYN
            throw .notSharedObject(path: path, reason: "ELF type \(type) is not a shared object (ET_DYN)")
        }
    }

    private static let hostClass: UInt8 = 2  // ELFCLASS64
    #if arch(x86_64)
        private static let hostMachine: UInt16 = 62  // EM_X86_64
    #elseif arch(arm64)
        private static let hostMachine: UInt16 = 183  // EM_AARCH64
    #else
        private static let hostMachine: UInt16 = 0
    #endif

    private static func machineName(_ machine: UInt16) -> String {
        switch machine {
        case 3: "x86 (i386)"
        case 40: "ARM"
        case 62: "x86_64"
        case 183: "aarch64"
        case 243: "RISC-V"
        default: "ELF machine \(machine)"
        }
    }
}
