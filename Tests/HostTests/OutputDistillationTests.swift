import Foundation
import Testing

@testable import HostCore
@testable import HostGraft
@testable import HostModel

/// Output distillation in fine-tuning (`stage2.teacher_weight`): the mixed objective against float64 code written from
/// its definition and against central differences, the trainer's use of it, and its refusals.
@Suite struct OutputDistillationTests {
    /// A diffusion loss of random outputs (learned variance, so the objective has its variational part too) and the
    /// tensors it came from.
    static func diffusionCase() throws -> (
        diffusion: GaussianDiffusion, x0: Tensor<Float>, t: [Int], noise: Tensor<Float>, output: Tensor<Float>,
        teacher: Tensor<Float>
    ) {
        let diffusion = try GaussianDiffusion(respacing: "", learnSigma: true)
        let x0 = Tensor<Float>.randomNormal([2, 3, 4, 4], seed: 1)
        let noise = Tensor<Float>.randomNormal([2, 3, 4, 4], seed: 2)
        let output = Tensor<Float>.randomNormal([2, 6, 4, 4], seed: 3)
        let teacher = Tensor<Float>.randomNormal([2, 6, 4, 4], seed: 4)
        return (diffusion, x0, [17, 640], noise, output, teacher)
    }

    static func distillation(weight: Double) throws -> OutputDistillation {
        let model = try makeDiT(TrainingTests.tinyConfig)
        return try OutputDistillation(teacher: model, weight: weight, student: TrainingTests.tinyConfig)
    }

    /// The objective is `(1 - w) diffusion + w mean((s - t)^2)` and its gradient the same mix of the two gradients:
    /// float64 from the definition, within float32 rounding of the gradient (relative 1e-6).
    @Test func mixedObjectiveMatchesItsDefinition() throws {
        let c = try Self.diffusionCase()
        let loss = try c.diffusion.trainingLoss(x0: c.x0, t: c.t, noise: c.noise, modelOutput: c.output)
        for w in [0.0, 0.3, 1.0] {
            let mixed = try Self.distillation(weight: w).mix(
                diffusion: loss, studentOutput: c.output, teacherOutput: c.teacher)
            let s = c.output.scalars.map(Double.init), t = c.teacher.scalars.map(Double.init)
            let n = Double(s.count)
            let teacherTerm = zip(s, t).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / n
            #expect(abs(mixed.loss - ((1 - w) * loss.loss + w * teacherTerm)) <= 1e-12 * max(1, abs(mixed.loss)))
            for i in 0..<s.count {
                let expected = (1 - w) * Double(loss.outputGradient.scalars[i]) + w * 2 * (s[i] - t[i]) / n
                #expect(abs(Double(mixed.outputGradient.scalars[i]) - expected) <= 1e-6 * max(1e-3, abs(expected)))
            }
        }
    }

    /// Central differences of the whole objective (the diffusion loss recomputed at each perturbed output) against
    /// the returned gradient, at 12 elements. A fixed variance here: with a learned one, DiT's variational term sees
    /// the predicted noise through a stop-gradient, so its value moves with elements its gradient leaves out. The
    /// objective is then quadratic in the output, so central differences are exact up to rounding: h = 1e-2 on
    /// float32 outputs of order 1, tolerance 1e-3 relative.
    @Test func gradientMatchesCentralDifferences() throws {
        let c = try Self.diffusionCase()
        let fixed = try GaussianDiffusion(respacing: "", learnSigma: false)
        let output = try Tensor<Float>(shape: c.x0.shape, scalars: c.output.scalars.prefix(c.x0.count))
        let teacher = try Tensor<Float>(shape: c.x0.shape, scalars: c.teacher.scalars.prefix(c.x0.count))
        let distillation = try Self.distillation(weight: 0.4)
        func objective(_ out: Tensor<Float>) throws -> Double {
            let loss = try fixed.trainingLoss(x0: c.x0, t: c.t, noise: c.noise, modelOutput: out)
            return distillation.mix(diffusion: loss, studentOutput: out, teacherOutput: teacher).loss
        }
        let loss = try fixed.trainingLoss(x0: c.x0, t: c.t, noise: c.noise, modelOutput: output)
        let gradient = distillation.mix(diffusion: loss, studentOutput: output, teacherOutput: teacher)
            .outputGradient
        let h: Float = 1e-2
        for i in stride(from: 5, to: output.count, by: output.count / 12) {
            var plus = output, minus = output
            plus[flat: i] += h
            minus[flat: i] -= h
            let numeric = (try objective(plus) - objective(minus)) / (2 * Double(h))
            let analytic = Double(gradient.scalars[i])
            #expect(
                abs(numeric - analytic) <= 1e-3 * max(abs(analytic), 1e-4), "element \(i): \(numeric) vs \(analytic)")
        }
    }

    /// With the student itself as the teacher the teacher term vanishes: at weight 1 a step's objective and gradients
    /// are zero, and at weight 0.5 the objective is half the plain diffusion loss. (The traced forward and the plain
    /// forward may take different kernels, e.g. kept or recomputed attention weights, so "zero" is float32 rounding:
    /// outputs of order 1 that agree to 1e-5 give a term under 1e-9 and gradients under 1e-6.)
    @Test func trainerMixesTheTeacherTerm() throws {
        let plain = try TrainingTests.trainer(steps: 2)
        let b = try plain.batch(forStep: 1)
        let reference = try plain.lossAndGradients(x0: b.x0, labels: b.labels, t: b.t, noise: b.noise)

        let copy = try makeDiT(TrainingTests.tinyConfig)
        copy.parameters = plain.model.parameters
        plain.distillation = try OutputDistillation(teacher: copy, weight: 1, student: TrainingTests.tinyConfig)
        let pure = try plain.lossAndGradients(x0: b.x0, labels: b.labels, t: b.t, noise: b.noise)
        #expect(pure.loss < 1e-9)
        #expect(pure.gradients.tensors.allSatisfy { $0.scalars.allSatisfy { abs($0) < 1e-6 } })

        plain.distillation = try OutputDistillation(teacher: copy, weight: 0.5, student: TrainingTests.tinyConfig)
        let half = try plain.lossAndGradients(x0: b.x0, labels: b.labels, t: b.t, noise: b.noise)
        #expect(abs(half.loss - 0.5 * reference.loss) <= 1e-9 + 1e-12 * reference.loss)
    }

    @Test func refusalsNameTheField() throws {
        #expect(throws: TrainingError.self) { try Self.distillation(weight: 1.5) }
        do {
            _ = try Self.distillation(weight: -0.1)
        } catch {
            #expect("\(error)".contains("'weight'"))
        }
        var other = TrainingTests.tinyConfig
        other.learnSigma = false
        let model = try makeDiT(other)
        do {
            _ = try OutputDistillation(teacher: model, weight: 0.5, student: TrainingTests.tinyConfig)
            Issue.record("a teacher without the variance output was accepted")
        } catch {
            #expect("\(error)".contains("'teacher'"))
        }
        let plan = try GraftPlan.parse(
            Data(
                #"{"name": "x", "grafts": [{"slot": "attn", "layers": [1], "operator": "mha"}], "stage2": {"teacher_weight": 0.25}}"#
                    .utf8),
            source: "plan.json")
        #expect(plan.stage2.teacherWeight == 0.25)
    }
}
