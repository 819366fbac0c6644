import CFuzzerDriver
import Foundation

/// Runs libFuzzer's driver on the process's arguments with `testOneInput` as the target, and exits with its
/// status. Call it from a fuzz target's `main.swift`.
public func runFuzzer(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
}

/// The bytes libFuzzer passes to `LLVMFuzzerTestOneInput` (it may pass a null pointer with a zero count).
public func fuzzData(_ start: UnsafePointer<UInt8>?, _ count: Int) -> Data {
    guard let start, count > 0 else { return Data() }
    return Data(bytes: start, count: count)
}

/// Stops the process with `message` when `condition` is false, so libFuzzer records the input as a crash.
///
/// The fuzz targets check more than "no trap": a value that parsed must survive its own writer, and an error
/// must name the file it is about. A broken property is as much a finding as a crash.
public func fuzzRequire(
    _ condition: @autoclosure () -> Bool,
    _ message: @autoclosure () -> String,
    file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition() { fatalError("fuzz property failed: \(message())", file: file, line: line) }
}

/// Requires that an error's description names `path` (every parser error in the host names its file).
public func fuzzRequireNames(_ error: any Error, _ path: String, file: StaticString = #fileID, line: UInt = #line) {
    let text = String(describing: error)
    fuzzRequire(text.contains(path), "the error does not name '\(path)': \(text)", file: file, line: line)
}
