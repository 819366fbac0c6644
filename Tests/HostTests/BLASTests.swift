import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

@Suite struct BLASTests {
    /// The largest error of `BLAS.matmul` on an `m x k` by `k x n` product of unit normals (seeds `seed`, `seed + 1`)
    /// against float64 sums, relative to max(1, |exact|).
    static func worstError(m: Int, k: Int, n: Int, transposeA: Bool, transposeB: Bool, seed: UInt64) throws -> Double {
        let a = Tensor<Float>.randomNormal(transposeA ? [k, m] : [m, k], seed: seed)
        let b = Tensor<Float>.randomNormal(transposeB ? [n, k] : [k, n], seed: seed + 1)
        let c = try BLAS.matmul(a, b, transposeA: transposeA, transposeB: transposeB)
        #expect(c.shape == [m, n])
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    s += Double(transposeA ? a[p, i] : a[i, p]) * Double(transposeB ? b[j, p] : b[p, j])
                }
                worst = max(worst, abs(Double(c[i, j]) - s) / max(1, abs(s)))
            }
        }
        return worst
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmulMatchesNaiveProduct(transposeA: Bool, transposeB: Bool) throws {
        let worst = try Self.worstError(m: 5, k: 7, n: 3, transposeA: transposeA, transposeB: transposeB, seed: 1)
        #expect(worst <= 1e-5)
    }

    /// A product large enough to be split into one row block per pool thread (m >= 16, m n k >= 2^18), in each
    /// transposition, against float64 sums: the blocks' offsets into A and C, whichever library computes them.
    /// Tolerance 1e-5 relative: float32 sums of 90 products of unit normals, about 90 ulp at worst.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func splitProductMatchesNaiveProduct(transposeA: Bool, transposeB: Bool) throws {
        let worst = try Self.worstError(m: 70, k: 90, n: 65, transposeA: transposeA, transposeB: transposeB, seed: 3)
        #expect(worst <= 1e-5, "\(BLAS.sgemmLibrary): max relative error \(worst)")
    }

    /// An empty inner extent: C = beta C, as BLAS defines it (oneDNN 2.6 returned success and left C unscaled, so
    /// DNNLShim passes k = 0 to OpenBLAS).
    @Test func emptyInnerExtentScalesC() throws {
        let a = [Float](repeating: 0, count: 1), b = [Float](repeating: 0, count: 3)
        var c: [Float] = [1, 2, 3, 4, 5, 6]
        try c.withUnsafeMutableBufferPointer { (cp) throws(BLAS.DimensionError) in
            try BLAS.gemm(
                .none, .none, m: 2, n: 3, k: 0, a: a, lda: 1, b: b, ldb: 3, beta: 0.5, c: cp.baseAddress!, ldc: 3)
        }
        #expect(c == [0.5, 1, 1.5, 2, 2.5, 3])
    }

    /// The float32 products' library: oneDNN where libdnnl is installed, OpenBLAS with `ZOO_BLAS=openblas` or without
    /// it; both give an operator's output within float32 rounding of the float64 reference, and benchmark reports
    /// name the library.
    @Test func sgemmLibraryIsChosenByZOOBLASAndBothAgree() throws {
        let dir = try makeTemporaryDirectory("zoo-blas")
        func file(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let registry = file("registry.json")
        let add = try runCommand(
            try zooPath(),
            ["registry", "add", try pluginPath(product: "OZMLP"), "--registry", registry, "--skip-conformance"])
        #expect(add.status == 0, "\(add.stderr)")
        // [2, 40, 32] through fc1 (80 x 128 x 32): a product the host's pool splits.
        let x = Tensor<Float>.randomNormal([2, 40, 32], seed: 5)
        try NPY.write(x, path: file("x.npy"))
        let installed = ["libdnnl.so.2", "libdnnl.so.3"].contains { name in
            guard let handle = dlopen(name, RTLD_LAZY) else { return false }
            dlclose(handle)
            return true
        }
        for choice in ["openblas", "onednn"] {
            let environment = ["ZOO_REGISTRY": registry, "ZOO_BLAS": choice]
            let bench = try runCommand(
                try zooPath(), ["bench", "blas", "--repeats", "1", "--json", file("\(choice).json")],
                environment: environment)
            #expect(bench.status == 0, "\(bench.stderr)")
            let report = try JSONDecoder().decode(
                BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: file("\(choice).json"))))
            let library = try #require(report.machine.sgemmLibrary)
            #expect(bench.stdout.contains("float32 products \(library)"))
            if choice == "openblas" || !installed {
                #expect(library.hasPrefix("OpenBLAS"), "\(choice): \(library)")
            } else {
                #expect(library.hasPrefix("oneDNN"), "\(choice): \(library)")
            }
            let run = try runCommand(
                try zooPath(),
                [
                    "op", "run", "mlp", "--input", file("x.npy"), "--output", file("y-\(choice).npy"), "--seed", "3",
                    "--save-params", file("p.safetensors"),
                ], environment: environment)
            #expect(run.status == 0, "\(run.stderr)")
            let params = try SafetensorsFile.read(path: file("p.safetensors"))
            let p = try params.names.map { try params.tensor(named: $0).scalars.map(Double.init) }
            let expected = referenceMLP(
                x: x.scalars.map(Double.init), B: 2, L: 40, D: 32, hidden: 128, fc1W: p[0], fc1B: p[1], fc2W: p[2],
                fc2B: p[3])
            expectClose(
                try NPY.read(path: file("y-\(choice).npy")).tensor(as: Float.self), expected, rtol: 1e-4, atol: 1e-5,
                "mlp through \(library)")
        }
    }

    @Test func mismatchedExtentsAreAnError() {
        #expect(throws: BLAS.DimensionError.self) {
            _ = try BLAS.matmul(Tensor<Float>(zeros: [2, 3]), Tensor<Float>(zeros: [4, 2]))
        }
        #expect(!BLAS.coreName.isEmpty)
    }
}

/// When to advise `OPENBLAS_CORETYPE`: only the generic kernel on a CPU that could run a faster one, and only when
/// the user has not chosen the kernel.
@Suite struct KernelAdviceTests {
    @Test func advisesOnlyTheGenericKernelOnAFasterCPU() {
        let avx512: Set<String> = ["sse3", "avx2", "avx512f", "avx512bw"]
        #expect(
            BLAS.kernelAdvice(core: "Prescott", cpuFlags: avx512, coreTypeSet: false)?.contains(
                "OPENBLAS_CORETYPE=SkylakeX") == true)
        #expect(
            BLAS.kernelAdvice(core: "Prescott", cpuFlags: ["sse3", "avx2"], coreTypeSet: false)?.contains(
                "OPENBLAS_CORETYPE=Haswell") == true)
        #expect(BLAS.kernelAdvice(core: "Prescott", cpuFlags: avx512, coreTypeSet: true) == nil, "the user chose it")
        #expect(
            BLAS.kernelAdvice(core: "Prescott", cpuFlags: ["sse3"], coreTypeSet: false) == nil, "nothing faster to run")
        #expect(BLAS.kernelAdvice(core: "Cooperlake", cpuFlags: avx512, coreTypeSet: false) == nil)
    }
}
