import HostCore

/// A class-conditional image dataset: `count` labelled RGB images of `resolution` x `resolution` pixels.
///
/// Images are `[3, R, R]` tensors (channels R, G, B) with values in [-1, 1], as DiT trains on them; labels are
/// class indices into ``classNames``. Sampling is random access by index, so a loader can shuffle and shard.
///
/// ```swift
/// let data = try SyntheticShapes(seed: 1)
/// let (images, labels) = try data.batch(0..<16)    // [16, 3, 32, 32], 16 labels
/// ```
public protocol ImageDataset: Sendable {
    /// Number of samples; valid indices are `0..<count`.
    var count: Int { get }
    /// Number of classes; labels are in `0..<numClasses`.
    var numClasses: Int { get }
    /// Class names, indexed by label (`classNames.count == numClasses`).
    var classNames: [String] { get }
    /// Side of the square images, in pixels.
    var resolution: Int { get }
    /// Sample `index`: a `[3, R, R]` image in [-1, 1] and its label.
    /// - Precondition: `0 <= index < count`.
    /// - Throws: when a stored sample cannot be loaded (synthetic datasets never throw).
    func sample(_ index: Int) throws -> (image: Tensor<Float>, label: Int)
    /// The label of sample `index`, without loading or drawing its image where the dataset can (by default it
    /// loads the sample).
    /// - Precondition: `0 <= index < count`.
    func label(_ index: Int) throws -> Int
    /// A one-line description that differs whenever the samples would: a training checkpoint records it, so a
    /// run cannot be resumed on other data by mistake.
    var identity: String { get }
}

extension ImageDataset {
    public func label(_ index: Int) throws -> Int { try sample(index).label }

    /// By default: the count, size and class names. ``ImageFolder`` uses it (not the folder's path, so a moved
    /// folder still matches; file contents are not read).
    public var identity: String { "\(count) images of \(resolution)x\(resolution) px, classes \(classNames)" }

    /// The samples at `indices`, stacked: images `[N, 3, R, R]` and their `N` labels, in the order given.
    /// - Throws: the first error ``sample(_:)`` throws.
    public func batch(_ indices: some Sequence<Int>) throws -> (images: Tensor<Float>, labels: [Int]) {
        let indices = Array(indices)
        let r = resolution
        let size = 3 * r * r
        var images = Tensor<Float>(zeros: [indices.count, 3, r, r])
        var labels: [Int] = []
        labels.reserveCapacity(indices.count)
        for (n, index) in indices.enumerated() {
            let (image, label) = try sample(index)
            precondition(
                image.shape == [3, r, r], "sample \(index) has shape \(image.shape); expected [3, \(r), \(r)]")
            images.withUnsafeMutableBufferPointer { dst in
                image.withUnsafeBufferPointer { src in
                    for i in 0..<size { dst[n * size + i] = src[i] }
                }
            }
            labels.append(label)
        }
        return (images, labels)
    }
}
