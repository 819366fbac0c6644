import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

extension ImageFolderError: FileNamingError {}

/// ImageFolder datasets: the export/open round trip, DiT's center-crop preparation, and the error cases.
@Suite struct ImageFolderTests {
    // MARK: Round trip

    @Test func exportThenOpenGivesBackTheSamples() throws {
        let data = try SyntheticShapes(seed: 9, trainCount: 33)
        let directory = try TestDirectory()
        let root = directory.file("shapes")
        let perClass = try ImageFolder.export(data, to: root)
        #expect(perClass == [Int](repeating: 3, count: 11))

        let folder = try ImageFolder(root: root, resolution: 32)
        #expect(folder.count == 33 && folder.numClasses == 11)
        #expect(folder.classNames == data.classNames.sorted())
        // Samples come class by class (sorted names), each class's files in index order.
        var expected: [(index: Int, name: String)] = []
        for name in data.classNames.sorted() {
            let label = data.classNames.firstIndex(of: name)!
            expected += stride(from: label, to: 33, by: 11).map { ($0, name) }
        }
        for (i, (index, name)) in expected.enumerated() {
            let (image, label) = try folder.sample(i)
            #expect(folder.classNames[label] == name && folder.label(i) == label)
            #expect(
                folder.entries[i].path.hasSuffix(
                    "/\(name)/" + String(repeating: "0", count: 4) + String(format: "%02d", index) + ".png"))
            let original = data.sample(index).image
            #expect(try PNGImage(tensor: image) == PNGImage(tensor: original), "sample \(index)")
            let error = zip(image.scalars, original.scalars).map { abs($0 - $1) }.max()!
            #expect(error <= 1 / 127.5, "8-bit quantisation only")
        }
    }

    @Test func exportCommandWritesAnImageFolder() throws {
        let directory = try TestDirectory()
        let root = directory.file("out")
        let result = try runCommand(try zooPath(), ["data", "export", "--out", root, "--count", "22", "--seed", "4"])
        #expect(result.status == 0, "\(result.stderr)")
        let folder = try ImageFolder(root: root, resolution: 32)
        #expect(folder.count == 22)
        let index = folder.entries.firstIndex { $0.path.hasSuffix("/rings/000015.png") }!
        let expected = try PNGImage(tensor: SyntheticShapes(seed: 4).sample(15).image)
        #expect(try PNGImage(tensor: folder.sample(index).image) == expected)

        let again = try runCommand(try zooPath(), ["data", "export", "--out", root, "--count", "22"])
        #expect(again.status != 0 && again.stderr.contains("is not empty"))
        let tooFew = try runCommand(try zooPath(), ["data", "export", "--out", directory.file("few"), "--count", "5"])
        #expect(tooFew.status != 0 && tooFew.stderr.contains("at least 11"))
    }

    @Test func layoutConventions() throws {
        let directory = try TestDirectory()
        let root = directory.path
        for name in ["b", "a", ".hidden"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
        }
        let red = PNGImage(width: 4, height: 4, filledWith: (255, 0, 0))
        try red.write(path: "\(root)/b/2.png")
        try red.write(path: "\(root)/b/1.PNG")
        try red.write(path: "\(root)/a/x.png")
        try red.write(path: "\(root)/.hidden/y.png")
        try Data("notes".utf8).write(to: URL(fileURLWithPath: "\(root)/a/readme.txt"))
        try Data("top".utf8).write(to: URL(fileURLWithPath: "\(root)/top.png"))
        let folder = try ImageFolder(root: root, resolution: 2)
        #expect(folder.classNames == ["a", "b"])
        #expect(
            folder.entries == [
                .init(path: "\(root)/a/x.png", label: 0), .init(path: "\(root)/b/1.PNG", label: 1),
                .init(path: "\(root)/b/2.png", label: 1),
            ])
        let (image, label) = try folder.sample(2)
        #expect(label == 1 && image.shape == [3, 2, 2])
        #expect(image.scalars == [1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1])
    }

    // MARK: Center crop (DiT's center_crop_arr)

    @Test func centerCropFollowsDiT() {
        // 100 x 60, left half red, right half blue, to 16: 60 >= 32, so halve to 50 x 30; then scale 16/30 gives
        // 27 x 16 (26.67 rounds to 27); crop 5 columns from the left.
        var pixels: [UInt8] = []
        for _ in 0..<60 { for x in 0..<100 { pixels += x < 50 ? [255, 0, 0] : [0, 0, 255] } }
        let image = PNGImage(width: 100, height: 60, pixels: pixels)
        let half = image.boxDownsampled()
        #expect(half.width == 50 && half.height == 30)
        let cropped = image.centerCropped(to: 16)
        #expect(cropped.width == 16 && cropped.height == 16)
        let resized = half.resizedBilinear(width: 27, height: 16)
        #expect(cropped == resized.cropped(x: 5, y: 0, width: 16, height: 16))
        #expect(cropped[0, 8] == (255, 0, 0) && cropped[15, 8] == (0, 0, 255))
        // Already the right size: unchanged. Smaller: scaled up.
        #expect(cropped.centerCropped(to: 16) == cropped)
        let tiny = PNGImage(width: 1, height: 1, filledWith: (9, 8, 7))
        #expect(tiny.centerCropped(to: 5) == PNGImage(width: 5, height: 5, filledWith: (9, 8, 7)))
    }

    @Test func boxDownsampleAveragesBlocksAndDropsAnOddEdge() {
        // 3 x 2 gray: a 2 x 2 block [0, 10; 20, 31] (mean 15.25) and a dropped odd column.
        let gray: [UInt8] = [0, 10, 200, 20, 31, 200]
        let image = PNGImage(width: 3, height: 2, pixels: gray.flatMap { [$0, $0, $0] })
        #expect(image.boxDownsampled() == PNGImage(width: 1, height: 1, filledWith: (15, 15, 15)))
    }

    @Test func bilinearInterpolatesBetweenPixelCentres() {
        let image = PNGImage(width: 2, height: 1, pixels: [0, 0, 0, 200, 200, 200])
        // 4 wide: sources at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
        let wide = image.resizedBilinear(width: 4, height: 1)
        #expect((0..<4).map { wide[$0, 0].red } == [0, 50, 150, 200])
    }

    // MARK: Errors

    @Test func missingOrWrongRootIsNamed() throws {
        let missing = "/nonexistent-\(UUID().uuidString)"
        expectFolderError(missing, "missingFolder", mentioning: ["does not exist"]) {
            _ = try ImageFolder(root: missing, resolution: 8)
        }
        let directory = try TestDirectory()
        let file = directory.file("file.png")
        try PNGImage(width: 1, height: 1, filledWith: (0, 0, 0)).write(path: file)
        expectFolderError(file, "notAFolder", mentioning: ["not a folder"]) {
            _ = try ImageFolder(root: file, resolution: 8)
        }
    }

    @Test func folderWithoutClassFoldersIsNamed() throws {
        let directory = try TestDirectory()
        try PNGImage(width: 1, height: 1, filledWith: (0, 0, 0)).write(path: directory.file("loose.png"))
        expectFolderError(directory.path, "noClassFolders", mentioning: ["no class sub-folders"]) {
            _ = try ImageFolder(root: directory.path, resolution: 8)
        }
    }

    @Test func emptyClassIsNamed() throws {
        let directory = try TestDirectory()
        for name in ["cat", "dog"] {
            try FileManager.default.createDirectory(atPath: directory.file(name), withIntermediateDirectories: false)
        }
        try PNGImage(width: 1, height: 1, filledWith: (0, 0, 0)).write(path: directory.file("cat/1.png"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory.file("dog/notes.txt")))
        expectFolderError(directory.file("dog"), "emptyClass", mentioning: ["class 'dog'", "no .png files"]) {
            _ = try ImageFolder(root: directory.path, resolution: 8)
        }
    }

    @Test func unreadableImageNamesTheFile() throws {
        let directory = try TestDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("cat"), withIntermediateDirectories: false)
        try PNGImage(width: 3, height: 3, filledWith: (0, 0, 0)).write(path: directory.file("cat/1.png"))
        let bad = directory.file("cat/2.png")
        try Data("GIF89a....".utf8).write(to: URL(fileURLWithPath: bad))
        let folder = try ImageFolder(root: directory.path, resolution: 2)
        _ = try folder.sample(0)
        expectFolderError(bad, "unreadableImage", mentioning: ["not a PNG file"]) { _ = try folder.sample(1) }
        #expect(throws: ImageFolderError.unreadableImage(.notPNG(path: bad, found: Array("GIF89a..".utf8)))) {
            try folder.sample(1)
        }
    }

    @Test func exportRefusesANonEmptyFolder() throws {
        let directory = try TestDirectory()
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory.file("keep.txt")))
        expectFolderError(directory.path, "outputNotEmpty", mentioning: ["is not empty"]) {
            try ImageFolder.export(SyntheticShapes(trainCount: 11), to: directory.path)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["keep.txt"])
    }
}

/// Runs `body`, which must throw an ``ImageFolderError`` of the named case naming `path` and each of `mentions`.
private func expectFolderError(
    _ path: String, _ expectedCase: String, mentioning mentions: [String],
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    expectFileError(
        ImageFolderError.self, path, expectedCase, mentioning: mentions, sourceLocation: sourceLocation, body)
}
