import Foundation

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// A file of `Tests/HostTests/Fixtures/DiT` (made by its `make_golden.py`, a float64 numpy DiT).
func ditFixture(_ name: String) -> String {
    packageRoot.appendingPathComponent("Tests/HostTests/Fixtures/DiT/\(name)").path
}

/// Operators loaded once per test process from the built plugin products.
enum TestOperators {
    nonisolated(unsafe) private static var cache: [String: OperatorDescriptor] = [:]
    private static let lock = NSLock()

    /// Operator `id` from product `product` (e.g. `mha` from `OZMHA`).
    static func descriptor(_ id: String, product: String) throws -> OperatorDescriptor {
        lock.lock()
        defer { lock.unlock() }
        if let d = cache[id] { return d }
        let library = try PluginLibrary(path: try pluginPath(product: product))
        guard let d = library.operator(id) else { throw MissingProduct(path: "\(product): operator \(id)") }
        cache[id] = d
        return d
    }

    /// DiT's own slot choice (`mha`, `mlp`) from the built products.
    static func standardSlot(_ key: DiTSlotKey, _ config: DiTConfig) throws -> DiTSlotChoice {
        switch key.kind {
        case .attn:
            DiTSlotChoice(
                try descriptor("mha", product: "OZMHA"), attributes: ["num_heads": .int(Int64(config.numHeads))])
        case .mlp:
            DiTSlotChoice(
                try descriptor("mlp", product: "OZMLP"), attributes: ["expansion_ratio": .float(config.mlpRatio)])
        }
    }
}

/// A DiT with the standard slots.
func makeDiT(_ config: DiTConfig) throws -> DiTModel {
    try DiTModel(config: config) { key in try TestOperators.standardSlot(key, config) }
}

/// The golden fixture's tiny DiT, weights loaded.
func goldenDiT() throws -> DiTModel {
    let config = try DiTConfig.load(path: ditFixture("config.json"))
    let model = try makeDiT(config)
    try model.load(checkpoint: ditFixture("weights.safetensors"))
    return model
}
