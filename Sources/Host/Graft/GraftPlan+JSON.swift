import Foundation
import HostCore
import HostModel

extension GraftPlan {
    /// Reads and validates a plan file.
    public static func load(path: String) throws(GraftError) -> GraftPlan {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .plan(source: path, field: "(file)", expected: "a readable JSON file (\(error.localizedDescription))")
        }
        return try parse(data, source: path)
    }

    /// Parses and validates plan JSON; every error names `source` and the field. Unknown fields and repeated keys
    /// are refused; numbers are rounded correctly (``StrictJSON/foundationObject(_:)``).
    /// `deep-P`, `top-local-P`, `low-local-P` with P in 1...100.
    static func selection(_ text: String) -> Layers? {
        for (prefix, make) in [
            ("deep-", { (p: Int) in Layers.deep(percent: p) }),
            ("top-local-", { (p: Int) in Layers.locality(top: true, percent: p) }),
            ("low-local-", { (p: Int) in Layers.locality(top: false, percent: p) }),
        ] where text.hasPrefix(prefix) {
            guard let p = Int(text.dropFirst(prefix.count)), (1...100).contains(p) else { return nil }
            return make(p)
        }
        return nil
    }

    public static func parse(_ data: Data, source: String) throws(GraftError) -> GraftPlan {
        let reader = PlanReader(source: source)
        let parsed: Any
        do { parsed = try StrictJSON.foundationObject(data) } catch {
            throw .plan(source: source, field: "(root)", expected: "valid JSON (\(error))")
        }
        guard let root = parsed as? [String: Any] else {
            throw .plan(source: source, field: "(root)", expected: "a JSON object")
        }
        try reader.onlyKeys(
            root,
            [
                "$schema", "name", "description", "model", "grafts", "restructure", "stage1", "stage2", "seed",
                "analysis", "evaluation",
            ],
            field: "")
        var plan = GraftPlan(name: try reader.string(root["name"], field: "name"), model: nil, grafts: [])
        if root["model"] != nil { plan.model = try reader.string(root["model"], field: "model") }
        if let seed = root["seed"] {
            plan.seed = UInt64(try reader.integer(seed, field: "seed", range: 0...Int(Int64.max)))
        }
        if let r = root["restructure"], !(r is NSNull) {
            let value = try reader.string(r, field: "restructure")
            guard let restructure = GraftPlan.Restructure(rawValue: value) else {
                let known = GraftPlan.Restructure.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                throw .plan(source: source, field: "restructure", expected: "\(known) or null (found '\(value)')")
            }
            plan.restructure = restructure
        }
        // A restructuring plan changes the block layout and grafts nothing (combining both is not supported:
        // stage 1 would have to distil slots inside parallel pairs); any other plan grafts something.
        let grafts: [Any]
        if plan.restructure != nil {
            guard root["grafts"] == nil || (root["grafts"] as? [Any])?.isEmpty == true else {
                throw .plan(
                    source: source, field: "grafts",
                    expected:
                        "an empty array or no field with 'restructure' (grafting and restructuring in one plan is not supported)"
                )
            }
            grafts = []
        } else {
            guard let list = root["grafts"] as? [Any], !list.isEmpty else {
                throw .plan(source: source, field: "grafts", expected: "a non-empty array of grafts")
            }
            grafts = list
        }
        for (i, item) in grafts.enumerated() {
            let field = "grafts[\(i)]"
            guard let g = item as? [String: Any] else {
                throw .plan(source: source, field: field, expected: "an object")
            }
            try reader.onlyKeys(g, ["slot", "layers", "operator", "attributes"], field: field)
            let slotName = try reader.string(g["slot"], field: "\(field).slot")
            guard let kind = DiTSlotKind(rawValue: slotName) else {
                throw .plan(
                    source: source, field: "\(field).slot", expected: "\"attn\" or \"mlp\" (found '\(slotName)')")
            }
            let layers: Layers
            switch g["layers"] {
            case let text as String:
                switch text {
                case "interleave-50": layers = .interleave50
                case "interleave-75": layers = .interleave75
                case "all": layers = .all
                default:
                    guard let selection = Self.selection(text) else {
                        throw .plan(
                            source: source, field: "\(field).layers",
                            expected:
                                "\"interleave-50\", \"interleave-75\", \"all\", \"deep-P\", \"top-local-P\", \"low-local-P\" (P a percentage 1...100) or a list of block indices (found '\(text)')"
                        )
                    }
                    layers = selection
                }
            case let list as [Any]:
                guard !list.isEmpty else {
                    throw .plan(source: source, field: "\(field).layers", expected: "at least one block index")
                }
                var blocks: [Int] = []
                for (j, v) in list.enumerated() {
                    blocks.append(try reader.integer(v, field: "\(field).layers[\(j)]", range: 0...4095))
                }
                guard Set(blocks).count == blocks.count else {
                    throw .plan(
                        source: source, field: "\(field).layers", expected: "distinct block indices (found \(blocks))")
                }
                layers = .explicit(blocks)
            default:
                throw .plan(
                    source: source, field: "\(field).layers", expected: "a pattern name or a list of block indices")
            }
            let op = try reader.string(g["operator"], field: "\(field).operator")
            var attributes: [String: String] = [:]
            if let a = g["attributes"] {
                guard let dict = a as? [String: Any] else {
                    throw .plan(source: source, field: "\(field).attributes", expected: "an object")
                }
                for (name, value) in dict {
                    attributes[name] = try reader.attributeText(value, field: "\(field).attributes.\(name)")
                }
            }
            plan.grafts.append(Graft(kind: kind, layers: layers, operatorId: op, attributes: attributes))
        }
        if let a = root["analysis"] {
            guard let d = a as? [String: Any] else {
                throw .plan(source: source, field: "analysis", expected: "an object {\"file\": ..., \"band\": K}")
            }
            try reader.onlyKeys(d, ["file", "band", "order", "measure"], field: "analysis")
            var selection = AnalysisSelection(
                file: try reader.string(d["file"], field: "analysis.file"),
                band: try reader.integer(d["band"] as Any, field: "analysis.band", range: 0...1_000_000))
            if let o = d["order"] {
                let order = try reader.string(o, field: "analysis.order")
                guard ["tokens", "grid"].contains(order) else {
                    throw .plan(
                        source: source, field: "analysis.order", expected: "\"tokens\" or \"grid\" (found '\(order)')")
                }
                selection.tokenOrder = order == "tokens"
            }
            if let m = d["measure"] {
                let measure = try reader.string(m, field: "analysis.measure")
                guard ["influence", "attention"].contains(measure) else {
                    throw .plan(
                        source: source, field: "analysis.measure",
                        expected: "\"influence\" or \"attention\" (found '\(measure)')")
                }
                selection.attentionWeights = measure == "attention"
            }
            plan.analysis = selection
        }
        if let s1 = root["stage1"] {
            guard let d = s1 as? [String: Any] else {
                throw .plan(source: source, field: "stage1", expected: "an object")
            }
            try reader.onlyKeys(
                d,
                [
                    "samples", "validation_fraction", "steps", "batch_size", "learning_rate", "loss", "max_grad_norm",
                    "validate_every", "cache_limit_mib",
                ], field: "stage1")
            var s = Stage1()
            if let v = d["samples"] { s.samples = try reader.integer(v, field: "stage1.samples", range: 2...1_000_000) }
            if let v = d["validation_fraction"] {
                s.validationFraction = try reader.number(v, field: "stage1.validation_fraction", range: 0.01...0.9)
            }
            if let v = d["steps"] { s.steps = try reader.integer(v, field: "stage1.steps", range: 0...10_000_000) }
            if let v = d["batch_size"] {
                s.batchSize = try reader.integer(v, field: "stage1.batch_size", range: 1...65536)
            }
            if let v = d["learning_rate"] {
                s.learningRate = try reader.number(v, field: "stage1.learning_rate", range: 1e-12...10)
            }
            if let v = d["max_grad_norm"] {
                s.maxGradNorm = try reader.number(v, field: "stage1.max_grad_norm", range: 0...1e9)
            }
            if let v = d["validate_every"] {
                s.validateEvery = try reader.integer(v, field: "stage1.validate_every", range: 1...10_000_000)
            }
            if let v = d["cache_limit_mib"] {
                s.cacheLimitMiB = try reader.integer(v, field: "stage1.cache_limit_mib", range: 1...1_048_576)
            }
            if let v = d["loss"] {
                let name = try reader.string(v, field: "stage1.loss")
                guard let loss = RegressionLoss(rawValue: name) else {
                    throw .plan(
                        source: source, field: "stage1.loss", expected: "\"l1\", \"l2\" or \"huber\" (found '\(name)')")
                }
                s.loss = loss
            }
            plan.stage1 = s
        }
        if let s2 = root["stage2"] {
            guard let d = s2 as? [String: Any] else {
                throw .plan(source: source, field: "stage2", expected: "an object")
            }
            try reader.onlyKeys(
                d, ["steps", "batch_size", "learning_rate", "warmup_steps", "ema_decay", "teacher_weight"],
                field: "stage2")
            var s = Stage2()
            if let v = d["steps"] { s.steps = try reader.integer(v, field: "stage2.steps", range: 0...10_000_000) }
            if let v = d["batch_size"] {
                s.batchSize = try reader.integer(v, field: "stage2.batch_size", range: 1...65536)
            }
            if let v = d["learning_rate"] {
                s.learningRate = try reader.number(v, field: "stage2.learning_rate", range: 1e-12...10)
            }
            if let v = d["warmup_steps"] {
                s.warmupSteps = try reader.integer(v, field: "stage2.warmup_steps", range: 0...10_000_000)
            }
            if let v = d["ema_decay"] { s.emaDecay = try reader.number(v, field: "stage2.ema_decay", range: 0...1) }
            if let v = d["teacher_weight"] {
                s.teacherWeight = try reader.number(v, field: "stage2.teacher_weight", range: 0...1)
            }
            plan.stage2 = s
        }
        if let e = root["evaluation"] {
            guard let d = e as? [String: Any] else {
                throw .plan(source: source, field: "evaluation", expected: "an object")
            }
            try reader.onlyKeys(d, ["samples_per_class"], field: "evaluation")
            if let v = d["samples_per_class"] {
                plan.evaluation.samplesPerClass = try reader.integer(
                    v, field: "evaluation.samples_per_class", range: 4...400)
            }
        }
        return plan
    }
}

/// Field checks for plan JSON, each error naming the source and the field.
private struct PlanReader {
    let source: String

    func fail(_ field: String, _ expected: String) -> GraftError {
        .plan(source: source, field: field, expected: expected)
    }

    func onlyKeys(_ dict: [String: Any], _ allowed: Set<String>, field: String) throws(GraftError) {
        if let extra = dict.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw fail(
                field.isEmpty ? extra : "\(field).\(extra)",
                "no such field (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    func string(_ value: Any?, field: String) throws(GraftError) -> String {
        guard let s = value as? String, !s.isEmpty else { throw fail(field, "a non-empty string") }
        return s
    }

    private func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    func integer(_ value: Any, field: String, range: ClosedRange<Int>) throws(GraftError) -> Int {
        guard let n = value as? NSNumber, !isBool(n), let i = Int(exactly: n.doubleValue), range.contains(i) else {
            throw fail(field, "an integer in \(range.lowerBound)...\(range.upperBound) (found \(value))")
        }
        return i
    }

    func number(_ value: Any, field: String, range: ClosedRange<Double>) throws(GraftError) -> Double {
        guard let n = value as? NSNumber, !isBool(n), n.doubleValue.isFinite, range.contains(n.doubleValue) else {
            throw fail(field, "a number in [\(range.lowerBound), \(range.upperBound)] (found \(value))")
        }
        return n.doubleValue
    }

    /// An attribute value as the text `--set` takes: numbers and strings as written, booleans true/false,
    /// lists comma-separated.
    func attributeText(_ value: Any, field: String) throws(GraftError) -> String {
        switch value {
        case let s as String: return s
        case let n as NSNumber: return isBool(n) ? (n.boolValue ? "true" : "false") : "\(n)"
        case let list as [Any]:
            var parts: [String] = []
            for item in list {
                guard let n = item as? NSNumber, !isBool(n) else { throw fail(field, "a list of numbers") }
                parts.append("\(n)")
            }
            return parts.joined(separator: ",")
        default: throw fail(field, "a number, string, boolean or list of numbers")
        }
    }
}
