import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The `zoo` executable end to end, on files the tests write.
@Suite struct CLITests {
    /// A temporary folder with a registry that pins the freshly built shipped plugins.
    struct Workspace {
        let dir: URL
        let registry: String
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        init() throws {
            dir = try makeTemporaryDirectory("zoo-cli")
            registry = dir.appendingPathComponent("registry.json").path
            for product in ["OZMHA", "OZMLP", "OZPoolFormerC"] {
                let result = try runCommand(
                    try zooPath(),
                    ["registry", "add", try pluginPath(product: product), "--registry", registry, "--skip-conformance"])
                #expect(result.status == 0, "\(result.stderr)")
            }
        }

        /// This workspace's registry, and its own sample cache (so runs never read or fill the user's).
        var environment: [String: String] { ["ZOO_REGISTRY": registry, "ZOO_CACHE_DIR": path("cache")] }

        func zoo(_ arguments: [String]) throws -> CommandResult {
            try runCommand(try zooPath(), arguments, environment: environment)
        }

        /// `zoo arguments`, not started, with ``childEnvironment(adding:)`` and this workspace's registry (as for
        /// ``zoo(_:)``), and its output discarded.
        func zooProcess(_ arguments: [String]) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try zooPath())
            process.arguments = arguments
            process.environment = childEnvironment(adding: environment)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            return process
        }

        /// Starts `zoo arguments`, waits (up to two minutes) until `file` exists, kills it with SIGKILL and
        /// returns how it ended (`.uncaughtSignal` when the kill landed before the run finished).
        func zooKilled(_ arguments: [String], onceExists file: String) throws -> Process.TerminationReason {
            let process = try zooProcess(arguments)
            try process.run()
            let deadline = Date().addingTimeInterval(120)
            while !FileManager.default.fileExists(atPath: file) && Date() < deadline && process.isRunning {
                usleep(5_000)
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return process.terminationReason
        }
    }

    @Test func opRunWritesOutputsGradientsAndParameters() throws {
        let ws = try Workspace()
        let x = Tensor<Float>.randomNormal([2, 5, 8], seed: 1)
        let dy = Tensor<Float>.randomNormal([2, 5, 8], seed: 2)
        try NPY.write(x, path: ws.path("x.npy"))
        try NPY.write(dy, path: ws.path("dy.npy"))
        let run = try ws.zoo([
            "op", "run", "mlp", "--input", ws.path("x.npy"), "--output", ws.path("y.npy"), "--seed", "3",
            "--save-params", ws.path("p.safetensors"), "--set", "expansion_ratio=2", "--grad-output", ws.path("dy.npy"),
            "--grad-input", ws.path("dx.npy"), "--grad-params", ws.path("dp.safetensors"),
        ])
        #expect(run.status == 0, "\(run.stderr)")
        // Y against the float64 reference on the saved parameters.
        let params = try SafetensorsFile.read(path: ws.path("p.safetensors"))
        #expect(params.names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
        #expect(params.metadata["operator"] == "mlp" && params.metadata["attr.expansion_ratio"] == "2.0")
        let p = try params.names.map { try params.tensor(named: $0).scalars.map(Double.init) }
        let y = try NPY.read(path: ws.path("y.npy")).tensor(as: Float.self)
        let expected = referenceMLP(
            x: x.scalars.map(Double.init), B: 2, L: 5, D: 8, hidden: 16, fc1W: p[0], fc1B: p[1], fc2W: p[2], fc2B: p[3])
        expectClose(y, expected, rtol: 1e-4, atol: 1e-5, "zoo op run mlp")
        // Gradients equal the in-process VJP on the same parameters.
        let op = try Operator(
            try PluginLibrary(path: try pluginPath(product: "OZMLP")).operator("mlp")!, dim: 8,
            attributes: ["expansion_ratio": .float(2)])
        let tensors = try params.names.map { try params.tensor(named: $0) }
        let grads = try op.backward(x, parameters: tensors, outputGradient: dy)
        #expect(try NPY.read(path: ws.path("dx.npy")).tensor(as: Float.self) == grads.input!)
        let dp = try SafetensorsFile.read(path: ws.path("dp.safetensors"))
        for (name, g) in zip(params.names, grads.parameters) { #expect(try dp.tensor(named: name) == g!) }
        // The same parameters given back with --params give the same Y, in float64 input too.
        try NPY.write(x.converted(to: Double.self), path: ws.path("x64.npy"))
        let again = try ws.zoo([
            "op", "run", "mlp", "--input", ws.path("x64.npy"), "--output", ws.path("y2.npy"), "--params",
            ws.path("p.safetensors"), "--set", "expansion_ratio=2",
        ])
        #expect(again.status == 0, "\(again.stderr)")
        expectClose(
            try NPY.read(path: ws.path("y2.npy")).tensor(as: Float.self), expected, rtol: 1e-4, atol: 1e-5,
            "float64 input")
    }

    @Test func opRunErrorsNameTheirCause() throws {
        let ws = try Workspace()
        try NPY.write(Tensor<Float>.randomNormal([1, 4, 8], seed: 1), path: ws.path("x.npy"))
        try NPY.write(Tensor<Float>.randomNormal([1, 4], seed: 1), path: ws.path("x2d.npy"))
        // A plugin that asks for 2^60 bytes of workspace (more than any address space, so its allocation fails on
        // every overcommit setting): the host reports it instead of aborting.
        let huge = try ws.zoo([
            "registry", "add", try FixturePlugins.path("HugeWorkspace"), "--registry", ws.registry,
            "--skip-conformance",
        ])
        try #require(huge.status == 0, "\(huge.stderr)")
        let cases: [([String], String)] = [
            (
                [
                    "op", "run", "huge_workspace_op", "--input", ws.path("x.npy"), "--output", ws.path("y.npy"),
                    "--allow-unconformant",
                ], "workspace of"
            ),
            (["op", "run", "mlp", "--input", ws.path("missing.npy"), "--output", ws.path("y.npy")], "missing.npy"),
            (["op", "run", "mlp", "--input", ws.path("x2d.npy"), "--output", ws.path("y.npy")], "[B, L, D]"),
            (
                ["op", "run", "mlp", "--input", ws.path("x.npy"), "--output", ws.path("y.npy"), "--set", "ratio=2"],
                "'ratio'"
            ),
            (
                [
                    "op", "run", "mha", "--input", ws.path("x.npy"), "--output", ws.path("y.npy"), "--set",
                    "num_heads=3",
                ], "num_heads"
            ),
            (["op", "run", "nope", "--input", ws.path("x.npy"), "--output", ws.path("y.npy")], "'nope'"),
            (
                [
                    "op", "run", "mlp", "--input", ws.path("x.npy"), "--output", ws.path("y.npy"), "--params",
                    ws.path("x.npy"),
                ], "x.npy"
            ),
            (
                ["op", "run", "mlp", "--input", ws.path("x.npy"), "--output", "/nonexistent-dir/y.npy"],
                "/nonexistent-dir/y.npy"
            ),
            (["op", "run", "poolformer", "--input", ws.path("x.npy"), "--output", ws.path("y.npy")], "grid"),
        ]
        for (arguments, needle) in cases {
            let result = try ws.zoo(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(needle), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"), "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: ws.path("y.npy")))
    }

    @Test func refusesAChangedLibraryUnlessAllowed() throws {
        let ws = try Workspace()
        // Pin the C plugin, then replace it by another build of itself with a different hash.
        let library = ws.path("libOZPoolFormerC.so")
        try FileManager.default.copyItem(atPath: try pluginPath(product: "OZPoolFormerC"), toPath: library)
        let add = try ws.zoo(["registry", "add", library, "--registry", ws.registry, "--id", "pool-copy"])
        #expect(add.status == 0, "\(add.stderr)")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: library))
        bytes.append(0)  // still a valid ELF file, but not the one that was pinned
        try bytes.write(to: URL(fileURLWithPath: library))
        try NPY.write(Tensor<Float>.randomNormal([1, 4, 3], seed: 1), path: ws.path("x.npy"))
        let arguments = [
            "op", "run", "poolformer", "--plugin", library, "--grid", "2x2", "--input", ws.path("x.npy"), "--output",
            ws.path("y.npy"),
        ]
        let refused = try ws.zoo(arguments)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("refusing") && refused.stderr.contains("pool-copy"), "\(refused.stderr)")
        let verify = try ws.zoo(["registry", "verify"])
        #expect(verify.status != 0 && verify.stdout.contains("FAILED  pool-copy"), "\(verify.stdout)")
        let allowed = try ws.zoo(arguments + ["--allow-unpinned"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
    }

    @Test func listInspectVerifyAndDemo() throws {
        let ws = try Workspace()
        let list = try ws.zoo(["plugins", "list"])
        #expect(list.status == 0)
        #expect(
            list.stdout.contains("- mha [token_mixer]") && list.stdout.contains("- mlp [channel_mixer]"),
            "\(list.stdout)")
        let inspect = try ws.zoo(["plugins", "inspect", "mha", "--dim", "1152"])
        #expect(inspect.status == 0)
        #expect(
            inspect.stdout.contains("qkv.weight [3456, 1152]") && inspect.stdout.contains("num_heads: int = 16"),
            "\(inspect.stdout)")
        let verify = try ws.zoo(["registry", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let demo = try ws.zoo(["demo", "--dim", "16", "--grid", "3x3"])
        #expect(demo.status == 0, "\(demo.stdout)\(demo.stderr)")
        #expect(demo.stdout.contains("poolformer") && !demo.stdout.contains("FAILED"))
    }

    @Test func dropInUnpinnedLibraryIsListedButNotLoaded() throws {
        let ws = try Workspace()
        let drop = try makeTemporaryDirectory("zoo-dropin")
        try FileManager.default.copyItem(
            atPath: try FixturePlugins.path("NewerMinor"), toPath: drop.appendingPathComponent("libNewer.so").path)
        let list = try ws.zoo(["plugins", "list", "--plugin-dir", drop.path])
        #expect(
            list.stdout.contains("libNewer.so") && list.stdout.contains("unpinned")
                && list.stdout.contains("not loaded"), "\(list.stdout)")
        // After `zoo registry add`, the same library is pinned and its operator resolves by id.
        let add = try ws.zoo([
            "registry", "add", drop.appendingPathComponent("libNewer.so").path, "--registry", ws.registry,
        ])
        #expect(add.status == 0, "\(add.stderr)")
        // `registry add` ran the harness and recorded its verdict in the entry.
        let entry = try #require(try Registry.load(path: ws.registry).entries.first { $0.operators == ["newer_op"] })
        #expect(entry.conformance?.passed == true, "\(add.stdout)")
        #expect(entry.conformance?.harnessVersion == ConformanceRunner.version)
        let again = try ws.zoo(["plugins", "list", "--plugin-dir", drop.path])
        #expect(again.stdout.contains("- newer_op"), "\(again.stdout)")
    }

    /// The README's dozen-line C plugin compiles against nothing but the header and runs through `zoo op run`.
    @Test func readmePluginExampleWorks() throws {
        let readme = try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "```c\n"))
        let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let ws = try Workspace()
        try String(readme[start.upperBound..<end.lowerBound]).write(
            toFile: ws.path("double_it.c"), atomically: true, encoding: .utf8)
        let cc = try runCommand(
            "/usr/bin/env",
            TestCCompiler.invocation([
                "-std=c99", "-O2", "-fPIC", "-shared", "-Wall", "-Werror", "-I",
                packageRoot.appendingPathComponent("Sources/OperatorABI/include").path, ws.path("double_it.c"), "-o",
                ws.path("libDoubleIt.so"),
            ]))
        #expect(cc.status == 0, "\(cc.stderr)")
        #expect(try ws.zoo(["registry", "add", ws.path("libDoubleIt.so"), "--registry", ws.registry]).status == 0)
        let x = Tensor<Float>.randomNormal([1, 3, 4], seed: 5)
        try NPY.write(x, path: ws.path("x.npy"))
        let run = try ws.zoo(["op", "run", "double_it", "--input", ws.path("x.npy"), "--output", ws.path("y.npy")])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try NPY.read(path: ws.path("y.npy")).tensor(as: Float.self).scalars == x.scalars.map { 2 * $0 })
    }
}
