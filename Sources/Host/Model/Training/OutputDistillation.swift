import HostCore

/// Output distillation for fine-tuning: besides the diffusion loss, the student's output is pulled towards a teacher's
/// output for the same noised input, timestep and label.
///
/// The objective is `(1 - weight) * diffusion + weight * teacherTerm`, where `teacherTerm` is the mean over the batch
/// and over every output element (the predicted noise and, with a learned variance, the variance channels) of
/// `(student - teacher)^2`. The teacher's output is the denoiser's expectation under the teacher, a target with far
/// less variance than the sampled noise the diffusion loss regresses, and it carries what the teacher does with the
/// class label (and, through class dropout, without it).
public struct OutputDistillation {
    /// The model whose outputs the student learns; it is only run forward.
    public let teacher: DiTModel
    /// The teacher term's share of the objective, in `0...1`.
    public let weight: Double

    /// - Throws: ``TrainingError/settings(source:field:expected:)`` naming `weight` when it is outside `0...1`, or
    ///   `teacher` when the teacher's inputs, labels or outputs differ from the student's.
    public init(teacher: DiTModel, weight: Double, student: DiTConfig) throws(TrainingError) {
        guard (0...1).contains(weight) else {
            throw .settings(
                source: "output distillation", field: "weight", expected: "a number in 0...1, found \(weight)")
        }
        let t = teacher.config, s = student
        guard t.inChannels == s.inChannels, t.inputSize == s.inputSize, t.learnSigma == s.learnSigma,
            t.numClasses == s.numClasses, t.nullClass == s.nullClass
        else {
            throw .settings(
                source: "output distillation", field: "teacher",
                expected: "a model with the student's channels (\(s.inChannels)), input size (\(s.inputSize)), classes "
                    + "(\(s.numClasses)) and variance output (learned: \(s.learnSigma)); found \(t.inChannels), "
                    + "\(t.inputSize), \(t.numClasses), \(t.learnSigma)")
        }
        self.teacher = teacher
        self.weight = weight
    }

    /// The mixed objective and its gradient with respect to `studentOutput`, from the diffusion loss of the same output.
    /// - Precondition: `teacherOutput` has `studentOutput`'s shape (both are the same model family's output).
    public func mix(
        diffusion: DiffusionLoss<Float>, studentOutput: Tensor<Float>, teacherOutput: Tensor<Float>
    ) -> (loss: Double, outputGradient: Tensor<Float>) {
        precondition(studentOutput.shape == teacherOutput.shape, "teacher and student outputs differ in shape")
        let count = studentOutput.count
        let scale = 1 / Double(max(count, 1))
        var gradient = diffusion.outputGradient
        var squares = 0.0
        gradient.withUnsafeMutableBufferPointer { g in
            studentOutput.withUnsafeBufferPointer { s in
                teacherOutput.withUnsafeBufferPointer { t in
                    for i in 0..<count {
                        let e = Double(s[i]) - Double(t[i])
                        squares += e * e
                        g[i] = Float((1 - weight) * Double(g[i]) + weight * 2 * e * scale)
                    }
                }
            }
        }
        return ((1 - weight) * diffusion.loss + weight * squares * scale, gradient)
    }
}
