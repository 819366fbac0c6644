import Foundation

extension BLAS {
    /// Advice for when OpenBLAS fell back to its generic SSE3 kernel on a CPU with AVX2 or AVX-512: OpenBLAS
    /// 0.3.21 (Debian 12) does not recognise some newer Intel CPUs (e.g. family 6 model 207) and then runs every
    /// matrix product about 4x slower than its SkylakeX/Cooperlake kernel does on the same machine. The kernel is
    /// chosen when the library loads, so only the environment (`OPENBLAS_CORETYPE`) can change it.
    /// - Returns: nil unless the kernel is `Prescott`, the CPU has AVX2, and `OPENBLAS_CORETYPE` is unset.
    public static var kernelAdvice: String? {
        let flags =
            (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))
            .flatMap { $0.split(separator: "\n").first { $0.hasPrefix("flags") } }
            .map { Set($0.split(separator: " ").map(String.init)) } ?? []
        return kernelAdvice(
            core: coreName, cpuFlags: flags,
            coreTypeSet: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil)
    }

    /// ``kernelAdvice`` from its inputs: the kernel's name, the CPU's `/proc/cpuinfo` flags, and whether
    /// `OPENBLAS_CORETYPE` is set (then the choice was the user's).
    static func kernelAdvice(core: String, cpuFlags: Set<String>, coreTypeSet: Bool) -> String? {
        guard core.lowercased() == "prescott", !coreTypeSet, cpuFlags.contains("avx2") else { return nil }
        let (isa, suggested) =
            cpuFlags.isSuperset(of: ["avx512f", "avx512bw"]) ? ("AVX-512", "SkylakeX") : ("AVX2", "Haswell")
        return
            "note: OpenBLAS did not recognise this CPU and runs its generic Prescott kernel, though the CPU has \(isa); "
            + "matrix products run several times faster with OPENBLAS_CORETYPE=\(suggested) in the environment"
    }
}
