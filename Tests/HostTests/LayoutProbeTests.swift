import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// ``LayoutProbe``: its error sums against explicit predictors written from the definition, its choice of
/// images, its scores against a float64 recomputation of the whole pipeline, and `zoo dit probe` end to end.
@Suite struct LayoutProbeTests {
    /// A dataset of flat random images whose labels are given (to test the choice of images per class).
    private struct Labelled: ImageDataset {
        let labels: [Int]
        let numClasses: Int
        var count: Int { labels.count }
        var classNames: [String] { (0..<numClasses).map { "class\($0)" } }
        var resolution: Int { 16 }
        func sample(_ index: Int) -> (image: Tensor<Float>, label: Int) {
            (Tensor<Float>.randomNormal([3, 16, 16], seed: UInt64(index), scale: 0.3), labels[index])
        }
    }

    /// With the mean-colour predictor's ε as the output, the model's error equals the closed form (the two are
    /// computed differently: one from x_t, one from the images' spread); with ε itself, it is 0; with zeros, it
    /// is Σ ε². The tolerance 1e-4 covers x_t's float32 rounding, amplified by 1/sqrt(1 − ᾱ) in ε.
    @Test func errorSumsMatchExplicitPredictors() throws {
        let diffusion = try GaussianDiffusion(learnSigma: true)
        let t = 500
        let ab = diffusion.alphasCumprod[t]
        let x0 = Tensor<Float>.randomNormal([2, 3, 4, 4], seed: 1, scale: 0.5)
        let noise = Tensor<Float>.randomNormal([2, 3, 4, 4], seed: 2)
        let xt = try diffusion.qSample(x0: x0, t: [t, t], noise: noise)
        let (x, e, y) = (x0.scalars, noise.scalars, xt.scalars)
        var predictor = Tensor<Float>(zeros: [2, 6, 4, 4])
        var explicit = 0.0
        for n in 0..<2 {
            for c in 0..<3 {
                var mean = 0.0
                for p in 0..<16 { mean += Double(x[(n * 3 + c) * 16 + p]) / 16 }
                for p in 0..<16 {
                    let eps = (Double(y[(n * 3 + c) * 16 + p]) - ab.squareRoot() * mean) / (1 - ab).squareRoot()
                    predictor[n, c, p / 4, p % 4] = Float(eps)
                    predictor[n, c + 3, p / 4, p % 4] = 99  // the variance channels are not scored
                    let d = eps - Double(e[(n * 3 + c) * 16 + p])
                    explicit += d * d
                }
            }
        }
        let sums = try LayoutProbe.errorSums(x0: x0, noise: noise, output: predictor, alphaBar: ab)
        #expect(
            abs(sums.meanColour - explicit) <= 1e-4 * explicit, "closed form \(sums.meanColour), explicit \(explicit)")
        #expect(abs(sums.model - explicit) <= 1e-4 * explicit, "model \(sums.model), explicit \(explicit)")

        #expect(try LayoutProbe.errorSums(x0: x0, noise: noise, output: noise, alphaBar: ab).model == 0)
        let zero = try LayoutProbe.errorSums(
            x0: x0, noise: noise, output: Tensor<Float>(zeros: [2, 6, 4, 4]), alphaBar: ab)
        #expect(abs(zero.model - e.reduce(0) { $0 + Double($1) * Double($1) }) < 1e-9)
    }

    @Test func errorSumsRefuseMismatchedShapes() throws {
        let x0 = Tensor<Float>(zeros: [2, 3, 4, 4])
        #expect(
            throws: EvaluationError.shape(argument: "output", expected: "[2, 3 or more, 4, 4]", found: [2, 2, 4, 4])
        ) {
            try LayoutProbe.errorSums(x0: x0, noise: x0, output: Tensor<Float>(zeros: [2, 2, 4, 4]), alphaBar: 0.5)
        }
        #expect(throws: EvaluationError.shape(argument: "noise", expected: "[2, 3, 4, 4]", found: [2, 3, 4, 5])) {
            try LayoutProbe.errorSums(x0: x0, noise: Tensor<Float>(zeros: [2, 3, 4, 5]), output: x0, alphaBar: 0.5)
        }
        #expect(throws: EvaluationError.tooFewSamples(argument: "samplesPerClass", needed: 1, found: 0)) {
            try LayoutProbe(samplesPerClass: 0)
        }
        #expect(throws: EvaluationError.outOfRange(argument: "timestep", value: -1, expected: "at least 0")) {
            try LayoutProbe(timestep: -1)
        }
    }

    /// The first images of each class in index order; a class with none is named.
    @Test func indicesAreTheFirstImagesOfEachClass() throws {
        let probe = try LayoutProbe(samplesPerClass: 2)
        let data = Labelled(labels: [1, 0, 1, 1, 2, 0, 0, 2], numClasses: 3)
        #expect(try probe.indices(in: data) == [[1, 5], [0, 2], [4, 7]])
        let shapes = try SyntheticShapes(seed: 3, split: .heldOut, resolution: 16)
        // Held-out index i is global index 50,000 + i, label (5 + i) % 11.
        #expect(try probe.indices(in: shapes)[4] == [10, 21])
        #expect(throws: EvaluationError.tooFewSamples(argument: "class 'class2'", needed: 1, found: 0)) {
            try probe.indices(in: Labelled(labels: [0, 1, 0], numClasses: 3))
        }
    }

    /// `scores` against the pipeline redone here in float64 (x_t from the definition, the model's forward, the
    /// mean-colour predictor's ε written out), for two batch sizes that must not change the result.
    @Test func scoresMatchARecomputation() throws {
        let config = TrainingTests.tinyConfig
        let model = try makeDiT(config)
        try model.initialize(seed: 4)
        // Give the zero-initialised final layer and adaLN weights some values, so the output is not zero.
        for (i, name) in model.parameters.names.enumerated()
        where name.hasPrefix("final_layer") || name.contains("adaLN") {
            model.parameters.tensors[i] = Tensor<Float>.randomNormal(
                model.parameters.tensors[i].shape, seed: UInt64(i), scale: 0.05)
        }
        let data = try SyntheticShapes(seed: 9, split: .heldOut, resolution: 16)
        let diffusion = try GaussianDiffusion(learnSigma: true)
        let t = 300
        let ab = diffusion.alphasCumprod[t]
        let probe = try LayoutProbe(timestep: t, samplesPerClass: 3, noiseSeed: 7, batchSize: 2)
        let scores = try probe.scores(model: model, data: data, diffusion: diffusion)
        // Another batch size changes only the float32 rounding of the forward pass (matrix products block differently).
        let unbatched = try LayoutProbe(timestep: t, samplesPerClass: 3, noiseSeed: 7, batchSize: 32).scores(
            model: model, data: data, diffusion: diffusion)
        for (a, b) in zip(scores, unbatched) {
            #expect(
                abs(a.modelError - b.modelError) <= 1e-5 * b.modelError
                    && abs(a.meanColourError - b.meanColourError) <= 1e-12 * b.meanColourError, "\(a) \(b)")
        }
        #expect(scores.count == 11 && scores.map(\.name) == data.classNames)
        for (label, indices) in try probe.indices(in: data).enumerated() {
            let (x0, labels) = try data.batch(indices)
            let noise = probe.imageNoise(label: label, positions: 0..<indices.count, shape: x0.shape)
            let (x, e) = (x0.scalars, noise.scalars)
            var xt = Tensor<Float>(zeros: x0.shape)
            for i in 0..<x.count {
                xt[flat: i] = Float(ab.squareRoot() * Double(x[i]) + (1 - ab).squareRoot() * Double(e[i]))
            }
            let y = xt.scalars
            let out = try model.forward(
                xt, timesteps: [Double](repeating: Double(t), count: labels.count), labels: labels
            ).scalars
            var model64 = 0.0, flat64 = 0.0
            let plane = 256
            for n in 0..<labels.count {
                for c in 0..<3 {
                    let base = (n * 3 + c) * plane
                    let mean = (0..<plane).reduce(0.0) { $0 + Double(x[base + $1]) } / Double(plane)
                    for p in 0..<plane {
                        let eps = Double(e[base + p])
                        let d = Double(out[(n * 6 + c) * plane + p]) - eps
                        model64 += d * d
                        let flat = (Double(y[base + p]) - ab.squareRoot() * mean) / (1 - ab).squareRoot()
                        flat64 += (flat - eps) * (flat - eps)
                    }
                }
            }
            let elements = Double(labels.count * 3 * plane)
            let s = scores[label]
            #expect(s.samples == 3)
            #expect(abs(s.modelError - model64 / elements) <= 1e-6 * model64 / elements, "\(s.name) model")
            #expect(abs(s.meanColourError - flat64 / elements) <= 1e-4 * flat64 / elements, "\(s.name) mean colour")
            #expect(s.ratio > 0 && s.ratio.isFinite)
        }
    }

    /// `zoo dit probe` on a freshly initialised checkpoint (its adaLN-Zero output is exactly zero, so the model's
    /// error is the mean of ε², about 1: 3 images x 768 values per class, a standard error of 0.03), as JSON;
    /// bad arguments are refused by name.
    @Test func ditProbeCommand() throws {
        let ws = try CLITests.Workspace()
        let config = ws.path("tiny.json")
        try Data(TrainingTests.tinyConfig.jsonString().utf8).write(to: URL(fileURLWithPath: config))
        let ck = ws.path("ck.safetensors")
        let made = try ws.zoo(["dit", "init", "--allow-unconformant", "--config", config, "--out", ck])
        #expect(made.status == 0, "\(made.stderr)")
        let r = try ws.zoo([
            "dit", "probe", "--allow-unconformant", "--checkpoint", ck, "--config", config, "--per-class", "3",
            "--data-generator", "3", "--json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let classes = try #require(report["classes"] as? [[String: Any]])
        #expect(classes.count == 11 && classes[2]["name"] as? String == "checkerboard")
        for c in classes {
            let model = try #require(c["model_error"] as? Double)
            #expect(abs(model - 1) < 0.15, "\(c)")
            #expect(c["samples"] as? Int == 3)
        }
        #expect((report["data"] as? String)?.contains("generator 3") == true)

        // An ImageFolder is probed whole: 2 images per class there.
        let exported = try ws.zoo(["data", "export", "--out", ws.path("folder"), "--count", "22", "--resolution", "16"])
        #expect(exported.status == 0, "\(exported.stderr)")
        let folder2 = try ws.zoo([
            "dit", "probe", "--allow-unconformant", "--checkpoint", ck, "--data", ws.path("folder"), "--per-class", "5",
        ])
        #expect(
            folder2.status == 0 && folder2.stdout.contains("22 images of 16x16 px"),
            "\(folder2.stdout) \(folder2.stderr)")
        #expect(
            folder2.stdout.split(separator: "\n").filter { $0.hasPrefix("checkerboard ") && $0.contains("      2  ") }
                .count == 1, "\(folder2.stdout)")

        let bad = try ws.zoo([
            "dit", "probe", "--allow-unconformant", "--checkpoint", ck, "--config", config, "--timestep", "1000",
        ])
        #expect(bad.status != 0 && bad.stderr.contains("--timestep"), "\(bad.stderr)")
        let generator = try ws.zoo([
            "dit", "probe", "--allow-unconformant", "--checkpoint", ck, "--data-generator", "2",
        ])
        #expect(
            generator.status != 0 && generator.stderr.contains("--data-generator must be 1 or 3"), "\(generator.stderr)"
        )
        let folder = try ws.zoo([
            "dit", "probe", "--allow-unconformant", "--checkpoint", ck, "--config", config, "--data",
            ws.path("missing"),
        ])
        #expect(folder.status != 0 && folder.stderr.contains("missing"), "\(folder.stderr)")
    }
}
