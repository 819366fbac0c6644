/// The validated preamble and header of a `.npy` file: where the data starts and what it holds.
///
/// Layout (numpy `lib.format`): the magic `\x93NUMPY`, a major and minor version byte, the header length as
/// a little-endian `u16` (version 1.0) or `u32` (2.0, 3.0), then the header: a Python dict literal (Latin-1
/// in 1.0/2.0, UTF-8 in 3.0) padded with spaces and ending in `\n`, then the raw C-order elements.
struct NPYHeader: Equatable {
    /// The element type.
    let dtype: NPYDType
    /// Extents, outermost first.
    let shape: [Int]
    /// Number of elements (checked product of `shape`).
    let count: Int
    /// Number of data bytes (checked `count × itemSize`).
    let byteCount: Int
    /// Offset of the first data byte.
    let dataOffset: Int

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
    /// numpy aligns the start of the data to this many bytes.
    static let alignment = 64
    /// numpy leaves room for the first extent to grow to this many digits (`GROWTH_AXIS_MAX_DIGITS`).
    static let growthAxisMaxDigits = 21

    // MARK: Reading

    /// Parses and validates the preamble and header at the start of `bytes` (the whole file, `fileSize` bytes).
    /// Checks everything that can be checked without the data, including that the data size is exactly right.
    static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws(NPYError) -> NPYHeader {
        let fileSize = bytes.count
        let magicLength = min(fileSize, magic.count)
        guard fileSize >= magic.count, bytes.prefix(magic.count).elementsEqual(magic) else {
            throw .badMagic(path: path, found: Array(bytes.prefix(magicLength)))
        }
        guard fileSize >= 8 else { throw .headerPastEnd(path: path, headerEnd: 8, fileSize: fileSize) }
        let major = bytes[6]
        let minor = bytes[7]
        let lengthFieldSize: Int
        switch (major, minor) {
        case (1, 0): lengthFieldSize = 2
        case (2, 0), (3, 0): lengthFieldSize = 4
        default: throw .unsupportedVersion(path: path, major: major, minor: minor)
        }
        let preambleLength = 8 + lengthFieldSize
        guard fileSize >= preambleLength else {
            throw .headerPastEnd(path: path, headerEnd: preambleLength, fileSize: fileSize)
        }
        var headerLength = 0
        for i in 0..<lengthFieldSize {
            headerLength |= Int(bytes[8 + i]) << (8 * i)  // at most 2^32 - 1: no overflow
        }
        let dataOffset = preambleLength + headerLength
        guard dataOffset <= fileSize else {
            throw .headerPastEnd(path: path, headerEnd: dataOffset, fileSize: fileSize)
        }
        let headerBytes = Array(bytes[preambleLength..<dataOffset])
        let headerText = quoted(headerBytes, utf8: major == 3)

        let literal: PythonLiteral
        do {
            literal = try PythonLiteral.parse(headerBytes)
        } catch {
            throw .malformedHeader(path: path, reason: error.description, header: headerText)
        }
        guard case .dict(let entries) = literal else {
            throw .malformedHeader(
                path: path,
                reason: "the header is \(literal.typeName), not a dict",
                header: headerText
            )
        }
        let expectedKeys = ["descr", "fortran_order", "shape"]
        for entry in entries where !expectedKeys.contains(entry.key) {
            throw .malformedHeader(
                path: path,
                reason: "unexpected key '\(entry.key)' (the keys must be exactly 'descr', "
                    + "'fortran_order' and 'shape')",
                header: headerText
            )
        }
        func value(_ key: String) throws(NPYError) -> PythonLiteral {
            guard let entry = entries.first(where: { $0.key == key }) else {
                throw .malformedHeader(path: path, reason: "missing key '\(key)'", header: headerText)
            }
            return entry.value
        }

        let descr = try value("descr")
        guard case .string(let code) = descr, let dtype = NPYDType(rawValue: code) else {
            throw .unsupportedDType(path: path, descr: descr.source)
        }

        let fortranOrder = try value("fortran_order")
        guard case .bool(let isFortran) = fortranOrder else {
            throw .malformedHeader(
                path: path,
                reason: "'fortran_order' is \(fortranOrder.typeName) (\(fortranOrder.source)), "
                    + "expected True or False",
                header: headerText
            )
        }
        if isFortran { throw .fortranOrder(path: path) }

        let shapeValue = try value("shape")
        guard case .tuple(let extents) = shapeValue else {
            throw .malformedHeader(
                path: path,
                reason: "'shape' is \(shapeValue.typeName) (\(shapeValue.source)), expected a tuple of "
                    + "integers such as (2, 3), (3,) or ()",
                header: headerText
            )
        }
        var shape: [Int] = []
        for extent in extents {
            guard case .integer(let digits) = extent else {
                throw .invalidShape(
                    path: path,
                    shape: shapeValue.source,
                    reason: "extent \(extent.source) is not an integer"
                )
            }
            guard !digits.hasPrefix("-") else {
                throw .invalidShape(path: path, shape: shapeValue.source, reason: "extent \(digits) is negative")
            }
            guard let value = Int(digits) else {
                throw .invalidShape(
                    path: path,
                    shape: shapeValue.source,
                    reason: "extent \(digits) does not fit in a 64-bit integer"
                )
            }
            shape.append(value)
        }
        guard let count = ShapeArithmetic.elementCount(shape) else {
            throw .invalidShape(
                path: path,
                shape: shapeValue.source,
                reason: "the element count overflows a 64-bit integer"
            )
        }
        guard let byteCount = ShapeArithmetic.byteCount(elements: count, itemSize: dtype.itemSize) else {
            throw .invalidShape(
                path: path,
                shape: shapeValue.source,
                reason: "\(count) elements of \(dtype.itemSize) bytes overflow a 64-bit byte count"
            )
        }
        let available = fileSize - dataOffset
        if available < byteCount {
            throw .dataTruncated(
                path: path,
                shape: shape,
                dtype: dtype,
                expectedBytes: byteCount,
                actualBytes: available
            )
        }
        if available > byteCount {
            throw .trailingData(
                path: path,
                shape: shape,
                dtype: dtype,
                expectedBytes: byteCount,
                actualBytes: available
            )
        }
        return NPYHeader(dtype: dtype, shape: shape, count: count, byteCount: byteCount, dataOffset: dataOffset)
    }

    /// The header for error messages: decoded, with control characters escaped, at most 200 characters.
    private static func quoted(_ bytes: [UInt8], utf8: Bool) -> String {
        var text = utf8 ? String(decoding: bytes, as: UTF8.self) : String(bytes.map { Character(Unicode.Scalar($0)) })
        while let last = text.last, last == " " || last == "\n" { text.removeLast() }
        var escaped = ""
        for scalar in text.unicodeScalars {
            if escaped.unicodeScalars.count >= 200 {
                escaped += "..."
                break
            }
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                escaped += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return "\"" + escaped + "\""
    }

    // MARK: Writing

    /// The preamble and header numpy's `np.save` writes for a C-order array: byte-identical to numpy's output,
    /// version 1.0 unless the header needs more than 65535 bytes (then 2.0), data start aligned to 64 bytes.
    /// `nil` if even version 2.0 cannot hold the header (beyond 4 GiB: hundreds of millions of dimensions).
    static func encode(dtype: NPYDType, shape: [Int]) -> [UInt8]? {
        var dict = "{'descr': '\(dtype.descr)', 'fortran_order': False, 'shape': \(NPYError.pythonShape(shape)), }"
        if let first = shape.first {
            dict += String(repeating: " ", count: max(0, growthAxisMaxDigits - String(first).count))
        }
        let body = Array(dict.utf8)
        for (version, lengthFieldSize) in [(UInt8(1), 2), (UInt8(2), 4)] {
            let unpadded = magic.count + 2 + lengthFieldSize + body.count + 1  // + "\n"
            let padding = alignment - unpadded % alignment
            let headerLength = body.count + padding + 1
            guard headerLength < 1 << (8 * lengthFieldSize) else { continue }
            var out = magic + [version, 0]
            for i in 0..<lengthFieldSize { out.append(UInt8(truncatingIfNeeded: headerLength >> (8 * i))) }
            out += body
            out += [UInt8](repeating: 0x20, count: padding)
            out.append(0x0A)
            return out
        }
        return nil
    }
}
