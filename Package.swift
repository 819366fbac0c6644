// swift-tools-version: 6.1
import PackageDescription

/// A plugin: target `<Name>` in `Plugins/<Name>`, product `OZ<Name>` (file `libOZ<Name>.so`).
/// `extra`: further dependencies of a Swift plugin (a system library only it links).
func plugin(_ name: String, swift: Bool, extra: [Target.Dependency] = []) -> (Product, Target) {
    let product = Product.library(name: "OZ\(name)", type: .dynamic, targets: [name])
    let target: Target =
        swift
        ? .target(name: name, dependencies: ["OperatorABI", "COpenBLAS", "PluginKit"] + extra, path: "Plugins/\(name)")
        : .target(
            name: name, dependencies: ["OperatorABI"], path: "Plugins/\(name)", exclude: ["Makefile", "README.md"],
            publicHeadersPath: ".")
    return (product, target)
}

let plugins = [
    plugin("MHA", swift: true), plugin("MLP", swift: true), plugin("LocalAttention", swift: true),
    plugin("Hyena", swift: true, extra: ["CKissFFT"]), plugin("PoolFormerC", swift: false),
    plugin("Mamba2", swift: true),
]
// Loader and conformance fixtures (Tests/Fixtures/Plugins) are not products: the tests compile them with `cc`
// into a temporary folder, so they never land beside `zoo` where the drop-in scan would list them.

/// The host's targets, bottom layer first (see docs/ARCHITECTURE.md).
let hostTargets = ["HostCore", "HostPlugins", "HostModel", "HostGraft", "HostConformance", "HostBench"]

let package = Package(
    name: "OperatorZoo",
    products: [
        .executable(name: "zoo", targets: ["zoo"]),
        // The host's layers as one library (the fuzz package links it).
        .library(name: "Host", targets: hostTargets),
        // For Swift plugins outside this package (`zoo plugin new NAME --language swift` depends on it by path).
        .library(name: "PluginKit", targets: ["PluginKit"]),
    ] + plugins.map(\.0),
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // MARK: The C ABI and system libraries
        .target(name: "OperatorABI"),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CFFI", pkgConfig: "libffi", providers: [.apt(["libffi-dev"])]),
        // KISS FFT for the `hyena` long convolution (float only on Debian; linked by OZHyena alone). No pkgConfig:
        // kissfft-float.pc only adds -Dkiss_fft_scalar=float, which SwiftPM refuses with a warning on every build;
        // the shim pins the scalar and the module map links the library.
        .systemLibrary(name: "CKissFFT", providers: [.apt(["libkissfft-dev"])]),

        // MARK: The host, in layers: each target imports only the ones above it in this list.
        // Core: tensors, file formats, matrix products, the thread pool, progress and statistics.
        .target(
            name: "HostCore", dependencies: ["COpenBLAS", "DNNLShim", "VectorKernels", "MPIShim"],
            path: "Sources/Host/Core"),
        // Plugins: loading operator libraries over the C ABI, the libffi adapter for plain C functions, the registry.
        .target(
            name: "HostPlugins",
            dependencies: [
                "HostCore", "OperatorABI", "CFFI",
                .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/Host/Plugins"
        ),
        // Model: the DiT with operator slots, diffusion, training, datasets and images.
        .target(name: "HostModel", dependencies: ["HostPlugins", "CPNG", "VectorKernels"], path: "Sources/Host/Model"),
        // Grafting: plans, the two stages, restructuring, evaluation and reports.
        .target(
            name: "HostGraft",
            dependencies: ["HostModel", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/Host/Graft"
        ),
        // For plugin authors: the conformance harness, soak, scaffold and float64 reference operators. Beside the
        // model, not under it: the model and grafting never link it.
        .target(
            name: "HostConformance", dependencies: ["HostPlugins"], path: "Sources/Host/Conformance",
            // `zoo plugin new`'s templates, real files compiled into the binary (no resource bundle to install).
            resources: [
                "c/plugin.c", "c/Makefile", "c/README-c.md", "swift/Package.swift", "swift/Plugin.swift",
                "swift/ShiftMixerKernel.swift", "swift/build.sh", "swift/README-swift.md",
            ].map { .embedInCode("Scaffold/Templates/\($0).template") }
        ),
        // Benchmarks of operators, the DiT, training and grafting payoff.
        .target(name: "HostBench", dependencies: ["HostGraft"], path: "Sources/Host/Bench"),
        // The CLI: parses arguments, calls the layers, prints.
        .executableTarget(
            name: "zoo",
            dependencies: [
                "HostBench", "HostConformance", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: Helpers for Swift plugin authors (linked statically into each Swift plugin, never into Host)
        .target(
            name: "PluginKit", dependencies: ["OperatorABI", "COpenBLAS", "DNNLShim", "VectorKernels"],
            path: "Plugins/PluginKit"),
        // float32 elementwise kernels (GELU, softmax, exp, SiLU) compiled for AVX-512, AVX2 and the baseline, picked
        // at load time: Swift alone compiles them for the baseline's 4-wide SSE.
        .target(name: "VectorKernels", path: "Sources/VectorKernels"),
        // Open MPI opened at run time (dlopen), so a machine without MPI builds and runs as before.
        .target(name: "MPIShim", path: "Sources/MPIShim"),
        // oneDNN's sgemm opened at run time (dlopen): float32 products go through it where it is installed and
        // OpenBLAS otherwise (ZOO_BLAS=openblas forces OpenBLAS). Linked statically into the host and each plugin.
        .target(name: "DNNLShim", path: "Sources/DNNLShim"),

        // MARK: Tests
        .testTarget(
            name: "HostTests",
            dependencies: hostTargets.map { .target(name: $0) } + [
                "OperatorABI", "PluginKit", "VectorKernels", .product(name: "Numerics", package: "swift-numerics"),
            ],
            exclude: ["Fixtures"]
        ),
    ] + plugins.map(\.1)
)
