import Foundation
import OperatorABI
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The complexity class instances declare (`oz_instance_info.complexity`, ABI 1.2): what every shipped operator
/// declares, compatibility with 1.1 plugins and 1.1 hosts, and how the `complexity` check judges fitted exponents
/// (on synthetic timings, so no test here depends on the machine's speed). The broken fixture that the check
/// catches under `--strict-timing` is in ``ConformanceTests``.
@Suite struct ComplexityTests {
    static func op(
        _ product: String, _ id: String, grid: (height: Int, width: Int)? = nil,
        _ attributes: [String: AttributeValue] = [:]
    ) throws -> Operator {
        let plugin = try PluginLibrary(path: try pluginPath(product: product))
        return try Operator(try #require(plugin.operator(id)), dim: 16, grid: grid, attributes: attributes)
    }

    static let declared: [(product: String, id: String, complexity: OperatorComplexity)] = [
        ("OZMHA", "mha", .quadratic), ("OZMLP", "mlp", .linear), ("OZLocalAttention", "swa", .linear),
        ("OZLocalAttention", "swa2d", .linear), ("OZLocalAttention", "linear_attn", .linear),
        ("OZHyena", "hyena_x", .linear),
        ("OZHyena", "hyena_se", .linear), ("OZHyena", "hyena_y", .linear), ("OZHyena", "mlp_hyena_x", .linear),
        ("OZPoolFormerC", "poolformer", .linear),
    ]

    @Test(arguments: declared.indices)
    func shippedOperatorsDeclareTheirClass(index: Int) throws {
        let c = Self.declared[index]
        let plugin = try PluginLibrary(path: try pluginPath(product: c.product))
        let descriptor = try #require(plugin.operator(c.id))
        let grid: (height: Int, width: Int)? = descriptor.capabilities.contains(.needsGrid) ? (4, 4) : nil
        #expect(try Operator(descriptor, dim: 16, grid: grid).complexity == c.complexity, "\(c.id)")
    }

    /// `swa` is O(L w): linear while both sides of its window are bounded, quadratic when one is not.
    @Test(arguments: [
        ([4, 4], false, OperatorComplexity.linear), ([-1, 4], false, .quadratic), ([4, -1], false, .quadratic),
        ([-1, -1], false, .quadratic), ([8, -1], true, .linear), ([-1, -1], true, .quadratic),
        ([0, 0], false, .linear),
    ])
    func slidingWindowDeclaresPerInstance(window: [Int64], causal: Bool, expected: OperatorComplexity) throws {
        let op = try Self.op("OZLocalAttention", "swa", ["window_size": .intList(window), "causal": .bool(causal)])
        #expect(op.complexity == expected)
    }

    /// A plugin built against ABI 1.1 (its describe writes the 1.1 struct, which ends before `complexity`) loads,
    /// runs, and reads as undeclared; the harness then reports its exponent without judging it.
    @Test func abi11PluginLoadsAsUndeclared() throws {
        let path = try FixturePlugins.path("MinorOneOne")
        let plugin = try PluginLibrary(path: path)
        #expect(plugin.abiMajor == 1 && plugin.abiMinor == 1)
        let op = try Operator(
            try #require(plugin.operator("minor_one_one_op")), dim: 3, attributes: ["scale": .float(2)])
        #expect(op.complexity == .undeclared)
        #expect(op.fixedLength == nil && op.isCausal)
        let x = try Tensor<Float>(shape: [1, 2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(try op.forward(x, parameters: []).scalars == [2, 4, 6, 8, 10, 12])
        let result = ConformanceProbe.run(
            check: .complexity, library: path, operatorId: "minor_one_one_op", seed: 0, quick: true)
        #expect(result.verdict == .skipped && result.reason.contains("declares no complexity class"), "\(result)")
        #expect(result.figure?.contains("L^") == true, "the measured exponent is still reported: \(result)")
    }

    /// A host built against 1.1 passes a 40-byte `oz_instance_info`: Swift (PluginKit) and C plugins write nothing
    /// past it (a C program, Tests/Fixtures/Hosts/older_host.c, poisons the bytes after and checks them).
    @Test(arguments: [
        ("OZMLP", "mlp", 0, 0), ("OZLocalAttention", "swa", 0, 0), ("OZHyena", "mlp_hyena_x", 0, 0),
        ("OZPoolFormerC", "poolformer", 4, 4), ("OZMHA", "mha", 0, 0),
    ])
    func pluginsWriteNothingPastAnOlderHostsStruct(product: String, id: String, gridH: Int, gridW: Int) throws {
        let dir = try makeTemporaryDirectory("zoo-older-host")
        let host = dir.appendingPathComponent("older_host").path
        let build = try runCommand(
            "/usr/bin/env",
            TestCCompiler.invocation([
                "-std=c99", "-Wall", "-Wextra", "-Werror", "-I",
                packageRoot.appendingPathComponent("Sources/OperatorABI/include").path,
                "-o", host, packageRoot.appendingPathComponent("Tests/Fixtures/Hosts/older_host.c").path, "-ldl",
            ]))
        try #require(build.status == 0, "\(build.stderr)")
        let run = try runCommand(host, [try pluginPath(product: product), id, "\(gridH)", "\(gridW)"])
        #expect(run.status == 0 && run.stdout.hasPrefix("ok"), "\(id): \(run.stdout)\(run.stderr)")
        if id == "mlp_hyena_x" { #expect(run.stdout.contains("fixed_length=256"), "1.1 fields are still written") }
    }

    // MARK: The verdict, on synthetic timings

    /// Timings `scale * f(L)` at L = 256 ... 2048, five repeats each, jittered by `jitter` (relative).
    static func measurement(_ f: (Double) -> Double, jitter: Double = 0.01) -> ComplexityMeasurement {
        var m = ComplexityMeasurement()
        for l in [256, 512, 1024, 2048] {
            let t = 1e-6 * f(Double(l))
            m.samples.append((l, [1, 1 + jitter, 1 - jitter, 1 + 2 * jitter, 1 - 2 * jitter].map { t * $0 }))
        }
        return m
    }

    static let linearTimes = measurement { $0 }
    static let quadraticTimes = measurement { $0 * $0 }
    static let linearithmicTimes = measurement { $0 * log2($0) }

    @Test func fittedExponentsAndSpread() {
        #expect(abs(Self.linearTimes.exponent - 1) < 1e-9)
        #expect(abs(Self.quadraticTimes.exponent - 2) < 1e-9)
        #expect(abs(Self.linearithmicTimes.exponentOverLogL - 1) < 1e-9)
        #expect(Self.linearithmicTimes.exponent > 1.05, "L log L fits steeper than L")
        #expect(abs(Self.linearTimes.spread - 0.02) < 1e-9, "(q3 - q1) / median = (1.01 - 0.99) / 1")
        #expect(ComplexityMeasurement.median([3, 1, 2, 10]) == 2.5)
    }

    @Test func consistentTimingsPass() {
        let cases: [(OperatorComplexity, ComplexityMeasurement)] = [
            (.linear, Self.linearTimes), (.quadratic, Self.quadraticTimes), (.linearithmic, Self.linearithmicTimes),
            // An upper bound: growing more slowly than declared is consistent with it.
            (.quadratic, Self.linearTimes), (.linearithmic, Self.linearTimes), (.linear, Self.linearithmicTimes),
        ]
        for (declared, times) in cases {
            for strict in [false, true] {
                let v = ComplexityPolicy.verdict(
                    declared: declared, forward: times, backward: Self.linearTimes, strictTiming: strict)
                #expect(v.verdict == .pass, "\(declared): \(v.reason)")
                #expect(v.figure?.contains("fwd L^") == true && v.figure?.contains("bwd L^") == true)
            }
        }
        let slower = ComplexityPolicy.verdict(
            declared: .quadratic, forward: Self.linearTimes, backward: nil, strictTiming: false)
        #expect(slower.reason.contains("more slowly than declared"))
    }

    @Test func fasterThanDeclaredFailsOnlyUnderStrictTiming() {
        for backwardOnly in [false, true] {
            let (f, b) =
                backwardOnly ? (Self.linearTimes, Self.quadraticTimes) : (Self.quadraticTimes, Self.linearTimes)
            let strict = ComplexityPolicy.verdict(declared: .linear, forward: f, backward: b, strictTiming: true)
            #expect(strict.verdict == .fail, "\(strict.reason)")
            #expect(
                strict.reason.contains("L^2.00") && strict.reason.contains("O(L) (exponent at most 1.5)"),
                "\(strict.reason)")
            #expect(strict.reason.contains(backwardOnly ? "backward" : "forward"))
            let reported = ComplexityPolicy.verdict(declared: .linear, forward: f, backward: b, strictTiming: false)
            #expect(reported.verdict == .skipped && reported.reason.contains("--strict-timing"), "\(reported.reason)")
        }
        // O(L^2) declared O(L log L): time / log L still grows as L^1.7.
        let v = ComplexityPolicy.verdict(
            declared: .linearithmic, forward: Self.quadraticTimes, backward: nil, strictTiming: true)
        #expect(v.verdict == .fail, "\(v.reason)")
    }

    @Test func undeclaredAndNoisyAreReportOnly() {
        let undeclared = ComplexityPolicy.verdict(
            declared: .undeclared, forward: Self.quadraticTimes, backward: nil, strictTiming: true)
        #expect(undeclared.verdict == .skipped && undeclared.reason.contains("declares no complexity class"))
        #expect(undeclared.figure?.hasPrefix("fwd L^2.00") == true, "\(String(describing: undeclared.figure))")
        let noisy = Self.measurement({ $0 }, jitter: 0.3)
        let judged = ComplexityPolicy.verdict(declared: .linear, forward: noisy, backward: nil, strictTiming: false)
        #expect(judged.verdict == .skipped && judged.reason.contains("too noisy"), "\(judged.reason)")
        #expect(judged.reason.contains("spread up to 60%"), "\(judged.reason)")
        // Strict timing fails a clear excess even when noisy, and says how noisy it was.
        let noisyQuadratic = Self.measurement({ $0 * $0 }, jitter: 0.3)
        let strict = ComplexityPolicy.verdict(
            declared: .linear, forward: noisyQuadratic, backward: nil, strictTiming: true)
        #expect(strict.verdict == .fail && strict.reason.contains("spread up to"), "\(strict.reason)")
    }
}
