/// Why a safetensors file could not be read or written. Every case names the file; cases about one tensor
/// name the tensor, and cases about one header field name the field.
///
/// The description is one sentence naming the path, what was found and what was expected.
public enum SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened or read.
    case readFailed(path: String, reason: String)
    /// Fewer than the 8 bytes of the header-length field.
    case fileTooSmall(path: String, size: Int)
    /// The header length field exceeds the reader's limit (100 MB, as in the reference implementation).
    case headerTooLarge(path: String, length: UInt64, limit: Int)
    /// The header length field points past the end of the file.
    case headerPastEnd(path: String, length: UInt64, fileSize: Int)
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8(path: String, offset: Int)
    /// The header is not JSON; `offset` is a byte offset into the header.
    case headerNotJSON(path: String, offset: Int, reason: String)
    /// The header is JSON but not an object.
    case headerNotObject(path: String, found: String)
    /// A JSON object in the header repeats a key (`context` names the object).
    case duplicateKey(path: String, key: String, context: String)
    /// A tensor with the empty string as its name.
    case emptyTensorName(path: String)
    /// A tensor's entry is not a JSON object.
    case entryNotObject(path: String, tensor: String, found: String)
    /// A tensor's entry lacks `dtype`, `shape` or `data_offsets`.
    case missingField(path: String, tensor: String, field: String)
    /// A tensor's field has the wrong JSON type or an impossible value.
    case invalidField(path: String, tensor: String, field: String, found: String, expected: String)
    /// A `dtype` that is not a safetensors type name.
    case unknownDType(path: String, tensor: String, dtype: String)
    /// The element count or byte size of a shape overflows 64 bits.
    case shapeOverflow(path: String, tensor: String, shape: [Int], dtype: SafetensorsDType)
    /// `data_offsets` ends beyond the data buffer.
    case offsetsBeyondBuffer(path: String, tensor: String, offsets: String, bufferSize: Int)
    /// `end - begin` differs from `product(shape) × size(dtype)`.
    case sizeMismatch(
        path: String,
        tensor: String,
        dtype: SafetensorsDType,
        shape: [Int],
        byteCount: Int,
        expected: Int
    )
    /// Two tensors' byte ranges overlap.
    case overlap(path: String, tensor: String, range: Range<Int>, other: String, otherRange: Range<Int>)
    /// Bytes of the data buffer no tensor covers (`after`: the tensor before the hole, if any).
    case gap(path: String, range: Range<Int>, after: String?)
    /// `__metadata__` is not an object of string values.
    case invalidMetadata(path: String, key: String?, found: String)
    /// No tensor of that name.
    case tensorNotFound(path: String, tensor: String)
    /// The tensor's stored type cannot be returned as the requested type.
    case dtypeMismatch(path: String, tensor: String, found: SafetensorsDType, requested: String)
    /// A tensor given to the writer cannot be written (bad name, duplicate, unsupported storage type).
    case invalidTensorForWrite(path: String, tensor: String, reason: String)
    /// The file could not be written (no file was created or replaced).
    case writeFailed(path: String, reason: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .readFailed(let path, _), .fileTooSmall(let path, _), .headerTooLarge(let path, _, _),
            .headerPastEnd(let path, _, _), .headerNotUTF8(let path, _), .headerNotJSON(let path, _, _),
            .headerNotObject(let path, _), .duplicateKey(let path, _, _), .emptyTensorName(let path),
            .entryNotObject(let path, _, _), .missingField(let path, _, _), .invalidField(let path, _, _, _, _),
            .unknownDType(let path, _, _), .shapeOverflow(let path, _, _, _), .offsetsBeyondBuffer(let path, _, _, _),
            .sizeMismatch(let path, _, _, _, _, _), .overlap(let path, _, _, _, _), .gap(let path, _, _),
            .invalidMetadata(let path, _, _), .tensorNotFound(let path, _), .dtypeMismatch(let path, _, _, _),
            .invalidTensorForWrite(let path, _, _), .writeFailed(let path, _):
            path
        }
    }

    /// One sentence: the path, the tensor and field where relevant, what is wrong, and what was expected.
    public var description: String {
        switch self {
        case .readFailed(let path, let reason):
            return "cannot read '\(path)': \(reason)"
        case .fileTooSmall(let path, let size):
            return "'\(path)' is not a safetensors file: it is \(size) bytes long, shorter than the 8-byte header "
                + "length field"
        case .headerTooLarge(let path, let length, let limit):
            return "'\(path)' declares a \(length)-byte safetensors header; the limit is \(limit) bytes"
        case .headerPastEnd(let path, let length, let fileSize):
            return "'\(path)' is truncated or not a safetensors file: it declares a \(length)-byte header, but the "
                + "file has only \(fileSize) bytes (8 + \(length) expected at least)"
        case .headerNotUTF8(let path, let offset):
            return "'\(path)' has a safetensors header that is not valid UTF-8 (at header byte \(offset))"
        case .headerNotJSON(let path, let offset, let reason):
            return "'\(path)' has a safetensors header that is not valid JSON: \(reason) (at header byte \(offset))"
        case .headerNotObject(let path, let found):
            return "'\(path)' has a safetensors header that is \(found), expected a JSON object of tensor entries"
        case .duplicateKey(let path, let key, let context):
            return "'\(path)' has a safetensors header with the key \(StrictJSON.quote(key)) twice in \(context)"
        case .emptyTensorName(let path):
            return "'\(path)' has a tensor with an empty name in its safetensors header"
        case .entryNotObject(let path, let tensor, let found):
            return "'\(path)': the header entry of tensor \(StrictJSON.quote(tensor)) is \(found), expected an object "
                + "with \"dtype\", \"shape\" and \"data_offsets\""
        case .missingField(let path, let tensor, let field):
            return "'\(path)': tensor \(StrictJSON.quote(tensor)) has no \"\(field)\" field"
        case .invalidField(let path, let tensor, let field, let found, let expected):
            return "'\(path)': tensor \(StrictJSON.quote(tensor)) has \"\(field)\": \(found), expected \(expected)"
        case .unknownDType(let path, let tensor, let dtype):
            return "'\(path)': tensor \(StrictJSON.quote(tensor)) has unknown \"dtype\" \(StrictJSON.quote(dtype)); "
                + "known dtypes are \(SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", "))"
        case .shapeOverflow(let path, let tensor, let shape, let dtype):
            return "'\(path)': tensor \(StrictJSON.quote(tensor)) has \"shape\" \(shape) whose size in \(dtype) "
                + "overflows a 64-bit integer"
        case .offsetsBeyondBuffer(let path, let tensor, let offsets, let bufferSize):
            return
                "'\(path)': tensor \(StrictJSON.quote(tensor)) has \"data_offsets\" \(offsets) beyond the end of the "
                + "\(bufferSize)-byte data buffer (the file is truncated or the header lies)"
        case .sizeMismatch(let path, let tensor, let dtype, let shape, let byteCount, let expected):
            return
                "'\(path)': tensor \(StrictJSON.quote(tensor)) has \"data_offsets\" spanning \(byteCount) bytes, but "
                + "\"shape\" \(shape) of \(dtype) needs \(expected) bytes"
        case .overlap(let path, let tensor, let range, let other, let otherRange):
            return "'\(path)': tensor \(StrictJSON.quote(tensor)) (\"data_offsets\" [\(range.lowerBound), "
                + "\(range.upperBound)]) overlaps tensor \(StrictJSON.quote(other)) ([\(otherRange.lowerBound), "
                + "\(otherRange.upperBound)]); tensors must not share bytes"
        case .gap(let path, let range, let after):
            let position = after.map { "after tensor \(StrictJSON.quote($0))" } ?? "before the first tensor"
            return "'\(path)': bytes [\(range.lowerBound), \(range.upperBound)) of the data buffer, \(position), "
                + "belong to no tensor; the data buffer must be covered exactly"
        case .invalidMetadata(let path, let key, let found):
            let location = key.map { "\"__metadata__\" value for \(StrictJSON.quote($0))" } ?? "\"__metadata__\""
            return "'\(path)': \(location) is \(found), expected \(key == nil ? "an object of strings" : "a string")"
        case .tensorNotFound(let path, let tensor):
            return "'\(path)' has no tensor named \(StrictJSON.quote(tensor))"
        case .dtypeMismatch(let path, let tensor, let found, let requested):
            return
                "'\(path)': tensor \(StrictJSON.quote(tensor)) is stored as \(found) and cannot be read as \(requested)"
        case .invalidTensorForWrite(let path, let tensor, let reason):
            return "cannot write '\(path)': tensor \(StrictJSON.quote(tensor)) \(reason)"
        case .writeFailed(let path, let reason):
            return "cannot write '\(path)': \(reason)"
        }
    }
}
