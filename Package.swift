// swift-tools-version: 6.1
import PackageDescription

/// A plugin: target `<Name>` in `Plugins/<Name>`, product `OZ<Name>` (file `libOZ<Name>.so`).
func plugin(_ name: String, swift: Bool) -> (Product, Target) {
    let product = Product.library(name: "OZ\(name)", type: .dynamic, targets: [name])
    let target: Target =
        swift
        ? .target(name: name, dependencies: ["OperatorABI", "COpenBLAS", "PluginKit"], path: "Plugins/\(name)")
        : .target(name: name, dependencies: ["OperatorABI"], path: "Plugins/\(name)", exclude: ["Makefile", "README.md"],
                  publicHeadersPath: ".")
    return (product, target)
}

let plugins = [
    plugin("MHA", swift: true), plugin("MLP", swift: true), plugin("LocalAttention", swift: true),
    plugin("Hyena", swift: true), plugin("PoolFormerC", swift: false), plugin("Mamba2", swift: true),
]
// Loader and conformance fixtures (Tests/Fixtures/Plugins) are not products: the tests compile them with `cc`
// into a temporary folder, so they never land beside `zoo` where the drop-in scan would list them.

let package = Package(
    name: "OperatorZoo",
    products: [
        .executable(name: "zoo", targets: ["zoo"]),
        .library(name: "Host", targets: ["Host"]),
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

        // MARK: Host library and CLI
        .target(
            name: "Host",
            dependencies: [
                "OperatorABI", "COpenBLAS", "CPNG", "CFFI",
                .product(name: "Numerics", package: "swift-numerics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "zoo",
            dependencies: ["Host", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // MARK: Helpers for Swift plugin authors (linked statically into each Swift plugin, never into Host)
        .target(name: "PluginKit", dependencies: ["OperatorABI", "COpenBLAS"], path: "Plugins/PluginKit"),

        // MARK: Tests
        .testTarget(
            name: "HostTests",
            dependencies: ["Host", "OperatorABI", "PluginKit", .product(name: "Numerics", package: "swift-numerics")],
            exclude: ["Fixtures"]
        ),
    ] + plugins.map(\.1)
)
