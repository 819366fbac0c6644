/// Why an image could not be read, written or converted. Every case names the file it is about.
///
/// The description is one sentence naming the path, what was found and what was expected, suitable for
/// printing as `Error: <description>`.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened or read.
    case readFailed(path: String, reason: String)
    /// The file is empty.
    case emptyFile(path: String)
    /// The file is larger than ``PNGImage/maxFileBytes``.
    case fileTooLarge(path: String, bytes: Int, limit: Int)
    /// The file does not start with the PNG signature `\x89PNG\r\n\x1a\n` (`found`: its first bytes, at most 8).
    case notPNG(path: String, found: [UInt8])
    /// The image is wider or taller than ``PNGImage/maxDimension``.
    case imageTooLarge(path: String, width: Int, height: Int, limit: Int)
    /// The header declares more pixels than the file's bytes can hold even at deflate's largest expansion
    /// (1032:1), so the data is truncated or the header lies; refused before any pixel memory is allocated.
    case imageLargerThanData(path: String, width: Int, height: Int, bytes: Int)
    /// libpng rejected the data (truncated, corrupt, unsupported); `message` is libpng's own text.
    case decodeFailed(path: String, message: String)
    /// libpng could not encode the image; `message` is libpng's own text.
    case encodeFailed(path: String, message: String)
    /// The file could not be written (no file was created or replaced).
    case writeFailed(path: String, reason: String)
    /// A tensor handed in for `path` has the wrong shape; `expected` describes the accepted shapes.
    case invalidShape(path: String, shape: [Int], expected: String)
    /// An argument other than the tensor is out of range (e.g. zero grid columns).
    case invalidArgument(path: String, reason: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .readFailed(let path, _), .emptyFile(let path), .fileTooLarge(let path, _, _), .notPNG(let path, _),
            .imageTooLarge(let path, _, _, _), .imageLargerThanData(let path, _, _, _), .decodeFailed(let path, _),
            .encodeFailed(let path, _),
            .writeFailed(let path, _), .invalidShape(let path, _, _), .invalidArgument(let path, _):
            path
        }
    }

    /// One sentence: the path, what is wrong, and what was expected.
    public var description: String {
        switch self {
        case .readFailed(let path, let reason):
            return "cannot read '\(path)': \(reason)"
        case .emptyFile(let path):
            return "'\(path)' is not a PNG file: it is empty"
        case .fileTooLarge(let path, let bytes, let limit):
            return "'\(path)' is \(bytes) bytes long, over the \(limit)-byte limit for PNG files"
        case .notPNG(let path, let found):
            let hex = found.map { "\\x" + (($0 < 16 ? "0" : "") + String($0, radix: 16)) }.joined()
            if found.count < 8 {
                return "'\(path)' is not a PNG file: it is \(found.count) bytes long, too short for the "
                    + "8-byte PNG signature"
            }
            return "'\(path)' is not a PNG file: expected the signature \\x89PNG\\r\\n\\x1a\\n, found \(hex)"
        case .imageTooLarge(let path, let width, let height, let limit):
            return "'\(path)' is \(width)x\(height) pixels; images up to \(limit)x\(limit) are accepted"
        case .imageLargerThanData(let path, let width, let height, let bytes):
            return "'\(path)' declares \(width)x\(height) pixels, more than its \(bytes) bytes can hold even at "
                + "deflate's largest expansion (truncated, or the header is wrong)"
        case .decodeFailed(let path, let message):
            return "'\(path)' is not a readable PNG image (truncated or corrupt): libpng says \"\(message)\""
        case .encodeFailed(let path, let message):
            return "cannot encode '\(path)' as PNG: libpng says \"\(message)\""
        case .writeFailed(let path, let reason):
            return "cannot write '\(path)': \(reason)"
        case .invalidShape(let path, let shape, let expected):
            return "cannot make the image '\(path)' from a tensor of shape \(shape); expected \(expected)"
        case .invalidArgument(let path, let reason):
            return "cannot make the image '\(path)': \(reason)"
        }
    }
}
