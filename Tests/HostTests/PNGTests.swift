import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

extension ImageError: FileNamingError {}

/// PNG reading (files of every colour type, built without libpng) and writing, tensor conversion, the image
/// grid, and malformed files.
@Suite struct PNGTests {
    // MARK: Round trips

    @Test(arguments: [(1, 1), (7, 5), (64, 3), (33, 47)])
    func writeThenReadIsExact(width: Int, height: Int) throws {
        var rng = SplitMix64(seed: UInt64(width * 1000 + height))
        let pixels = (0..<width * height * 3).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let image = PNGImage(width: width, height: height, pixels: pixels)
        let directory = try TestDirectory()
        let path = directory.file("x.png")
        try image.write(path: path)
        #expect(try PNGImage.read(path: path) == image)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["x.png"])
    }

    @Test func tensorConversionFollowsDiT() throws {
        let image = PNGImage(width: 256, height: 1, pixels: (0..<256).flatMap { [UInt8($0), 0, 255] })
        let x = image.tensor()
        #expect(x.shape == [3, 1, 256])
        #expect(x[0, 0, 0] == -1 && x[0, 0, 255] == 1 && x[1, 0, 7] == -1 && x[2, 0, 7] == 1)
        #expect(abs(x[0, 0, 100] - (100 / 127.5 - 1)) < 1e-6)
        #expect(try PNGImage(tensor: x) == image)  // v / 127.5 - 1, then round((x + 1) * 127.5), is exact

        let values: [Float] = [-1, 1, 0, 2, -3, .nan, -0.5, 0.999]
        let t = try Tensor<Float>(shape: [3, 1, values.count], scalars: values + values + values)
        let quantized = try PNGImage(tensor: t)
        #expect((0..<values.count).map { quantized[$0, 0].red } == [0, 255, 128, 255, 0, 0, 64, 255])
    }

    @Test func tensorOfTheWrongShapeIsRefused() {
        expectImageError("a.png", "invalidShape", mentioning: ["[4, 2, 2]", "[3, H, W]"]) {
            _ = try PNGImage(tensor: Tensor<Float>(zeros: [4, 2, 2]), path: "a.png")
        }
    }

    // MARK: Files of other kinds, built without libpng

    @Test func readsEightBitRGB() throws {
        let data = PNGBuilder.file(width: 2, height: 1, colorType: .rgb, bitDepth: 8, rows: [[1, 2, 3, 250, 251, 252]])
        #expect(
            try PNGImage.decode(data, path: "rgb.png")
                == PNGImage(width: 2, height: 1, pixels: [1, 2, 3, 250, 251, 252]))
    }

    @Test func readsGrayAsReplicatedRGB() throws {
        let data = PNGBuilder.file(width: 4, height: 1, colorType: .gray, bitDepth: 8, rows: [[0, 17, 128, 255]])
        let image = try PNGImage.decode(data, path: "gray.png")
        #expect(image.pixels == [0, 0, 0, 17, 17, 17, 128, 128, 128, 255, 255, 255])
    }

    @Test func readsOneBitGray() throws {
        // 10 pixels: 1 0 1 1 0 0 0 1 | 1 0, packed most significant bit first.
        let data = PNGBuilder.file(
            width: 10, height: 1, colorType: .gray, bitDepth: 1, rows: [[0b1011_0001, 0b1000_0000]])
        let image = try PNGImage.decode(data, path: "bits.png")
        #expect((0..<10).map { image[$0, 0].green } == [255, 0, 255, 255, 0, 0, 0, 255, 255, 0])
    }

    @Test func readsGrayAlphaDroppingAlpha() throws {
        let data = PNGBuilder.file(
            width: 3, height: 1, colorType: .grayAlpha, bitDepth: 8, rows: [[200, 255, 100, 128, 60, 1]])
        let image = try PNGImage.decode(data, path: "ga.png")
        #expect((0..<3).map { image[$0, 0].red } == [200, 100, 60])
        #expect((0..<3).map { image[$0, 0].blue } == [200, 100, 60])
    }

    @Test func readsRGBADroppingAlpha() throws {
        let row: [UInt8] = [10, 20, 30, 255, 200, 100, 50, 128, 7, 8, 9, 1]
        let data = PNGBuilder.file(width: 3, height: 1, colorType: .rgba, bitDepth: 8, rows: [row])
        let image = try PNGImage.decode(data, path: "rgba.png")
        #expect(image.pixels == [10, 20, 30, 200, 100, 50, 7, 8, 9])
    }

    @Test func readsPalette() throws {
        let palette: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 99, 199]
        let data = PNGBuilder.file(
            width: 4, height: 2, colorType: .palette, bitDepth: 8, rows: [[0, 1, 2, 3], [3, 3, 0, 1]], palette: palette)
        let image = try PNGImage.decode(data, path: "palette.png")
        #expect(image[0, 0] == (255, 0, 0) && image[2, 0] == (0, 0, 255) && image[3, 0] == (9, 99, 199))
        #expect(image[0, 1] == (9, 99, 199) && image[3, 1] == (0, 255, 0))
    }

    @Test func readsSixteenBitScaledToEightBit() throws {
        let values: [UInt16] = [0, 65_535, 257 * 100, 257 * 37, 0x1234, 0xFEDC]
        let rgb16 = PNGBuilder.file(
            width: 2, height: 1, colorType: .rgb, bitDepth: 16, rows: [PNGBuilder.samples16(values)])
        let image = try PNGImage.decode(rgb16, path: "rgb16.png")
        let expected = values.map { Double($0) / 257 }
        for (got, want) in zip(image.pixels, expected) {
            #expect(abs(Double(got) - want) <= 1, "\(got) vs \(want)")
        }
        #expect(Array(image.pixels.prefix(4)) == [0, 255, 100, 37])

        let rgba16 = PNGBuilder.file(
            width: 1, height: 1, colorType: .rgba, bitDepth: 16,
            rows: [PNGBuilder.samples16([257 * 10, 257 * 20, 257 * 30, 65_535])])
        #expect(try PNGImage.decode(rgba16, path: "rgba16.png").pixels == [10, 20, 30])
        let gray16 = PNGBuilder.file(
            width: 1, height: 1, colorType: .gray, bitDepth: 16, rows: [PNGBuilder.samples16([257 * 77])])
        #expect(try PNGImage.decode(gray16, path: "gray16.png").pixels == [77, 77, 77])
    }

    @Test func readsFromDisk() throws {
        let directory = try TestDirectory()
        let path = directory.file("gray.png")
        try Data(PNGBuilder.file(width: 1, height: 2, colorType: .gray, bitDepth: 8, rows: [[5], [6]]))
            .write(to: URL(fileURLWithPath: path))
        #expect(try PNGImage.read(path: path).pixels == [5, 5, 5, 6, 6, 6])
    }

    // MARK: Malformed files

    @Test func emptyFileIsNamed() throws {
        let directory = try TestDirectory()
        let path = directory.file("empty.png")
        try Data().write(to: URL(fileURLWithPath: path))
        expectImageError(path, "emptyFile", mentioning: ["empty"]) { _ = try PNGImage.read(path: path) }
    }

    @Test func garbageIsNotAPNG() throws {
        let directory = try TestDirectory()
        let path = directory.file("garbage.png")
        try Data("this is not an image at all".utf8).write(to: URL(fileURLWithPath: path))
        expectImageError(path, "notPNG", mentioning: ["not a PNG file", "\\x74\\x68\\x69\\x73"]) {
            _ = try PNGImage.read(path: path)
        }
        expectImageError("short.png", "notPNG", mentioning: ["3 bytes long"]) {
            _ = try PNGImage.decode([0x89, 0x50, 0x4E], path: "short.png")
        }
    }

    @Test(arguments: [0.5, 0.9, 0.99])
    func truncatedFileIsNamedWithLibpngsMessage(fraction: Double) throws {
        var rng = SplitMix64(seed: 5)
        let image = PNGImage(
            width: 40, height: 40, pixels: (0..<4800).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let bytes = try image.encoded(path: "full.png")
        let directory = try TestDirectory()
        let path = directory.file("truncated.png")
        try Data(bytes.prefix(Int(Double(bytes.count) * fraction))).write(to: URL(fileURLWithPath: path))
        expectImageError(path, "decodeFailed", mentioning: ["truncated or corrupt", "libpng says"]) {
            _ = try PNGImage.read(path: path)
        }
    }

    @Test func corruptChecksumIsRefused() throws {
        var bytes = PNGBuilder.file(width: 2, height: 2, colorType: .gray, bitDepth: 8, rows: [[1, 2], [3, 4]])
        bytes[29] ^= 0xFF  // inside the IHDR CRC
        expectImageError("crc.png", "decodeFailed", mentioning: ["libpng says"]) {
            _ = try PNGImage.decode(bytes, path: "crc.png")
        }
    }

    @Test func oversizedImageIsRefusedBeforeDecoding() {
        let bytes = PNGBuilder.file(width: 20_000, height: 1, colorType: .gray, bitDepth: 8, rows: [])
        expectImageError("wide.png", "imageTooLarge", mentioning: ["20000x1", "16384x16384"]) {
            _ = try PNGImage.decode(bytes, path: "wide.png")
        }
    }

    @Test func unreadablePathsAreNamed() throws {
        let missing = "/nonexistent-\(UUID().uuidString)/x.png"
        expectImageError(missing, "readFailed", mentioning: ["No such file or directory"]) {
            _ = try PNGImage.read(path: missing)
        }
        let directory = try TestDirectory()
        expectImageError(directory.path, "readFailed", mentioning: ["is a directory"]) {
            _ = try PNGImage.read(path: directory.path)
        }
    }

    @Test func writeIntoMissingFolderIsNamed() {
        let path = "/nonexistent-\(UUID().uuidString)/x.png"
        expectImageError(path, "writeFailed", mentioning: ["cannot write"]) {
            try PNGImage(width: 1, height: 1, filledWith: (1, 2, 3)).write(path: path)
        }
    }

    // MARK: Grid

    @Test func gridPlacesTilesWithTwoPixelPadding() throws {
        // Five 3 x 4 (H x W) tiles, tile n filled with grey level n / 4 * 2 - 1, in 2 columns: 3 rows.
        let (n, h, w) = (5, 3, 4)
        var batch = Tensor<Float>(zeros: [n, 3, h, w])
        for i in 0..<n {
            for c in 0..<3 {
                for y in 0..<h { for x in 0..<w { batch[i, c, y, x] = Float(i) / 4 * 2 - 1 } }
            }
        }
        batch[3, 1, 2, 3] = -1  // one marked pixel: no green at tile 3's bottom-right
        let grid = try ImageGrid.tile(batch, columns: 2)
        #expect(grid.width == 2 * (w + 2) + 2 && grid.height == 3 * (h + 2) + 2)
        let levels: [UInt8] = [0, 64, 128, 191, 255]
        for i in 0..<n {
            let left = 2 + (i % 2) * (w + 2)
            let top = 2 + (i / 2) * (h + 2)
            #expect(grid[left, top].red == levels[i], "tile \(i)")
            #expect(grid[left + w - 1, top + h - 1].blue == levels[i], "tile \(i)")
            #expect(grid[left - 1, top] == (0, 0, 0) && grid[left, top - 1] == (0, 0, 0))
        }
        #expect(grid[2 + 6 + 3, 2 + 10 + 2] == (0, 0, 0))  // the empty sixth cell
        #expect(grid[8 + 3, 7 + 2] == (191, 0, 191))  // the marked pixel of tile 3 (column 1, row 1)
        #expect(grid[grid.width - 1, grid.height - 1] == (0, 0, 0))

        let directory = try TestDirectory()
        let path = directory.file("grid.png")
        try ImageGrid.write(batch, columns: 2, path: path)
        #expect(try PNGImage.read(path: path) == grid)
    }

    @Test func gridWithMoreColumnsThanImagesIsOneRow() throws {
        let grid = try ImageGrid.tile(Tensor<Float>(shape: [3, 3, 8, 8], repeating: 1), columns: 10)
        #expect(grid.width == 3 * 10 + 2 && grid.height == 12)
        #expect(grid[2, 2] == (255, 255, 255) && grid[1, 2] == (0, 0, 0))
    }

    @Test func gridRefusesBadArguments() {
        expectImageError("g.png", "invalidShape", mentioning: ["[2, 1, 4, 4]", "[N, 3, H, W]"]) {
            try ImageGrid.write(Tensor<Float>(zeros: [2, 1, 4, 4]), columns: 2, path: "g.png")
        }
        expectImageError("g.png", "invalidArgument", mentioning: ["columns is 0"]) {
            try ImageGrid.write(Tensor<Float>(zeros: [2, 3, 4, 4]), columns: 0, path: "g.png")
        }
    }
}

/// Runs `body`, which must throw an ``ImageError`` of the named case naming `path` and each of `mentions`.
func expectImageError(
    _ path: String, _ expectedCase: String, mentioning mentions: [String],
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    expectFileError(ImageError.self, path, expectedCase, mentioning: mentions, sourceLocation: sourceLocation, body)
}
