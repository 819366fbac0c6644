import Foundation

extension SafetensorsFile {
    /// Writes tensors and metadata to a safetensors file, atomically.
    ///
    /// Tensors appear in the header and in the data buffer in the order given (contiguous, no padding between
    /// them); the metadata map comes first in the header with its keys sorted, so equal inputs give equal
    /// bytes. The header is padded with spaces to a multiple of 8 bytes, as the reference implementation
    /// does. The bytes go to a temporary file in the same directory, which is synced and renamed over `path`;
    /// on any failure `path` is left as it was and the temporary file is removed.
    /// - Parameters:
    ///   - path: The destination.
    ///   - tensors: The tensors with their storage dtypes.
    ///   - metadata: The `__metadata__` string map (omitted from the header when empty).
    /// - Throws: ``SafetensorsError/invalidTensorForWrite(path:tensor:reason:)`` for an empty, reserved or
    ///   repeated name or a storage dtype the tensor cannot take, and
    ///   ``SafetensorsError/writeFailed(path:reason:)`` naming `path` when the file cannot be written.
    public static func write(
        path: String,
        tensors: [SafetensorsTensor],
        metadata: [String: String] = [:]
    ) throws(SafetensorsError) {
        let header = try encodeHeader(tensors: tensors, metadata: metadata, path: path)
        do {
            let writer = try AtomicFileWriter(path: path)
            try writer.write(header)
            for item in tensors {
                try emitPayload(of: item) { (bytes) throws(AtomicWriteFailure) in try writer.write(bytes) }
            }
            try writer.commit()
        } catch {
            throw .writeFailed(path: path, reason: error.reason)
        }
    }

    /// Writes float32 tensors, all stored as `dtype`, atomically (see ``write(path:tensors:metadata:)``).
    /// - Parameter dtype: `F32` (default), `F64`, `F16` or `BF16` (narrowing rounds to nearest even).
    public static func write(
        path: String,
        tensors: [(name: String, tensor: Tensor<Float>)],
        metadata: [String: String] = [:],
        dtype: SafetensorsDType = .float32
    ) throws(SafetensorsError) {
        try write(
            path: path,
            tensors: tensors.map { SafetensorsTensor(name: $0.name, $0.tensor, dtype: dtype) },
            metadata: metadata
        )
    }

    /// The complete bytes of the safetensors file ``write(path:tensors:metadata:)`` would write.
    /// - Parameter path: The name to use in error messages.
    /// - Throws: ``SafetensorsError/invalidTensorForWrite(path:tensor:reason:)``.
    public static func encode(
        tensors: [SafetensorsTensor],
        metadata: [String: String] = [:],
        path: String = "<memory>"
    ) throws(SafetensorsError) -> Data {
        var data = Data(try encodeHeader(tensors: tensors, metadata: metadata, path: path))
        for item in tensors {
            emitPayload(of: item) { bytes in data.append(contentsOf: bytes) }
        }
        return data
    }

    /// The length field and the JSON header (space-padded to a multiple of 8), after validating the tensors.
    private static func encodeHeader(
        tensors: [SafetensorsTensor],
        metadata: [String: String],
        path: String
    ) throws(SafetensorsError) -> [UInt8] {
        var seen: Set<String> = []
        for item in tensors {
            func reject(_ reason: String) -> SafetensorsError {
                .invalidTensorForWrite(path: path, tensor: item.name, reason: reason)
            }
            guard !item.name.isEmpty else { throw reject("has an empty name") }
            guard item.name != SafetensorsHeader.metadataKey else {
                throw reject("uses the reserved name \"\(SafetensorsHeader.metadataKey)\"")
            }
            guard seen.insert(item.name).inserted else { throw reject("appears more than once") }
            switch item.payload {
            case .float32, .float64:
                guard SafetensorsDType.floatStorage.contains(item.dtype) else {
                    throw reject(
                        "is floating-point and cannot be stored as \(item.dtype); use one of "
                            + SafetensorsDType.floatStorage.map(\.rawValue).joined(separator: ", ")
                    )
                }
            case .int64:
                guard item.dtype == .int64 else { throw reject("is int64 and can only be stored as I64") }
            }
        }
        return headerBytes(entries: tensors.map { ($0.name, $0.dtype, $0.shape) }, metadata: metadata)
    }

    /// The length field and the JSON header (space-padded to a multiple of 8) of tensors stored one after another in
    /// the order given, for names already checked.
    static func headerBytes(
        entries: [(name: String, dtype: SafetensorsDType, shape: [Int])], metadata: [String: String]
    ) -> [UInt8] {
        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map {
                StrictJSON.quote($0.key) + ":" + StrictJSON.quote($0.value)
            }
            members.append(StrictJSON.quote(SafetensorsHeader.metadataKey) + ":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for item in entries {
            let end = offset + item.shape.reduce(1, *) * item.dtype.byteSize
            members.append(
                StrictJSON.quote(item.name) + ":{\"dtype\":\"\(item.dtype.rawValue)\",\"shape\":["
                    + item.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(end)]}"
            )
            offset = end
        }
        var json = Array(("{" + members.joined(separator: ",") + "}").utf8)
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * i))) }
        return out + json
    }

    /// Streams a tensor's elements, converted to its storage dtype, to `sink` in chunks.
    private static func emitPayload<E: Error>(
        of item: SafetensorsTensor,
        to sink: (UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        switch item.payload {
        case .float32(let tensor):
            try tensor.withUnsafeBufferPointer { (elements) throws(E) in
                try emit(elements, as: item.dtype, to: sink)
            }
        case .float64(let tensor):
            try tensor.withUnsafeBufferPointer { (elements) throws(E) in
                try emit(elements, as: item.dtype, to: sink)
            }
        case .int64(let array):
            try array.scalars.withUnsafeBytes { bytes in Result { () throws(E) in try sink(bytes) } }.get()
        }
    }

    /// Elements converted to `dtype` (F32, F64, F16 or BF16), little-endian.
    static func emit<Scalar: TensorScalar, E: Error>(
        _ elements: UnsafeBufferPointer<Scalar>,
        as dtype: SafetensorsDType,
        to sink: (UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        if (dtype == .float32 && Scalar.self == Float.self) || (dtype == .float64 && Scalar.self == Double.self) {
            try sink(UnsafeRawBufferPointer(elements))
            return
        }
        let chunk = 1 << 14
        var start = 0
        while start < elements.count {
            let slice = UnsafeBufferPointer(rebasing: elements[start..<min(start + chunk, elements.count)])
            switch dtype {
            case .float32:
                let converted = slice.map { Float(Double($0)) }
                try converted.withUnsafeBytes { bytes in Result { () throws(E) in try sink(bytes) } }.get()
            case .float64:
                let converted = slice.map { Double($0) }
                try converted.withUnsafeBytes { bytes in Result { () throws(E) in try sink(bytes) } }.get()
            case .float16:
                let converted = slice.map { HalfPrecision.halfBits(Double($0)).littleEndian }
                try converted.withUnsafeBytes { bytes in Result { () throws(E) in try sink(bytes) } }.get()
            case .bfloat16:
                let converted = slice.map { HalfPrecision.bfloat16Bits(Double($0)).littleEndian }
                try converted.withUnsafeBytes { bytes in Result { () throws(E) in try sink(bytes) } }.get()
            default:
                preconditionFailure("\(dtype) is not a floating-point storage type")  // rejected by encodeHeader
            }
            start += chunk
        }
    }
}
