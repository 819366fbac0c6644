import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The promise of the ABI: a plugin built by its own Makefile against nothing but the header loads and runs
/// in the host, and needs no Swift runtime.
@Suite struct CPluginBuildTests {
    @Test func poolformerBuildsWithItsOwnMakefileAndRuns() throws {
        let dir = try makeTemporaryDirectory("zoo-make")
        let source = packageRoot.appendingPathComponent("Plugins/PoolFormerC")
        for file in ["poolformer.c", "Makefile"] {
            try FileManager.default.copyItem(
                at: source.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        let make = try runCommand(
            "/usr/bin/env",
            [
                "make", "-C", dir.path,
                "ABI_INCLUDE=\(packageRoot.appendingPathComponent("Sources/OperatorABI/include").path)",
            ])
        #expect(make.status == 0, "\(make.stdout)\(make.stderr)")
        let library = dir.appendingPathComponent("build/libOZPoolFormerC.so").path
        // Nothing from Swift is linked in: the dynamic section names only the C library (and the math library).
        let needed = try runCommand("/usr/bin/env", ["readelf", "-d", library]).stdout
        #expect(!needed.contains("swift"), "\(needed)")

        let plugin = try PluginLibrary(path: library)
        let op = try Operator(try #require(plugin.operator("poolformer")), dim: 2, grid: (2, 2))
        // A 2x2 grid with a 3x3 window: every token averages all four, minus itself.
        let x = try Tensor<Float>(shape: [1, 4, 2], scalars: [1, 10, 2, 20, 3, 30, 4, 40])
        let y = try op.forward(x, parameters: [])
        #expect(y.scalars == [1.5, 15, 0.5, 5, -0.5, -5, -1.5, -15])
    }
}
