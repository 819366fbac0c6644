import Foundation

#if _endian(big)
    #error("the .npy and safetensors readers copy little-endian file bytes directly; port them to big-endian hosts")
#endif

/// Reads and writes numpy `.npy` files: little-endian float32 (`'<f4'`), float64 (`'<f8'`) and int64
/// (`'<i8'`) arrays in C order.
///
/// Reading accepts format versions 1.0, 2.0 and 3.0 and validates the whole file before allocating: the
/// magic string, the version, the header length against the file size, the header dict (parsed as a Python
/// literal), the dtype, the memory order, the shape (no negative extents, no overflow) and that the data is
/// exactly as long as the shape requires. Writing produces the same bytes as `np.save` (version 1.0, or 2.0
/// when the header needs it) and replaces the destination atomically.
///
/// ```swift
/// let x = try NPY.readTensor(path: "x.npy", as: Float.self)    // [N, C, H, W], float32 or float64 on disk
/// let t = try NPY.readInt64(path: "T.npy")                     // int64 [N]
/// try NPY.write(x, path: "out.npy")
/// ```
public enum NPY {
    // MARK: Reading

    /// Reads a `.npy` file in the element type it stores.
    ///
    /// The file is memory-mapped while it is parsed; the returned array owns a copy of the data.
    /// - Parameter path: The file to read.
    /// - Returns: A float32, float64 or int64 array.
    /// - Throws: ``NPYError`` naming `path` and what is wrong with the file.
    public static func read(path: String) throws(NPYError) -> NPYArray {
        let data: Data
        do {
            data = try MappedFile.read(path: path)
        } catch {
            throw .readFailed(path: path, reason: error.reason)
        }
        return try decode(data, path: path)
    }

    /// Reads a float32 or float64 `.npy` file as a tensor of `Scalar`, converting if needed.
    /// - Throws: ``NPYError/dtypeMismatch(path:found:expected:)`` for an int64 file, or any other ``NPYError``
    ///   from ``read(path:)``.
    public static func readTensor<Scalar: TensorScalar>(
        path: String,
        as _: Scalar.Type = Scalar.self
    ) throws(NPYError) -> Tensor<Scalar> {
        let array = try read(path: path)
        if case .int64 = array {
            throw .dtypeMismatch(path: path, found: .int64, expected: [.float32, .float64])
        }
        return array.tensor(as: Scalar.self)
    }

    /// Reads an int64 `.npy` file (labels, timesteps).
    /// - Throws: ``NPYError/dtypeMismatch(path:found:expected:)`` for a floating-point file, or any other
    ///   ``NPYError`` from ``read(path:)``.
    public static func readInt64(path: String) throws(NPYError) -> Int64Array {
        let array = try read(path: path)
        guard case .int64(let values) = array else {
            throw .dtypeMismatch(path: path, found: array.dtype, expected: [.int64])
        }
        return values
    }

    /// Decodes the bytes of a `.npy` file.
    /// - Parameters:
    ///   - data: The complete file contents.
    ///   - path: The name to use in error messages.
    /// - Throws: ``NPYError`` naming `path`.
    public static func decode(_ data: Data, path: String) throws(NPYError) -> NPYArray {
        let result = data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Result<NPYArray, NPYError> in
            Result { () throws(NPYError) -> NPYArray in
                let header = try NPYHeader.parse(bytes, path: path)
                let payload = UnsafeRawBufferPointer(
                    rebasing: bytes[header.dataOffset..<header.dataOffset + header.byteCount]
                )
                switch header.dtype {
                case .float32: return .float32(copyTensor(payload, shape: header.shape))
                case .float64: return .float64(copyTensor(payload, shape: header.shape))
                case .int64:
                    let scalars = [Int64](unsafeUninitializedCapacity: header.count) { buffer, initialized in
                        UnsafeMutableRawBufferPointer(buffer).copyMemory(from: payload)
                        initialized = header.count
                    }
                    return .int64(Int64Array(validatedShape: header.shape, scalars: scalars))
                }
            }
        }
        return try result.get()
    }

    /// A tensor of `shape` holding the little-endian elements in `payload` (exactly `count × stride` bytes).
    private static func copyTensor<Scalar: TensorScalar>(
        _ payload: UnsafeRawBufferPointer,
        shape: [Int]
    ) -> Tensor<Scalar> {
        var tensor = Tensor<Scalar>(zeros: shape)
        tensor.withUnsafeMutableBufferPointer { destination in
            UnsafeMutableRawBufferPointer(destination).copyMemory(from: payload)
        }
        return tensor
    }

    // MARK: Writing

    /// Writes a float32 tensor as a `'<f4'` C-order `.npy` file, atomically.
    ///
    /// The bytes go to a temporary file in the same directory, which is synced and renamed over `path`; on any
    /// failure `path` is left as it was and the temporary file is removed.
    /// - Throws: ``NPYError/writeFailed(path:reason:)`` naming `path` (for example, a missing or unwritable
    ///   directory).
    public static func write(_ tensor: Tensor<Float>, path: String) throws(NPYError) {
        try tensor.withUnsafeBufferPointer { (elements) throws(NPYError) in
            try write(dtype: .float32, shape: tensor.shape, payload: UnsafeRawBufferPointer(elements), path: path)
        }
    }

    /// Writes a float64 tensor as a `'<f8'` C-order `.npy` file, atomically (see ``write(_:path:)``).
    /// - Throws: ``NPYError/writeFailed(path:reason:)`` naming `path`.
    public static func write(_ tensor: Tensor<Double>, path: String) throws(NPYError) {
        try tensor.withUnsafeBufferPointer { (elements) throws(NPYError) in
            try write(dtype: .float64, shape: tensor.shape, payload: UnsafeRawBufferPointer(elements), path: path)
        }
    }

    /// Writes an int64 array as a `'<i8'` C-order `.npy` file, atomically.
    /// - Throws: ``NPYError/writeFailed(path:reason:)`` naming `path`.
    public static func write(_ array: Int64Array, path: String) throws(NPYError) {
        try array.scalars.withUnsafeBytes { payload in
            Result { () throws(NPYError) in try write(dtype: .int64, shape: array.shape, payload: payload, path: path) }
        }.get()
    }

    /// Writes an array in its own element type, atomically.
    /// - Throws: ``NPYError/writeFailed(path:reason:)`` naming `path`.
    public static func write(_ array: NPYArray, path: String) throws(NPYError) {
        switch array {
        case .float32(let tensor): try write(tensor, path: path)
        case .float64(let tensor): try write(tensor, path: path)
        case .int64(let values): try write(values, path: path)
        }
    }

    /// The complete bytes of a `.npy` file holding `array` (what ``write(_:path:)`` writes).
    public static func encode(_ array: NPYArray) -> Data {
        func assemble(_ dtype: NPYDType, _ shape: [Int], _ payload: UnsafeRawBufferPointer) -> Data {
            // A header too large for version 2.0 needs ~10^8 dimensions, which no array here can have.
            var data = Data(NPYHeader.encode(dtype: dtype, shape: shape) ?? [])
            data.append(contentsOf: payload)
            return data
        }
        switch array {
        case .float32(let t):
            return t.withUnsafeBufferPointer { assemble(.float32, t.shape, UnsafeRawBufferPointer($0)) }
        case .float64(let t):
            return t.withUnsafeBufferPointer { assemble(.float64, t.shape, UnsafeRawBufferPointer($0)) }
        case .int64(let a): return a.scalars.withUnsafeBytes { assemble(.int64, a.shape, $0) }
        }
    }

    private static func write(
        dtype: NPYDType,
        shape: [Int],
        payload: UnsafeRawBufferPointer,
        path: String
    ) throws(NPYError) {
        guard let header = NPYHeader.encode(dtype: dtype, shape: shape) else {
            throw .writeFailed(path: path, reason: "a rank-\(shape.count) shape does not fit in a .npy header")
        }
        do {
            let writer = try AtomicFileWriter(path: path)
            try writer.write(header)
            try writer.write(payload)
            try writer.commit()
        } catch {
            throw .writeFailed(path: path, reason: error.reason)
        }
    }
}
