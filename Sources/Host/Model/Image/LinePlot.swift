import Foundation

/// A minimal line chart rendered to PNG: series over a shared x axis, with a frame, grid lines and numeric
/// tick labels (a built-in 3x5 pixel font for digits, `.`, `-` and `e`). Used for loss curves.
///
/// ```swift
/// var plot = LinePlot(width: 640, height: 360, logY: true)
/// plot.add(x: steps, y: losses, color: (31, 119, 180))
/// try plot.write(path: "loss.png")
/// ```
public struct LinePlot: Sendable {
    public typealias Color = (red: UInt8, green: UInt8, blue: UInt8)
    public let width: Int
    public let height: Int
    /// Plot y on a log10 scale (non-positive values are skipped).
    public let logY: Bool
    private var series: [(x: [Double], y: [Double], color: Color)] = []

    public init(width: Int = 640, height: Int = 360, logY: Bool = false) {
        self.width = max(120, width)
        self.height = max(80, height)
        self.logY = logY
    }

    /// Adds a series; points with a non-finite coordinate are skipped.
    public mutating func add(x: [Double], y: [Double], color: Color) {
        series.append((x, y, color))
    }

    /// The chart as an image.
    public func render() -> PNGImage {
        var image = PNGImage(width: width, height: height, filledWith: (255, 255, 255))
        let left = 52, right = width - 12, top = 10, bottom = height - 22
        func ty(_ v: Double) -> Double? { logY ? (v > 0 ? log10(v) : nil) : v }
        let points = series.flatMap { s in
            zip(s.x, s.y).compactMap { x, y in ty(y).flatMap { y in x.isFinite && y.isFinite ? (x, y) : nil } }
        }
        guard let x0 = points.map(\.0).min(), let x1 = points.map(\.0).max(), let y0 = points.map(\.1).min(),
            let y1 = points.map(\.1).max()
        else {
            frame(&image, left, top, right, bottom)
            return image
        }
        let yPad = max((y1 - y0) * 0.05, 1e-9)
        let (ylo, yhi) = (y0 - yPad, y1 + yPad)
        let xspan = max(x1 - x0, 1e-9)
        func px(_ x: Double) -> Int { left + Int((x - x0) / xspan * Double(right - left)) }
        func py(_ y: Double) -> Int { bottom - Int((y - ylo) / (yhi - ylo) * Double(bottom - top)) }
        // Grid lines and labels at 5 levels.
        for k in 0...4 {
            let yv = ylo + (yhi - ylo) * Double(k) / 4
            let row = py(yv)
            for x in left...right where x % 4 == 0 { set(&image, x, row, (220, 220, 220)) }
            text(&image, label(logY ? pow(10, yv) : yv), x: 2, y: row - 2)
        }
        text(&image, label(x0), x: left, y: bottom + 6)
        let xl = label(x1)
        text(&image, xl, x: right - xl.count * 4, y: bottom + 6)
        frame(&image, left, top, right, bottom)
        for s in series {
            var previous: (Int, Int)?
            for (x, y) in zip(s.x, s.y) {
                guard x.isFinite, let yt = ty(y), yt.isFinite else { continue }
                let p = (px(x), py(yt))
                if let q = previous { line(&image, q, p, s.color) } else { set(&image, p.0, p.1, s.color) }
                previous = p
            }
        }
        return image
    }

    /// Writes the chart as PNG, atomically.
    public func write(path: String) throws(ImageError) { try render().write(path: path) }

    private func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e5 || a < 1e-3 {
            return String(format: "%.1e", v).replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(
                of: "e-0", with: "e-")
        }
        if a >= 100 { return String(format: "%.0f", v) }
        return String(format: a >= 1 ? "%.2f" : "%.3f", v)
    }

    private func frame(_ image: inout PNGImage, _ l: Int, _ t: Int, _ r: Int, _ b: Int) {
        for x in l...r {
            set(&image, x, t, (0, 0, 0))
            set(&image, x, b, (0, 0, 0))
        }
        for y in t...b {
            set(&image, l, y, (0, 0, 0))
            set(&image, r, y, (0, 0, 0))
        }
    }

    private func set(_ image: inout PNGImage, _ x: Int, _ y: Int, _ c: Color) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        image[x, y] = c
    }

    /// Bresenham's line, two pixels thick.
    private func line(_ image: inout PNGImage, _ a: (Int, Int), _ b: (Int, Int), _ c: Color) {
        var (x, y) = a
        let dx = abs(b.0 - x), dy = -abs(b.1 - y), sx = x < b.0 ? 1 : -1, sy = y < b.1 ? 1 : -1
        var err = dx + dy
        while true {
            set(&image, x, y, c)
            set(&image, x, y + 1, c)
            if x == b.0 && y == b.1 { break }
            let e2 = 2 * err
            if e2 >= dy {
                err += dy
                x += sx
            }
            if e2 <= dx {
                err += dx
                y += sy
            }
        }
    }

    /// 3x5 glyphs, one row per string of 3 bits.
    private static let glyphs: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7], "4": [5, 5, 7, 1, 1],
        "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1], "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7],
        ".": [0, 0, 0, 0, 2], "-": [0, 0, 7, 0, 0], "e": [0, 7, 7, 4, 7], "+": [0, 2, 7, 2, 0],
    ]

    private func text(_ image: inout PNGImage, _ s: String, x: Int, y: Int) {
        for (i, ch) in s.enumerated() {
            guard let rows = Self.glyphs[ch] else { continue }
            for (r, bits) in rows.enumerated() {
                for col in 0..<3 where bits & (4 >> col) != 0 { set(&image, x + i * 4 + col, y + r, (60, 60, 60)) }
            }
        }
    }
}
