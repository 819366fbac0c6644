// swift-tools-version: 6.1
import PackageDescription

/// libFuzzer targets for every parser that reads user files, kept out of the main package so that
/// `swift build` and `swift test` never see them. Build and run them with `scripts/fuzz`, which passes
/// `-Xswiftc -sanitize=fuzzer,address` and `--scratch-path .build-fuzz`.
///
/// Each target is an executable whose `main.swift` defines `LLVMFuzzerTestOneInput` and hands it to libFuzzer's
/// driver (`runFuzzer`); SwiftPM links an executable's `main` to its module's own entry point, so libFuzzer's
/// `main` is not used. Seed corpora live in `corpus/<target>/`.
let targets = [
    "FuzzNPY", "FuzzSafetensors", "FuzzRegistry", "FuzzDiTConfig", "FuzzGraftPlan", "FuzzPNG", "FuzzImageFolder",
    "FuzzCFunctionSpec", "FuzzPyTorch",
]

let package = Package(
    name: "OperatorZooFuzz",
    dependencies: [.package(name: "OperatorZoo", path: "../..")],
    targets: [
        .target(name: "CFuzzerDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzerDriver"]),
    ]
        + targets.map { name in
            .executableTarget(
                name: name,
                dependencies: ["FuzzSupport", .product(name: "Host", package: "OperatorZoo")]
            )
        }
)
