/// One tensor's header entry in a safetensors file, validated against the file.
public struct SafetensorsEntry: Equatable, Sendable {
    /// The tensor's name (the header key).
    public let name: String
    /// The stored element type.
    public let dtype: SafetensorsDType
    /// Extents, outermost first; `[]` for a scalar.
    public let shape: [Int]
    /// The byte range within the data buffer (the bytes after the header), as `data_offsets` says.
    public let dataOffsets: Range<Int>

    /// Number of elements (the product of the shape).
    public var count: Int { dataOffsets.count / dtype.byteSize }
}
