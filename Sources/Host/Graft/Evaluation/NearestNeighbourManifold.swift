/// Improved precision and recall of a generative model (Kynkäänniemi et al., 2019), in a feature space.
///
/// Each set's **manifold** is the union of balls around its points, each ball's radius the distance from its
/// point to its k-th nearest other point of the same set (k = 3 by default, as in the paper). **Precision** is
/// the fraction of generated points inside the real manifold (are samples realistic?), **recall** the fraction
/// of real points inside the generated manifold (is the real variety covered?). Distances are Euclidean, in
/// float64, compared squared; a point lies inside when its distance to some centre is at most that centre's
/// radius.
public enum NearestNeighbourManifold {
    /// Precision and recall of `generated` against `real` (rows = points, equal widths, more than `k` rows each).
    /// - Returns: the two fractions and, per generated point and per real point, whether it lies inside the
    ///   other set's manifold (for intervals).
    /// - Throws: ``EvaluationError/tooFewSamples(argument:needed:found:)`` or
    ///   ``EvaluationError/featureWidth(argument:row:expected:found:)``.
    public static func precisionRecall(
        real: [[Double]], generated: [[Double]], k: Int = 3
    ) throws(EvaluationError) -> (precision: Double, recall: Double, generatedInside: [Bool], realInside: [Bool]) {
        guard real.count > k else { throw .tooFewSamples(argument: "real", needed: k + 1, found: real.count) }
        guard generated.count > k else {
            throw .tooFewSamples(argument: "generated", needed: k + 1, found: generated.count)
        }
        let width = real[0].count
        for (name, set) in [("real", real), ("generated", generated)] {
            if let bad = set.firstIndex(where: { $0.count != width }) {
                throw .featureWidth(argument: name, row: bad, expected: width, found: set[bad].count)
            }
        }
        let realRadii = radii(real, k: k), generatedRadii = radii(generated, k: k)
        let generatedInside = generated.map { inside($0, centres: real, radii: realRadii) }
        let realInside = real.map { inside($0, centres: generated, radii: generatedRadii) }
        return (
            Double(generatedInside.filter { $0 }.count) / Double(generated.count),
            Double(realInside.filter { $0 }.count) / Double(real.count), generatedInside, realInside
        )
    }

    /// The squared distance from each point to its k-th nearest other point of the set.
    static func radii(_ points: [[Double]], k: Int) -> [Double] {
        points.indices.map { i in
            var nearest = [Double](repeating: .infinity, count: k)  // ascending
            for j in points.indices where j != i {
                let d = squaredDistance(points[i], points[j])
                guard d < nearest[k - 1] else { continue }
                var slot = k - 1
                while slot > 0 && nearest[slot - 1] > d {
                    nearest[slot] = nearest[slot - 1]
                    slot -= 1
                }
                nearest[slot] = d
            }
            return nearest[k - 1]
        }
    }

    static func inside(_ point: [Double], centres: [[Double]], radii: [Double]) -> Bool {
        centres.indices.contains { squaredDistance(point, centres[$0]) <= radii[$0] }
    }

    static func squaredDistance(_ a: [Double], _ b: [Double]) -> Double {
        var total = 0.0
        for i in a.indices {
            let d = a[i] - b[i]
            total += d * d
        }
        return total
    }
}
