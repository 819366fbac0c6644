import Foundation
import HostCore
import HostModel

/// What a grafting run measured, for the original (teacher) and the grafted (student) model side by side.
///
/// - Held-out diffusion loss: the mean DiT loss over the first 256 held-out images, each with a timestep and
///   noise fixed by its index (the same for both models).
/// - Sample agreement: DDIM (25 steps, eta 0) samples of both models from the same noise and labels (the plan's
///   `evaluation.samples_per_class` per class), clamped to [-1, 1]; PSNR of the student's against the teacher's (data
///   range 2). The teacher's samples come from ``SampleCache`` when an earlier run drew them.
/// - Classifier metrics (``SampleQuality``, with the shipped shapes classifier when it knows the run's classes and
///   resolution): class accuracy, Fréchet distance in the classifier's feature space, an Inception-Score analogue,
///   precision and recall, with 95% intervals, for the teacher, the grafted model and a set of real held-out images
///   (the ceiling at this sample count), against held-out images of the same classes.
/// - Fréchet distance of each model's samples to held-out images in ``ImageFeatures``' feature space (no
///   pretrained Inception network is available offline, so this is not FID; compare runs with equal sample
///   counts only).
/// - Parameters, FLOPs per forward (``FLOPCount``; `nil` when a slot's operator is not counted) and the median
///   forward time of a batch of 4 at the model's resolution and at twice the side (4x the tokens).
public struct GraftReport: Codable, Sendable {
    /// One stage-1 unit: a grafted slot (`blocks.3.attn`, its operator id) or a restructured pair of blocks
    /// (`blocks.0+1`, operator `parallel pair`).
    public struct Slot: Codable, Sendable {
        public var slot: String
        public var operatorId: String
        public var initialValidationLoss: Double?
        public var bestValidationLoss: Double?
        public var bestStep: Int?
    }

    public struct Side: Codable, Sendable {
        public var heldOutLoss: Double
        public var frechetDistance: Double
        public var parameters: Int
        public var flops: Int?
        public var forwardSeconds: Double
        public var forwardSeconds4x: Double?
        /// The classifier metrics of this model's samples (nil when no classifier fits the data).
        public var quality: SampleQuality?
    }

    /// Which classifier measured ``Side/quality`` and on what (or why none did).
    public struct Evaluation: Codable, Sendable {
        /// The classifier file, or nil when none fits the run's data.
        public var classifier: String?
        /// Why no classifier measured the samples (nil when one did).
        public var skipped: String?
        /// The same metrics for real held-out images (a second set, disjoint from the reference): the best a model
        /// can score with these sample counts.
        public var realImages: SampleQuality?
        /// Whether the teacher's samples were read from ``SampleCache`` (drawn by an earlier run).
        public var teacherSamplesCached: Bool
    }

    public var plan: String
    public var config: String
    public var slots: [Slot]
    public var teacher: Side
    public var student: Side
    public var samplePSNR: Double
    public var samplesPerModel: Int
    public var stage2Losses: [LossRecord]
    public var seconds: Double
    /// How the plan chose its layers when a rule did (`attn: top-local-50 by band 8 of analysis.json -> blocks 0, 2`).
    public var layerSelection: [String]?
    /// The classifier metrics' provenance (nil in reports written before they existed).
    public var evaluation: Evaluation?

    /// The grafted model's class accuracy as a share of the teacher's, when both were measured.
    public var recognitionRate: Double? {
        guard let t = teacher.quality?.classAccuracy, let s = student.quality?.classAccuracy, t > 0 else { return nil }
        return s / t
    }

    /// A one-screen summary.
    public var summary: String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "n/a" }
        func g(_ v: Int?) -> String { v.map { String(format: "%.2f G", Double($0) / 1e9) } ?? "not counted" }
        let pairs = slots.filter { $0.operatorId == "parallel pair" }.count
        let what = pairs == slots.count && pairs > 0 ? "\(pairs) block pair(s) made parallel" : "\(slots.count) slot(s)"
        var lines = ["", "grafting '\(plan)': \(what), stages 1 and 2 took \(String(format: "%.0f", seconds)) s"]
        lines += (layerSelection ?? []).map { "layers: \($0)" }
        lines.append("")
        lines.append("                      teacher      grafted")
        lines.append("held-out loss      \(pad(f(teacher.heldOutLoss)))  \(pad(f(student.heldOutLoss)))")
        lines.append("Fréchet (features) \(pad(f(teacher.frechetDistance)))  \(pad(f(student.frechetDistance)))")
        lines.append("parameters         \(pad("\(teacher.parameters)"))  \(pad("\(student.parameters)"))")
        lines.append("FLOPs / image      \(pad(g(teacher.flops)))  \(pad(g(student.flops)))")
        lines.append(
            "forward (4 images) \(pad(String(format: "%.3f s", teacher.forwardSeconds)))  \(pad(String(format: "%.3f s", student.forwardSeconds)))"
        )
        lines.append(
            "forward at 4x tok. \(pad(teacher.forwardSeconds4x.map { String(format: "%.3f s", $0) } ?? "n/a"))  \(pad(student.forwardSeconds4x.map { String(format: "%.3f s", $0) } ?? "n/a"))"
        )
        lines.append(
            "sample PSNR vs teacher: \(String(format: "%.2f dB", samplePSNR)) (\(samplesPerModel) DDIM samples, same noise)"
        )
        lines += qualityLines
        return lines.joined(separator: "\n")
    }

    /// The classifier metrics side by side (teacher, grafted, real images) and the recognition verdict.
    var qualityLines: [String] {
        guard let evaluation else { return [] }
        guard let t = teacher.quality, let g = student.quality else {
            return ["", "classifier metrics: not measured (\(evaluation.skipped ?? "no classifier"))"]
        }
        func cell(_ text: String) -> String {
            text.padding(toLength: max(27, text.count + 2), withPad: " ", startingAt: 0)
        }
        var lines = [
            "",
            "sample quality by the shapes classifier (\(t.samples) samples per model vs \(t.referenceImages) held-out images; 95% intervals)",
            "                        " + cell("teacher") + cell("grafted") + "real images",
        ]
        let real = evaluation.realImages?.rows
        for (i, row) in t.rows.enumerated() {
            lines.append(
                row.0.padding(toLength: 24, withPad: " ", startingAt: 0) + cell(row.1) + cell(g.rows[i].1)
                    + (real?[i].1 ?? "n/a"))
        }
        if let rate = recognitionRate {
            lines.append(
                String(
                    format:
                        "grafted samples are recognised as their class at %.0f%% of the teacher's rate (%.1f%% vs %.1f%%)",
                    100 * rate, 100 * g.classAccuracy, 100 * t.classAccuracy))
        }
        return lines
    }

    private func pad(_ s: String) -> String { s.count >= 11 ? s : String(repeating: " ", count: 11 - s.count) + s }

    /// Measures everything for a finished run (teacher and student as they are in `run`).
    public static func make(
        run: GraftRun, seconds: Double, progress: ((String, Int, Int) -> Void)? = nil
    ) throws -> GraftReport {
        let teacher = run.teacher, student = run.student, c = teacher.config
        let diffusion = try GaussianDiffusion(respacing: "", learnSigma: c.learnSigma)
        let heldOutCount = min(256, run.heldOut.count)
        progress?("evaluation: held-out loss", 0, 2)
        let teacherLoss = try DiffusionTrainer.evaluate(
            model: teacher, parameters: teacher.parameters, diffusion: diffusion, data: run.heldOut,
            samples: heldOutCount, batchSize: 32)
        progress?("evaluation: held-out loss", 1, 2)
        let studentLoss = try DiffusionTrainer.evaluate(
            model: student, parameters: student.parameters, diffusion: diffusion, data: run.heldOut,
            samples: heldOutCount, batchSize: 32)
        progress?("evaluation: held-out loss", 2, 2)

        let perClass = run.plan.evaluation.samplesPerClass
        let labels = (0..<min(c.numClasses, run.train.numClasses)).flatMap { [Int](repeating: $0, count: perClass) }
        let sampler = DiTSampler(kind: .ddim, steps: 25, cfgScale: 1, seed: run.plan.seed &+ 1234)
        // Samples are clamped to the image range [-1, 1], as the PNG grid shows them, before they are compared.
        let (teacherRaw, teacherCached) = try SampleCache.samples(
            model: teacher, sampler: sampler, labels: labels,
            progress: { d, t in progress?("evaluation: teacher samples", d, t) })
        let teacherSamples = SampleQuality.clampedToImageRange(teacherRaw)
        let studentSamples = SampleQuality.clampedToImageRange(
            try sampler.sample(student, labels: labels) { d, t in progress?("evaluation: grafted samples", d, t) })
        var evaluation = Evaluation(classifier: nil, skipped: nil, realImages: nil, teacherSamplesCached: teacherCached)
        var teacherQuality: SampleQuality?, studentQuality: SampleQuality?
        do {
            let path = try ShippedClassifier.path()
            let classifier = try ShapeClassifier.read(path: path)
            try ClassifierTrainer.check(config: classifier.config, data: run.heldOut)
            progress?("evaluation: classifier metrics", 0, 3)
            let (referenceImages, next) = try SampleQuality.matchingImages(in: run.heldOut, labels: labels)
            let reference = try SampleQuality.reference(classifier: classifier, images: referenceImages)
            let seed = run.plan.seed
            teacherQuality = try SampleQuality.measure(
                samples: teacherSamples, labels: labels, against: reference, seed: seed)
            progress?("evaluation: classifier metrics", 1, 3)
            studentQuality = try SampleQuality.measure(
                samples: studentSamples, labels: labels, against: reference, seed: seed)
            progress?("evaluation: classifier metrics", 2, 3)
            let (realImages, _) = try SampleQuality.matchingImages(in: run.heldOut, labels: labels, from: next)
            evaluation.realImages = try SampleQuality.measure(
                samples: realImages, labels: labels, against: reference, seed: seed)
            progress?("evaluation: classifier metrics", 3, 3)
            evaluation.classifier = path
        } catch let error as ClassifierError {
            // No classifier for this data (another dataset, or none found): the other metrics still stand.
            evaluation.skipped = error.description
        } catch let error as EvaluationError {
            // Too few held-out images of a class for the reference and the real-image sets, say.
            evaluation.skipped = error.description
        }
        let reference = try run.heldOut.batch(0..<min(run.heldOut.count, 256)).images
        let referenceFeatures = try ImageFeatures.extract(reference)
        let teacherFD = try FrechetDistance.between(try ImageFeatures.extract(teacherSamples), referenceFeatures)
        let studentFD = try FrechetDistance.between(try ImageFeatures.extract(studentSamples), referenceFeatures)
        let psnr = ImageAgreement.psnr(studentSamples, teacherSamples)
        try writeSamples(
            teacher: teacherSamples, student: studentSamples, perClass: perClass, shown: min(perClass, 8),
            path: run.folder + "/samples.png")

        let timing = try forwardTimes(run: run)
        var slots: [Slot] = []
        for unit in run.units {
            let r = run.stage1Results[unit.name]
            slots.append(
                Slot(
                    slot: unit.name, operatorId: unit.holds, initialValidationLoss: r?.initialValidationLoss,
                    bestValidationLoss: r?.bestValidationLoss, bestStep: r?.bestStep))
        }
        try writeLossPlots(run: run)
        return GraftReport(
            plan: run.plan.name, config: c.jsonString(), slots: slots,
            teacher: Side(
                heldOutLoss: teacherLoss, frechetDistance: teacherFD, parameters: teacher.parameters.scalarCount,
                flops: FLOPCount.forward(model: teacher).total, forwardSeconds: timing.teacher,
                forwardSeconds4x: timing.teacher4x, quality: teacherQuality),
            student: Side(
                heldOutLoss: studentLoss, frechetDistance: studentFD, parameters: student.parameters.scalarCount,
                flops: FLOPCount.forward(model: student).total, forwardSeconds: timing.student,
                forwardSeconds4x: timing.student4x, quality: studentQuality),
            samplePSNR: psnr, samplesPerModel: labels.count, stage2Losses: run.stage2History, seconds: seconds,
            layerSelection: try run.plan.layerSelection(depth: c.depth), evaluation: evaluation)
    }

    /// One row pair per class: the first `shown` of the teacher's samples above the grafted model's, same noise.
    private static func writeSamples(
        teacher: Tensor<Float>, student: Tensor<Float>, perClass: Int, shown: Int, path: String
    ) throws {
        let n = teacher.shape[0], size = teacher.count / n, classes = n / perClass
        var rows = Tensor<Float>(zeros: [2 * classes * shown] + teacher.shape.dropFirst())
        rows.withUnsafeMutableBufferPointer { dst in
            teacher.withUnsafeBufferPointer { t in
                student.withUnsafeBufferPointer { s in
                    for k in 0..<classes {
                        for j in 0..<shown {
                            let src = (k * perClass + j) * size
                            let top = ((2 * k) * shown + j) * size, bottom = ((2 * k + 1) * shown + j) * size
                            for i in 0..<size {
                                dst[top + i] = t[src + i]
                                dst[bottom + i] = s[src + i]
                            }
                        }
                    }
                }
            }
        }
        try ImageGrid.write(rows, columns: shown, path: path)
    }

    /// Median of three timed forwards of a batch of 4, at the model's resolution and at twice the side.
    private static func forwardTimes(
        run: GraftRun
    ) throws -> (teacher: Double, student: Double, teacher4x: Double?, student4x: Double?) {
        func time(_ model: DiTModel) throws -> Double {
            let c = model.config
            let x = Tensor<Float>.randomNormal([4, c.inChannels, c.inputSize, c.inputSize], seed: 1)
            var times: [Double] = []
            for _ in 0..<3 {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try model.forward(
                    x, timesteps: [10, 200, 500, 900], labels: [0, 1, 2, 3].map { $0 % c.numClasses })
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return times.sorted()[1]
        }
        var big = run.teacher.config, bigStudentConfig = run.student.config
        big.inputSize *= 2
        bigStudentConfig.inputSize *= 2
        let bigTeacher = try? DiTModel(config: big) { key in run.teacher.slot(key).choice }
        let bigStudent = try? DiTModel(config: bigStudentConfig) { key in
            var choice = run.student.slot(key).choice
            // An l_max the model determined (its token count, ``OperatorDescriptor/completing(_:heads:tokens:)``)
            // grows with the model; one a plan set stays.
            if choice.attributes["l_max"] == .int(Int64(run.student.config.tokenCount)) {
                choice.attributes["l_max"] = .int(Int64(bigStudentConfig.tokenCount))
            }
            return choice
        }
        return (try time(run.teacher), try time(run.student), try bigTeacher.map(time), try bigStudent.map(time))
    }

    private static func writeLossPlots(run: GraftRun) throws {
        var stage1 = LinePlot(width: 640, height: 360, logY: true)
        let palette: [LinePlot.Color] = [
            (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
        ]
        for (i, unit) in run.units.enumerated() {
            let history = run.stage1Results[unit.name]?.history.filter { $0.validationLoss != nil } ?? []
            stage1.add(
                x: history.map { Double($0.step) }, y: history.map { $0.validationLoss! },
                color: palette[i % palette.count])
        }
        try stage1.write(path: run.folder + "/stage1_loss.png")
        var stage2 = LinePlot(width: 640, height: 360, logY: true)
        stage2.add(x: run.stage2History.map { Double($0.step) }, y: run.stage2History.map(\.loss), color: palette[0])
        try stage2.write(path: run.folder + "/stage2_loss.png")
    }

    /// report.json and report.md in `folder`, atomically.
    public func write(folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(self), to: folder + "/report.json")
        try AtomicFile.write(Data(markdown.utf8), to: folder + "/report.md")
    }

    /// The report as Markdown.
    public var markdown: String {
        var md = "# Grafting report: \(plan)\n\nModel: `\(config)`\n\n"
        for rule in layerSelection ?? [] { md += "Layers: \(rule)\n\n" }
        md += "| slot | operator | stage-1 validation loss (initial -> best) | best step |\n|---|---|---|---|\n"
        for s in slots {
            md +=
                "| \(s.slot) | \(s.operatorId) | \(s.initialValidationLoss.map { String(format: "%.4f", $0) } ?? "n/a") -> \(s.bestValidationLoss.map { String(format: "%.4f", $0) } ?? "n/a") | \(s.bestStep.map(String.init) ?? "n/a") |\n"
        }
        md += "\n```\n\(summary)\n```\n\n"
        md +=
            "Files: `samples.png` (per class: teacher row above grafted row, same noise), `stage1_loss.png` (validation loss per slot), "
        md +=
            "`stage2_loss.png`, `grafted.safetensors`.\n\nDefinitions: see `GraftReport` (held-out loss over 256 fixed (x0, t, noise); "
        md += "PSNR of DDIM samples from the same noise; Fréchet distance in the `ImageFeatures` space, not FID; "
        md += "classifier metrics: `SampleQuality`, with `models/shapes-classifier`).\n"
        return md
    }
}
