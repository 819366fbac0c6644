import VectorKernels

/// The instruction set the float32 vector kernels (VectorKernels: GELU, softmax, exp, SiLU) run with on this
/// machine, chosen at load time: `x86-64-v4` (AVX-512), `x86-64-v3` (AVX2 + FMA) or `baseline`.
public enum VectorISA {
    public static var name: String { String(cString: ozv_isa()) }
}
