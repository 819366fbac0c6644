/// The member files of a zip archive whose members are stored uncompressed, as `torch.save` writes them: each
/// member's bytes are one contiguous range of the archive, so a reader can use them in place.
///
/// Only the central directory is trusted for names and sizes (a streaming writer may leave the local headers'
/// sizes zero); each member's local header is checked for its signature and name length to find where the data
/// begins. Zip64 (archives or members past 4 GiB) is read; compressed, encrypted or multi-disk archives are
/// refused. Every range is checked against the archive before it is used.
struct StoredZipArchive {
    /// One member: its name and the byte range of its contents within the archive.
    struct Member {
        let name: String
        let range: Range<Int>
        let crc32: UInt32
    }

    /// Members in central-directory order.
    let members: [Member]

    /// Why the bytes are not a usable archive: a sentence without the path (the caller adds it).
    struct Failure: Error {
        let reason: String
    }

    private static let endOfDirectory: UInt32 = 0x0605_4b50
    private static let zip64EndOfDirectory: UInt32 = 0x0606_4b50
    private static let zip64Locator: UInt32 = 0x0706_4b50
    private static let directoryEntry: UInt32 = 0x0201_4b50
    private static let localHeader: UInt32 = 0x0403_4b50

    /// Whether `bytes` start like a zip archive (a local file header).
    static func hasSignature(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes.loadUnaligned(as: UInt32.self).littleEndian == localHeader
    }

    /// Reads the central directory of `bytes`.
    /// - Throws: ``Failure`` saying which structure is missing, truncated or unsupported.
    static func read(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> StoredZipArchive {
        let reader = LittleEndianReader(bytes: bytes)
        // The end-of-central-directory record: 22 bytes plus a comment of at most 65,535, at the very end.
        guard bytes.count >= 22 else { throw Failure(reason: "it is too small to be a zip archive") }
        var end = -1
        var position = bytes.count - 22
        while position >= max(0, bytes.count - 22 - 65_535) {
            if reader.u32(position) == endOfDirectory {
                end = position
                break
            }
            position -= 1
        }
        guard end >= 0 else { throw Failure(reason: "it has no zip end-of-central-directory record") }
        guard reader.u16(end + 4) == 0, reader.u16(end + 6) == 0 else {
            throw Failure(reason: "it is a multi-disk zip archive, which is not supported")
        }
        var count = Int(reader.u16(end + 10))
        var directorySize = Int(reader.u32(end + 12))
        var directoryOffset = Int(reader.u32(end + 16))
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // Zip64: a locator just before the record points to the 64-bit end-of-directory record.
            guard end >= 20, reader.u32(end - 20) == zip64Locator else {
                throw Failure(reason: "its zip64 end-of-directory locator is missing")
            }
            let record = try reader.offset(reader.u64(end - 20 + 8), "the zip64 end-of-directory record")
            guard record + 56 <= bytes.count, reader.u32(record) == zip64EndOfDirectory else {
                throw Failure(reason: "its zip64 end-of-directory record is missing or truncated")
            }
            count = try reader.offset(reader.u64(record + 32), "the member count")
            directorySize = try reader.offset(reader.u64(record + 40), "the central directory size")
            directoryOffset = try reader.offset(reader.u64(record + 48), "the central directory offset")
        }
        guard directoryOffset <= bytes.count, directorySize <= bytes.count - directoryOffset else {
            throw Failure(
                reason:
                    "its central directory (\(directorySize) bytes at offset \(directoryOffset)) lies beyond the end of the file (\(bytes.count) bytes)"
            )
        }
        guard count <= directorySize / 46 else {
            throw Failure(
                reason: "its central directory claims \(count) members but has room for at most \(directorySize / 46)")
        }
        var members: [Member] = []
        members.reserveCapacity(count)
        var entry = directoryOffset
        let directoryEnd = directoryOffset + directorySize
        for index in 0..<count {
            guard entry + 46 <= directoryEnd, reader.u32(entry) == directoryEntry else {
                throw Failure(reason: "central directory entry \(index) is missing or truncated")
            }
            let flags = reader.u16(entry + 8), method = reader.u16(entry + 10)
            let crc = reader.u32(entry + 16)
            var compressed = UInt64(reader.u32(entry + 20)), size = UInt64(reader.u32(entry + 24))
            let nameLength = Int(reader.u16(entry + 28)), extraLength = Int(reader.u16(entry + 30))
            let commentLength = Int(reader.u16(entry + 32))
            var local = UInt64(reader.u32(entry + 42))
            let next = entry + 46 + nameLength + extraLength + commentLength
            guard next <= directoryEnd else { throw Failure(reason: "central directory entry \(index) is truncated") }
            let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[entry + 46..<entry + 46 + nameLength])
            guard let name = String(validating: nameBytes, as: UTF8.self) else {
                throw Failure(reason: "the name of member \(index) is not valid UTF-8")
            }
            // Zip64 extended information: the 64-bit fields whose 32-bit slots hold 0xFFFFFFFF, in this order.
            var extra = entry + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = reader.u16(extra), length = Int(reader.u16(extra + 2))
                guard extra + 4 + length <= extraEnd else {
                    throw Failure(reason: "member '\(name)' has a truncated extra field")
                }
                if id == 0x0001 {
                    var field = extra + 4
                    func take() throws(Failure) -> UInt64 {
                        guard field + 8 <= extra + 4 + length else {
                            throw Failure(reason: "member '\(name)' has a truncated zip64 extra field")
                        }
                        defer { field += 8 }
                        return reader.u64(field)
                    }
                    if size == 0xFFFF_FFFF { size = try take() }
                    if compressed == 0xFFFF_FFFF { compressed = try take() }
                    if local == 0xFFFF_FFFF { local = try take() }
                }
                extra += 4 + length
            }
            guard flags & 1 == 0 else { throw Failure(reason: "member '\(name)' is encrypted") }
            guard method == 0, compressed == size else {
                throw Failure(
                    reason:
                        "member '\(name)' is compressed (method \(method)); torch.save stores members uncompressed, so this archive was rewritten by another tool"
                )
            }
            let header = try reader.offset(local, "member '\(name)''s local header offset")
            guard header <= bytes.count - 30, reader.u32(header) == localHeader else {
                throw Failure(reason: "member '\(name)''s local header is missing at offset \(header)")
            }
            guard Int(reader.u16(header + 26)) == nameLength else {
                throw Failure(reason: "member '\(name)''s local header disagrees with the central directory")
            }
            let start = header + 30 + nameLength + Int(reader.u16(header + 28))
            let length = try reader.offset(size, "member '\(name)''s size")
            guard start <= bytes.count, length <= bytes.count - start else {
                throw Failure(
                    reason: "member '\(name)' (\(length) bytes at offset \(start)) extends beyond the end of the file")
            }
            members.append(Member(name: name, range: start..<start + length, crc32: crc))
            entry = next
        }
        return StoredZipArchive(members: members)
    }
}

/// Bounds-unchecked little-endian loads for ``StoredZipArchive``; every caller checks the range first.
private struct LittleEndianReader {
    let bytes: UnsafeRawBufferPointer

    func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
    func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }

    /// `value` as an offset or size within the file.
    func offset(_ value: UInt64, _ what: String) throws(StoredZipArchive.Failure) -> Int {
        guard value <= UInt64(bytes.count) else {
            throw StoredZipArchive.Failure(reason: "\(what) (\(value)) lies beyond the end of the file")
        }
        return Int(value)
    }
}
