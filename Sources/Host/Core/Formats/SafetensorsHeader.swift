/// The validated header of a safetensors file.
///
/// Layout: an 8-byte little-endian `u64` header length `N`, `N` bytes of UTF-8 JSON (an object mapping tensor
/// names to `{"dtype", "shape", "data_offsets"}` plus an optional `"__metadata__"` string map, possibly padded
/// with trailing spaces), then the data buffer. `data_offsets` are `[begin, end)` byte offsets into the
/// data buffer; the tensors must cover it exactly, without overlaps or holes.
struct SafetensorsHeader {
    /// The reference implementation's limit on `N`.
    static let maximumLength = 100_000_000
    /// The key of the metadata map.
    static let metadataKey = "__metadata__"

    /// Tensor entries in header order.
    let entries: [SafetensorsEntry]
    /// The `__metadata__` map (empty if absent).
    let metadata: [String: String]
    /// File offset of the data buffer (8 + N).
    let dataStart: Int

    /// Parses and validates the header of the complete file `bytes` against the file's size.
    static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws(SafetensorsError) -> SafetensorsHeader {
        guard bytes.count >= 8 else { throw .fileTooSmall(path: path, size: bytes.count) }
        let length = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard length <= UInt64(maximumLength) else {
            throw .headerTooLarge(path: path, length: length, limit: maximumLength)
        }
        let dataStart = 8 + Int(length)  // length ≤ 10^8: no overflow
        guard dataStart <= bytes.count else { throw .headerPastEnd(path: path, length: length, fileSize: bytes.count) }
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])
        if let offset = firstInvalidUTF8Offset(header) { throw .headerNotUTF8(path: path, offset: offset) }

        let json: StrictJSON.Value
        do {
            json = try StrictJSON.parse(header)
        } catch {
            switch error {
            case .syntax(let offset, let message): throw .headerNotJSON(path: path, offset: offset, reason: message)
            case .duplicateKey(let key, let context, _): throw .duplicateKey(path: path, key: key, context: context)
            }
        }
        guard case .object(let members) = json else {
            throw .headerNotObject(path: path, found: "\(json.typeName) (\(json.source()))")
        }

        let bufferSize = bytes.count - dataStart
        var entries: [SafetensorsEntry] = []
        var metadata: [String: String] = [:]
        entries.reserveCapacity(members.count)
        for member in members {
            if member.key == metadataKey {
                metadata = try parseMetadata(member.value, path: path)
            } else {
                entries.append(try parseEntry(member, bufferSize: bufferSize, path: path))
            }
        }
        try checkCoverage(entries, bufferSize: bufferSize, path: path)
        return SafetensorsHeader(entries: entries, metadata: metadata, dataStart: dataStart)
    }

    private static func parseMetadata(
        _ value: StrictJSON.Value, path: String
    ) throws(SafetensorsError) -> [String:
        String]
    {
        guard case .object(let members) = value else {
            throw .invalidMetadata(path: path, key: nil, found: "\(value.typeName) (\(value.source()))")
        }
        var metadata: [String: String] = [:]
        for member in members {
            guard case .string(let text) = member.value else {
                throw .invalidMetadata(
                    path: path,
                    key: member.key,
                    found: "\(member.value.typeName) (\(member.value.source()))"
                )
            }
            metadata[member.key] = text
        }
        return metadata
    }

    private static func parseEntry(
        _ member: StrictJSON.Member,
        bufferSize: Int,
        path: String
    ) throws(SafetensorsError) -> SafetensorsEntry {
        let name = member.key
        guard !name.isEmpty else { throw .emptyTensorName(path: path) }
        guard case .object(let fields) = member.value else {
            throw .entryNotObject(
                path: path,
                tensor: name,
                found: "\(member.value.typeName) (\(member.value.source()))"
            )
        }
        func field(_ key: String) throws(SafetensorsError) -> StrictJSON.Value {
            guard let value = fields.first(where: { $0.key == key })?.value else {
                throw .missingField(path: path, tensor: name, field: key)
            }
            return value
        }
        func invalid(_ key: String, _ value: StrictJSON.Value, _ expected: String) -> SafetensorsError {
            .invalidField(path: path, tensor: name, field: key, found: value.source(), expected: expected)
        }

        let dtypeValue = try field("dtype")
        guard case .string(let dtypeName) = dtypeValue else {
            throw invalid("dtype", dtypeValue, "a string such as \"F32\"")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw .unknownDType(path: path, tensor: name, dtype: dtypeName)
        }

        let shapeValue = try field("shape")
        let shapeExpectation = "an array of non-negative integers such as [2, 3] or []"
        guard case .array(let extents) = shapeValue else { throw invalid("shape", shapeValue, shapeExpectation) }
        var shape: [Int] = []
        shape.reserveCapacity(extents.count)
        for extent in extents {
            switch integer(extent) {
            case .value(let n): shape.append(n)
            case .tooLarge:
                throw invalid("shape", shapeValue, "extents that fit in a 64-bit integer")
            case .notInteger:
                throw invalid("shape", shapeValue, shapeExpectation)
            }
        }

        let offsetsValue = try field("data_offsets")
        let offsetsExpectation = "two non-negative integers [begin, end]"
        guard case .array(let offsets) = offsetsValue, offsets.count == 2 else {
            throw invalid("data_offsets", offsetsValue, offsetsExpectation)
        }
        var bounds: [Int] = []
        for offset in offsets {
            switch integer(offset) {
            case .value(let n): bounds.append(n)
            case .tooLarge:
                throw .offsetsBeyondBuffer(
                    path: path,
                    tensor: name,
                    offsets: offsetsValue.source(),
                    bufferSize: bufferSize
                )
            case .notInteger:
                throw invalid("data_offsets", offsetsValue, offsetsExpectation)
            }
        }
        let (begin, end) = (bounds[0], bounds[1])
        guard begin <= end else { throw invalid("data_offsets", offsetsValue, "begin <= end") }
        guard end <= bufferSize else {
            throw .offsetsBeyondBuffer(path: path, tensor: name, offsets: offsetsValue.source(), bufferSize: bufferSize)
        }

        guard let count = ShapeArithmetic.elementCount(shape),
            let expected = ShapeArithmetic.byteCount(elements: count, itemSize: dtype.byteSize)
        else { throw .shapeOverflow(path: path, tensor: name, shape: shape, dtype: dtype) }
        guard end - begin == expected else {
            throw .sizeMismatch(
                path: path,
                tensor: name,
                dtype: dtype,
                shape: shape,
                byteCount: end - begin,
                expected: expected
            )
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    private enum IntegerField {
        case value(Int)
        case tooLarge
        case notInteger
    }

    /// A JSON number written as a non-negative integer (no sign, fraction or exponent).
    private static func integer(_ value: StrictJSON.Value) -> IntegerField {
        guard case .number(let text) = value, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return .notInteger
        }
        return Int(text).map { .value($0) } ?? .tooLarge
    }

    /// Sorted by offsets, the tensors must tile `0..<bufferSize` exactly.
    private static func checkCoverage(
        _ entries: [SafetensorsEntry],
        bufferSize: Int,
        path: String
    ) throws(SafetensorsError) {
        let sorted = entries.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < (
                $1.dataOffsets.lowerBound, $1.dataOffsets.upperBound
            )
        }
        var cursor = 0
        var previous: SafetensorsEntry?
        for entry in sorted {
            let range = entry.dataOffsets
            if range.lowerBound < cursor, let previous {
                throw .overlap(
                    path: path,
                    tensor: entry.name,
                    range: range,
                    other: previous.name,
                    otherRange: previous.dataOffsets
                )
            }
            if range.lowerBound > cursor {
                throw .gap(path: path, range: cursor..<range.lowerBound, after: previous?.name)
            }
            // Empty tensors sit between others without moving the cursor or becoming the reference neighbour.
            if !range.isEmpty || previous == nil {
                previous = entry
            }
            cursor = range.upperBound
        }
        if cursor < bufferSize {
            throw .gap(path: path, range: cursor..<bufferSize, after: previous?.name)
        }
    }

    /// The offset of the first byte that does not continue a valid UTF-8 sequence, or `nil` if all is valid.
    private static func firstInvalidUTF8Offset(_ bytes: UnsafeRawBufferPointer) -> Int? {
        // Fast path: ASCII only.
        if bytes.allSatisfy({ $0 < 0x80 }) { return nil }
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }
}
