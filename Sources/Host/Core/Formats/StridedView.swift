import Foundation

/// A tensor's view of its storage (offset, shape, strides in elements), checked to lie inside the storage.
struct StridedView {
    let offset: Int
    let shape: [Int]
    let strides: [Int]
    /// Number of elements.
    let count: Int

    /// How many more elements than its storage a view (an expanded one) may have: 2^24.
    static let expansionAllowance = 1 << 24

    /// Checks `tensor` against a storage of `storageCount` elements.
    /// - Throws: ``PyTorchCheckpointError/invalidTensor(path:tensor:reason:)`` when the view overflows or leaves
    ///   the storage.
    init(_ tensor: PickleTensor, storageCount: Int, name: String, path: String) throws(PyTorchCheckpointError) {
        offset = tensor.offset
        shape = tensor.shape
        strides = tensor.strides
        var count = 1, last = offset
        for (extent, stride) in zip(shape, strides) {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= Int(Int32.max) * 64 else {
                throw .invalidTensor(path: path, tensor: name, reason: "its shape \(shape) has too many elements")
            }
            count = product
            if extent > 0 {
                let (reach, o1) = (extent - 1).multipliedReportingOverflow(by: stride)
                let (sum, o2) = last.addingReportingOverflow(reach)
                guard !o1, !o2 else {
                    throw .invalidTensor(path: path, tensor: name, reason: "its strides \(strides) overflow")
                }
                last = sum
            }
        }
        self.count = count
        // An expanded view (stride 0) may hold more elements than its storage; it is copied out, so a file cannot
        // make the reader allocate far beyond what its bytes back.
        guard count <= storageCount + Self.expansionAllowance else {
            throw .invalidTensor(
                path: path, tensor: name,
                reason:
                    "its view has \(count) elements but its storage only \(storageCount); views larger than their storage by more than \(Self.expansionAllowance) elements are refused"
            )
        }
        guard count == 0 || last < storageCount else {
            throw .invalidTensor(
                path: path, tensor: name,
                reason:
                    "its view (offset \(offset), shape \(shape), strides \(strides)) reaches element \(last) of a storage of \(storageCount)"
            )
        }
    }

    /// Whether the elements are consecutive in row-major order (extents of 1 may have any stride).
    var isContiguous: Bool {
        var expected = 1
        for (extent, stride) in zip(shape, strides).reversed() where extent != 1 {
            guard stride == expected else { return false }
            expected *= extent
        }
        return true
    }

    /// The view's elements copied out of `storage` in row-major order.
    func gather(_ storage: UnsafeRawBufferPointer, elementSize: Int) -> Data {
        var out = Data(count: count * elementSize)
        guard count > 0 else { return out }
        out.withUnsafeMutableBytes { destination in
            var index = [Int](repeating: 0, count: shape.count)
            var source = offset
            for element in 0..<count {
                destination.baseAddress!.advanced(by: element * elementSize)
                    .copyMemory(from: storage.baseAddress!.advanced(by: source * elementSize), byteCount: elementSize)
                // Advance the multi-index, last axis fastest.
                var axis = shape.count - 1
                while axis >= 0 {
                    index[axis] += 1
                    source += strides[axis]
                    if index[axis] < shape[axis] { break }
                    source -= strides[axis] * shape[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
        return out
    }
}
