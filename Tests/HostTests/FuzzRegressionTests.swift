import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

#if canImport(Glibc)
    import Glibc
#endif

/// The inputs the fuzz targets (Tests/Fuzz, `scripts/fuzz`) found to crash, hang or exhaust memory, kept under
/// Tests/Fuzz/regressions/ and checked here against the fixes; docs/RELIABILITY.md lists each finding.
@Suite struct FuzzRegressionTests {
    private func regression(_ corpus: String, _ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/Fuzz/regressions/\(corpus)/\(name)").path
    }

    /// FuzzPNG, out of memory: a 70-byte PNG whose header claims 16384 x 16384 pixels made the decoder allocate
    /// 1 GiB for pixels before libpng found the data missing. Now refused from the header and the file size.
    @Test func pngClaimingMorePixelsThanItsBytesCanHoldIsRefusedBeforeAllocating() throws {
        let path = regression("png", "oom-claims-16384x16384")
        expectImageError(
            path, "imageLargerThanData",
            mentioning: ["16384x16384", "\(try Data(contentsOf: URL(fileURLWithPath: path)).count) bytes"]
        ) {
            _ = try PNGImage.read(path: path)
        }
        // The bound never refuses a real file: the most compressible image there is, 16384 x 16384 at one bit per
        // pixel, all zero, deflates (zlib level 9) to 32,640 bytes of IDAT data, and a PNG file holds more than that.
        #expect(PNGCodec.pixelsFit(width: 16_384, height: 16_384, bytes: 32_640))
        #expect(!PNGCodec.pixelsFit(width: 16_384, height: 16_384, bytes: 30_000))
        // A large, very compressible image written by libpng reads back.
        let black = PNGImage(width: 1_500, height: 1_000, filledWith: (0, 0, 0))
        let bytes = try black.encoded(path: "black.png")
        #expect(bytes.count < 10_000)
        #expect(try PNGImage.decode(bytes, path: "black.png") == black)
    }

    /// FuzzImageFolder, hang: a FIFO named like an image in a class folder blocked the reader forever (opening a
    /// FIFO for reading waits for a writer). Every memory-mapped reader now opens without blocking and refuses it.
    @Test(.timeLimit(.minutes(1))) func fifoNamedLikeAnImageIsRefusedWithoutBlocking() throws {
        let directory = try TestDirectory()
        let root = directory.file("data")
        try FileManager.default.createDirectory(atPath: root + "/k", withIntermediateDirectories: true)
        try PNGImage(width: 2, height: 2, filledWith: (1, 2, 3)).write(path: root + "/k/a.png")
        for name in ["pipe.png", "pipe.npy", "pipe.safetensors"] { #expect(mkfifo(root + "/k/" + name, 0o644) == 0) }
        let dataset = try ImageFolder(root: root, resolution: 4)
        #expect(dataset.entries.map(\.path) == [root + "/k/a.png", root + "/k/pipe.png"])
        _ = try dataset.sample(0)
        #expect(
            throws: ImageFolderError.unreadableImage(
                .readFailed(path: root + "/k/pipe.png", reason: "it is not a regular file"))
        ) {
            _ = try dataset.sample(1)
        }
        #expect(throws: NPYError.readFailed(path: root + "/k/pipe.npy", reason: "it is not a regular file")) {
            _ = try NPY.read(path: root + "/k/pipe.npy")
        }
        #expect(
            throws: SafetensorsError.readFailed(path: root + "/k/pipe.safetensors", reason: "it is not a regular file")
        ) {
            _ = try SafetensorsFile.read(path: root + "/k/pipe.safetensors")
        }
    }

    /// FuzzPNG, out of memory: center-cropping a 16384 x 1 image to 256 resized it whole first, to 4194304 x 256
    /// pixels (3 GiB). Only the centre square is computed now, with the same pixels as before.
    @Test func centerCropOfALongThinImageComputesOnlyTheSquare() throws {
        let path = regression("png", "oom-center-crop-16384x1.png")
        let image = try PNGImage.read(path: path)
        #expect(image.width == 16_384 && image.height == 1)
        let square = image.centerCropped(to: 256)
        #expect(square.width == 256 && square.height == 256)
        // The same pixels as resizing whole and cropping (the previous implementation), on shapes small enough.
        var random = SplitMix64(seed: 12)
        for (width, height, resolution) in [
            (64, 1, 16), (5, 3, 4), (33, 47, 16), (100, 7, 9), (3, 90, 32), (20, 20, 20),
        ] {
            let pixels = (0..<width * height * 3).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            var source = PNGImage(width: width, height: height, pixels: pixels)
            while min(source.width, source.height) >= 2 * resolution { source = source.boxDownsampled() }
            let short = min(source.width, source.height)
            func side(_ n: Int) -> Int {
                n == short
                    ? resolution
                    : max(resolution, Int((Double(n) * Double(resolution) / Double(short)).rounded(.toNearestOrEven)))
            }
            let whole = source.resizedBilinear(width: side(source.width), height: side(source.height))
            let expected = whole.cropped(
                x: (whole.width - resolution) / 2, y: (whole.height - resolution) / 2, width: resolution,
                height: resolution)
            #expect(
                PNGImage(width: width, height: height, pixels: pixels).centerCropped(to: resolution) == expected,
                "\(width)x\(height) to \(resolution)")
        }
    }

    /// FuzzDiTConfig, property: a config with a long decimal read back differently from what its own jsonString()
    /// wrote, because Foundation's JSONSerialization rounds some 17-digit numbers one unit in the last place wrong
    /// on Linux. Config, plan and registry JSON are read by StrictJSON now: numbers correctly rounded, repeated keys
    /// refused.
    @Test func configNumbersReadBackAsWritten() throws {
        let path = regression("dit-config", "roundtrip-long-decimal.json")
        let config = try DiTConfig.parse(Data(contentsOf: URL(fileURLWithPath: path)), path: path)
        #expect(
            config.classDropoutProb == Double("0.1888888888888888888888888888888888888888888888888888888888888888888"))
        #expect(try DiTConfig.parse(Data(config.jsonString().utf8), path: path) == config)
        for text in ["0.18888888888888897", "0.00030000000000000003", "0.18888888888888888"] {
            let written = try DiTConfig.parse(
                Data(#"{"hidden_size": 8, "depth": 1, "num_heads": 2, "class_dropout_prob": \#(text)}"#.utf8),
                path: "m.json")
            #expect(written.classDropoutProb == Double(text), "\(text)")
        }
        let plan = try GraftPlan.parse(
            Data(
                #"{"name": "p", "grafts": [{"slot": "attn", "layers": "all", "operator": "mha"}], "stage1": {"learning_rate": 0.00030000000000000003}}"#
                    .utf8), source: "p.json")
        #expect(plan.stage1.learningRate == 0.00030000000000000003)
        // Repeated keys were silently resolved (the last one won); now each reader refuses them by name.
        #expect {
            _ = try DiTConfig.parse(
                Data(#"{"hidden_size": 8, "depth": 1, "depth": 2, "num_heads": 2}"#.utf8), path: "m.json")
        } throws: { error in
            "\(error)".contains("m.json") && "\(error)".contains("'depth' appears twice")
        }
        #expect(throws: GraftError.self) {
            _ = try GraftPlan.parse(Data(#"{"name": "a", "name": "b", "grafts": []}"#.utf8), source: "p.json")
        }
        #expect(throws: RegistryError.self) {
            _ = try Registry.parse(Data(#"{"schema_version": 1, "plugins": [], "plugins": []}"#.utf8), path: "r.json")
        }
    }

    /// FuzzCFunctionSpec, property: a description with `"constant": 4.0` did not equal itself after the registry
    /// writer's round trip, which spells an integral double as `4`. Descriptions now compare by meaning: members in
    /// any order, numbers by value (`4.0` is `4`, `1e2` is `100`), while different values still differ.
    @Test func cfunctionDescriptionsCompareNumbersByValueAcrossTheWritersRoundTrip() throws {
        let text = try [UInt8](
            Data(contentsOf: URL(fileURLWithPath: regression("cfunction", "roundtrip-integral-double.json"))))
        let spec = try CFunctionSpec.parse(json: text, entry: "ts")
        #expect(spec.parameters.first?.initializer == .constant(4))
        let again = try CFunctionSpec.parse(json: [UInt8](JSONEncoder().encode(spec)), entry: "ts")
        #expect(again == spec)
        let source = String(decoding: text, as: UTF8.self)
        for (spelling, same) in [("4", true), ("4e0", true), ("400e-2", true), ("4.5", false), ("-4.0", false)] {
            let variant = try CFunctionSpec.parse(
                json: Array(source.replacingOccurrences(of: "4.0", with: spelling).utf8), entry: "ts")
            #expect((variant == spec) == same, "\(spelling)")
        }
    }
}
