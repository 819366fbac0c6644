import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The dispatch of the built-in float64 references the conformance `reference` check uses: which ids have one, and
/// that a reference refuses (nil) rather than traps when the parameters or attributes it reads are missing. Each
/// reference's math is tested against its plugin in the plugin's own suite, and the harness's use of them in
/// ``ConformanceTests`` (the shipped plugins pass `reference`; ConformWrongMlp and ConformWrongSwa fail it).
@Suite struct ReferenceOperatorsTests {
    @Test func knownIds() {
        #expect(
            ReferenceOperators.ids == [
                "mha", "mlp", "swa", "swa2d", "linear_attn", "hyena_x", "hyena_se", "hyena_y", "mlp_hyena_x", "hyena",
                "mamba2", "mamba2_bidir", "mamba2_2d",
            ])
        #expect(ReferenceOperators.evaluate(id: "no_such_op", Self.input(attributes: [:], parameters: [:])) == nil)
    }

    static func input(
        attributes: [String: AttributeValue], parameters: [String: [Double]], grid: (height: Int, width: Int)? = nil
    ) -> ReferenceInput {
        ReferenceInput(
            x: [Double](repeating: 0.5, count: 2 * 4 * 4), shape: [2, 4, 4], grid: grid, attributes: attributes,
            parameters: parameters)
    }

    static let projections: [String: [Double]] = [
        "Wqkv.weight": [Double](repeating: 0.1, count: 48), "out_proj.weight": [Double](repeating: 0.1, count: 16),
    ]

    @Test func missingNamesAreRefused() {
        let attributes: [String: AttributeValue] = ["num_heads": .int(2), "window_size": .intList([1, 1])]
        #expect(
            ReferenceOperators.evaluate(id: "swa", Self.input(attributes: attributes, parameters: Self.projections))?
                .count == 32)
        // timm names where swa needs flash-attn's, a missing attribute, a missing grid: nil, not a trap.
        let timm = [
            "qkv.weight": Self.projections["Wqkv.weight"]!, "proj.weight": Self.projections["out_proj.weight"]!,
        ]
        #expect(ReferenceOperators.evaluate(id: "swa", Self.input(attributes: attributes, parameters: timm)) == nil)
        #expect(
            ReferenceOperators.evaluate(
                id: "swa", Self.input(attributes: ["num_heads": .int(2)], parameters: Self.projections)) == nil)
        let swa2d: [String: AttributeValue] = [
            "num_heads": .int(2), "kernel_size": .intList([3, 3]), "border": .string("clip"),
        ]
        #expect(ReferenceOperators.evaluate(id: "swa2d", Self.input(attributes: swa2d, parameters: timm)) == nil)
        #expect(
            ReferenceOperators.evaluate(id: "swa2d", Self.input(attributes: swa2d, parameters: timm, grid: (2, 2)))?
                .count == 32)
        for id in [
            "hyena_x", "hyena_se", "hyena_y", "mlp_hyena_x", "linear_attn", "mha", "mlp", "mamba2", "mamba2_bidir",
            "mamba2_2d",
        ] {
            #expect(ReferenceOperators.evaluate(id: id, Self.input(attributes: [:], parameters: timm)) == nil, "\(id)")
        }
        // Mamba-2 with every attribute but without its parameters, or a head width that does not divide d_inner.
        let mamba: [String: AttributeValue] = [
            "d_state": .int(4), "d_conv": .int(4), "expand": .int(2), "headdim": .int(4),
            "ngroups": .int(1), "eps": .float(1e-5), "norm_before_gate": .bool(false),
        ]
        #expect(ReferenceOperators.evaluate(id: "mamba2", Self.input(attributes: mamba, parameters: timm)) == nil)
        #expect(
            ReferenceOperators.evaluate(
                id: "mamba2", Self.input(attributes: mamba.merging(["headdim": .int(3)]) { $1 }, parameters: timm))
                == nil)
        #expect(
            ReferenceOperators.evaluate(id: "mamba2_2d", Self.input(attributes: mamba, parameters: timm)) == nil,
            "no grid")
    }

    /// The window mask follows flash-attn: bounds included, -1 unbounded, causal adds j <= i.
    @Test func slidingWindowMaskBounds() {
        let mask = slidingWindowMask(left: 2, right: 1, causal: false)
        #expect((0..<10).filter { mask(5, $0) } == [3, 4, 5, 6])
        #expect((0..<10).filter { slidingWindowMask(left: -1, right: 0, causal: false)(5, $0) } == [0, 1, 2, 3, 4, 5])
        #expect((0..<10).filter { slidingWindowMask(left: 1, right: -1, causal: true)(5, $0) } == [4, 5])
    }
}
