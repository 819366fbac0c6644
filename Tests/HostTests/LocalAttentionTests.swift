import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// `swa`, `swa2d` and `linear_attn` (libOZLocalAttention.so) against float64 references written from the math
/// (Host's Reference/ReferenceLocalAttention.swift: masked O(L^2) attention, the direct linear-attention formula), their
/// backward against central finite differences, and their declared receptive field, causality and window by
/// perturbing input tokens.
///
/// Tolerances used throughout:
/// - float32 forward vs the float64 reference: `rtol 1e-4, atol 1e-5`. Each output is a few sums of D (and window
///   or L) products of O(1) terms; float32 rounding gives relative errors ~ sqrt(n) * 6e-8, well under 1e-4.
/// - float64 forward vs the reference: `rtol 1e-10, atol 1e-12`. Only the summation order differs (BLAS blocks vs
///   plain loops), so errors are ~ n * 1e-16.
/// - Gradients: ``expectGradientsMatch`` (its own comment gives the float32 and float64 criteria).
@Suite struct LocalAttentionTests {
    static func descriptor(_ id: String) throws -> OperatorDescriptor {
        let plugin = try PluginLibrary(path: try pluginPath(product: "OZLocalAttention"))
        return try #require(plugin.operator(id))
    }

    static func doubles(_ params: [Tensor<Float>]) -> [[Double]] { params.map { $0.scalars.map(Double.init) } }
    static func doubles(_ params: [Tensor<Double>]) -> [[Double]] { params.map(\.scalars) }

    /// `changed[t][j]`: whether adding 0.5 to every channel of input token `j` (batch 0) changes output token `t`
    /// of batch 0 at all (bitwise).
    static func dependencies(_ op: Operator, x: Tensor<Double>, params: [Tensor<Double>]) throws -> [[Bool]] {
        let (l, d) = (x.shape[1], x.shape[2])
        let y = try op.forward(x, parameters: params)
        var changed = [[Bool]](repeating: [Bool](repeating: false, count: l), count: l)
        for j in 0..<l {
            var perturbed = x
            for c in 0..<d { perturbed[0, j, c] += 0.5 }
            let yp = try op.forward(perturbed, parameters: params)
            for t in 0..<l { changed[t][j] = (0..<d).contains { yp[0, t, $0] != y[0, t, $0] } }
        }
        return changed
    }

    /// The outputs that change are exactly the pairs `mask` allows; none lies outside the declared receptive field
    /// (nor after `t` when the instance says it is causal); and a bounded side of the field is reached by some pair.
    static func expectDependencies(
        _ op: Operator, _ changed: [[Bool]], mask: (Int, Int) -> Bool, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let l = changed.count
        let field = try #require(op.receptiveField, sourceLocation: sourceLocation)
        var reached = (left: false, right: false)
        for t in 0..<l {
            for j in 0..<l {
                #expect(
                    changed[t][j] == mask(t, j), "\(what): y[\(t)] depends on x[\(j)]: \(changed[t][j])",
                    sourceLocation: sourceLocation)
                guard changed[t][j] else { continue }
                let inside = (field.left.map { j >= t - $0 } ?? true) && (field.right.map { j <= t + $0 } ?? true)
                #expect(
                    inside, "\(what): y[\(t)] depends on x[\(j)], outside the declared field \(field)",
                    sourceLocation: sourceLocation)
                #expect(
                    !op.isCausal || j <= t, "\(what): declared causal, but y[\(t)] depends on x[\(j)]",
                    sourceLocation: sourceLocation)
                if let left = field.left, t - j == left { reached.left = true }
                if let right = field.right, j - t == right { reached.right = true }
            }
        }
        if let left = field.left, left < l {
            #expect(reached.left, "\(what): left bound \(left) is not tight", sourceLocation: sourceLocation)
        }
        if let right = field.right, right < l {
            #expect(reached.right, "\(what): right bound \(right) is not tight", sourceLocation: sourceLocation)
        }
    }

    // MARK: swa

    /// B = 1 and 2 or 3; L = 1, odd, prime and awkward; 1 to 5 heads. Windows: the grafting (4, 4), asymmetric,
    /// zero on one side, unbounded on one side (the dense fallback), and causal. L = 17 with (2, 3) and L = 31 with
    /// (4, 4) are cut into blocks, with a partial last block.
    static let swaCases: [(b: Int, l: Int, d: Int, heads: Int, left: Int, right: Int, causal: Bool)] = [
        (1, 1, 8, 2, 4, 4, false), (2, 17, 12, 3, 2, 3, false), (1, 31, 16, 4, 4, 4, false), (2, 13, 8, 1, 0, 5, false),
        (1, 23, 6, 2, 3, -1, false), (2, 19, 8, 2, 4, 4, true), (1, 29, 10, 5, -1, 0, false),
        (3, 10, 8, 4, 1, 1, false),
    ]

    static func swa(_ c: (b: Int, l: Int, d: Int, heads: Int, left: Int, right: Int, causal: Bool)) throws -> Operator {
        try Operator(
            try descriptor("swa"), dim: c.d,
            attributes: [
                "num_heads": .int(Int64(c.heads)), "window_size": .intList([Int64(c.left), Int64(c.right)]),
                "causal": .bool(c.causal),
            ])
    }

    @Test(arguments: swaCases.indices)
    func swaForwardMatchesMaskedReference(index: Int) throws {
        let c = Self.swaCases[index]
        let op = try Self.swa(c)
        #expect(op.parameters.map(\.name) == ["Wqkv.weight", "Wqkv.bias", "out_proj.weight", "out_proj.bias"])
        #expect(op.parameters.map(\.shape) == [[3 * c.d, c.d], [3 * c.d], [c.d, c.d], [c.d]])
        let mask = slidingWindowMask(left: c.left, right: c.right, causal: c.causal)
        let params: [Tensor<Float>] = try op.initialParameters(seed: UInt64(index))
        let x = Tensor<Float>.randomNormal([c.b, c.l, c.d], seed: 300 + UInt64(index))
        let expected = referenceMaskedAttention(
            x: x.scalars.map(Double.init), B: c.b, L: c.l, D: c.d, heads: c.heads,
            ReferenceProjections(Self.doubles(params)),
            mask: mask)
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-4, atol: 1e-5, "swa float32 \(c)")

        let params64: [Tensor<Double>] = try op.initialParameters(seed: UInt64(index), as: Double.self)
        let x64 = x.converted(to: Double.self)
        let expected64 = referenceMaskedAttention(
            x: x64.scalars, B: c.b, L: c.l, D: c.d, heads: c.heads, ReferenceProjections(Self.doubles(params64)),
            mask: mask)
        expectClose(try op.forward(x64, parameters: params64), expected64, rtol: 1e-10, atol: 1e-12, "swa float64 \(c)")
    }

    @Test(arguments: swaCases.indices)
    func swaBackwardMatchesFiniteDifferences(index: Int) throws {
        let c = Self.swaCases[index]
        let op = try Self.swa(c)
        let params64: [Tensor<Double>] = try op.initialParameters(seed: 11, as: Double.self)
        try expectGradientsMatch(op, x: .randomNormal([c.b, c.l, c.d], seed: 12), parameters: params64, seed: 13)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 11)
        try expectGradientsMatch(op, x: .randomNormal([c.b, c.l, c.d], seed: 12), parameters: params, seed: 13)
    }

    @Test(arguments: swaCases.indices)
    func swaReceptiveFieldAndWindowHoldUnderPerturbation(index: Int) throws {
        let c = Self.swaCases[index]
        let op = try Self.swa(c)
        let right = c.causal ? 0 : c.right
        #expect(op.receptiveField?.left == (c.left < 0 ? nil : c.left))
        #expect(op.receptiveField?.right == (right < 0 ? nil : right))
        #expect(op.isCausal == (right == 0))
        let params: [Tensor<Double>] = try op.initialParameters(seed: 21, as: Double.self)
        let changed = try Self.dependencies(op, x: .randomNormal([c.b, c.l, c.d], seed: 22), params: params)
        try Self.expectDependencies(
            op, changed, mask: slidingWindowMask(left: c.left, right: c.right, causal: c.causal), "swa \(c)")
    }

    @Test func swaWithoutBiasesHasTwoParametersAndCorrectGradients() throws {
        let op = try Operator(
            try Self.descriptor("swa"), dim: 12,
            attributes: [
                "num_heads": .int(3), "window_size": .intList([2, 1]), "qkv_proj_bias": .bool(false),
                "out_proj_bias": .bool(false),
            ])
        #expect(op.parameters.map(\.name) == ["Wqkv.weight", "out_proj.weight"])
        let params: [Tensor<Double>] = try op.initialParameters(seed: 5, as: Double.self)
        let x = Tensor<Double>.randomNormal([2, 11, 12], seed: 6)
        let expected = referenceMaskedAttention(
            x: x.scalars, B: 2, L: 11, D: 12, heads: 3,
            ReferenceProjections(Self.doubles(params), qkvBias: false, outBias: false),
            mask: slidingWindowMask(left: 2, right: 1, causal: false))
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-10, atol: 1e-12, "swa without biases")
        try expectGradientsMatch(op, x: x, parameters: params, seed: 7)
    }

    /// An unbounded window is `mha` (timm `Attention`) on the same parameters, forward and backward, causal or not.
    /// Both compute the same dense per-head `gemm`s, so only rounding-order differences could appear: 1e-12.
    @Test(arguments: [false, true])
    func swaUnboundedWindowEqualsMHA(causal: Bool) throws {
        let mhaPlugin = try PluginLibrary(path: try pluginPath(product: "OZMHA"))
        let mha = try Operator(
            try #require(mhaPlugin.operator("mha")), dim: 24,
            attributes: ["num_heads": .int(4), "causal": .bool(causal)])
        let swa = try Operator(
            try Self.descriptor("swa"), dim: 24,
            attributes: ["num_heads": .int(4), "window_size": .intList([-1, -1]), "causal": .bool(causal)])
        #expect(mha.parameters.map(\.shape) == swa.parameters.map(\.shape))
        let params: [Tensor<Double>] = try swa.initialParameters(seed: 31, as: Double.self)
        let x = Tensor<Double>.randomNormal([2, 13, 24], seed: 32)
        let dy = Tensor<Double>.randomNormal([2, 13, 24], seed: 33)
        expectClose(
            try swa.forward(x, parameters: params), try mha.forward(x, parameters: params).scalars, rtol: 1e-12,
            atol: 1e-12, "swa(-1, -1) vs mha")
        let a = try swa.backward(x, parameters: params, outputGradient: dy)
        let b = try mha.backward(x, parameters: params, outputGradient: dy)
        expectClose(try #require(a.input), try #require(b.input).scalars, rtol: 1e-12, atol: 1e-12, "dx")
        for (i, (ga, gb)) in zip(a.parameters, b.parameters).enumerated() {
            expectClose(
                try #require(ga), try #require(gb).scalars, rtol: 1e-12, atol: 1e-12, "d\(swa.parameters[i].name)")
        }
    }

    /// The grafting configuration at DiT-XL/2 256 px: D = 1152, L = 256, 16 heads, window (4, 4), float32, against
    /// the float64 reference on a few output rows (first, second, interior, last). Sums over D = 1152 products in
    /// float32 have relative errors ~ sqrt(1152) * 6e-8 ~ 2e-6 of the sum of magnitudes, which can exceed that of a
    /// small output: rtol 1e-3 and atol 1e-4 (outputs are O(0.1 - 1)).
    @Test func swaGraftingDefaultShapeForward() throws {
        let (l, d) = (256, 1152)
        let op = try Operator(try Self.descriptor("swa"), dim: d)
        #expect(op.attribute("num_heads") == .int(16) && op.attribute("window_size") == .intList([4, 4]))
        #expect(op.receptiveField?.left == 4 && op.receptiveField?.right == 4 && !op.isCausal)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 41)
        let x = Tensor<Float>.randomNormal([1, l, d], seed: 42)
        let y = try op.forward(x, parameters: params)
        let rows = [0, 1, 100, 255]
        let expected = referenceMaskedAttention(
            x: x.scalars.map(Double.init), B: 1, L: l, D: d, heads: 16, ReferenceProjections(Self.doubles(params)),
            rows: rows,
            mask: slidingWindowMask(left: 4, right: 4, causal: false))
        let actual = try Tensor<Float>(
            shape: [rows.count, d], scalars: rows.flatMap { t in (0..<d).map { y[0, t, $0] } })
        expectClose(actual, expected, rtol: 1e-3, atol: 1e-4, "swa at D = 1152, L = 256, rows \(rows)")
    }

    /// The window's cost shows in the memory it asks for: a (4, 4) window's workspace doubles when L doubles
    /// (O(L w)), while the unbounded window's, which is dense attention, quadruples (O(L^2)).
    @Test func swaWorkspaceGrowsLinearlyInLength() throws {
        let local = try Operator(try Self.descriptor("swa"), dim: 64, attributes: ["num_heads": .int(4)])
        let dense = try Operator(
            try Self.descriptor("swa"), dim: 64, attributes: ["num_heads": .int(4), "window_size": .intList([-1, -1])])
        for backward in [false, true] {
            let (small, large) = (
                try local.workspaceSize(backward: backward, batch: 2, length: 4096),
                try local.workspaceSize(backward: backward, batch: 2, length: 8192)
            )
            #expect(large <= 2 * small, "swa (4, 4): \(small) bytes at L = 4096, \(large) at 8192")
            let (denseSmall, denseLarge) = (
                try dense.workspaceSize(backward: backward, batch: 2, length: 4096),
                try dense.workspaceSize(backward: backward, batch: 2, length: 8192)
            )
            #expect(denseLarge > 3 * denseSmall, "swa (-1, -1): \(denseSmall) bytes at L = 4096, \(denseLarge) at 8192")
        }
        // swa2d likewise: O(L kh kw) on a 64 x 64 grid against a 32 x 32 one (4x the tokens).
        let grids = try [(32, 32), (64, 64)].map { grid in
            try Operator(try Self.descriptor("swa2d"), dim: 64, grid: grid, attributes: ["num_heads": .int(4)])
                .workspaceSize(backward: true, batch: 1, length: grid.0 * grid.1)
        }
        #expect(grids[1] <= 4 * grids[0], "swa2d 7x7: \(grids[0]) bytes on 32x32, \(grids[1]) on 64x64")
    }

    // MARK: swa2d

    /// Grids 1x1 (L = 1), 5x7, 7x9, 5x13, 4x4, 3x11, 11x3, 2x17 (prime W); kernels square and not, larger than the
    /// grid (clamped, and the dense fallback), shift and clip. 5x13 with (3, 5) scores each block's key rows one
    /// run at a time; 5x7 with (3, 3) in one run.
    static let swa2dCases: [(b: Int, h: Int, w: Int, d: Int, heads: Int, kh: Int, kw: Int, shift: Bool)] = [
        (1, 1, 1, 8, 2, 7, 7, true), (2, 5, 7, 12, 3, 3, 3, true), (1, 7, 9, 8, 2, 3, 3, false),
        (1, 5, 13, 8, 4, 3, 5, true),
        (2, 4, 4, 8, 1, 7, 7, true), (1, 3, 11, 6, 2, 5, 1, false), (1, 11, 3, 8, 2, 1, 3, true),
        (1, 2, 17, 8, 2, 3, 7, false),
        (1, 6, 5, 10, 5, 3, 7, true),
    ]

    static func swa2d(
        _ c: (b: Int, h: Int, w: Int, d: Int, heads: Int, kh: Int, kw: Int, shift: Bool)
    ) throws -> Operator {
        try Operator(
            try descriptor("swa2d"), dim: c.d, grid: (c.h, c.w),
            attributes: [
                "num_heads": .int(Int64(c.heads)), "kernel_size": .intList([Int64(c.kh), Int64(c.kw)]),
                "border": .string(c.shift ? "shift" : "clip"),
            ])
    }

    @Test(arguments: swa2dCases.indices)
    func swa2dForwardMatchesMaskedReference(index: Int) throws {
        let c = Self.swa2dCases[index]
        let op = try Self.swa2d(c)
        #expect(op.parameters.map(\.name) == ["qkv.weight", "qkv.bias", "proj.weight", "proj.bias"])
        #expect(op.parameters.map(\.shape) == [[3 * c.d, c.d], [3 * c.d], [c.d, c.d], [c.d]])
        let l = c.h * c.w
        let mask = neighbourhoodMask(H: c.h, W: c.w, kh: c.kh, kw: c.kw, shift: c.shift)
        let params: [Tensor<Float>] = try op.initialParameters(seed: UInt64(index))
        let x = Tensor<Float>.randomNormal([c.b, l, c.d], seed: 400 + UInt64(index))
        let expected = referenceMaskedAttention(
            x: x.scalars.map(Double.init), B: c.b, L: l, D: c.d, heads: c.heads,
            ReferenceProjections(Self.doubles(params)),
            mask: mask)
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-4, atol: 1e-5, "swa2d float32 \(c)")

        let params64: [Tensor<Double>] = try op.initialParameters(seed: UInt64(index), as: Double.self)
        let x64 = x.converted(to: Double.self)
        let expected64 = referenceMaskedAttention(
            x: x64.scalars, B: c.b, L: l, D: c.d, heads: c.heads, ReferenceProjections(Self.doubles(params64)),
            mask: mask)
        expectClose(
            try op.forward(x64, parameters: params64), expected64, rtol: 1e-10, atol: 1e-12, "swa2d float64 \(c)")
    }

    @Test(arguments: swa2dCases.indices)
    func swa2dBackwardMatchesFiniteDifferences(index: Int) throws {
        let c = Self.swa2dCases[index]
        let op = try Self.swa2d(c)
        let params64: [Tensor<Double>] = try op.initialParameters(seed: 14, as: Double.self)
        try expectGradientsMatch(op, x: .randomNormal([c.b, c.h * c.w, c.d], seed: 15), parameters: params64, seed: 16)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 14)
        try expectGradientsMatch(op, x: .randomNormal([c.b, c.h * c.w, c.d], seed: 15), parameters: params, seed: 16)
    }

    /// Perturbing one token changes exactly the outputs whose window (enumerated cell by cell by the reference)
    /// holds it; with `shift` every query sees exactly `kh * kw` keys (the kernel clamped to the grid); the declared
    /// 1D receptive field holds and is tight.
    @Test(arguments: swa2dCases.indices)
    func swa2dWindowAndReceptiveFieldHoldUnderPerturbation(index: Int) throws {
        let c = Self.swa2dCases[index]
        let op = try Self.swa2d(c)
        let l = c.h * c.w
        let params: [Tensor<Double>] = try op.initialParameters(seed: 23, as: Double.self)
        let changed = try Self.dependencies(op, x: .randomNormal([c.b, l, c.d], seed: 24), params: params)
        try Self.expectDependencies(
            op, changed, mask: neighbourhoodMask(H: c.h, W: c.w, kh: c.kh, kw: c.kw, shift: c.shift), "swa2d \(c)")
        for t in 0..<l {
            let keys = changed[t].filter { $0 }.count
            if c.shift {
                #expect(keys == min(c.kh, c.h) * min(c.kw, c.w), "swa2d \(c): query \(t) sees \(keys) keys")
            } else {
                #expect(
                    keys
                        == neighbourhood(r: t / c.w, c: t % c.w, H: c.h, W: c.w, kh: c.kh, kw: c.kw, shift: false).count
                )
            }
        }
    }

    /// The grafting grid (16 x 16, D = 1152, 16 heads) with the default 7 x 7 NATTEN window, float32, on a corner,
    /// an edge and an interior output row (tolerances as for `swa` at this width).
    @Test func swa2dGraftingShapeForward() throws {
        let (h, w, d) = (16, 16, 1152)
        let op = try Operator(try Self.descriptor("swa2d"), dim: d, grid: (h, w))
        #expect(op.receptiveField?.left == 6 * 16 + 6 && op.receptiveField?.right == 6 * 16 + 6)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 43)
        let x = Tensor<Float>.randomNormal([1, h * w, d], seed: 44)
        let y = try op.forward(x, parameters: params)
        let rows = [0, 7, 8 * 16 + 9]
        let expected = referenceMaskedAttention(
            x: x.scalars.map(Double.init), B: 1, L: h * w, D: d, heads: 16, ReferenceProjections(Self.doubles(params)),
            rows: rows,
            mask: neighbourhoodMask(H: h, W: w, kh: 7, kw: 7, shift: true))
        let actual = try Tensor<Float>(
            shape: [rows.count, d], scalars: rows.flatMap { t in (0..<d).map { y[0, t, $0] } })
        expectClose(actual, expected, rtol: 1e-3, atol: 1e-4, "swa2d at 16x16, D = 1152, rows \(rows)")
    }

    // MARK: linear_attn

    static let linearCases: [(b: Int, l: Int, d: Int, heads: Int)] = [
        (1, 1, 8, 2), (2, 5, 8, 2), (2, 7, 12, 3), (1, 13, 16, 1), (3, 4, 24, 4), (1, 37, 12, 6),
    ]

    @Test(arguments: linearCases.indices)
    func linearAttentionForwardMatchesFormula(index: Int) throws {
        let c = Self.linearCases[index]
        let op = try Operator(
            try Self.descriptor("linear_attn"), dim: c.d, attributes: ["num_heads": .int(Int64(c.heads))])
        #expect(op.parameters.map(\.name) == ["qkv.weight", "qkv.bias", "proj.weight", "proj.bias"])
        #expect(op.parameters.map(\.shape) == [[3 * c.d, c.d], [3 * c.d], [c.d, c.d], [c.d]])
        #expect(!op.isCausal && op.receptiveField?.left == nil && op.receptiveField?.right == nil)
        let params: [Tensor<Float>] = try op.initialParameters(seed: UInt64(index))
        let x = Tensor<Float>.randomNormal([c.b, c.l, c.d], seed: 500 + UInt64(index))
        let expected = referenceLinearAttention(
            x: x.scalars.map(Double.init), B: c.b, L: c.l, D: c.d, heads: c.heads,
            ReferenceProjections(Self.doubles(params)))
        expectClose(try op.forward(x, parameters: params), expected, rtol: 1e-4, atol: 1e-5, "linear_attn float32 \(c)")

        let params64: [Tensor<Double>] = try op.initialParameters(seed: UInt64(index), as: Double.self)
        let x64 = x.converted(to: Double.self)
        let expected64 = referenceLinearAttention(
            x: x64.scalars, B: c.b, L: c.l, D: c.d, heads: c.heads, ReferenceProjections(Self.doubles(params64)))
        expectClose(
            try op.forward(x64, parameters: params64), expected64, rtol: 1e-10, atol: 1e-12, "linear_attn float64 \(c)")
    }

    @Test(arguments: linearCases.indices)
    func linearAttentionBackwardMatchesFiniteDifferences(index: Int) throws {
        let c = Self.linearCases[index]
        let op = try Operator(
            try Self.descriptor("linear_attn"), dim: c.d, attributes: ["num_heads": .int(Int64(c.heads))])
        let params64: [Tensor<Double>] = try op.initialParameters(seed: 17, as: Double.self)
        try expectGradientsMatch(op, x: .randomNormal([c.b, c.l, c.d], seed: 18), parameters: params64, seed: 19)
        let params: [Tensor<Float>] = try op.initialParameters(seed: 17)
        try expectGradientsMatch(op, x: .randomNormal([c.b, c.l, c.d], seed: 18), parameters: params, seed: 19)
    }

    /// Every output token depends on every input token (the declared field is unbounded), and permuting the tokens
    /// permutes the outputs (no positional information).
    @Test func linearAttentionIsGlobalAndPermutationEquivariant() throws {
        let op = try Operator(try Self.descriptor("linear_attn"), dim: 8, attributes: ["num_heads": .int(2)])
        let params: [Tensor<Double>] = try op.initialParameters(seed: 25, as: Double.self)
        let x = Tensor<Double>.randomNormal([1, 9, 8], seed: 26)
        try Self.expectDependencies(
            op, try Self.dependencies(op, x: x, params: params), mask: { _, _ in true }, "linear_attn")
        let permutation = [4, 0, 8, 2, 6, 1, 7, 3, 5]
        var permuted = x
        for (t, s) in permutation.enumerated() { for c in 0..<8 { permuted[0, t, c] = x[0, s, c] } }
        let y = try op.forward(x, parameters: params)
        let yp = try op.forward(permuted, parameters: params)
        let expected = permutation.flatMap { s in (0..<8).map { y[0, s, $0] } }
        // Only the order of the sums over tokens changes: float64 rounding.
        expectClose(yp, expected, rtol: 1e-12, atol: 1e-12, "linear_attn on permuted tokens")
    }

    // MARK: All three

    /// A small instance of each operator, for the checks every operator must pass.
    static func instances() throws -> [Operator] {
        [
            try Operator(
                try descriptor("swa"), dim: 12, attributes: ["num_heads": .int(3), "window_size": .intList([2, 3])]),
            try Operator(
                try descriptor("swa"), dim: 12, attributes: ["num_heads": .int(3), "window_size": .intList([-1, 3])]),
            try Operator(
                try descriptor("swa2d"), dim: 12, grid: (5, 6),
                attributes: ["num_heads": .int(3), "kernel_size": .intList([3, 3])]),
            try Operator(try descriptor("linear_attn"), dim: 12, attributes: ["num_heads": .int(3)]),
        ]
    }

    /// NULL outputs are skipped, the others are overwritten with the values a full call gives (bitwise), and two
    /// identical calls give identical bits (OZ_CAP_DETERMINISTIC).
    @Test func backwardHonoursNullOutputsAndIsDeterministic() throws {
        for op in try Self.instances() {
            let id = op.descriptor.id
            #expect(op.descriptor.capabilities.isSuperset(of: [.backward, .deterministic, .reentrant, .float64]))
            let params: [Tensor<Float>] = try op.initialParameters(seed: 1)
            let x = Tensor<Float>.randomNormal([2, 30, 12], seed: 2)
            let dy = Tensor<Float>.randomNormal([2, 30, 12], seed: 3)
            #expect(try op.forward(x, parameters: params) == op.forward(x, parameters: params), "\(id) forward repeats")
            let all = try op.backward(x, parameters: params, outputGradient: dy)
            let again = try op.backward(x, parameters: params, outputGradient: dy)
            #expect(all.input == again.input && all.parameters == again.parameters, "\(id) backward repeats")
            let onlyParams = try op.backward(x, parameters: params, outputGradient: dy, needInputGradient: false)
            #expect(onlyParams.input == nil && onlyParams.parameters == all.parameters, "\(id) without dx")
            let last = params.count - 2  // the output projection's weight: needs O but no gradient below it
            let onlyOut = try op.backward(
                x, parameters: params, outputGradient: dy, needInputGradient: false, parameterGradients: [last])
            #expect(onlyOut.parameters[last] == all.parameters[last], "\(id) only d\(op.parameters[last].name)")
            #expect(onlyOut.parameters.enumerated().allSatisfy { $0.offset == last || $0.element == nil })
            let onlyInput = try op.backward(x, parameters: params, outputGradient: dy, parameterGradients: [])
            #expect(onlyInput.input == all.input && onlyInput.parameters.allSatisfy { $0 == nil }, "\(id) only dx")
        }
    }

    /// One instance called from several threads at once (OZ_CAP_REENTRANT) gives each caller the single-threaded
    /// result.
    @Test func concurrentCallsOnOneInstanceAgree() throws {
        for op in try Self.instances() {
            let params: [Tensor<Double>] = try op.initialParameters(seed: 4, as: Double.self)
            let inputs = (0..<4).map { Tensor<Double>.randomNormal([2, 30, 12], seed: 50 + UInt64($0)) }
            let expected = try inputs.map { try op.forward($0, parameters: params) }
            let results = Results(count: inputs.count)
            DispatchQueue.concurrentPerform(iterations: inputs.count * 3) { i in
                results.set(i % inputs.count, try? op.forward(inputs[i % inputs.count], parameters: params))
            }
            for i in inputs.indices {
                #expect(results.all(i).allSatisfy { $0 == expected[i] }, "\(op.descriptor.id) input \(i)")
            }
        }
    }

    /// Collects results from concurrent callers.
    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [[Tensor<Double>?]]
        init(count: Int) { values = Array(repeating: [], count: count) }
        func set(_ i: Int, _ value: Tensor<Double>?) { lock.withLock { values[i].append(value) } }
        func all(_ i: Int) -> [Tensor<Double>?] { lock.withLock { values[i] } }
    }

    @Test func badConfigurationsAreRefusedWithTheirName() throws {
        let swa = try Self.descriptor("swa")
        let heads = #expect(throws: OperatorError.self) {
            _ = try Operator(swa, dim: 8, attributes: ["num_heads": .int(3)])
        }
        #expect(heads?.description.contains("num_heads") == true)
        let window = #expect(throws: OperatorError.self) {
            _ = try Operator(swa, dim: 8, attributes: ["window_size": .intList([-2, 4])])
        }
        #expect(window?.description.contains("window_size") == true)
        #expect(throws: OperatorError.self) {
            _ = try Operator(swa, dim: 8, attributes: ["window_size": .intList([4])])
        }
        let swa2d = try Self.descriptor("swa2d")
        #expect(swa2d.capabilities.contains(.needsGrid))
        #expect(throws: OperatorError.self) { _ = try Operator(swa2d, dim: 8, attributes: ["num_heads": .int(2)]) }
        let even = #expect(throws: OperatorError.self) {
            _ = try Operator(
                swa2d, dim: 8, grid: (4, 4), attributes: ["num_heads": .int(2), "kernel_size": .intList([3, 4])])
        }
        #expect(even?.description.contains("kernel_size") == true)
        let border = #expect(throws: OperatorError.self) {
            _ = try Operator(
                swa2d, dim: 8, grid: (4, 4), attributes: ["num_heads": .int(2), "border": .string("wrap")])
        }
        #expect(border?.description.contains("border") == true)
        let op = try Operator(swa2d, dim: 8, grid: (4, 4), attributes: ["num_heads": .int(2)])
        let params: [Tensor<Float>] = try op.initialParameters(seed: 0)
        #expect(throws: OperatorError.self) {
            _ = try op.forward(Tensor<Float>(zeros: [1, 15, 8]), parameters: params)
        }
    }
}
