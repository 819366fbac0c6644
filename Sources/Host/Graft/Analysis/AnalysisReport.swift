import Foundation
import HostCore

/// What `zoo analyze` found in a DiT: per slot, the activation statistics of its input and output and the influence of
/// input tokens on output tokens by distance, at several timesteps of DDIM sampling, and the stage-1 loss the
/// statistics recommend.
public struct AnalysisReport: Codable, Equatable, Sendable {
    /// How the samples were drawn.
    public var settings: AnalysisSettings
    /// The original timesteps (0 ... 999) at which the slots were measured, latest first.
    public var timesteps: [Int]
    /// The band widths `k` the summaries give (token-order band and grid neighbourhood).
    public var bandWidths: [Int]
    /// One entry per slot, in model order.
    public var slots: [SlotAnalysis]

    enum CodingKeys: String, CodingKey {
        case settings, timesteps
        case bandWidths = "band_widths"
        case slots
    }

    /// The report as a Markdown table: per slot, its operator, the band-k masses (token order and grid), the scale and
    /// kurtosis of its output, the outlier share, and the recommended loss.
    public func markdown() -> String {
        var lines = [
            "| slot | operator | "
                + bandWidths.map { "band \($0)" }.joined(separator: " | ") + " | "
                + bandWidths.map { "grid \($0)" }.joined(separator: " | ")
                + " | output rms | output kurtosis | output outliers | loss |",
            "|---|---|" + String(repeating: "---:|", count: 2 * bandWidths.count) + "---:|---:|---:|---|",
        ]
        for slot in slots {
            let band = slot.band.map { String(format: "%.3f", $0) }
            let grid = slot.neighbourhood.map { String(format: "%.3f", $0) }
            lines.append(
                "| \(slot.slot) | \(slot.operatorId) | " + (band + grid).joined(separator: " | ")
                    + String(
                        format: " | %.3g | %.2f | %.2e | ", slot.output.rms, slot.output.kurtosis,
                        slot.output.outlierShare) + slot.recommendedLoss + " |")
        }
        let attention = slots.filter { $0.attention != nil }
        guard !attention.isEmpty else { return lines.joined(separator: "\n") + "\n" }
        let column = bandWidths.firstIndex(of: Self.localBand) ?? bandWidths.count - 1
        lines += [
            "",
            "Attention weights reported by the operators (mean over heads; local heads: band-\(bandWidths[column]) mass above one half; the last row is what weights spread evenly over every token would give):",
            "",
            "| slot | operator | " + bandWidths.map { "band \($0)" }.joined(separator: " | ") + " | "
                + bandWidths.map { "grid \($0)" }.joined(separator: " | ") + " | local heads |",
            "|---|---|" + String(repeating: "---:|", count: 2 * bandWidths.count) + "---:|",
        ]
        for slot in attention {
            let a = slot.attention!
            let cells = (a.band + a.neighbourhood).map { String(format: "%.3f", $0) }
            lines.append(
                "| \(slot.slot) | \(slot.operatorId) | " + cells.joined(separator: " | ")
                    + " | \(a.localHeads(column: column)) of \(a.headBand.count) |")
        }
        if let side = attention.first?.timesteps.first?.influence.side {
            let u = AttentionLocality.uniform(side: side, bandWidths: bandWidths)
            lines.append(
                "| (uniform weights) | | "
                    + (u.band + u.neighbourhood).map { String(format: "%.3f", $0) }.joined(
                        separator: " | ") + " | |")
        }
        let local = attention.filter { $0.attention!.band[column] > 0.5 }.count
        lines += [
            "",
            "\(local) of \(attention.count) attention layers put more than half their mass within \(bandWidths[column]) tokens.",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The band width the paper's locality count uses (k = 32).
    public static let localBand = 32
}

/// How `zoo analyze` samples the model it analyses.
public struct AnalysisSettings: Codable, Equatable, Sendable {
    /// Images sampled (their classes cycle through ``classes``).
    public var samples = 8
    /// Classes (empty: spread over the model's classes).
    public var classes: [Int] = []
    /// DDIM steps of the sampling.
    public var steps = 25
    /// How many of those steps are measured (evenly spread, the first and the last included).
    public var measuredSteps = 4
    /// Query tokens per influence map (rounded down to a square number: a g x g sub-grid of the tokens).
    public var queries = 16
    /// Seed of the initial noise and of the influence directions.
    public var seed: UInt64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case samples, classes, steps
        case measuredSteps = "measured_steps"
        case queries, seed
    }
}

/// One slot's analysis.
public struct SlotAnalysis: Codable, Equatable, Sendable {
    /// `blocks.{i}.attn` or `blocks.{i}.mlp`.
    public var slot: String
    public var operatorId: String
    /// Input and output statistics over every measured timestep.
    public var input: ActivationStatistics
    public var output: ActivationStatistics
    /// Token-order band mass for each of the report's band widths, averaged over the measured timesteps.
    public var band: [Double]
    /// Grid neighbourhood mass for each of the report's band widths (half-widths), averaged likewise.
    public var neighbourhood: [Double]
    /// The locality of the attention weights the operator reports (ABI 1.6), over every measured timestep; nil when
    /// its operator reports none.
    public var attention: AttentionLocality?
    /// Per measured timestep.
    public var timesteps: [TimestepAnalysis]
    /// `l1` or `l2`, and why.
    public var recommendedLoss: String
    public var reason: String

    enum CodingKeys: String, CodingKey {
        case slot
        case operatorId = "operator"
        case input, output, band, neighbourhood, attention, timesteps
        case recommendedLoss = "recommended_loss"
        case reason
    }
}

/// One slot at one timestep.
public struct TimestepAnalysis: Codable, Equatable, Sendable {
    public var timestep: Int
    public var input: ActivationStatistics
    public var output: ActivationStatistics
    public var influence: InfluenceMap
    /// The attention weights' locality at this timestep, when the operator reports them.
    public var attention: AttentionLocality?
}
