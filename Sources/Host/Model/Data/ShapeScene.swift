import HostCore

/// One rendered ``SyntheticShapes`` picture before colouring: a foreground mask plus two colours.
///
/// Drawing consumes the generator in a fixed order (colours, then the class's geometry), and ``tensor(noise:using:)``
/// draws the noise last, so an image with and without noise has the same shape and colours.
struct ShapeScene {
    let resolution: Int
    /// `mask[y * resolution + x]` is true where the foreground colour goes.
    var mask: [Bool]
    /// Background colour, components in [0, 1].
    let background: (Float, Float, Float)
    /// Foreground colour, components in [0, 1], at least 0.5 from the background (Euclidean).
    let foreground: (Float, Float, Float)

    /// Draws a picture of class `shape` with the layouts of `generator` (one of ``SyntheticShapes/generators``).
    ///
    /// Generator 3 differs from 1 in six classes (both dot classes share one layout), drawn at layouts the
    /// default model learns (see its card): a 2 x 2 checkerboard (1: cells of 3 to 6 px), rings 4 to 6 px wide
    /// round a centre within 2 px of the middle (1: 2 to 4 px, within 4 px), dots on a diagonal like a die's face
    /// (1: scattered, radius 1.6 to 3.2 px), and square outlines and crosses centred within 2 px (1: anywhere),
    /// 3 to 5 px thick.
    static func draw(
        _ shape: SyntheticShapes.ShapeClass, resolution r: Int, generator: Int, using rng: inout SplitMix64
    ) -> ShapeScene {
        let (background, foreground) = contrastingColors(using: &rng)
        var scene = ShapeScene(
            resolution: r, mask: [Bool](repeating: false, count: r * r), background: background,
            foreground: foreground)
        /// A length designed at 32 pixels, scaled to this resolution (at least `minimum`).
        func scaled(_ length: Int, minimum: Int = 1) -> Int { max(minimum, (length * r + 16) / 32) }
        let rd = Double(r)
        switch shape {
        case .horizontalStripes, .verticalStripes:
            let width = rng.int(in: scaled(2)...scaled(5))
            let phase = rng.int(in: 0...(2 * width - 1))
            scene.fill { x, y in ((shape == .horizontalStripes ? y : x) + phase) / width % 2 == 0 }
        case .checkerboard where generator == 1:
            let cell = rng.int(in: scaled(3, minimum: 2)...scaled(6, minimum: 2))
            let px = rng.int(in: 0...(2 * cell - 1))
            let py = rng.int(in: 0...(2 * cell - 1))
            scene.fill { x, y in ((x + px) / cell + (y + py) / cell) % 2 == 0 }
        case .checkerboard:
            // 2 x 2: four quadrants meeting near the middle, diagonally opposite ones alike (a parity pattern
            // at the scale of the whole image; finer boards were not learnt by the default model, see its card).
            let splitX = rng.int(in: (r / 2 - scaled(4))...(r / 2 + scaled(4)))
            let splitY = rng.int(in: (r / 2 - scaled(4))...(r / 2 + scaled(4)))
            scene.fill { x, y in (x < splitX) == (y < splitY) }
        case .mirrorBlobs:
            // An 8 x 8 grid of cells; the left four columns are random, the right four mirror them exactly.
            var bits = [Bool](repeating: false, count: 32)
            repeat {
                for i in bits.indices { bits[i] = rng.next() & 1 == 1 }
            } while !(8...24).contains(bits.filter { $0 }.count)
            scene.fill { x, y in
                let mirrored = min(x, r - 1 - x)  // distance from the nearer side edge
                return bits[(y * 8 / r) * 4 + min(3, mirrored * 8 / r)]
            }
        case .rings:
            // Generator 3: wider bands round a centre nearer the middle.
            let offset = generator == 1 ? rd / 8 : rd / 16
            let cx = rd / 2 + rng.uniform(-offset, offset)
            let cy = rd / 2 + rng.uniform(-offset, offset)
            let width = Double(rng.int(in: generator == 1 ? scaled(2)...scaled(4) : scaled(4)...scaled(6)))
            let phase = rng.uniform(0, 2 * width)
            scene.fill { x, y in
                let d =
                    ((Double(x) + 0.5 - cx) * (Double(x) + 0.5 - cx) + (Double(y) + 0.5 - cy) * (Double(y) + 0.5 - cy))
                    .squareRoot()
                return Int((d + phase) / width) % 2 == 0
            }
        case .twoDots where generator == 1, .threeDots where generator == 1:
            let radius = rng.uniform(1.6, 3.2) * rd / 32
            let centers = separatedPoints(
                shape == .twoDots ? 2 : 3, margin: radius + 1, spacing: 2 * radius + 3, side: rd, using: &rng)
            scene.fill { x, y in
                centers.contains { c in
                    let dx = Double(x) + 0.5 - c.x
                    let dy = Double(y) + 0.5 - c.y
                    return dx * dx + dy * dy <= radius * radius
                }
            }
        case .twoDots, .threeDots:
            // Laid out like a die's face: the two ends of a diagonal, plus its middle for three, so the count
            // (not the spacing) tells the classes apart.
            let radius = rng.uniform(3.5, 4.5) * rd / 32
            let mx = rd / 2 + rng.uniform(-rd / 16, rd / 16)
            let my = rd / 2 + rng.uniform(-rd / 16, rd / 16)
            let step = 8 * rd / 32
            let slope: Double = rng.next() & 1 == 1 ? -1 : 1
            var centers = [(x: mx - step, y: my - slope * step), (x: mx + step, y: my + slope * step)]
            if shape == .threeDots { centers.append((x: mx, y: my)) }
            scene.fill { x, y in
                centers.contains { c in
                    let dx = Double(x) + 0.5 - c.x
                    let dy = Double(y) + 0.5 - c.y
                    return dx * dx + dy * dy <= radius * radius
                }
            }
        case .diagonal:
            let anti = rng.next() & 1 == 1
            let halfWidth = rng.int(in: scaled(1)...scaled(2))
            scene.fill { x, y in abs(anti ? x + y - (r - 1) : x - y) <= halfWidth }
        case .disc:
            let radius = rng.uniform(0.18 * rd, 0.35 * rd)
            let cx = rng.uniform(radius + 1, rd - radius - 1)
            let cy = rng.uniform(radius + 1, rd - radius - 1)
            scene.fill { x, y in
                let dx = Double(x) + 0.5 - cx
                let dy = Double(y) + 0.5 - cy
                return dx * dx + dy * dy <= radius * radius
            }
        case .squareOutline where generator == 1:
            let side = rng.int(in: (2 * r / 5)...(4 * r / 5))
            let thickness = rng.int(in: 1...scaled(3))
            let left = rng.int(in: 1...(r - 1 - side))
            let top = rng.int(in: 1...(r - 1 - side))
            scene.fill { x, y in
                let u = x - left
                let v = y - top
                guard u >= 0, u < side, v >= 0, v < side else { return false }
                return u < thickness || v < thickness || u >= side - thickness || v >= side - thickness
            }
        case .squareOutline:
            let side = rng.int(in: scaled(14)...scaled(24))
            let thickness = rng.int(in: scaled(3)...scaled(4))
            let left = (r - side) / 2 + rng.int(in: -scaled(2)...scaled(2))
            let top = (r - side) / 2 + rng.int(in: -scaled(2)...scaled(2))
            scene.fill { x, y in
                let u = x - left
                let v = y - top
                guard u >= 0, u < side, v >= 0, v < side else { return false }
                return u < thickness || v < thickness || u >= side - thickness || v >= side - thickness
            }
        case .cross where generator == 1:
            let cx = rng.int(in: (r / 4)...(3 * r / 4))
            let cy = rng.int(in: (r / 4)...(3 * r / 4))
            let arm = rng.int(in: (r / 4)...(9 * r / 20))
            let halfWidth = rng.int(in: scaled(1)...scaled(2))
            scene.fill { x, y in
                let (dx, dy) = (abs(x - cx), abs(y - cy))
                return (dy <= halfWidth && dx <= arm) || (dx <= halfWidth && dy <= arm)
            }
        case .cross:
            let cx = r / 2 + rng.int(in: -scaled(2)...scaled(2))
            let cy = r / 2 + rng.int(in: -scaled(2)...scaled(2))
            let arm = rng.int(in: scaled(9)...scaled(12))
            let halfWidth = rng.int(in: scaled(1)...scaled(2))
            scene.fill { x, y in
                let (dx, dy) = (abs(x - cx), abs(y - cy))
                return (dy <= halfWidth && dx <= arm) || (dx <= halfWidth && dy <= arm)
            }
        }
        return scene
    }

    /// Sets the mask from a predicate on (column, row).
    private mutating func fill(_ isForeground: (Int, Int) -> Bool) {
        for y in 0..<resolution {
            for x in 0..<resolution { mask[y * resolution + x] = isForeground(x, y) }
        }
    }

    /// The picture as a `[3, R, R]` tensor in [-1, 1], with Gaussian noise of standard deviation `noise` (on the
    /// [-1, 1] scale, clamped) when `noise > 0`.
    func tensor(noise: Double, using rng: inout SplitMix64) -> Tensor<Float> {
        let plane = resolution * resolution
        var out = Tensor<Float>(zeros: [3, resolution, resolution])
        let bg = [background.0, background.1, background.2]
        let fg = [foreground.0, foreground.1, foreground.2]
        out.withUnsafeMutableBufferPointer { dst in
            for channel in 0..<3 {
                for i in 0..<plane {
                    var value = (mask[i] ? fg[channel] : bg[channel]) * 2 - 1
                    if noise > 0 { value = min(1, max(-1, value + Float(rng.nextNormal() * noise))) }
                    dst[channel * plane + i] = value
                }
            }
        }
        return out
    }

    /// A background and a foreground colour at least 0.5 apart (Euclidean, components in [0, 1]).
    private static func contrastingColors(
        using rng: inout SplitMix64
    ) -> (background: (Float, Float, Float), foreground: (Float, Float, Float)) {
        func color() -> (Float, Float, Float) {
            (Float(rng.nextUnit()), Float(rng.nextUnit()), Float(rng.nextUnit()))
        }
        func distance(_ a: (Float, Float, Float), _ b: (Float, Float, Float)) -> Float {
            ((a.0 - b.0) * (a.0 - b.0) + (a.1 - b.1) * (a.1 - b.1) + (a.2 - b.2) * (a.2 - b.2)).squareRoot()
        }
        let background = color()
        for _ in 0..<64 {
            let foreground = color()
            if distance(background, foreground) >= 0.5 { return (background, foreground) }
        }
        // The opposite corner of the colour cube is always at least sqrt(3)/2 away.
        let opposite: (Float, Float, Float) = (
            background.0 < 0.5 ? 1 : 0, background.1 < 0.5 ? 1 : 0, background.2 < 0.5 ? 1 : 0
        )
        return (background, opposite)
    }

    /// `count` points in `[margin, side - margin]^2`, pairwise at least `spacing` apart (rejection sampling,
    /// restarting from scratch when a layout gets stuck).
    private static func separatedPoints(
        _ count: Int, margin: Double, spacing: Double, side: Double, using rng: inout SplitMix64
    ) -> [(x: Double, y: Double)] {
        while true {
            var points: [(x: Double, y: Double)] = []
            var tries = 0
            while points.count < count && tries < 200 {
                tries += 1
                let p = (x: rng.uniform(margin, side - margin), y: rng.uniform(margin, side - margin))
                let clear = points.allSatisfy { q in
                    (p.x - q.x) * (p.x - q.x) + (p.y - q.y) * (p.y - q.y) >= spacing * spacing
                }
                if clear { points.append(p) }
            }
            if points.count == count { return points }
        }
    }
}
