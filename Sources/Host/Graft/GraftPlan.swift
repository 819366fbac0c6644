import Foundation
import HostCore
import HostModel

/// A grafting plan: which slots of a pretrained DiT get which operator, and how the two stages run.
///
/// ```json
/// {"name": "hyena_x-50", "grafts": [{"slot": "attn", "layers": "interleave-50", "operator": "hyena_x",
///   "attributes": {"short_filter_order": 4}}], "stage1": {"steps": 300, "loss": "l1"}, "stage2": {"steps": 200},
///  "seed": 0}
/// ```
/// `layers` is a list of block indices or a pattern: `interleave-50` (every odd block, as the paper),
/// `interleave-75` (every block but each fourth, starting from block 0), `all`. See `plans/plan.schema.json`.
public struct GraftPlan: Equatable, Sendable {
    /// One replacement: an operator (with attributes) for one kind of slot in some blocks.
    public struct Graft: Equatable, Sendable {
        public var kind: DiTSlotKind
        public var layers: Layers
        public var operatorId: String
        /// Attribute values as text, parsed by the operator's schema exactly as `--set NAME=VALUE` is.
        public var attributes: [String: String]

        public init(kind: DiTSlotKind, layers: Layers, operatorId: String, attributes: [String: String] = [:]) {
            self.kind = kind
            self.layers = layers
            self.operatorId = operatorId
            self.attributes = attributes
        }

        /// The attributes as `NAME=VALUE` assignments, sorted by name.
        public var assignments: [String] { attributes.keys.sorted().map { "\($0)=\(attributes[$0]!)" } }
    }

    /// Which blocks a graft covers.
    public enum Layers: Equatable, Sendable {
        case explicit([Int])
        case interleave50, interleave75, all
        /// The last `percent`% of the blocks (the paper's "deep" selection).
        case deep(percent: Int)
        /// The `percent`% of the blocks whose slot of the graft's kind is the most (`top`) or the least local, by the
        /// band mass of the plan's ``GraftPlan/analysis`` (the paper's "top-local" and "low-local" selections).
        case locality(top: Bool, percent: Int)

        /// How many of `depth` blocks `percent`% is (rounded, at least 1).
        static func share(_ percent: Int, of depth: Int) -> Int {
            max(1, min(depth, (depth * percent + 50) / 100))
        }

        /// The block indices for a model of `depth` blocks; `locality` (block -> band mass of the graft's slot kind)
        /// decides a locality selection, ties going to the earlier block. Sorted.
        public func blocks(depth: Int, locality: [Int: Double]? = nil) -> [Int] {
            switch self {
            case .explicit(let list): return list.sorted()
            case .interleave50: return stride(from: 1, to: depth, by: 2).map { $0 }
            case .interleave75: return (0..<depth).filter { $0 % 4 != 0 }
            case .all: return Array(0..<depth)
            case .deep(let percent): return Array((depth - Self.share(percent, of: depth))..<depth)
            case .locality(let top, let percent):
                guard let locality else { return [] }
                let ranked = (0..<depth).sorted { a, b in
                    let (ma, mb) = (locality[a] ?? 0, locality[b] ?? 0)
                    return ma != mb ? (top ? ma > mb : ma < mb) : a < b
                }
                return ranked.prefix(Self.share(percent, of: depth)).sorted()
            }
        }

        /// The pattern's name in plans (`interleave-50`, `top-local-50`, ...), or nil for an explicit list.
        public var pattern: String? {
            switch self {
            case .explicit: nil
            case .interleave50: "interleave-50"
            case .interleave75: "interleave-75"
            case .all: "all"
            case .deep(let p): "deep-\(p)"
            case .locality(let top, let p): "\(top ? "top" : "low")-local-\(p)"
            }
        }
    }

    /// The analysis a locality selection (`top-local-50`, `low-local-50`) ranks blocks by: a `zoo analyze` report
    /// and the band width whose mass counts.
    public struct AnalysisSelection: Equatable, Sendable {
        /// The `analysis.json` `zoo analyze` wrote.
        public var file: String
        /// The band width k (one of the report's `band_widths`).
        public var band: Int
        /// `true`: the token-order band; `false`: the grid neighbourhood.
        public var tokenOrder = true
        /// `true`: the attention weights the slots' operators report (ABI 1.6); `false`: the influence maps every
        /// operator has.
        public var attentionWeights = false

        public init(file: String, band: Int, tokenOrder: Bool = true, attentionWeights: Bool = false) {
            self.file = file
            self.band = band
            self.tokenOrder = tokenOrder
            self.attentionWeights = attentionWeights
        }
    }

    /// Stage 1 (activation distillation) settings.
    public struct Stage1: Equatable, Sendable {
        /// Teacher activations collected (noised training images), split into training and validation.
        public var samples = 256
        public var validationFraction = 0.125
        public var steps = 300
        public var batchSize = 8
        public var learningRate = 1e-3
        public var loss: RegressionLoss = .l1
        public var maxGradNorm = 1.0
        /// Steps between validation passes (the best slot weights by validation loss are kept).
        public var validateEvery = 50
        /// Bound on the activation cache file (float16, memory-mapped: ``ActivationCache``), in MiB; fewer samples are
        /// collected if it would be exceeded. 4 GiB holds about 10,900 samples of one slot of the embedded model.
        public var cacheLimitMiB = 4096

        /// The defaults above.
        public init() {}
    }

    /// Stage 2 (end-to-end fine-tuning) settings.
    public struct Stage2: Equatable, Sendable {
        public var steps = 200
        public var batchSize = 16
        public var learningRate = 1e-4
        public var warmupSteps = 20
        public var emaDecay = 0.99
        /// The teacher's share of the fine-tuning objective (JSON `teacher_weight`, `0...1`, default 0): above 0 each
        /// step also pulls the student's output towards the teacher's for the same input (``OutputDistillation``).
        public var teacherWeight = 0.0

        /// The defaults above.
        public init() {}
    }

    /// How the finished run's samples are measured (JSON `evaluation`).
    public struct Evaluation: Equatable, Sendable {
        /// DDIM samples per class of each model (teacher and grafted, from the same noise) for the report's metrics.
        public var samplesPerClass = 50

        /// The defaults above.
        public init() {}
    }

    public var name: String
    /// The teacher checkpoint (default: the embedded model).
    public var model: String?
    public var grafts: [Graft]
    /// `parallel_pairs` turns each pair of sequential blocks into one parallel block.
    public var restructure: Restructure?

    /// A structural edit of the teacher instead of operator grafts (JSON `restructure`).
    public enum Restructure: String, Sendable, Equatable, CaseIterable {
        /// Each pair of sequential blocks `(2k, 2k+1)` becomes one parallel block (``Restructuring``).
        case parallelPairs = "parallel_pairs"
    }
    public var stage1 = Stage1()
    public var stage2 = Stage2()
    public var evaluation = Evaluation()
    public var seed: UInt64 = 0
    /// The analysis locality selections rank blocks by (required when a graft uses one).
    public var analysis: AnalysisSelection?

    /// For each graft whose layers a rule chose (`deep-P`, `top-local-P`, `low-local-P`), the rule and the blocks it
    /// chose for a model of `depth` blocks (recorded in grafting reports); nil when no graft uses a rule.
    public func layerSelection(depth: Int) throws(GraftError) -> [String]? {
        var lines: [String] = []
        for graft in grafts {
            guard let pattern = graft.layers.pattern, pattern.hasPrefix("deep") || pattern.contains("local") else {
                continue
            }
            var locality: [Int: Double]?
            var basis = ""
            if case .locality = graft.layers, let analysis {
                locality = try LayerLocality.masses(analysis, kind: graft.kind, depth: depth, source: name)
                basis =
                    " by \(analysis.attentionWeights ? "attention " : "")\(analysis.tokenOrder ? "band" : "grid neighbourhood") \(analysis.band) of \(analysis.file)"
            }
            let blocks = graft.layers.blocks(depth: depth, locality: locality)
            let masses =
                locality.map { m in
                    " (masses " + (0..<depth).map { String(format: "%.3f", m[$0] ?? 0) }.joined(separator: ", ") + ")"
                } ?? ""
            lines.append(
                "\(graft.kind.rawValue): \(pattern)\(basis) -> blocks \(blocks.map(String.init).joined(separator: ", "))\(masses)"
            )
        }
        return lines.isEmpty ? nil : lines
    }

    /// The operator for every grafted slot of a model with `depth` blocks.
    /// - Throws: ``GraftError`` when a layer is out of range or two grafts claim one slot.
    public func assignments(depth: Int, source: String = "plan") throws(GraftError) -> [DiTSlotKey: Graft] {
        var out: [DiTSlotKey: Graft] = [:]
        for (index, graft) in grafts.enumerated() {
            var locality: [Int: Double]?
            if case .locality = graft.layers {
                guard let analysis else {
                    throw .plan(
                        source: source, field: "analysis",
                        expected:
                            "{\"file\": \"analysis.json\", \"band\": K} for grafts[\(index)].layers '\(graft.layers.pattern ?? "")' (run zoo analyze first)"
                    )
                }
                locality = try LayerLocality.masses(analysis, kind: graft.kind, depth: depth, source: source)
            }
            let blocks = graft.layers.blocks(depth: depth, locality: locality)
            guard !blocks.isEmpty else {
                throw .plan(
                    source: source, field: "grafts[\(index)].layers",
                    expected: "at least one block of the model's \(depth)")
            }
            for block in blocks {
                guard (0..<depth).contains(block) else {
                    throw .plan(
                        source: source, field: "grafts[\(index)].layers",
                        expected: "block indices in 0..<\(depth) (found \(block))")
                }
                let key = DiTSlotKey(block: block, kind: graft.kind)
                guard out[key] == nil else {
                    throw .plan(
                        source: source, field: "grafts[\(index)]",
                        expected: "slots no other graft claims (\(key) is claimed twice)")
                }
                out[key] = graft
            }
        }
        return out
    }
}

/// The regression loss of stage 1 (the paper: L1 best for attention, L2 for MLPs).
public enum RegressionLoss: String, Sendable, CaseIterable {
    case l1, l2, huber

    /// Mean loss over all elements and its gradient with respect to `prediction` (Huber with delta 1).
    public func evaluate(
        _ prediction: Tensor<Float>, _ target: Tensor<Float>
    ) -> (loss: Double, gradient: Tensor<Float>) {
        var gradient = Tensor<Float>(zeros: prediction.shape)
        let n = Double(max(1, prediction.count))
        var total = 0.0
        gradient.withUnsafeMutableBufferPointer { g in
            prediction.withUnsafeBufferPointer { p in
                target.withUnsafeBufferPointer { t in
                    for i in 0..<p.count {
                        let d = Double(p[i]) - Double(t[i])
                        switch self {
                        case .l1:
                            total += abs(d)
                            g[i] = Float((d > 0 ? 1 : (d < 0 ? -1 : 0)) / n)
                        case .l2:
                            total += d * d
                            g[i] = Float(2 * d / n)
                        case .huber:
                            if abs(d) <= 1 {
                                total += 0.5 * d * d
                                g[i] = Float(d / n)
                            } else {
                                total += abs(d) - 0.5
                                g[i] = Float((d > 0 ? 1 : -1) / n)
                            }
                        }
                    }
                }
            }
        }
        return (total / n, gradient)
    }
}

/// Why a plan, a graft or a grafted checkpoint was refused.
public enum GraftError: Error, Equatable, CustomStringConvertible {
    case plan(source: String, field: String, expected: String)
    case checkpoint(path: String, reason: String)
    case stage(name: String, reason: String)
    /// The data cannot train or evaluate the teacher (image size, channels or classes).
    case data(reason: String)

    public var description: String {
        switch self {
        case .plan(let source, let field, let expected): "\(source): '\(field)': expected \(expected)"
        case .checkpoint(let path, let reason): "\(path): \(reason)"
        case .stage(let name, let reason): "\(name): \(reason)"
        case .data(let reason): reason
        }
    }
}
