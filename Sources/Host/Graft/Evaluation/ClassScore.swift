import Foundation

/// The Inception Score (Salimans et al., 2016) computed with a domain classifier instead of Inception-v3:
/// `exp(mean_x KL(p(y|x) ‖ p(y)))`, where `p(y|x)` is the classifier's softmax for sample x and `p(y)` the mean of
/// those over the samples. It is 1 when every sample gets the same class distribution and reaches the number of
/// classes when each sample is recognised with certainty and the classes are used evenly. Float64 throughout;
/// `0 log 0 = 0`.
public enum ClassScore {
    /// The score of the rows of `probabilities` (each a distribution over the same classes).
    /// - Throws: ``EvaluationError/tooFewSamples(argument:needed:found:)`` for no rows.
    public static func inceptionScore(_ probabilities: [[Double]]) throws(EvaluationError) -> Double {
        guard let first = probabilities.first else {
            throw .tooFewSamples(argument: "probabilities", needed: 1, found: 0)
        }
        var marginal = [Double](repeating: 0, count: first.count)
        for row in probabilities { for (k, p) in row.enumerated() { marginal[k] += p } }
        marginal = marginal.map { $0 / Double(probabilities.count) }
        var total = 0.0
        for row in probabilities {
            for (k, p) in row.enumerated() where p > 0 { total += p * (log(p) - log(marginal[k])) }
        }
        return exp(total / Double(probabilities.count))
    }
}
