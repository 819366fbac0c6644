import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// `.npy` reading and writing: files written by numpy 2.4 (committed fixtures, see
/// `Fixtures/Formats/generate.py`), round trips, byte-identical output, and a corpus of malformed files.
@Suite struct NPYTests {
    // MARK: Files written by numpy

    @Test func readsFloat32Matrix() throws {
        let array = try NPY.read(path: npyFixture("f4_2x3.npy"))
        #expect(array.dtype == .float32)
        #expect(array.shape == [2, 3])
        #expect(array == .float32(try Tensor(shape: [2, 3], scalars: [-1, -0.5, 0, 0.5, 1, 1.5])))
    }

    @Test func readsZeroDimensionalFloat64() throws {
        let x = try NPY.readTensor(path: npyFixture("f8_scalar.npy"), as: Double.self)
        #expect(x.shape == [])
        #expect(x.count == 1)
        #expect(x[flat: 0] == Double.pi)
    }

    @Test func readsInt64Labels() throws {
        let labels = try NPY.readInt64(path: npyFixture("i8_labels.npy"))
        #expect(labels.shape == [6])
        #expect(labels.scalars == [0, 7, -3, 999, 1 << 62, Int64.min])
    }

    @Test func readsEmptyArray() throws {
        let x = try NPY.readTensor(path: npyFixture("f4_empty_0x3.npy"), as: Float.self)
        #expect(x.shape == [0, 3])
        #expect(x.count == 0)
    }

    @Test func readsSpecialValuesBitExactly() throws {
        let x = try NPY.readTensor(path: npyFixture("f4_special.npy"), as: Float.self)
        let expected: [Float] = [
            0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
            -.leastNormalMagnitude,
        ]
        #expect(x.shape == [8])
        for (got, want) in zip(x.scalars, expected) {
            if want.isNaN {
                #expect(got.isNaN)
            } else {
                #expect(got.bitPattern == want.bitPattern, "\(got) vs \(want)")
            }
        }
        #expect(x[flat: 5].isSubnormal)
    }

    @Test func readsVersion2And3() throws {
        #expect(
            try NPY.read(path: npyFixture("f8_v2.npy")) == .float64(try Tensor(shape: [1, 2], scalars: [1.5, -2.25]))
        )
        #expect(try NPY.read(path: npyFixture("f4_v3.npy")) == .float32(try Tensor(shape: [3], scalars: [1, 2, 3])))
    }

    @Test func convertsBetweenFloatTypes() throws {
        let single = try NPY.readTensor(path: npyFixture("f8_scalar.npy"), as: Float.self)
        #expect(single[flat: 0] == Float(Double.pi))  // rounded to nearest (Float.pi rounds toward zero)
        let wide = try NPY.readTensor(path: npyFixture("f4_2x3.npy"), as: Double.self)
        #expect(wide.scalars == [-1, -0.5, 0, 0.5, 1, 1.5])
        let labels = try NPY.read(path: npyFixture("i8_labels.npy"))
        #expect(labels.tensor(as: Double.self).scalars.prefix(4) == [0, 7, -3, 999])
        #expect(labels.int64?.count == 6)
        #expect(try NPY.read(path: npyFixture("f4_2x3.npy")).int64 == nil)
    }

    @Test func typedReadersRejectTheOtherKind() {
        let labels = npyFixture("i8_labels.npy")
        expectNPYError(labels, "dtypeMismatch", mentioning: ["'<i8' (int64)", "'<f4' (float32)"]) {
            _ = try NPY.readTensor(path: labels, as: Float.self)
        }
        let floats = npyFixture("f4_2x3.npy")
        expectNPYError(floats, "dtypeMismatch", mentioning: ["'<f4' (float32)", "expected '<i8' (int64)"]) {
            _ = try NPY.readInt64(path: floats)
        }
    }

    /// Our writer produces exactly the bytes `np.save` produced.
    @Test(arguments: ["f4_2x3.npy", "f8_scalar.npy", "i8_labels.npy", "f4_empty_0x3.npy", "f4_special.npy"])
    func writesTheBytesNumpyWrites(name: String) throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: npyFixture(name)))
        let array = try NPY.read(path: npyFixture(name))
        #expect(NPY.encode(array) == original)

        let directory = try TestDirectory()
        let copy = directory.file(name)
        try NPY.write(array, path: copy)
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == original)
    }

    // MARK: Files numpy writes that are rejected

    @Test(arguments: [
        ("reject_f2.npy", ["'<f2' (float16)"]),
        ("reject_big_endian.npy", ["'>f4'", "big-endian", "astype('<f4')"]),
        ("reject_bool.npy", ["'|b1' (bool)"]),
        ("reject_i4.npy", ["'<i4' (int32)"]),
        ("reject_object.npy", ["'|O'", "Python objects"]),
        ("reject_structured.npy", ["[('a', '<f4'), ('b', '<i8')]", "structured"]),
    ])
    func rejectsUnsupportedDTypes(name: String, mentions: [String]) {
        let path = npyFixture(name)
        let accepted = ["'<f4' (float32)", "'<f8' (float64)", "'<i8' (int64)"]
        expectNPYError(path, "unsupportedDType", mentioning: mentions + accepted) { _ = try NPY.read(path: path) }
    }

    @Test func rejectsFortranOrder() {
        let path = npyFixture("reject_fortran.npy")
        expectNPYError(
            path,
            "fortranOrder",
            mentioning: ["Fortran-order arrays are not supported", "np.ascontiguousarray"]
        ) {
            _ = try NPY.read(path: path)
        }
    }

    // MARK: Round trips

    static let shapes: [[Int]] = [
        [], [0], [1], [7], [2, 3], [0, 5], [4, 0, 2], [2, 3, 4, 5], [1, 1, 1, 1, 1, 1, 1, 1], [333, 257],
    ]

    @Test(arguments: shapes)
    func roundTripsFloat32(shape: [Int]) throws {
        var rng = SplitMix64(seed: UInt64(shape.reduce(17, { $0 &* 31 &+ $1 })))
        let count = shape.reduce(1, *)
        let x = try Tensor<Float>(shape: shape, scalars: (0..<count).map { _ in Float(rng.nextUnit() * 200 - 100) })
        let directory = try TestDirectory()
        let path = directory.file("x.npy")
        try NPY.write(x, path: path)
        #expect(try NPY.read(path: path) == .float32(x))
    }

    @Test(arguments: shapes)
    func roundTripsFloat64(shape: [Int]) throws {
        var rng = SplitMix64(seed: UInt64(shape.count))
        let count = shape.reduce(1, *)
        let x = try Tensor<Double>(shape: shape, scalars: (0..<count).map { _ in rng.nextUnit() - 0.5 })
        let directory = try TestDirectory()
        let path = directory.file("x.npy")
        try NPY.write(x, path: path)
        #expect(try NPY.read(path: path) == .float64(x))
        #expect(try NPY.readTensor(path: path, as: Double.self) == x)
    }

    @Test(arguments: shapes)
    func roundTripsInt64(shape: [Int]) throws {
        var rng = SplitMix64(seed: 99)
        let count = shape.reduce(1, *)
        let labels = try Int64Array(shape: shape, scalars: (0..<count).map { _ in Int64(bitPattern: rng.next()) })
        let directory = try TestDirectory()
        let path = directory.file("labels.npy")
        try NPY.write(labels, path: path)
        #expect(try NPY.readInt64(path: path) == labels)
    }

    @Test func dataStartsOn64ByteBoundary() throws {
        for shape in Self.shapes {
            let header = try #require(NPYHeader.encode(dtype: .float32, shape: shape))
            #expect(header.count % 64 == 0)
            #expect(header.last == 0x0A)
            #expect(header[6] == 1)
        }
    }

    /// A header longer than 65535 bytes needs format version 2.0.
    @Test func writesVersion2WhenTheHeaderNeedsIt() throws {
        let shape = [Int](repeating: 1, count: 25_000)
        let x = Tensor<Float>(shape: shape, repeating: 2.5)
        let directory = try TestDirectory()
        let path = directory.file("deep.npy")
        try NPY.write(x, path: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes[6] == 2 && bytes[7] == 0)
        let read = try NPY.readTensor(path: path, as: Float.self)
        #expect(read.shape == shape)
        #expect(read.scalars == [2.5])
    }

    @Test func headerParserToleratesPythonSpellings() throws {
        let payload = Array(Data([1.0, 2.0, 3.0].flatMap { Float($0).bitPattern.littleEndianBytes }))
        let headers = [
            #"{"descr": "<f4", "fortran_order": False, "shape": (3,)}"#,
            "{ 'descr' : '<f4' ,\n 'fortran_order' : False , 'shape' : ( 3 , ) , }",
            "{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }",
            "{'descr': u'<f4', 'fortran_order': False, 'shape': (0_3,), }\t\r\n",
        ]
        let directory = try TestDirectory()
        for (i, header) in headers.enumerated() {
            let path = directory.file("tolerant\(i).npy")
            try npyFile(header: header, data: payload).asData.write(to: URL(fileURLWithPath: path))
            #expect(try NPY.read(path: path) == .float32(try Tensor(shape: [3], scalars: [1, 2, 3])), "\(header)")
        }
        let scalarPath = directory.file("scalar.npy")
        try npyFile(
            header: "{'descr':'<f8','fortran_order':False,'shape':()}",
            data: Array(Double(7).bitPattern.littleEndianBytes)
        )
        .asData.write(to: URL(fileURLWithPath: scalarPath))
        #expect(try NPY.read(path: scalarPath) == .float64(Tensor(shape: [], repeating: 7)))
    }

    // MARK: Malformed files

    struct Malformed: CustomTestStringConvertible, Sendable {
        let label: String
        let bytes: [UInt8]
        let expectedCase: String
        let mentions: [String]
        var testDescription: String { label }
    }

    static let valid: [UInt8] = NPY.encode(.float32(Tensor(shape: [2, 3], repeating: 1))).map { $0 }

    static let malformed: [Malformed] = {
        let f4x3 = [UInt8](repeating: 0, count: 12)
        func header(_ text: String, version: UInt8 = 1) -> [UInt8] {
            npyFile(header: text, data: f4x3, version: version)
        }
        let deep = String(repeating: "(", count: 100_000)
        return [
            Malformed(label: "empty file", bytes: [], expectedCase: "badMagic", mentions: ["0 bytes long"]),
            Malformed(label: "3 bytes", bytes: [0x93, 0x4E, 0x55], expectedCase: "badMagic", mentions: ["3 bytes"]),
            Malformed(
                label: "PNG",
                bytes: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0],
                expectedCase: "badMagic",
                mentions: ["\\x89\\x50\\x4e\\x47\\x0d\\x0a", "\\x93NUMPY"]
            ),
            Malformed(
                label: "lower-case magic",
                bytes: Array("\u{93}numpy".utf8) + valid.dropFirst(6),
                expectedCase: "badMagic",
                mentions: ["magic"]
            ),
            Malformed(
                label: "version 4.0",
                bytes: replacing(valid, at: 6, with: [4, 0]),
                expectedCase: "unsupportedVersion",
                mentions: ["4.0", "1.0, 2.0 and 3.0"]
            ),
            Malformed(
                label: "version 1.1",
                bytes: replacing(valid, at: 6, with: [1, 1]),
                expectedCase: "unsupportedVersion",
                mentions: ["1.1"]
            ),
            Malformed(
                label: "header length 65535 in a short file",
                bytes: replacing(valid, at: 8, with: [0xFF, 0xFF]),
                expectedCase: "headerPastEnd",
                mentions: ["65545", "\(valid.count)-byte file"]
            ),
            Malformed(
                label: "v2 header length 2^32-1",
                bytes: Array(NPYHeader.magic) + [2, 0, 0xFF, 0xFF, 0xFF, 0xFF] + Array("{}".utf8),
                expectedCase: "headerPastEnd",
                mentions: ["4294967307"]
            ),
            Malformed(
                label: "trailing byte",
                bytes: valid + [0],
                expectedCase: "trailingData",
                mentions: ["1 unexpected trailing bytes", "needs 24 data bytes, but 25"]
            ),
            Malformed(
                label: "short data",
                bytes: Array(valid.dropLast(5)),
                expectedCase: "dataTruncated",
                mentions: ["needs 24 data bytes, but only 19"]
            ),
            Malformed(
                label: "not a dict",
                bytes: header("[('descr', '<f4')]"),
                expectedCase: "malformedHeader",
                mentions: ["a list, not a dict"]
            ),
            Malformed(
                label: "missing shape",
                bytes: header("{'descr': '<f4', 'fortran_order': False}"),
                expectedCase: "malformedHeader",
                mentions: ["missing key 'shape'"]
            ),
            Malformed(
                label: "extra key",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}"),
                expectedCase: "malformedHeader",
                mentions: ["unexpected key 'x'"]
            ),
            Malformed(
                label: "duplicate key",
                bytes: header("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (3,)}"),
                expectedCase: "malformedHeader",
                mentions: ["duplicate dict key 'descr'"]
            ),
            Malformed(
                label: "unterminated dict",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)"),
                expectedCase: "malformedHeader",
                mentions: ["unterminated dict"]
            ),
            Malformed(
                label: "unterminated string",
                bytes: header("{'descr: '<f4'}"),
                expectedCase: "malformedHeader",
                mentions: ["expected ':'"]
            ),
            Malformed(
                label: "garbage after dict",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} x"),
                expectedCase: "malformedHeader",
                mentions: ["after the end of the literal"]
            ),
            Malformed(
                label: "fortran_order 0",
                bytes: header("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}"),
                expectedCase: "malformedHeader",
                mentions: ["'fortran_order' is an integer (0)", "True or False"]
            ),
            Malformed(
                label: "shape as list",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': [3]}"),
                expectedCase: "malformedHeader",
                mentions: ["'shape' is a list ([3])"]
            ),
            Malformed(
                label: "shape (3) is an int",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (3)}"),
                expectedCase: "malformedHeader",
                mentions: ["'shape' is an integer (3)"]
            ),
            Malformed(
                label: "float extent",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,)}"),
                expectedCase: "malformedHeader",
                mentions: ["non-integer number"]
            ),
            Malformed(
                label: "string extent",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': ('3',)}"),
                expectedCase: "invalidShape",
                mentions: ["extent '3' is not an integer"]
            ),
            Malformed(
                label: "negative extent",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3)}"),
                expectedCase: "invalidShape",
                mentions: ["(-1, 3)", "extent -1 is negative"]
            ),
            Malformed(
                label: "extent beyond 64 bits",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}"),
                expectedCase: "invalidShape",
                mentions: ["does not fit in a 64-bit integer"]
            ),
            Malformed(
                label: "element count overflow",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}"),
                expectedCase: "invalidShape",
                mentions: ["element count overflows"]
            ),
            Malformed(
                label: "byte count overflow",
                bytes: header("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,)}"),
                expectedCase: "invalidShape",
                mentions: ["overflow a 64-bit byte count"]
            ),
            Malformed(
                label: "shape 2^60",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (1152921504606846976,)}"),
                expectedCase: "dataTruncated",
                mentions: ["needs 4611686018427387904 data bytes, but only 12"]
            ),
            Malformed(
                label: "lying shape (4,) for 3 floats",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)}"),
                expectedCase: "dataTruncated",
                mentions: ["needs 16 data bytes, but only 12"]
            ),
            Malformed(
                label: "lying shape (2,) for 3 floats",
                bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}"),
                expectedCase: "trailingData",
                mentions: ["4 unexpected trailing bytes"]
            ),
            Malformed(
                label: "descr not a string",
                bytes: header("{'descr': 4, 'fortran_order': False, 'shape': (3,)}"),
                expectedCase: "unsupportedDType",
                mentions: ["dtype 4"]
            ),
            Malformed(
                label: "descr float16",
                bytes: header("{'descr': '<f2', 'fortran_order': False, 'shape': (3,)}"),
                expectedCase: "unsupportedDType",
                mentions: ["'<f2' (float16)"]
            ),
            Malformed(
                label: "deep nesting",
                bytes: header("{'descr': \(deep)", version: 2),
                expectedCase: "malformedHeader",
                mentions: ["nested deeper than 32"]
            ),
            Malformed(
                label: "NUL bytes",
                bytes: header("{'descr': '<f4',\0 'fortran_order': False, 'shape': (3,)}"),
                expectedCase: "malformedHeader",
                mentions: ["byte 0x0", "\\x00"]
            ),
            Malformed(
                label: "invalid UTF-8 in v3 descr",
                bytes: npyFile(
                    header: "{'descr': '<f\u{FFFD}', 'fortran_order': False, 'shape': (3,)}",
                    data: f4x3,
                    version: 3,
                    patch: { $0.replaceBytes(of: [0xEF, 0xBF, 0xBD], with: [0xFF, 0xFE, 0x20]) }
                ),
                expectedCase: "unsupportedDType",
                mentions: ["'<f"]
            ),
            Malformed(
                label: "empty header",
                bytes: header(""),
                expectedCase: "malformedHeader",
                mentions: ["expected a value, found the end of the header"]
            ),
        ]
    }()

    @Test(arguments: malformed)
    func rejectsMalformedFile(_ sample: Malformed) throws {
        let directory = try TestDirectory()
        let path = directory.file("malformed.npy")
        try Data(sample.bytes).write(to: URL(fileURLWithPath: path))
        expectNPYError(path, sample.expectedCase, mentioning: sample.mentions) { _ = try NPY.read(path: path) }
        // The in-memory decoder agrees.
        expectNPYError("in-memory", sample.expectedCase, mentioning: sample.mentions) {
            _ = try NPY.decode(Data(sample.bytes), path: "in-memory")
        }
    }

    /// Every prefix of a valid file is rejected, with the error that fits where the cut falls.
    @Test func rejectsEveryTruncation() throws {
        let full = Self.valid
        let dataOffset = full.count - 24
        for cut in 0..<full.count {
            let expected = cut < 6 ? "badMagic" : cut < dataOffset ? "headerPastEnd" : "dataTruncated"
            expectNPYError("cut\(cut).npy", expected, mentioning: []) {
                _ = try NPY.decode(Data(full.prefix(cut)), path: "cut\(cut).npy")
            }
        }
    }

    /// Random corruptions never crash the reader: each either reads or throws an ``NPYError``.
    @Test func survivesRandomCorruption() throws {
        var rng = SplitMix64(seed: 2024)
        let originals = try ["f4_2x3.npy", "i8_labels.npy", "f8_v2.npy", "f4_v3.npy"].map {
            [UInt8](try Data(contentsOf: URL(fileURLWithPath: npyFixture($0))))
        }
        for _ in 0..<3000 {
            var bytes = originals[Int(rng.next() % UInt64(originals.count))]
            for _ in 0...(rng.next() % 4) {
                let i = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.removeSubrange(i...)
                case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                default: bytes[i] = [0x28, 0x29, 0x2C, 0x27, 0x2D, 0x39, 0x7B, 0x7D][Int(rng.next() % 8)]
                }
                if bytes.isEmpty { break }
            }
            do {
                _ = try NPY.decode(Data(bytes), path: "fuzz.npy")
            } catch {
                #expect(error.description.contains("fuzz.npy"))
            }
        }
    }

    // MARK: Writing

    @Test func writeIntoMissingDirectoryNamesThePath() throws {
        let directory = try TestDirectory()
        let path = directory.file("missing/sub/x.npy")
        expectNPYError(path, "writeFailed", mentioning: [directory.file("missing/sub"), "No such file or directory"]) {
            try NPY.write(Tensor<Float>(zeros: [2]), path: path)
        }
    }

    @Test func failedWriteLeavesNoTemporaryFiles() throws {
        let directory = try TestDirectory()
        let target = directory.file("occupied")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: target + "/inner", withIntermediateDirectories: false)
        // Renaming a file over a non-empty directory fails after the data was written.
        expectNPYError(target, "writeFailed", mentioning: ["rename"]) {
            try NPY.write(Tensor<Float>(zeros: [2]), path: target)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["occupied"])
    }

    @Test func overwritesAtomically() throws {
        let directory = try TestDirectory()
        let path = directory.file("x.npy")
        try NPY.write(Tensor<Float>(shape: [3], repeating: 1), path: path)
        try NPY.write(Tensor<Double>(shape: [2, 2], repeating: 2), path: path)
        #expect(try NPY.read(path: path) == .float64(Tensor(shape: [2, 2], repeating: 2)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["x.npy"])
    }

    @Test func unreadablePathsNameThePathAndTheReason() throws {
        let missing = "/nonexistent-\(UUID().uuidString)/x.npy"
        expectNPYError(missing, "readFailed", mentioning: ["cannot read", "No such file or directory"]) {
            _ = try NPY.read(path: missing)
        }
        let directory = try TestDirectory()
        expectNPYError(directory.path, "readFailed", mentioning: ["it is a directory"]) {
            _ = try NPY.read(path: directory.path)
        }
    }
}

// MARK: - Helpers

/// The committed fixture `name`.
private func npyFixture(_ name: String) -> String { formatFixture(name) }

/// Runs `body`, which must throw an ``NPYError`` of the named case naming `path` and each of `mentions`.
private func expectNPYError(
    _ path: String, _ expectedCase: String, mentioning mentions: [String],
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    expectFileError(NPYError.self, path, expectedCase, mentioning: mentions, sourceLocation: sourceLocation, body)
}

/// A `.npy` file with a hand-written header (padded and terminated as numpy does) and raw data.
private func npyFile(
    header: String,
    data: [UInt8],
    version: UInt8 = 1,
    patch: (inout [UInt8]) -> Void = { _ in }
) -> [UInt8] {
    var text = Array(header.utf8)
    patch(&text)
    let fieldSize = version == 1 ? 2 : 4
    let headerLength = text.count + 1
    var out = NPYHeader.magic + [version, 0]
    for i in 0..<fieldSize { out.append(UInt8(truncatingIfNeeded: headerLength >> (8 * i))) }
    return out + text + [0x0A] + data
}

private func replacing(_ bytes: [UInt8], at offset: Int, with replacement: [UInt8]) -> [UInt8] {
    var copy = bytes
    copy.replaceSubrange(offset..<offset + replacement.count, with: replacement)
    return copy
}

extension [UInt8] {
    fileprivate mutating func replaceBytes(of pattern: [UInt8], with replacement: [UInt8]) {
        guard let start = indices.first(where: { self[$0...].starts(with: pattern) }) else { return }
        replaceSubrange(start..<start + pattern.count, with: replacement)
    }
}

extension [UInt8] {
    fileprivate var asData: Data { Data(self) }
}

extension FixedWidthInteger {
    fileprivate var littleEndianBytes: [UInt8] {
        (0..<bitWidth / 8).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) }
    }
}
