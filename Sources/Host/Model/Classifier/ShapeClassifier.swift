import Foundation
import HostCore

/// A small convolutional classifier of images, the backbone of the sample-quality metrics (class accuracy, the
/// Fréchet distance in its feature space, an Inception-Score analogue, precision and recall): what Inception-v3 is to
/// FID on ImageNet, for the synthetic shapes. Built from the host's own parts (BLAS matrix products, the thread pool,
/// ``AdamW``, safetensors), trained by ``ClassifierTrainer``.
///
/// Layers (``ShapeClassifierConfig``): 3x3 convolutions with ReLU in stages, each stage ending in a 2x2 average pool;
/// the last map, flattened in (channel, y, x) order, feeds the linear feature layer (`fc1`, whose output before its
/// ReLU is ``Pass/features``), then ReLU and the linear logits layer (`fc2`). Parameter names follow PyTorch's
/// `state_dict` of the same network: `conv{i}.weight [cout, cin, 3, 3]`, `conv{i}.bias`, `fc1.weight [hidden, F]`,
/// `fc1.bias`, `fc2.weight [classes, hidden]`, `fc2.bias`.
///
/// ```swift
/// let classifier = try ShapeClassifier.read(path: "models/shapes-classifier/model.safetensors")
/// let pass = try classifier.forward(images)        // images [N, 3, 32, 32] in [-1, 1]
/// let predicted = pass.predictions                  // N labels
/// ```
public struct ShapeClassifier: Sendable {
    public let config: ShapeClassifierConfig
    /// The weights, in the order described above.
    public var parameters: ParameterSet

    /// A classifier with He-normal weights (std `sqrt(2 / fan_in)`) and zero biases drawn from `seed`.
    /// - Throws: ``ClassifierError/config(field:expected:)`` for an invalid configuration.
    public init(config: ShapeClassifierConfig, seed: UInt64) throws(ClassifierError) {
        try config.validate()
        var set = ParameterSet()
        for (i, conv) in config.convolutions.enumerated() {
            let fanIn = Double(conv.cin * 9)
            set.append(
                "conv\(i + 1).weight",
                .randomNormal([conv.cout, conv.cin, 3, 3], seed: seed &+ UInt64(i), scale: (2 / fanIn).squareRoot()))
            set.append("conv\(i + 1).bias", Tensor(zeros: [conv.cout]))
        }
        let layers = [(config.hidden, config.flattened), (config.numClasses, config.hidden)]
        for (j, (outputs, inputs)) in layers.enumerated() {
            set.append(
                "fc\(j + 1).weight",
                .randomNormal(
                    [outputs, inputs], seed: seed &+ 1000 &+ UInt64(j), scale: (2 / Double(inputs)).squareRoot()))
            set.append("fc\(j + 1).bias", Tensor(zeros: [outputs]))
        }
        self.config = config
        self.parameters = set
    }

    /// A classifier from `parameters`, which must have exactly the names and shapes of `config`'s network.
    /// - Throws: ``ClassifierError/config(field:expected:)`` for an invalid configuration, and
    ///   ``ClassifierError/file(path:reason:)`` (with `path` as given) for a missing, extra or misshapen tensor.
    public init(
        config: ShapeClassifierConfig, parameters: ParameterSet, path: String = "<memory>"
    )
        throws(ClassifierError)
    {
        let layout = try ShapeClassifier(config: config, seed: 0).parameters
        guard parameters.names == layout.names else {
            throw .file(path: path, reason: "tensors \(parameters.names), expected \(layout.names)")
        }
        for (name, shape) in layout.shapes where parameters[name]!.shape != shape {
            throw .file(path: path, reason: "tensor '\(name)' has shape \(parameters[name]!.shape), expected \(shape)")
        }
        self.config = config
        self.parameters = parameters
    }

    /// What one forward pass computed, kept for the backward pass.
    public struct Pass: Sendable {
        /// Images in the batch.
        public let count: Int
        /// Each convolution's input `[cin, N, side, side]` as a patch matrix `[cin 9, N side side]`.
        var patches: [Tensor<Float>]
        /// Each convolution's output after ReLU, `[cout, N, side, side]` (before the pool).
        var outputs: [Tensor<Float>]
        /// The flattened last map, `[N, F]`.
        var flat: Tensor<Float>
        /// The feature layer's output before its ReLU, `[N, hidden]`.
        public let features: Tensor<Float>
        /// The class logits, `[N, classes]`.
        public let logits: Tensor<Float>

        /// The most likely class of each image (the lowest index among equal logits).
        public var predictions: [Int] {
            let k = logits.shape[1]
            return logits.withUnsafeBufferPointer { l in
                (0..<count).map { n in
                    (0..<k).max { l[n * k + $0] < l[n * k + $1] || (l[n * k + $0] == l[n * k + $1] && $0 > $1) }!
                }
            }
        }

        /// Softmax probabilities of each image, `[N][classes]`, in float64.
        public var probabilities: [[Double]] {
            let k = logits.shape[1]
            return logits.withUnsafeBufferPointer { l in
                (0..<count).map { n in
                    let row = (0..<k).map { Double(l[n * k + $0]) }
                    let top = row.max()!
                    let e = row.map { exp($0 - top) }
                    let total = e.reduce(0, +)
                    return e.map { $0 / total }
                }
            }
        }

        /// The feature rows in float64, for ``GaussianFit`` and the nearest-neighbour metrics.
        public var featureRows: [[Double]] {
            let h = features.shape[1]
            return features.withUnsafeBufferPointer { f in
                (0..<count).map { n in (0..<h).map { Double(f[n * h + $0]) } }
            }
        }
    }

    /// The forward pass over `images` (`[N, C, R, R]` in the classifier's channels and resolution).
    /// - Throws: ``ClassifierError/input(argument:expected:)`` for another shape or a non-finite value.
    public func forward(_ images: Tensor<Float>) throws(ClassifierError) -> Pass {
        let c = config, r = c.resolution
        guard images.rank == 4, images.shape[1] == c.inChannels, images.shape[2] == r, images.shape[3] == r,
            images.shape[0] >= 1
        else {
            throw .input(
                argument: "images", expected: "[N, \(c.inChannels), \(r), \(r)] with N >= 1, found \(images.shape)")
        }
        if let bad = images.withUnsafeBufferPointer({ $0.firstIndex { !$0.isFinite } }) {
            throw .input(argument: "images", expected: "finite values (flat index \(bad) is \(images[flat: bad]))")
        }
        let n = images.shape[0]
        do throws(BLAS.DimensionError) {
            var x = ChannelMajorKernels.swapOuterAxes(images, n, c.inChannels, inner: r * r)
            var patches: [Tensor<Float>] = [], outputs: [Tensor<Float>] = []
            for (i, conv) in c.convolutions.enumerated() {
                let columns = n * conv.side * conv.side
                let col = ChannelMajorKernels.im2col(x, channels: conv.cin, images: n, side: conv.side)
                var y = Tensor<Float>(uninitialized: [conv.cout, n, conv.side, conv.side])
                try ChannelMajorKernels.gemm(
                    .none, .none, m: conv.cout, n: columns, k: conv.cin * 9, parameters.tensors[2 * i], col,
                    into: &y)
                ChannelMajorKernels.addBiasReLU(&y, bias: parameters.tensors[2 * i + 1], rowLength: columns)
                patches.append(col)
                outputs.append(y)
                x = conv.poolAfter ? ChannelMajorKernels.averagePool(y, planes: conv.cout * n, side: conv.side) : y
            }
            let last = c.stages.last!.last!, pixels = c.finalSide * c.finalSide
            let flat = try! ChannelMajorKernels.swapOuterAxes(x, last, n, inner: pixels).reshaped([n, c.flattened])
            let fc = 2 * c.convolutions.count
            var features = Tensor<Float>(uninitialized: [n, c.hidden])
            try ChannelMajorKernels.gemm(
                .none, .transposed, m: n, n: c.hidden, k: c.flattened, flat, parameters.tensors[fc], into: &features)
            Self.addRowBias(&features, parameters.tensors[fc + 1])
            var activated = features
            activated.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = max(0, p[i]) } }
            var logits = Tensor<Float>(uninitialized: [n, c.numClasses])
            try ChannelMajorKernels.gemm(
                .none, .transposed, m: n, n: c.numClasses, k: c.hidden, activated, parameters.tensors[fc + 2],
                into: &logits)
            Self.addRowBias(&logits, parameters.tensors[fc + 3])
            return Pass(
                count: n, patches: patches, outputs: outputs, flat: flat, features: features, logits: logits)
        } catch {
            throw .blas(error.message)
        }
    }

    /// Predictions, probabilities and features of any number of images, in batches of `batchSize` (the results do
    /// not depend on the batch size beyond float rounding of the matrix products).
    public func evaluate(
        _ images: Tensor<Float>, batchSize: Int = 256
    ) throws(ClassifierError) -> (predictions: [Int], probabilities: [[Double]], features: [[Double]]) {
        guard images.rank == 4 else {
            throw .input(argument: "images", expected: "a rank-4 batch [N, C, R, R], found \(images.shape)")
        }
        let n = images.shape[0]
        var predictions: [Int] = [], probabilities: [[Double]] = [], features: [[Double]] = []
        var start = 0
        while start < n {
            let end = min(n, start + batchSize)
            let pass = try forward(images.gatherRows(start..<end))
            predictions += pass.predictions
            probabilities += pass.probabilities
            features += pass.featureRows
            start = end
        }
        return (predictions, probabilities, features)
    }

    /// `x[n, j] += bias[j]` for a `[N, J]` matrix.
    static func addRowBias(_ x: inout Tensor<Float>, _ bias: Tensor<Float>) {
        let j = bias.count
        x.withUnsafeMutableBufferPointer { p in
            bias.withUnsafeBufferPointer { b in for i in p.indices { p[i] += b[i % j] } }
        }
    }
}
