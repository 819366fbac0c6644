import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// `zoo analyze`'s measurements: activation statistics against direct float64 formulas, influence maps against
/// operators whose reach is known from their math (an MLP sees only its own token, a sliding window its band, a causal
/// operator nothing later), and the whole analysis of a small DiT.
@Suite struct AnalysisTests {
    @Test func statisticsMatchTheirDefinitions() {
        let s = ActivationStatistics([1, -1, 1, -1])
        #expect(s.count == 4 && s.mean == 0 && s.std == 1 && s.rms == 1 && s.absMax == 1)
        #expect(abs(s.kurtosis - -2) < 1e-12)  // two-point distribution: m4 / m2^2 = 1
        // One value far out among many small ones: heavy tails, and it is the one outlier.
        var values = [Float](repeating: 0, count: 999).enumerated().map { Float($0.offset % 2 == 0 ? 1 : -1) }
        values.append(100)
        let heavy = ActivationStatistics(values)
        #expect(heavy.kurtosis > 100 && abs(heavy.outlierShare - 1.0 / 1000) < 1e-12)
        // Pooling two tensors gives the moments of their concatenation (float64 power sums).
        var rng = SplitMix64(seed: 9)
        let a = (0..<500).map { _ in Float(rng.nextNormal()) }, b = (0..<700).map { _ in Float(2 * rng.nextNormal()) }
        var pooled = ActivationStatistics.Accumulator()
        pooled.add(a)
        pooled.add(b)
        let direct = ActivationStatistics(a + b)
        let p = pooled.statistics
        #expect(p.count == 1200 && abs(p.mean - direct.mean) < 1e-12 && abs(p.std - direct.std) < 1e-12)
        #expect(abs(p.kurtosis - direct.kurtosis) < 1e-9 && p.absMax == direct.absMax)
        // A Gaussian sample has excess kurtosis near 0.
        let gaussian = ActivationStatistics((0..<20_000).map { _ in Float(rng.nextNormal()) })
        #expect(abs(gaussian.kurtosis) < 0.15)
    }

    private func influence(
        _ id: String, _ product: String, _ attributes: [String: AttributeValue] = [:]
    ) throws
        -> InfluenceMap
    {
        let op = try Operator(try TestOperators.descriptor(id, product: product), dim: 8, attributes: attributes)
        var rng = SplitMix64(seed: 2)
        let x = try Tensor(shape: [2, 36, 8], scalars: (0..<(2 * 36 * 8)).map { _ in Float(rng.nextNormal()) })
        return try InfluenceMap.measure(
            op, x: x, parameters: try op.initialParameters(seed: 1), side: 6, queries: 12, seed: 3)
    }

    @Test func influenceMapsShowEachOperatorsReach() throws {
        let mlp = try influence("mlp", "OZMLP")
        #expect(abs(mlp.band(0) - 1) < 1e-12 && abs(mlp.neighbourhood(0) - 1) < 1e-12)
        let swa = try influence("swa", "OZLocalAttention", ["num_heads": .int(2), "window_size": .intList([2, 2])])
        #expect(abs(swa.band(2) - 1) < 1e-12 && swa.band(1) < 0.99)
        let mha = try influence("mha", "OZMHA", ["num_heads": .int(2)])
        #expect(abs(mha.band(35) - 1) < 1e-12 && mha.band(4) < 0.6)
        // hyena_x is causal: nothing reaches a query from a later token.
        let hyena = try influence("hyena_x", "OZHyena")
        let l = 36
        #expect(hyena.offsets[l...].allSatisfy { $0 == 0 } && abs(hyena.band(35) - 1) < 1e-12)
        #expect(abs(mha.offsets.reduce(0, +) - 1) < 1e-12 && abs(mha.grid.reduce(0, +) - 1) < 1e-12)
    }

    /// The whole analysis of a small DiT: every slot, the measured timesteps latest first, bands that grow with k,
    /// and a JSON report that decodes to itself; the same settings give the same report.
    @Test func analysesASmallDiT() throws {
        let model = try makeDiT(TrainingTests.tinyConfig)
        try model.initialize(seed: 6)
        var settings = AnalysisSettings()
        settings.samples = 2
        settings.steps = 4
        settings.measuredSteps = 2
        settings.queries = 4
        let report = try ModelAnalysis.run(model, settings: settings)
        #expect(report.slots.count == 2 * TrainingTests.tinyConfig.depth)
        #expect(report.timesteps.count == 2 && report.timesteps[0] > report.timesteps[1])
        for slot in report.slots {
            #expect(slot.timesteps.count == 2 && slot.output.count > 0)
            #expect(zip(slot.band, slot.band.dropFirst()).allSatisfy { $0 <= $1 + 1e-12 })
            #expect(["l1", "l2"].contains(slot.recommendedLoss))
        }
        #expect(report.slots.filter { $0.slot.hasSuffix("mlp") }.allSatisfy { abs($0.band[0] - 1) < 1e-9 })
        // mha reports its attention weights (ABI 1.6), mlp none; each head's masses grow with k to the whole row.
        let depth = TrainingTests.tinyConfig.depth
        for slot in report.slots {
            guard slot.slot.hasSuffix("attn") else {
                #expect(slot.attention == nil)
                continue
            }
            let a = try #require(slot.attention)
            #expect(a.headBand.count == TrainingTests.tinyConfig.numHeads)
            #expect(
                a.queries == 2 * settings.samples * TrainingTests.tinyConfig.gridSize
                    * TrainingTests.tinyConfig.gridSize)
            for head in a.headBand + a.headNeighbourhood {
                #expect(zip(head, head.dropFirst()).allSatisfy { $0 <= $1 + 1e-12 } && head.allSatisfy { $0 > 0 })
            }
            #expect(slot.timesteps.allSatisfy { $0.attention != nil })
            // The output histogram holds every value once.
            #expect(abs((slot.output.histogram ?? []).reduce(0, +) - 1) < 1e-9)
        }
        let data = try JSONEncoder().encode(report)
        #expect(try JSONDecoder().decode(AnalysisReport.self, from: data) == report)
        #expect(try ModelAnalysis.run(model, settings: settings) == report)
        // The slot table, then the attention table (a title, its header and one row per attention slot, a count).
        #expect(report.markdown().split(separator: "\n").count == 2 + report.slots.count + 3 + depth + 2)
        #expect(report.markdown().contains("of \(depth) attention layers put more than half their mass within"))
    }

    /// Attention locality against weights whose masses follow from their definition: one head on the query itself,
    /// one uniform over the 3 x 3 grid's 9 tokens.
    @Test func attentionLocalityOfKnownWeights() throws {
        let (l, side) = (9, 3)
        var w = [Float](repeating: 0, count: 2 * l * l)
        for q in 0..<l {
            w[q * l + q] = 1
            for s in 0..<l { w[(l + q) * l + s] = 1 / Float(l) }
        }
        let a = AttentionLocality.measure(
            try Tensor(shape: [1, 2, l, l], scalars: w), side: side, bandWidths: [0, 1, 2, 8])
        #expect(a.headBand[0] == [1, 1, 1, 1] && a.headNeighbourhood[0] == [1, 1, 1, 1])
        // Uniform: pairs with |s - q| <= k over all 81 pairs; grid: pairs within k rows and k columns.
        func share(_ within: (Int, Int) -> Bool) -> Double {
            Double((0..<l).flatMap { q in (0..<l).map { within(q, $0) } }.filter { $0 }.count) / Double(l * l)
        }
        for (i, k) in [0, 1, 2, 8].enumerated() {
            #expect(abs(a.headBand[1][i] - share { abs($0 - $1) <= k }) < 1e-6)
            #expect(
                abs(
                    a.headNeighbourhood[1][i]
                        - share { abs($0 / side - $1 / side) <= k && abs($0 % side - $1 % side) <= k })
                    < 1e-6)
        }
        #expect(a.localHeads(column: 1) == 1 && abs(a.band[0] - (1 + 1.0 / 9) / 2) < 1e-6)
        // Uniform weights, measured, equal the closed form.
        let even = [Float](repeating: 1 / Float(l), count: l * l)
        let u = AttentionLocality.measure(
            try Tensor(shape: [1, 1, l, l], scalars: even), side: side, bandWidths: [0, 1, 2, 8])
        let closed = AttentionLocality.uniform(side: side, bandWidths: [0, 1, 2, 8])
        #expect(zip(u.band + u.neighbourhood, closed.band + closed.neighbourhood).allSatisfy { abs($0 - $1) < 1e-6 })
        // Pooling weighs each measurement by its queries.
        let pooled = try #require(AttentionLocality.pooled([a, a]))
        #expect(pooled.queries == 2 * l && zip(pooled.band, a.band).allSatisfy { abs($0 - $1) < 1e-12 })
    }

    /// The histogram of a standard normal sample follows its density; a value far out lands in the upper tail bin.
    @Test func histogramsFollowTheDensity() throws {
        var rng = SplitMix64(seed: 11)
        var values = (0..<100_000).map { _ in Float(rng.nextNormal()) }
        let h = try #require(ActivationStatistics(values).histogram)
        #expect(h.count == ActivationStatistics.histogramBins && abs(h.reduce(0, +) - 1) < 1e-12)
        let centre = ActivationStatistics.histogramBins / 2  // [0, 0.5) sigma: 0.1915 of a normal
        #expect(
            abs(h[centre] - 0.1915) < 0.005 && abs(h[centre - 1] - 0.1915) < 0.005, "\(h[centre - 1]), \(h[centre])")
        #expect(h.last == 0 && h.first == 0)
        values.append(10_000)
        #expect(try #require(ActivationStatistics(values).histogram).last! > 0)
    }
}

/// A `zoo analyze` report of a model with one block per entry of `masses`, whose attention slots have those band-8
/// masses (band 1: 0.1; grid neighbourhoods 1 - mass), and with `attention`, attention weights of band-8 mass mass^2,
/// written to a temporary file; returns its path.
func writeSyntheticAnalysis(masses: [Double], attention: Bool = false) throws -> String {
    let folder = try makeTemporaryDirectory("layer-selection")
    var slots: [SlotAnalysis] = []
    for (block, mass) in masses.enumerated() {
        for kind in ["attn", "mlp"] {
            slots.append(
                SlotAnalysis(
                    slot: "blocks.\(block).\(kind)", operatorId: kind == "attn" ? "mha" : "mlp",
                    input: ActivationStatistics(), output: ActivationStatistics(),
                    band: [0.1, kind == "attn" ? mass : 1, kind == "attn" ? mass : 1],
                    neighbourhood: [0.2, kind == "attn" ? 1 - mass : 1, kind == "attn" ? 1 - mass : 1],
                    attention: attention && kind == "attn"
                        ? AttentionLocality(
                            headBand: [[0.1, mass * mass, 1]], headNeighbourhood: [[0.1, 1 - mass * mass, 1]],
                            queries: 1)
                        : nil,
                    timesteps: [], recommendedLoss: "l2", reason: ""))
        }
    }
    let report = AnalysisReport(
        settings: AnalysisSettings(), timesteps: [999], bandWidths: [1, 8, 32], slots: slots)
    let path = folder.appendingPathComponent("analysis.json").path
    try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: path))
    return path
}

/// Layer selection by analysis in plans (`deep-P`, `top-local-P`, `low-local-P`), as the grafting paper's ablation
/// compares them.
@Suite struct LayerSelectionTests {
    private func plan(
        _ layers: String, analysis: String? = nil, order: String = "tokens", measure: String = "influence"
    ) throws -> GraftPlan {
        let analysisField =
            analysis.map {
                ", \"analysis\": {\"file\": \"\($0)\", \"band\": 8, \"order\": \"\(order)\", \"measure\": \"\(measure)\"}"
            } ?? ""
        let json = """
            {"name": "t", "grafts": [{"slot": "attn", "layers": "\(layers)", "operator": "hyena_x"}]\(analysisField)}
            """
        return try GraftPlan.parse(Data(json.utf8), source: "t.json")
    }

    @Test func rulesChooseTheirBlocks() throws {
        let file = try writeSyntheticAnalysis(masses: [0.2, 0.9, 0.5, 0.7, 0.1, 0.6])
        func blocks(_ p: GraftPlan) throws -> [Int] { try p.assignments(depth: 6).keys.map(\.block).sorted() }
        #expect(try blocks(plan("top-local-50", analysis: file)) == [1, 3, 5])
        #expect(try blocks(plan("low-local-50", analysis: file)) == [0, 2, 4])
        #expect(try blocks(plan("deep-50")) == [3, 4, 5])
        #expect(try blocks(plan("top-local-25", analysis: file)) == [1, 3])  // 1.5 blocks round to 2
        // On the grid order the masses are 1 - band: the ranking flips.
        #expect(try blocks(plan("top-local-50", analysis: file, order: "grid")) == [0, 2, 4])
        let selection = try plan("top-local-50", analysis: file).layerSelection(depth: 6)
        #expect(selection?.first?.hasPrefix("attn: top-local-50 by band 8 of \(file) -> blocks 1, 3, 5") == true)
        #expect(try plan("interleave-50").layerSelection(depth: 6) == nil)
    }

    /// `"measure": "attention"` ranks by the attention weights the operators reported, and says so; a report without
    /// them is refused naming the slot.
    @Test func rulesRankByAttentionWeights() throws {
        // The attention masses are the squares of the influence ones: the same ranking, told apart by the masses the
        // selection records.
        let file = try writeSyntheticAnalysis(masses: [0.2, 0.9, 0.5, 0.7, 0.1, 0.6], attention: true)
        func blocks(_ p: GraftPlan) throws -> [Int] { try p.assignments(depth: 6).keys.map(\.block).sorted() }
        #expect(try blocks(plan("top-local-50", analysis: file, measure: "attention")) == [1, 3, 5])
        #expect(try blocks(plan("top-local-50", analysis: file, order: "grid", measure: "attention")) == [0, 2, 4])
        let selection = try plan("top-local-50", analysis: file, measure: "attention").layerSelection(depth: 6)
        #expect(selection?.first?.contains("by attention band 8") == true, "\(selection ?? [])")
        #expect(selection?.first?.contains("0.810") == true, "the masses are the attention's (0.9^2)")
        let without = try writeSyntheticAnalysis(masses: [0.2, 0.9, 0.5, 0.7, 0.1, 0.6])
        do {
            _ = try plan("top-local-50", analysis: without, measure: "attention").assignments(depth: 6)
            Issue.record("attention ranking without attention weights was accepted")
        } catch {
            #expect("\(error)".contains("blocks.0.attn") && "\(error)".contains("analysis.measure"), "\(error)")
        }
        #expect(throws: GraftError.self) { try plan("top-local-50", analysis: file, measure: "weights") }
    }

    @Test func rulesExplainWhatTheyLack() throws {
        #expect(throws: GraftError.self) { try plan("top-local-0") }
        #expect(throws: GraftError.self) { try plan("middle-50") }
        do {
            _ = try plan("top-local-50").assignments(depth: 6)
            Issue.record("a locality rule without an analysis was accepted")
        } catch {
            #expect("\(error)".contains("'analysis'") && "\(error)".contains("zoo analyze"), "\(error)")
        }
        let file = try writeSyntheticAnalysis(masses: [0.2, 0.9, 0.5])
        do {
            _ = try plan("top-local-50", analysis: file).assignments(depth: 6)
            Issue.record("an analysis of another depth was accepted")
        } catch {
            #expect("\(error)".contains("6 blocks"), "\(error)")
        }
        let missing = try plan("top-local-50", analysis: "/nonexistent/analysis.json")
        #expect(throws: GraftError.self) { try missing.assignments(depth: 6) }
    }
}
