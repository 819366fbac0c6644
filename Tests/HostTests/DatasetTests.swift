import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The synthetic shapes dataset: determinism, balance, value range, splits, and the structure each class
/// promises (checked on noise-free renders, which have exactly two colours).
@Suite struct DatasetTests {
    typealias Shape = SyntheticShapes.ShapeClass

    @Test func sameSeedAndIndexGiveTheSameImage() throws {
        let a = try SyntheticShapes(seed: 42)
        let b = try SyntheticShapes(seed: 42)
        for index in [0, 1, 10, 11, 999, 49_999] {
            #expect(a.sample(index) == b.sample(index), "index \(index)")
        }
        // Drawing order does not matter: a sample is a pure function of (seed, index).
        let later = (0..<20).map { a.sample($0).image }
        #expect(later.reversed() == (0..<20).reversed().map { b.sample($0).image })
    }

    @Test func differentIndicesOrSeedsGiveDifferentImages() throws {
        let data = try SyntheticShapes(seed: 1)
        let images = (0..<200).map { data.sample($0).image }
        #expect(Set(images.map(\.scalars)).count == 200)
        // The same class (index 0 and 11) still differs from one sample to the next.
        #expect(data.sample(0).image != data.sample(11).image)
        #expect(try SyntheticShapes(seed: 2).sample(0).image != data.sample(0).image)
    }

    @Test func classesAreBalanced() throws {
        let data = try SyntheticShapes(seed: 3, trainCount: 1100)
        #expect(data.numClasses == 11 && data.classNames.count == 11)
        var counts = [Int](repeating: 0, count: data.numClasses)
        for index in 0..<data.count {
            let label = data.label(index)
            #expect(label == index % data.numClasses)
            counts[label] += 1
        }
        #expect(counts == [Int](repeating: 100, count: 11))
        #expect((0..<33).allSatisfy { data.sample($0).label == data.label($0) })
    }

    @Test(arguments: [16, 32, 48])
    func valuesLieInRangeWithTheRequestedShape(resolution: Int) throws {
        let data = try SyntheticShapes(seed: 4, resolution: resolution)
        for index in 0..<110 {
            let (image, label) = data.sample(index)
            #expect(image.shape == [3, resolution, resolution])
            #expect((0..<data.numClasses).contains(label))
            #expect(image.scalars.allSatisfy { $0 >= -1 && $0 <= 1 }, "index \(index)")
        }
    }

    @Test func heldOutSplitIsDisjointAndContinuesTheIndexRange() throws {
        let train = try SyntheticShapes(seed: 5, split: .train, trainCount: 100, heldOutCount: 30)
        let heldOut = try SyntheticShapes(seed: 5, split: .heldOut, trainCount: 100, heldOutCount: 30)
        #expect(train.count == 100 && heldOut.count == 30)
        #expect(Set((0..<100).map(train.globalIndex)).isDisjoint(with: (0..<30).map(heldOut.globalIndex)))
        #expect(heldOut.globalIndex(0) == 100)
        #expect(heldOut.sample(7) == train.render(globalIndex: 107))
        let trainImages = Set((0..<100).map { train.sample($0).image.scalars })
        #expect((0..<30).allSatisfy { !trainImages.contains(heldOut.sample($0).image.scalars) })
    }

    @Test func argumentsOutOfRangeAreRefusedByName() {
        #expect(throws: SyntheticShapesError.argument(name: "resolution", value: 8, expected: "at least 16")) {
            try SyntheticShapes(resolution: 8)
        }
        #expect(throws: SyntheticShapesError.argument(name: "trainCount", value: -1, expected: "at least 0")) {
            try SyntheticShapes(trainCount: -1)
        }
        #expect(throws: SyntheticShapesError.argument(name: "heldOutCount", value: -2, expected: "at least 0")) {
            try SyntheticShapes(split: .heldOut, heldOutCount: -2)
        }
        #expect(
            SyntheticShapesError.argument(name: "resolution", value: 8, expected: "at least 16").description
                == "synthetic shapes: 'resolution' is 8, expected at least 16")
    }

    @Test func splitsFollowTheModelOrRefuseIt() throws {
        var config = TrainingTests.tinyConfig
        let (train, heldOut) = try SyntheticShapes.splits(seed: 3, for: config)
        #expect(
            train.resolution == 16 && heldOut.resolution == 16 && train.split == .train && heldOut.split == .heldOut)
        #expect(train.seed == 3 && heldOut.seed == 3)
        config.inChannels = 4
        #expect(throws: SyntheticShapesError.incompatibleModel(inChannels: 4, inputSize: 16)) {
            try SyntheticShapes.splits(seed: 3, for: config)
        }
        config.inChannels = 3
        config.inputSize = 8
        #expect(throws: SyntheticShapesError.incompatibleModel(inChannels: 3, inputSize: 8)) {
            try SyntheticShapes.splits(seed: 3, for: config)
        }
    }

    @Test func identityChangesWithWhatDecidesTheSamples() throws {
        let base = try SyntheticShapes(seed: 3)
        #expect(try SyntheticShapes(seed: 3).identity == base.identity)
        let variants = [
            try SyntheticShapes(seed: 4), try SyntheticShapes(seed: 3, split: .heldOut),
            try SyntheticShapes(seed: 3, trainCount: 100),
            try SyntheticShapes(seed: 3, resolution: 16), try SyntheticShapes(seed: 3, noise: false),
            try SyntheticShapes(
                seed: 3, generator: SyntheticShapes.generators.first { $0 != SyntheticShapes.defaultGenerator }!),
        ]
        #expect(Set(variants.map(\.identity) + [base.identity]).count == variants.count + 1)
        #expect(base.identity.contains("generator \(SyntheticShapes.defaultGenerator)"))
    }

    /// Generator 3 redraws six classes (the two dot classes among them) and leaves the other five image for image
    /// as generator 1 draws them.
    @Test func generatorsDifferOnlyInTheRedrawnClasses() throws {
        let one = try SyntheticShapes(seed: 8, generator: 1), three = try SyntheticShapes(seed: 8, generator: 3)
        let redrawn: Set<Shape> = [.checkerboard, .rings, .twoDots, .threeDots, .squareOutline, .cross]
        for index in 0..<44 {
            let (a, label) = one.sample(index)
            let same = a == three.sample(index).image
            #expect(
                same != redrawn.contains(Shape(rawValue: label)!), "\(Shape(rawValue: label)!.name), sample \(index)")
        }
        #expect(throws: SyntheticShapesError.argument(name: "generator", value: 2, expected: "1 or 3")) {
            try SyntheticShapes(generator: 2)
        }
    }

    @Test func batchStacksSamples() throws {
        let data = try SyntheticShapes(seed: 6)
        let (images, labels) = try data.batch([3, 0, 14])
        #expect(images.shape == [3, 3, 32, 32] && labels == [3, 0, 3])
        let size = 3 * 32 * 32
        #expect(Array(images.scalars[size..<2 * size]) == data.sample(0).image.scalars)
    }

    @Test func noiseFreeRendersHaveTwoContrastingColoursAndNoiseIsMild() throws {
        let clean = try SyntheticShapes(seed: 7, noise: false)
        let noisy = try SyntheticShapes(seed: 7)
        for index in 0..<110 {
            let image = clean.sample(index).image
            let colours = Set(pixels(image))
            #expect(colours.count == 2, "index \(index) (\(clean.classNames[index % 11])) has \(colours.count) colours")
            let pair = Array(colours)
            if pair.count == 2 {
                let distance = zip(pair[0], pair[1]).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
                #expect(distance >= 1 - 1e-5, "colours \(pair) are too close")  // 0.5 on the [0, 1] scale
            }
            let difference = zip(noisy.sample(index).image.scalars, image.scalars).map { abs($0 - $1) }
            #expect(difference.max()! > 0 && difference.reduce(0, +) / Float(difference.count) < 0.05)
        }
    }

    // MARK: Class structure, on noise-free renders

    @Test func stripesSpanTheWholeImage() throws {
        for sample in try cleanSamples(of: .horizontalStripes) {
            let rows = (0..<32).map { y in Set((0..<32).map { x in pixel(sample, x, y) }) }
            #expect(rows.allSatisfy { $0.count == 1 }, "every row is one colour")
        }
        for sample in try cleanSamples(of: .verticalStripes) {
            let columns = (0..<32).map { x in Set((0..<32).map { y in pixel(sample, x, y) }) }
            #expect(columns.allSatisfy { $0.count == 1 }, "every column is one colour")
        }
    }

    @Test func checkerboardAlternatesAcrossTheWholeImage() throws {
        for generator in SyntheticShapes.generators {
            for sample in try cleanSamples(of: .checkerboard, generator: generator) {
                // Every row and every column contains both colours.
                #expect((0..<32).allSatisfy { y in Set((0..<32).map { x in pixel(sample, x, y) }).count == 2 })
                #expect((0..<32).allSatisfy { x in Set((0..<32).map { y in pixel(sample, x, y) }).count == 2 })
            }
        }
    }

    @Test func generator3CheckerboardIsTwoByTwo() throws {
        for sample in try cleanSamples(of: .checkerboard, generator: 3) {
            // The colour changes once along the top row and once down the left column, within 4 px of the
            // middle, and every pixel is the top-left colour exactly when it is on the top-left's diagonal.
            let top = (0..<32).map { pixel(sample, $0, 0) }
            let left = (0..<32).map { pixel(sample, 0, $0) }
            let splitX = try #require((1..<32).first { top[$0] != top[0] })
            let splitY = try #require((1..<32).first { left[$0] != left[0] })
            #expect((12...20).contains(splitX) && (12...20).contains(splitY))
            let corner = pixel(sample, 0, 0)
            #expect(
                (0..<32).allSatisfy { y in
                    (0..<32).allSatisfy { x in (pixel(sample, x, y) == corner) == ((x < splitX) == (y < splitY)) }
                })
        }
    }

    @Test func mirrorBlobsAreExactlyLeftRightSymmetric() throws {
        for sample in try cleanSamples(of: .mirrorBlobs) {
            #expect(
                (0..<32).allSatisfy { y in (0..<16).allSatisfy { x in pixel(sample, x, y) == pixel(sample, 31 - x, y) }
                })
        }
        // No other class is mirror-symmetric by construction; most samples of the dot class are not.
        let dots = try cleanSamples(of: .threeDots)
        let symmetric = dots.filter { s in
            (0..<32).allSatisfy { y in (0..<16).allSatisfy { x in pixel(s, x, y) == pixel(s, 31 - x, y) } }
        }
        #expect(symmetric.count < dots.count / 2)
    }

    @Test(arguments: [(Shape.twoDots, 2), (Shape.threeDots, 3), (Shape.disc, 1), (Shape.cross, 1)])
    func countClassesHaveThatManyComponents(shape: Shape, components: Int) throws {
        for generator in SyntheticShapes.generators {
            for (n, sample) in try cleanSamples(of: shape, count: 40, generator: generator).enumerated() {
                #expect(foregroundComponents(sample) == components, "\(shape.name) sample \(n), generator \(generator)")
            }
        }
    }

    @Test func generator3DotsLieOnADiagonalLikeADiesFace() throws {
        // Two dots: the ends of a diagonal, nothing in the middle; three: the middle too.
        for (shape, middle) in [(Shape.twoDots, false), (Shape.threeDots, true)] {
            for sample in try cleanSamples(of: shape, generator: 3) {
                let foreground = foregroundColour(sample)
                let centre = [(15, 15), (16, 15), (15, 16), (16, 16)].contains {
                    pixel(sample, $0.0, $0.1) == foreground
                }
                #expect(centre == middle, "\(shape.name): the middle holds a dot only for three")
                // Foreground pixels away from the middle lie in two diagonally opposite quadrants.
                var quadrants = Set<Int>()
                for y in 0..<32 {
                    for x in 0..<32
                    where pixel(sample, x, y) == foreground && max(abs(2 * x - 31), abs(2 * y - 31)) > 14 {
                        quadrants.insert((x < 16 ? 0 : 1) + (y < 16 ? 0 : 2))
                    }
                }
                #expect(
                    quadrants == [0, 3] || quadrants == [1, 2], "\(shape.name): dots on one diagonal, got \(quadrants)")
            }
        }
    }

    @Test func diagonalRunsCornerToCorner() throws {
        for sample in try cleanSamples(of: .diagonal) {
            let foreground = foregroundColour(sample)
            let main = pixel(sample, 0, 0) == foreground && pixel(sample, 31, 31) == foreground
            let anti = pixel(sample, 31, 0) == foreground && pixel(sample, 0, 31) == foreground
            #expect(main != anti, "exactly one diagonal")
            #expect(
                (0..<32).allSatisfy { i in pixel(sample, i, main ? i : 31 - i) == foreground },
                "the whole diagonal is drawn")
        }
    }

    @Test func ringsAreConcentric() throws {
        // Several alternations between the colours along the middle row.
        for generator in SyntheticShapes.generators {
            for sample in try cleanSamples(of: .rings, generator: generator) {
                let row = (0..<32).map { pixel(sample, $0, 16) }
                let changes = zip(row, row.dropFirst()).filter { $0 != $1 }.count
                #expect(changes >= 4, "generator \(generator)")
            }
        }
    }

    @Test func squareOutlineHasAHole() throws {
        for generator in SyntheticShapes.generators {
            for sample in try cleanSamples(of: .squareOutline, generator: generator) {
                #expect(foregroundComponents(sample) == 1)
                #expect(backgroundComponents(sample) == 2, "outside and inside the square, generator \(generator)")
            }
        }
    }

    // MARK: CLI

    @Test func previewWritesOneRowPerClass() throws {
        let directory = try TestDirectory()
        let path = directory.file("grid.png")
        let result = try runCommand(
            try zooPath(), ["data", "preview", "--seed", "3", "--per-class", "4", "--out", path])
        #expect(result.status == 0, "\(result.stderr)")
        let grid = try PNGImage.read(path: path)
        #expect(grid.width == 4 * 34 + 2 && grid.height == 11 * 34 + 2)
        // Row c, column k is sample c + 11 k.
        let data = try SyntheticShapes(seed: 3)
        let tile = try PNGImage(tensor: data.sample(2 + 11 * 3).image)
        #expect(grid.cropped(x: 2 + 3 * 34, y: 2 + 2 * 34, width: 32, height: 32) == tile)
    }

    // MARK: Helpers

    /// The first `count` noise-free samples of class `shape`, seed 11.
    private func cleanSamples(of shape: Shape, count: Int = 20, generator: Int = 1) throws -> [Tensor<Float>] {
        let data = try SyntheticShapes(seed: 11, noise: false, generator: generator)
        return (0..<count).map { data.sample(shape.rawValue + $0 * data.numClasses).image }
    }
}

/// The pixels of a `[3, H, W]` image as RGB triples, row-major.
private func pixels(_ image: Tensor<Float>) -> [[Float]] {
    let (h, w) = (image.shape[1], image.shape[2])
    return (0..<h * w).map { i in (0..<3).map { image[flat: $0 * h * w + i] } }
}

private func pixel(_ image: Tensor<Float>, _ x: Int, _ y: Int) -> [Float] {
    (0..<3).map { image[$0, y, x] }
}

/// The rarer of a two-colour image's colours (ties: the one not at the top-left corner).
private func foregroundColour(_ image: Tensor<Float>) -> [Float] {
    var counts: [[Float]: Int] = [:]
    for p in pixels(image) { counts[p, default: 0] += 1 }
    let corner = pixel(image, 0, 0)
    return counts.min { a, b in a.value != b.value ? a.value < b.value : a.key != corner }!.key
}

private func foregroundComponents(_ image: Tensor<Float>) -> Int {
    let colour = foregroundColour(image)
    return components(image) { $0 == colour }
}

private func backgroundComponents(_ image: Tensor<Float>) -> Int {
    let colour = foregroundColour(image)
    return components(image) { $0 != colour }
}

/// Number of 4-connected components of the pixels satisfying `member`.
private func components(_ image: Tensor<Float>, _ member: ([Float]) -> Bool) -> Int {
    let (h, w) = (image.shape[1], image.shape[2])
    var inside = (0..<h * w).map { member(pixel(image, $0 % w, $0 / w)) }
    var count = 0
    for start in 0..<h * w where inside[start] {
        count += 1
        var stack = [start]
        inside[start] = false
        while let i = stack.popLast() {
            let (x, y) = (i % w, i / w)
            for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
            where nx >= 0 && nx < w && ny >= 0 && ny < h && inside[ny * w + nx] {
                inside[ny * w + nx] = false
                stack.append(ny * w + nx)
            }
        }
    }
    return count
}
