import Foundation

/// The C compiler the tests build C fixture plugins and C hosts with: `cc`, or `$ZOO_TEST_CC`, with the extra
/// flags in `$ZOO_TEST_CFLAGS` (space-separated).
///
/// `scripts/sanitize` sets both when it runs `swift test --sanitize=address|thread`: the toolchain's clang with the
/// same sanitizer, because a plain C host cannot load plugins built with a sanitizer (their instrumentation calls
/// into a runtime only an instrumented executable carries), and so the C fixtures are checked by it too.
enum TestCCompiler {
    static let command = ProcessInfo.processInfo.environment["ZOO_TEST_CC"] ?? "cc"
    static let extraFlags = (ProcessInfo.processInfo.environment["ZOO_TEST_CFLAGS"] ?? "").split(separator: " ").map(
        String.init)

    /// Arguments for `/usr/bin/env` that compile with `arguments` plus the extra flags.
    static func invocation(_ arguments: [String]) -> [String] { [command] + extraFlags + arguments }
}
