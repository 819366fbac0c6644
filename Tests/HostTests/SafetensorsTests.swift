import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// safetensors reading and writing: files written by the reference implementation (safetensors 0.8.0, see
/// `Fixtures/Formats/generate.py`), exact half-precision conversions, round trips, byte-identical output, and
/// a corpus of malformed and hostile files.
@Suite struct SafetensorsTests {
    // MARK: Files written by the reference implementation

    @Test func readsSimpleFile() throws {
        let file = try SafetensorsFile.read(path: safetensorsFixture("simple.safetensors"))
        #expect(file.names == ["weight"])
        #expect(file.metadata.isEmpty)
        #expect(
            file.entry(named: "weight")
                == SafetensorsEntry(name: "weight", dtype: .float32, shape: [2, 2], dataOffsets: 0..<16)
        )
        #expect(try file.tensor(named: "weight") == Tensor(shape: [2, 2], scalars: [0, 1, 2, 3]))
    }

    @Test func readsEveryDTypeOfTheMixedFile() throws {
        let file = try SafetensorsFile.read(path: safetensorsFixture("mixed.safetensors"))
        #expect(file.metadata == ["format": "pt"])
        #expect(file.names == ["i64", "f64", "empty", "f32", "scalar", "bf16", "f16"])  // header order
        #expect(try file.tensor(named: "f32") == Tensor(shape: [2, 3], scalars: [-0.5, -0.25, 0, 0.25, 0.5, 0.75]))
        #expect(
            try file.tensor(named: "f64", as: Double.self) == Tensor(shape: [3], scalars: [1.0 / 3, -2.5e-300, 1e300])
        )
        // F64 → F32 rounds to nearest: -2.5e-300 → -0, 1e300 → inf.
        let narrowed = try file.tensor(named: "f64").scalars
        #expect(
            narrowed[0] == Float(1.0 / 3) && narrowed[1] == 0 && narrowed[1].sign == .minus && narrowed[2] == .infinity
        )
        #expect(try file.int64Array(named: "i64") == Int64Array(shape: [2, 2], scalars: [0, -1, 1 << 62, .min]))
        #expect(try file.tensor(named: "scalar") == Tensor(shape: [], repeating: 42))
        #expect(try file.tensor(named: "empty").shape == [0, 4])

        let f16: [Float] = [0, -0.0, 1, -2, 65504, 0x1p-14, 0x1p-24, .infinity, -.infinity, .nan, 0.0999755859375]
        expectBitEqual(try file.tensor(named: "f16").scalars, f16)
        let bf16: [Float] = [
            0, -0.0, 1, -2, Float(bitPattern: 0x7F7F_0000), Float(bitPattern: 0x0001_0000),
            Float(bitPattern: 0x0080_0000), .infinity, -.infinity, .nan, Float(bitPattern: 0x3DCD_0000),
        ]
        expectBitEqual(try file.tensor(named: "bf16").scalars, bf16)
        expectBitEqual(try file.tensor(named: "bf16", as: Double.self).scalars.map { Float($0) }, bf16)
    }

    /// Given the same tensors in the reference's order, our writer produces the reference's bytes.
    @Test(arguments: ["simple.safetensors", "mixed.safetensors"])
    func writesTheBytesTheReferenceWrites(name: String) throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: safetensorsFixture(name)))
        let file = try SafetensorsFile.read(path: safetensorsFixture(name))
        let tensors = try file.entries.map { entry throws -> SafetensorsTensor in
            switch entry.dtype {
            case .int64: SafetensorsTensor(name: entry.name, int64: try file.int64Array(named: entry.name))
            case .float64: SafetensorsTensor(name: entry.name, try file.tensor(named: entry.name, as: Double.self))
            default: SafetensorsTensor(name: entry.name, try file.tensor(named: entry.name), dtype: entry.dtype)
            }
        }
        #expect(try SafetensorsFile.encode(tensors: tensors, metadata: file.metadata) == original)

        let directory = try TestDirectory()
        let copy = directory.file(name)
        try SafetensorsFile.write(path: copy, tensors: tensors, metadata: file.metadata)
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == original)
    }

    // MARK: Half precision

    /// All 65536 patterns against Swift's `Float16` conversion, and back (exact; NaNs come back quiet).
    @Test func decodesEveryHalfExactly() {
        var mismatches: [String] = []
        for bits in UInt16.min...UInt16.max {
            let ours = HalfPrecision.float(fromHalf: bits)
            let reference = Float(Float16(bitPattern: bits))
            let decoded =
                reference.isNaN ? ours.isNaN && ours.sign == reference.sign : ours.bitPattern == reference.bitPattern
            let back = HalfPrecision.halfBits(Double(ours))
            if !decoded || back != (reference.isNaN ? bits | 0x0200 : bits) {
                mismatches.append("0x\(String(bits, radix: 16)) -> \(ours) -> 0x\(String(back, radix: 16))")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    /// All 65536 patterns: a bfloat16 is the top half of a Float, and comes back unchanged (NaNs quiet).
    @Test func decodesEveryBFloat16Exactly() {
        var mismatches: [String] = []
        for bits in UInt16.min...UInt16.max {
            let ours = HalfPrecision.float(fromBFloat16: bits)
            let back = HalfPrecision.bfloat16Bits(Double(ours))
            if ours.bitPattern != UInt32(bits) << 16 || back != (ours.isNaN ? bits | 0x0040 : bits) {
                mismatches.append("0x\(String(bits, radix: 16)) -> \(ours) -> 0x\(String(back, radix: 16))")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test(
        arguments: [
            // (value, binary16 bits): ties to even, carries, overflow, subnormals, signed zero
            (1.0, 0x3C00), (1.0 + 0x1p-11, 0x3C00), (1.0 + 3 * 0x1p-11, 0x3C02), (1.0 + 0x1p-11 + 0x1p-40, 0x3C01),
            (65504, 0x7BFF), (65519.99, 0x7BFF), (65520, 0x7C00), (1e10, 0x7C00), (-1e10, 0xFC00),
            (0x1p-24, 0x0001), (0x1p-25, 0x0000), (0x1p-25 + 0x1p-60, 0x0001), (3 * 0x1p-26, 0x0001),
            (0x1.8p-24, 0x0002),
            (0x1p-14 - 0x1p-25, 0x0400), (0x1p-14 - 0x1p-24, 0x03FF), (-0.0, 0x8000), (0x1p-1074, 0x0000),
            (-0x1p-1074, 0x8000), (0.1, 0x2E66), (-.infinity, 0xFC00), (Double.greatestFiniteMagnitude, 0x7C00),
        ] as [(Double, UInt16)]
    )
    func roundsToHalf(value: Double, bits: UInt16) {
        #expect(HalfPrecision.halfBits(value) == bits, "\(value)")
        // Float's own conversion agrees where the value is a Float (no double rounding involved).
        if Double(Float(value)) == value { #expect(Float16(Float(value)).bitPattern == bits) }
    }

    @Test(
        arguments: [
            (1.0, 0x3F80), (1.0 + 0x1p-8, 0x3F80), (1.0 + 3 * 0x1p-8, 0x3F82),
            (1.0 + 0x1p-8 + 0x1p-30, 0x3F81),  // rounding through Float first would give 0x3F80
            (0x1.FEp127, 0x7F7F), (0x1.FFp127, 0x7F80), (0x1p-133, 0x0001), (0x1p-134, 0x0000), (0x1.8p-134, 0x0001),
            (0x1p-126 - 0x1p-134, 0x0080), (-0.0, 0x8000), (0x1p-1074, 0x0000), (0.1, 0x3DCD), (-.infinity, 0xFF80),
            (1e300, 0x7F80),
        ] as [(Double, UInt16)]
    )
    func roundsToBFloat16(value: Double, bits: UInt16) {
        #expect(HalfPrecision.bfloat16Bits(value) == bits, "\(value)")
    }

    @Test func matchesReferenceRoundingOnRandomValues() {
        var rng = SplitMix64(seed: 7)
        var mismatches: [Float] = []
        for _ in 0..<200_000 {
            // Random bit patterns cover every exponent; half of the draws land in or near the binary16 range.
            var x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            if rng.next() % 2 == 0 {
                x = Float(sign: x.sign, exponent: Int(rng.next() % 40) - 28, significand: 1 + Float(rng.nextUnit()))
            }
            guard !x.isNaN else { continue }
            // bfloat16 reference: round the top 16 bits of the Float, ties to even (finite values carry into inf).
            let b = x.bitPattern
            let bfloat16 = UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
            if HalfPrecision.halfBits(Double(x)) != Float16(x).bitPattern
                || HalfPrecision.bfloat16Bits(Double(x)) != bfloat16
            {
                mismatches.append(x)
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test func narrowingKeepsNaNsNaN() {
        for payload: UInt64 in [1, 1 << 20, 1 << 51, (1 << 52) - 1] {
            for sign: UInt64 in [0, 1 << 63] {
                let nan = Double(bitPattern: sign | 0x7FF0_0000_0000_0000 | payload)
                #expect(HalfPrecision.float(fromHalf: HalfPrecision.halfBits(nan)).isNaN)
                #expect(HalfPrecision.float(fromBFloat16: HalfPrecision.bfloat16Bits(nan)).isNaN)
                #expect(HalfPrecision.halfBits(nan) & 0x8000 == UInt16(sign >> 48))
            }
        }
    }

    // MARK: Round trips

    static let shapes: [[Int]] = [[], [0], [1], [5], [2, 3], [0, 4], [3, 0, 2], [2, 3, 4, 5], [256, 1024]]

    @Test(arguments: shapes, [SafetensorsDType.float32, .float64, .float16, .bfloat16])
    func roundTripsFloatTensors(shape: [Int], dtype: SafetensorsDType) throws {
        var rng = SplitMix64(seed: UInt64(shape.count * 10 + dtype.byteSize))
        let count = shape.reduce(1, *)
        let x = try Tensor<Float>(shape: shape, scalars: (0..<count).map { _ in Float(rng.nextUnit() * 8 - 4) })
        let directory = try TestDirectory()
        let path = directory.file("x.safetensors")
        try SafetensorsFile.write(path: path, tensors: [("x", x)], dtype: dtype)
        let file = try SafetensorsFile.read(path: path)
        #expect(file.entry(named: "x")?.dtype == dtype)
        let read = try file.tensor(named: "x")
        #expect(read.shape == shape)
        let expected: [Float] = x.scalars.map {
            switch dtype {
            case .float16: HalfPrecision.float(fromHalf: HalfPrecision.halfBits(Double($0)))
            case .bfloat16: HalfPrecision.float(fromBFloat16: HalfPrecision.bfloat16Bits(Double($0)))
            default: $0
            }
        }
        #expect(read.scalars == expected)
        // One rounding: relative error 2^-11 (F16) or 2^-8 (BF16); below 2^-14, F16 subnormals are 2^-24 apart.
        let relative: Float = dtype == .float16 ? 0x1p-11 : dtype == .bfloat16 ? 0x1p-8 : 0
        let absolute: Float = dtype == .float16 ? 0x1p-25 : 0
        #expect(zip(read.scalars, x.scalars).allSatisfy { a, b in abs(a - b) <= max(relative * abs(b), absolute) })
    }

    @Test func roundTripsDoubleAndIntegerTensorsInOrderWithMetadata() throws {
        let d = try Tensor<Double>(shape: [2, 2], scalars: [1.0 / 3, -0x1p-1030, 1e300, .pi])
        let labels = try Int64Array(shape: [4], scalars: [3, .max, .min, -1])
        let special = try Tensor<Float>(shape: [6], scalars: [.infinity, -.infinity, .nan, -0.0, 0x1p-24, 0x1p-133])
        let metadata = ["format": "pt", "quote\"and\\slash": "line\nbreak\ttab\u{01}", "ünï": "cødé ✓", "": ""]
        let tensors = [
            SafetensorsTensor(name: "z.last", d),
            SafetensorsTensor(name: "a.labels", int64: labels),
            SafetensorsTensor(name: "m.half", special, dtype: .float16),
            SafetensorsTensor(name: "m.bf", special, dtype: .bfloat16),
            SafetensorsTensor(name: "d.as.f32", d, dtype: .float32),
            SafetensorsTensor(name: "d.as.f16", d, dtype: .float16),
            SafetensorsTensor(name: "naïve \"name\" ✓", Tensor<Float>(shape: [], repeating: 1)),
        ]
        let directory = try TestDirectory()
        let path = directory.file("mixed.safetensors")
        try SafetensorsFile.write(path: path, tensors: tensors, metadata: metadata)
        let file = try SafetensorsFile.read(path: path)
        #expect(file.names == tensors.map(\.name))  // insertion order kept
        #expect(file.metadata == metadata)
        #expect(try file.tensor(named: "z.last", as: Double.self) == d)
        #expect(try file.int64Array(named: "a.labels") == labels)
        expectBitEqual(try file.tensor(named: "m.half").scalars, [.infinity, -.infinity, .nan, -0.0, 0x1p-24, 0])
        expectBitEqual(try file.tensor(named: "m.bf").scalars, [.infinity, -.infinity, .nan, -0.0, 0x1p-24, 0x1p-133])
        expectBitEqual(try file.tensor(named: "d.as.f32").scalars, d.scalars.map { Float($0) })
        expectBitEqual(try file.tensor(named: "d.as.f16").scalars, [0.333251953125, -0.0, .infinity, 3.140625])
        #expect(try file.tensor(named: "naïve \"name\" ✓").scalars == [1])

        // Offsets are contiguous in insertion order; the header is space-padded to a multiple of 8.
        var end = 0
        for entry in file.entries {
            #expect(entry.dataOffsets.lowerBound == end)
            end = entry.dataOffsets.upperBound
        }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        #expect(headerLength % 8 == 0)
        #expect(bytes.count == 8 + headerLength + end)
    }

    @Test func headerPaddingMatchesTheReference() throws {
        for length in 0..<16 {
            let name = String(repeating: "n", count: length + 1)
            let data = try SafetensorsFile.encode(tensors: [SafetensorsTensor(name: name, Tensor<Float>(zeros: [1]))])
            let bytes = [UInt8](data)
            let headerLength = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            #expect(headerLength % 8 == 0)
            let json = bytes[8..<8 + headerLength]
            #expect(json.last == UInt8(ascii: "}") || json.last == 0x20)
            #expect(String(decoding: json, as: UTF8.self).trimmingCharacters(in: .whitespaces).hasSuffix("}"))
        }
    }

    // MARK: Reading errors for valid files

    @Test func missingTensorsAndWrongTypesNameTheTensor() throws {
        let path = safetensorsFixture("mixed.safetensors")
        let file = try SafetensorsFile.read(path: path)
        expectSafetensorsError(path, "tensorNotFound", mentioning: ["\"nope\""]) { _ = try file.tensor(named: "nope") }
        expectSafetensorsError(path, "dtypeMismatch", mentioning: ["\"i64\"", "I64", "float32"]) {
            _ = try file.tensor(named: "i64")
        }
        expectSafetensorsError(path, "dtypeMismatch", mentioning: ["\"f16\"", "F16", "int64"]) {
            _ = try file.int64Array(named: "f16")
        }
        expectSafetensorsError(path, "tensorNotFound", mentioning: ["__metadata__"]) {
            _ = try file.tensor(named: "__metadata__")
        }
    }

    @Test func unreadablePathsNameThePathAndTheReason() throws {
        let missing = "/nonexistent-\(UUID().uuidString)/x.safetensors"
        expectSafetensorsError(missing, "readFailed", mentioning: ["cannot read", "No such file or directory"]) {
            _ = try SafetensorsFile.read(path: missing)
        }
        let directory = try TestDirectory()
        expectSafetensorsError(directory.path, "readFailed", mentioning: ["it is a directory"]) {
            _ = try SafetensorsFile.read(path: directory.path)
        }
    }

    // MARK: Malformed files

    struct Malformed: CustomTestStringConvertible, Sendable {
        let label: String
        let bytes: [UInt8]
        let expectedCase: String
        let mentions: [String]
        var testDescription: String { label }

        init(_ label: String, _ bytes: [UInt8], _ expectedCase: String, _ mentions: [String] = []) {
            self.label = label
            self.bytes = bytes
            self.expectedCase = expectedCase
            self.mentions = mentions
        }

        /// A file with the JSON `header` (unpadded) followed by `dataSize` zero bytes.
        init(_ label: String, header: String, data dataSize: Int = 0, _ expectedCase: String, _ mentions: [String] = [])
        {
            self.init(label, safetensorsFile(header: Array(header.utf8), dataSize: dataSize), expectedCase, mentions)
        }
    }

    static let malformed: [Malformed] = {
        let f32x2 = #"{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
        func lengthField(_ n: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * $0)) } }
        return [
            Malformed("empty file", [], "fileTooSmall", ["0 bytes long"]),
            Malformed("7 bytes", [1, 0, 0, 0, 0, 0, 0], "fileTooSmall", ["7 bytes"]),
            Malformed(
                "header length 2^63",
                lengthField(1 << 63) + Array("{}".utf8),
                "headerTooLarge",
                ["9223372036854775808-byte", "limit is 100000000"]
            ),
            Malformed(
                "header length 2^64-1",
                lengthField(.max) + Array("{}".utf8),
                "headerTooLarge",
                ["18446744073709551615"]
            ),
            Malformed("header length 100 MB + 1", lengthField(100_000_001), "headerTooLarge", ["100000001"]),
            Malformed(
                "header length past the end",
                lengthField(64) + Array("{}".utf8),
                "headerPastEnd",
                ["64-byte header", "only 10 bytes"]
            ),
            Malformed(
                "invalid UTF-8 byte",
                safetensorsFile(header: Array("{\"a\u{FF}\":1}".utf8.map { $0 == 0xC3 ? 0xFF : $0 }), dataSize: 0),
                "headerNotUTF8",
                ["not valid UTF-8", "byte 3"]
            ),
            Malformed(
                "overlong UTF-8",
                safetensorsFile(header: [0x7B, 0x22, 0xC0, 0xAF, 0x22, 0x3A, 0x31, 0x7D], dataSize: 0),
                "headerNotUTF8",
                ["byte 2"]
            ),
            Malformed(
                "UTF-8 surrogate",
                safetensorsFile(header: [0x7B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x3A, 0x31, 0x7D], dataSize: 0),
                "headerNotUTF8"
            ),
            Malformed(
                "latin-1 metadata",
                safetensorsFile(
                    header: Array(#"{"__metadata__":{"a":"caf"#.utf8) + [0xE9] + Array(#""}}"#.utf8),
                    dataSize: 0
                ),
                "headerNotUTF8"
            ),
            Malformed("truncated JSON", header: #"{"w":"#, "headerNotJSON", ["expected a JSON value"]),
            Malformed("single quotes", header: "{'w': 1}", "headerNotJSON", ["expected a string key"]),
            Malformed(
                "trailing comma",
                header: #"{"w":\#(f32x2),}"#,
                data: 8,
                "headerNotJSON",
                ["expected a string key"]
            ),
            Malformed("garbage after JSON", header: "{} x", "headerNotJSON", ["after the end of the JSON value"]),
            Malformed("NaN literal", header: #"{"w":NaN}"#, "headerNotJSON", ["expected a JSON value"]),
            Malformed(
                "leading zero",
                header: #"{"w":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}}"#,
                data: 8,
                "headerNotJSON",
                ["leading zero"]
            ),
            Malformed("control character in string", header: "{\"w\u{01}\":1}", "headerNotJSON", ["control character"]),
            Malformed(
                "lone surrogate escape",
                header: #"{"\ud800":1}"#,
                "headerNotJSON",
                ["unpaired UTF-16 surrogate"]
            ),
            Malformed(
                "deep nesting",
                header: #"{"w":"# + String(repeating: "[", count: 100_000),
                "headerNotJSON",
                ["nested deeper than 64"]
            ),
            Malformed("empty header", header: "", "headerNotJSON", ["found the end of input"]),
            Malformed("array header", header: "[]", "headerNotObject", ["an array"]),
            Malformed("null header", header: "null", "headerNotObject", ["null"]),
            Malformed(
                "duplicate tensor",
                header: #"{"w":\#(f32x2),"w":\#(f32x2)}"#,
                data: 8,
                "duplicateKey",
                [#"key "w" twice in the top-level object"#]
            ),
            Malformed(
                "duplicate via escape",
                header: #"{"w":\#(f32x2),"\u0077":\#(f32x2)}"#,
                data: 8,
                "duplicateKey",
                [#""w""#]
            ),
            Malformed(
                "duplicate field",
                header: #"{"w":{"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]}}"#,
                data: 8,
                "duplicateKey",
                [#""dtype""#, #"the object at "w""#]
            ),
            Malformed(
                "duplicate metadata",
                header: #"{"__metadata__":{"a":"1","a":"2"}}"#,
                "duplicateKey",
                [#""a""#, "__metadata__"]
            ),
            Malformed("empty name", header: #"{"":\#(f32x2)}"#, data: 8, "emptyTensorName", ["empty name"]),
            Malformed("entry not an object", header: #"{"w":[1,2]}"#, "entryNotObject", [#"tensor "w""#, "an array"]),
            Malformed(
                "missing dtype",
                header: #"{"w":{"shape":[2],"data_offsets":[0,8]}}"#,
                data: 8,
                "missingField",
                [#"tensor "w" has no "dtype""#]
            ),
            Malformed(
                "missing shape",
                header: #"{"w":{"dtype":"F32","data_offsets":[0,8]}}"#,
                data: 8,
                "missingField",
                [#"no "shape""#]
            ),
            Malformed(
                "missing data_offsets",
                header: #"{"w":{"dtype":"F32","shape":[2]}}"#,
                data: 8,
                "missingField",
                [#"no "data_offsets""#]
            ),
            Malformed(
                "unknown dtype",
                header: #"{"w":{"dtype":"F128","shape":[2],"data_offsets":[0,8]}}"#,
                data: 8,
                "unknownDType",
                [#""F128""#, #"tensor "w""#, "F32", "BF16"]
            ),
            Malformed(
                "lower-case dtype",
                header: #"{"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}"#,
                data: 8,
                "unknownDType",
                [#""f32""#]
            ),
            Malformed(
                "dtype not a string",
                header: #"{"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}"#,
                data: 8,
                "invalidField",
                [#""dtype": 4"#]
            ),
            Malformed(
                "negative extent",
                header: #"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#,
                data: 8,
                "invalidField",
                [#""shape": [-2]"#, "non-negative integers"]
            ),
            Malformed(
                "fractional extent",
                header: #"{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#,
                data: 8,
                "invalidField",
                [#""shape": [2.0]"#]
            ),
            Malformed(
                "exponent extent",
                header: #"{"w":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}"#,
                data: 8,
                "invalidField",
                ["2e0"]
            ),
            Malformed(
                "string extent",
                header: #"{"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}"#,
                data: 8,
                "invalidField",
                [#"["2"]"#]
            ),
            Malformed(
                "shape not an array",
                header: #"{"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}"#,
                data: 8,
                "invalidField",
                [#""shape": 2"#]
            ),
            Malformed(
                "extent beyond 64 bits",
                header: #"{"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#,
                data: 8,
                "invalidField",
                ["fit in a 64-bit integer"]
            ),
            Malformed(
                "element count overflow",
                header: #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#,
                data: 8,
                "shapeOverflow",
                ["[4294967296, 4294967296]", "F32"]
            ),
            Malformed(
                "byte count overflow",
                header: #"{"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}"#,
                data: 8,
                "shapeOverflow"
            ),
            Malformed(
                "shape 2^60",
                header: #"{"w":{"dtype":"F32","shape":[1152921504606846976],"data_offsets":[0,8]}}"#,
                data: 8,
                "sizeMismatch",
                ["spanning 8 bytes", "needs 4611686018427387904 bytes"]
            ),
            Malformed(
                "one offset",
                header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8]}}"#,
                data: 8,
                "invalidField",
                [#""data_offsets": [8]"#, "two non-negative integers"]
            ),
            Malformed(
                "three offsets",
                header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}"#,
                data: 8,
                "invalidField",
                ["[0, 8, 8]"]
            ),
            Malformed(
                "negative offset",
                header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#,
                data: 8,
                "invalidField",
                ["[-8, 0]"]
            ),
            Malformed(
                "fractional offset",
                header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}}"#,
                data: 8,
                "invalidField",
                ["[0, 8.0]"]
            ),
            Malformed(
                "begin after end",
                header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#,
                data: 8,
                "invalidField",
                ["[8, 0]", "begin <= end"]
            ),
            Malformed(
                "end 2^64-1",
                header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}}"#,
                data: 8,
                "offsetsBeyondBuffer",
                ["[0, 18446744073709551615]", "8-byte data buffer"]
            ),
            Malformed(
                "both offsets 2^63",
                header: #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[9223372036854775807,9223372036854775807]}}"#,
                "offsetsBeyondBuffer",
                ["0-byte data buffer"]
            ),
            Malformed(
                "end past the buffer",
                header: #"{"w":\#(f32x2)}"#,
                data: 4,
                "offsetsBeyondBuffer",
                ["[0, 8]", "4-byte data buffer"]
            ),
            Malformed(
                "size mismatch",
                header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                data: 4,
                "sizeMismatch",
                [#"tensor "w""#, "spanning 4 bytes", "needs 8 bytes"]
            ),
            Malformed(
                "wrong dtype size",
                header: #"{"w":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}"#,
                data: 8,
                "sizeMismatch",
                ["F64", "needs 16 bytes"]
            ),
            Malformed(
                "overlap",
                header: #"{"a":\#(f32x2),"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                data: 12,
                "overlap",
                [#"tensor "b""#, #"tensor "a""#, "[4, 12]", "[0, 8]"]
            ),
            Malformed("same range twice", header: #"{"a":\#(f32x2),"b":\#(f32x2)}"#, data: 8, "overlap"),
            Malformed(
                "empty tensor inside another",
                header: #"{"a":\#(f32x2),"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#,
                data: 8,
                "overlap",
                [#"tensor "e""#]
            ),
            Malformed(
                "hole between tensors",
                header:
                    #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                data: 12,
                "gap",
                ["bytes [4, 8)", #"after tensor "a""#]
            ),
            Malformed(
                "hole at the start",
                header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                data: 8,
                "gap",
                ["bytes [0, 4)", "before the first tensor"]
            ),
            Malformed(
                "trailing bytes",
                header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                data: 8,
                "gap",
                ["bytes [4, 8)", #"after tensor "a""#]
            ),
            Malformed("data but no tensors", header: "{}", data: 4, "gap", ["bytes [0, 4)"]),
            Malformed(
                "metadata not an object",
                header: #"{"__metadata__":[]}"#,
                "invalidMetadata",
                [#""__metadata__" is an array"#]
            ),
            Malformed("metadata null", header: #"{"__metadata__":null}"#, "invalidMetadata"),
            Malformed(
                "metadata number value",
                header: #"{"__metadata__":{"epoch":3}}"#,
                "invalidMetadata",
                [#"value for "epoch" is a number (3)"#, "expected a string"]
            ),
        ]
    }()

    @Test(arguments: malformed)
    func rejectsMalformedFile(_ sample: Malformed) throws {
        let directory = try TestDirectory()
        let path = directory.file("malformed.safetensors")
        try Data(sample.bytes).write(to: URL(fileURLWithPath: path))
        expectSafetensorsError(path, sample.expectedCase, mentioning: sample.mentions) {
            _ = try SafetensorsFile.read(path: path)
        }
    }

    /// Every prefix of a valid file is rejected with the error that fits where the cut falls.
    @Test(arguments: ["simple.safetensors", "mixed.safetensors"])
    func rejectsEveryTruncation(name: String) throws {
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: safetensorsFixture(name))))
        let dataStart = 8 + Int(full[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        for cut in 0..<full.count {
            let label = "\(name)[..<\(cut)]"
            let expected = cut < 8 ? "fileTooSmall" : cut < dataStart ? "headerPastEnd" : "offsetsBeyondBuffer"
            expectSafetensorsError(label, expected, mentioning: []) {
                _ = try SafetensorsFile.decode(Data(full.prefix(cut)), path: label)
            }
        }
        // And one extra byte is a hole at the end.
        expectSafetensorsError("extended", "gap", mentioning: []) {
            _ = try SafetensorsFile.decode(Data(full + [0]), path: "extended")
        }
    }

    /// Random corruptions never crash the reader: each either validates or throws a ``SafetensorsError``.
    @Test func survivesRandomCorruption() throws {
        var rng = SplitMix64(seed: 11)
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: safetensorsFixture("mixed.safetensors"))))
        let interesting = Array("{}[]\",:0123456789-e.".utf8) + [0x00, 0xFF, 0xC3]
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0...(rng.next() % 4) {
                let i = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.removeSubrange(i...)
                case 2: bytes.insert(interesting[Int(rng.next() % UInt64(interesting.count))], at: i)
                default: bytes[8 + Int(rng.next() % 448)] = interesting[Int(rng.next() % UInt64(interesting.count))]
                }
                if bytes.count < 8 + 448 { break }
            }
            do {
                let file = try SafetensorsFile.decode(Data(bytes), path: "fuzz.safetensors")
                for entry in file.entries {  // whatever validated must decode without trapping
                    if entry.dtype.isConvertibleToFloat { _ = try file.tensor(named: entry.name) }
                    if entry.dtype == .int64 { _ = try file.int64Array(named: entry.name) }
                }
            } catch {
                #expect(error.description.contains("fuzz.safetensors"))
            }
        }
    }

    @Test func decodesFromADataSlice() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: safetensorsFixture("simple.safetensors")))
        let padded = Data([1, 2, 3]) + original
        let slice = padded[3...]
        #expect(slice.startIndex == 3)
        let file = try SafetensorsFile.decode(slice, path: "slice")
        #expect(try file.tensor(named: "weight").scalars == [0, 1, 2, 3])
    }

    // MARK: Writing errors

    @Test func writerRejectsBadTensors() throws {
        let directory = try TestDirectory()
        let path = directory.file("bad.safetensors")
        let x = Tensor<Float>(zeros: [2])
        let cases: [([SafetensorsTensor], String)] = [
            ([SafetensorsTensor(name: "", x)], "empty name"),
            ([SafetensorsTensor(name: "__metadata__", x)], "reserved name"),
            ([SafetensorsTensor(name: "w", x), SafetensorsTensor(name: "w", x, dtype: .float16)], "more than once"),
            ([SafetensorsTensor(name: "w", x, dtype: .int64)], "cannot be stored as I64"),
            ([SafetensorsTensor(name: "w", Tensor<Double>(zeros: [1]), dtype: .uint8)], "cannot be stored as U8"),
        ]
        for (tensors, mention) in cases {
            expectSafetensorsError(path, "invalidTensorForWrite", mentioning: [mention]) {
                try SafetensorsFile.write(path: path, tensors: tensors)
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func writeIntoMissingDirectoryNamesThePath() throws {
        let directory = try TestDirectory()
        let path = directory.file("missing/x.safetensors")
        expectSafetensorsError(
            path,
            "writeFailed",
            mentioning: [directory.file("missing"), "No such file or directory"]
        ) {
            try SafetensorsFile.write(path: path, tensors: [("w", Tensor<Float>(zeros: [2]))])
        }
    }

    @Test func failedWriteKeepsTheOldFileAndLeavesNoTemporaryFiles() throws {
        let directory = try TestDirectory()
        let path = directory.file("model.safetensors")
        try SafetensorsFile.write(
            path: path,
            tensors: [("w", Tensor<Float>(shape: [2], repeating: 1))],
            metadata: ["v": "1"]
        )
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        expectSafetensorsError(path, "invalidTensorForWrite", mentioning: ["more than once"]) {
            try SafetensorsFile.write(
                path: path,
                tensors: [("w", Tensor<Float>(zeros: [3])), ("w", Tensor<Float>(zeros: [3]))]
            )
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

        let occupied = directory.file("dir.safetensors")
        try FileManager.default.createDirectory(atPath: occupied + "/inner", withIntermediateDirectories: true)
        expectSafetensorsError(occupied, "writeFailed", mentioning: ["rename"]) {
            try SafetensorsFile.write(path: occupied, tensors: [("w", Tensor<Float>(zeros: [3]))])
        }
        #expect(
            Set(try FileManager.default.contentsOfDirectory(atPath: directory.path)) == [
                "model.safetensors", "dir.safetensors",
            ]
        )

        try SafetensorsFile.write(path: path, tensors: [("w", Tensor<Float>(shape: [2], repeating: 2))])
        #expect(try SafetensorsFile.read(path: path).tensor(named: "w").scalars == [2, 2])
        #expect(try SafetensorsFile.read(path: path).metadata.isEmpty)
    }
}

// MARK: - Helpers

/// The committed fixture `name`.
private func safetensorsFixture(_ name: String) -> String { formatFixture(name) }

/// Runs `body`, which must throw a ``SafetensorsError`` of the named case naming `path` and each of `mentions`.
private func expectSafetensorsError(
    _ path: String, _ expectedCase: String, mentioning mentions: [String],
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    expectFileError(
        SafetensorsError.self, path, expectedCase, mentioning: mentions, sourceLocation: sourceLocation, body)
}

/// Equal bit patterns, except that any NaN matches any NaN of the same sign.
private func expectBitEqual(_ got: [Float], _ want: [Float], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == want.count, sourceLocation: sourceLocation)
    for (i, (a, b)) in zip(got, want).enumerated() {
        if b.isNaN {
            #expect(a.isNaN && a.sign == b.sign, "element \(i): \(a) vs NaN", sourceLocation: sourceLocation)
        } else {
            #expect(a.bitPattern == b.bitPattern, "element \(i): \(a) vs \(b)", sourceLocation: sourceLocation)
        }
    }
}

/// A safetensors file: the length field, `header` as given (no padding), then `dataSize` zero bytes.
private func safetensorsFile(header: [UInt8], dataSize: Int) -> [UInt8] {
    let length = UInt64(header.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + header
        + [UInt8](repeating: 0, count: dataSize)
}
