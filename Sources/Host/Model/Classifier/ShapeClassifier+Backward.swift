import Foundation
import HostCore

extension ShapeClassifier {
    /// The mean softmax cross-entropy of `pass`'s logits against `labels`, and its gradient with respect to every
    /// parameter (same layout as ``parameters``). Every reduction (over the batch, over pixels) runs in one fixed
    /// order, so the gradient does not depend on thread timing.
    /// - Throws: ``ClassifierError/input(argument:expected:)`` unless there is one label in range per image.
    public func lossAndGradients(
        _ pass: Pass, labels: [Int]
    ) throws(ClassifierError) -> (
        loss: Double, gradients: ParameterSet
    ) {
        let c = config, n = pass.count, k = c.numClasses
        guard labels.count == n, labels.allSatisfy({ (0..<k).contains($0) }) else {
            throw .input(argument: "labels", expected: "\(n) labels in 0..<\(k), found \(labels.count)")
        }
        var gradients = parameters.zeros()
        let probabilities = pass.probabilities
        var loss = 0.0
        var dlogits = Tensor<Float>(zeros: [n, k])
        dlogits.withUnsafeMutableBufferPointer { g in
            for i in 0..<n {
                loss -= log(max(probabilities[i][labels[i]], 1e-300))
                for j in 0..<k {
                    g[i * k + j] = Float((probabilities[i][j] - (j == labels[i] ? 1 : 0)) / Double(n))
                }
            }
        }
        loss /= Double(n)
        let fc = 2 * c.convolutions.count
        do throws(BLAS.DimensionError) {
            var activated = pass.features
            activated.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = max(0, p[i]) } }
            // Logits layer.
            try ChannelMajorKernels.gemm(
                .transposed, .none, m: k, n: c.hidden, k: n, dlogits, activated, into: &gradients.tensors[fc + 2])
            gradients.tensors[fc + 3] = Self.columnSums(dlogits)
            var dh = Tensor<Float>(uninitialized: [n, c.hidden])
            try ChannelMajorKernels.gemm(
                .none, .none, m: n, n: c.hidden, k: k, dlogits, parameters.tensors[fc + 2], into: &dh)
            pass.features.withUnsafeBufferPointer { h in
                dh.withUnsafeMutableBufferPointer { d in for i in d.indices where h[i] <= 0 { d[i] = 0 } }
            }
            // Feature layer.
            try ChannelMajorKernels.gemm(
                .transposed, .none, m: c.hidden, n: c.flattened, k: n, dh, pass.flat, into: &gradients.tensors[fc])
            gradients.tensors[fc + 1] = Self.columnSums(dh)
            var dflat = Tensor<Float>(uninitialized: [n, c.flattened])
            try ChannelMajorKernels.gemm(
                .none, .none, m: n, n: c.flattened, k: c.hidden, dh, parameters.tensors[fc], into: &dflat)
            let last = c.stages.last!.last!
            var dx = ChannelMajorKernels.swapOuterAxes(dflat, n, last, inner: c.finalSide * c.finalSide)
            // Convolutions, last first.
            for (i, conv) in c.convolutions.enumerated().reversed() {
                let columns = n * conv.side * conv.side
                var dy =
                    conv.poolAfter
                    ? ChannelMajorKernels.averagePoolBackward(dx, planes: conv.cout * n, side: conv.side) : dx
                gradients.tensors[2 * i + 1] = ChannelMajorKernels.reluBackwardRowSums(
                    &dy, output: pass.outputs[i], rows: conv.cout, rowLength: columns)
                try ChannelMajorKernels.gemm(
                    .none, .transposed, m: conv.cout, n: conv.cin * 9, k: columns, dy, pass.patches[i],
                    into: &gradients.tensors[2 * i])
                guard i > 0 else { break }
                var dcol = Tensor<Float>(uninitialized: [conv.cin * 9, columns])
                try ChannelMajorKernels.gemm(
                    .transposed, .none, m: conv.cin * 9, n: columns, k: conv.cout, parameters.tensors[2 * i], dy,
                    into: &dcol)
                dx = ChannelMajorKernels.col2im(dcol, channels: conv.cin, images: n, side: conv.side)
            }
        } catch {
            throw .blas(error.message)
        }
        return (loss, gradients)
    }

    /// The sums over rows of a `[N, J]` matrix, each in row order (float64 accumulators).
    static func columnSums(_ x: Tensor<Float>) -> Tensor<Float> {
        let (n, j) = (x.shape[0], x.shape[1])
        var totals = [Double](repeating: 0, count: j)
        x.withUnsafeBufferPointer { p in
            for row in 0..<n { for col in 0..<j { totals[col] += Double(p[row * j + col]) } }
        }
        return try! Tensor(shape: [j], scalars: totals.map(Float.init))
    }
}
