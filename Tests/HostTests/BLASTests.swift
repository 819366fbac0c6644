import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

@Suite struct BLASTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmulMatchesNaiveProduct(transposeA: Bool, transposeB: Bool) throws {
        let (m, k, n) = (5, 7, 3)
        let a = Tensor<Float>.randomNormal(transposeA ? [k, m] : [m, k], seed: 1)
        let b = Tensor<Float>.randomNormal(transposeB ? [n, k] : [k, n], seed: 2)
        let c = try BLAS.matmul(a, b, transposeA: transposeA, transposeB: transposeB)
        #expect(c.shape == [m, n])
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    s += Double(transposeA ? a[p, i] : a[i, p]) * Double(transposeB ? b[j, p] : b[p, j])
                }
                #expect(abs(Double(c[i, j]) - s) <= 1e-5 * max(1, abs(s)))
            }
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
