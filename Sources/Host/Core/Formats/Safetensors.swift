import Foundation

/// A safetensors file: named tensors plus a string metadata map, validated on open and decoded on demand.
///
/// ``read(path:)`` memory-maps the file and validates the whole header against it before anything is
/// decoded: the header length (at most 100 MB and within the file), UTF-8, strict JSON without duplicate keys,
/// every entry's `dtype`, `shape` and `data_offsets`, that each tensor's byte range matches its shape and
/// dtype, and that the tensors tile the data buffer exactly (no overlaps, no holes). Tensors are then decoded
/// one at a time with ``tensor(named:as:)``: `F16` and `BF16` are widened exactly, `F32` and `F64` converted
/// to the requested scalar type.
///
/// ```swift
/// let file = try SafetensorsFile.read(path: "dit.safetensors")
/// let w = try file.tensor(named: "blocks.0.attn.qkv.weight")     // Tensor<Float>
/// print(file.metadata["format"] ?? "-", file.names.count)
/// ```
///
/// The mapped file must not be truncated by another process while this value is alive.
public struct SafetensorsFile: Sendable {
    /// The path the file was read from (used in error messages).
    public let path: String
    /// The `__metadata__` map (empty if the file has none).
    public let metadata: [String: String]
    /// The tensor entries, in the order the header lists them.
    public let entries: [SafetensorsEntry]
    private let index: [String: Int]
    private let data: Data
    private let dataStart: Int
    /// Whether `data` is a file mapping of ``MappedFile`` (so decoded tensors' pages may be released).
    private var fileMapped = false
    /// Bytes of entries that are not a range of `data` (a PyTorch view copied out of its storage), by name.
    private var separateBytes: [String: Data] = [:]

    /// The tensor names, in header order.
    public var names: [String] { entries.map(\.name) }

    /// Opens and validates a safetensors file (memory-mapped).
    /// - Throws: ``SafetensorsError`` naming `path`, and the tensor and field where one is at fault.
    public static func read(path: String) throws(SafetensorsError) -> SafetensorsFile {
        let data: Data
        do {
            data = try MappedFile.read(path: path)
        } catch {
            throw .readFailed(path: path, reason: error.reason)
        }
        var file = try decode(data, path: path)
        file.fileMapped = true
        return file
    }

    /// Validates the complete bytes of a safetensors file held in memory.
    /// - Parameters:
    ///   - data: The complete file contents.
    ///   - path: The name to use in error messages.
    /// - Throws: ``SafetensorsError`` naming `path`.
    public static func decode(_ data: Data, path: String) throws(SafetensorsError) -> SafetensorsFile {
        let data = data.startIndex == 0 ? data : Data(data)  // offsets below are 0-based
        let header = try data.withUnsafeBytes { bytes in
            Result { () throws(SafetensorsError) in try SafetensorsHeader.parse(bytes, path: path) }
        }.get()
        var index: [String: Int] = [:]
        for (i, entry) in header.entries.enumerated() { index[entry.name] = i }
        return SafetensorsFile(
            path: path,
            metadata: header.metadata,
            entries: header.entries,
            index: index,
            data: data,
            dataStart: header.dataStart
        )
    }

    /// A file of the tensors in `entries`, whose data offsets are ranges of the file mapping `data` except where
    /// `separateBytes` holds an entry's bytes (for readers of other formats, such as ``PyTorchCheckpoint``).
    package static func assembled(
        path: String, metadata: [String: String], entries: [SafetensorsEntry], data: Data, fileMapped: Bool,
        separateBytes: [String: Data]
    ) -> SafetensorsFile {
        var index: [String: Int] = [:]
        for (i, entry) in entries.enumerated() { index[entry.name] = i }
        var file = SafetensorsFile(
            path: path, metadata: metadata, entries: entries, index: index, data: data, dataStart: 0)
        file.fileMapped = fileMapped
        file.separateBytes = separateBytes
        return file
    }

    /// The header entry of the tensor called `name`, or `nil`.
    public func entry(named name: String) -> SafetensorsEntry? {
        index[name].map { entries[$0] }
    }

    /// The tensor called `name` as float32 (`F16`, `BF16` exactly; `F64` rounded to nearest).
    /// - Throws: ``SafetensorsError/tensorNotFound(path:tensor:)``, or
    ///   ``SafetensorsError/dtypeMismatch(path:tensor:found:requested:)`` for integer and 8-bit float tensors.
    public func tensor(named name: String) throws(SafetensorsError) -> Tensor<Float> {
        try tensor(named: name, as: Float.self)
    }

    /// The tensor called `name`, converted to `Scalar`.
    ///
    /// `F16` and `BF16` values (including subnormals, ±0, ±infinity and NaN) are converted exactly;
    /// `F32` → `Double` is exact; `F64` → `Float` rounds to nearest.
    /// - Throws: ``SafetensorsError/tensorNotFound(path:tensor:)``, or
    ///   ``SafetensorsError/dtypeMismatch(path:tensor:found:requested:)`` for integer and 8-bit float tensors.
    public func tensor<Scalar: TensorScalar>(
        named name: String,
        as _: Scalar.Type = Scalar.self
    ) throws(SafetensorsError) -> Tensor<Scalar> {
        guard let entry = entry(named: name) else { throw .tensorNotFound(path: path, tensor: name) }
        guard entry.dtype.isConvertibleToFloat else {
            throw .dtypeMismatch(path: path, tensor: name, found: entry.dtype, requested: Scalar.dtypeName)
        }
        var tensor = Tensor<Scalar>(zeros: entry.shape)
        withBytes(of: entry) { source in
            tensor.withUnsafeMutableBufferPointer { destination in
                // Callers in other modules reach this unspecialised; hand the loops concrete types so the
                // optimiser specialises them rather than converting element by element through witnesses.
                if Scalar.self == Float.self {
                    destination.withMemoryRebound(to: Float.self) { Self.convert(source, dtype: entry.dtype, into: $0) }
                } else if Scalar.self == Double.self {
                    destination.withMemoryRebound(to: Double.self) {
                        Self.convert(source, dtype: entry.dtype, into: $0)
                    }
                } else {
                    Self.convert(source, dtype: entry.dtype, into: destination)
                }
            }
        }
        return tensor
    }

    /// The `I64` tensor called `name`.
    /// - Throws: ``SafetensorsError/tensorNotFound(path:tensor:)``, or
    ///   ``SafetensorsError/dtypeMismatch(path:tensor:found:requested:)`` for any other dtype.
    public func int64Array(named name: String) throws(SafetensorsError) -> Int64Array {
        guard let entry = entry(named: name) else { throw .tensorNotFound(path: path, tensor: name) }
        guard entry.dtype == .int64 else {
            throw .dtypeMismatch(path: path, tensor: name, found: entry.dtype, requested: "int64")
        }
        let scalars = withBytes(of: entry) { source in
            [Int64](unsafeUninitializedCapacity: entry.count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
                initialized = entry.count
            }
        }
        return Int64Array(validatedShape: entry.shape, scalars: scalars)
    }

    /// Calls `body` with the (validated) bytes of `entry`. For a file read with ``read(path:)``, the pages of a
    /// large tensor (1 MiB or more) are released once `body` has copied them out, so loading a checkpoint tensor
    /// by tensor holds about one tensor of the file in memory at a time, not the whole file.
    /// `body` over the entry's bytes, leaving a mapping's pages resident (for many small reads of one tensor).
    func readBytes<R>(of entry: SafetensorsEntry, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if let separate = separateBytes[entry.name] { return separate.withUnsafeBytes(body) }
        return data.withUnsafeBytes { bytes in
            let begin = dataStart + entry.dataOffsets.lowerBound
            return body(UnsafeRawBufferPointer(rebasing: bytes[begin..<begin + entry.dataOffsets.count]))
        }
    }

    func withBytes<R>(of entry: SafetensorsEntry, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if let separate = separateBytes[entry.name] { return separate.withUnsafeBytes(body) }
        return data.withUnsafeBytes { bytes in
            let begin = dataStart + entry.dataOffsets.lowerBound
            let range = UnsafeRawBufferPointer(rebasing: bytes[begin..<begin + entry.dataOffsets.count])
            let result = body(range)
            if fileMapped, range.count >= 1 << 20 { MappedFile.releasePages(range) }
            return result
        }
    }

    /// Converts little-endian `dtype` elements (possibly unaligned) to `Scalar`.
    static func convert<Scalar: TensorScalar>(
        _ source: UnsafeRawBufferPointer,
        dtype: SafetensorsDType,
        into destination: UnsafeMutableBufferPointer<Scalar>
    ) {
        switch dtype {
        case .float32 where Scalar.self == Float.self, .float64 where Scalar.self == Double.self:
            UnsafeMutableRawBufferPointer(destination).copyMemory(from: source)
        case .float32:
            for i in destination.indices {
                destination[i] = Scalar(source.loadUnaligned(fromByteOffset: 4 * i, as: Float.self))
            }
        case .float64:
            for i in destination.indices {
                destination[i] = Scalar(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self))
            }
        case .float16:
            for i in destination.indices {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                destination[i] = Scalar(HalfPrecision.float(fromHalf: bits))
            }
        case .bfloat16:
            for i in destination.indices {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                destination[i] = Scalar(HalfPrecision.float(fromBFloat16: bits))
            }
        default:
            preconditionFailure("\(dtype) is not a floating-point storage type")  // excluded by the caller
        }
    }
}
