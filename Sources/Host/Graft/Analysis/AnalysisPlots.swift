import Foundation
import HostModel

/// The figures of a `zoo analyze` report, as PNG.
public enum AnalysisPlots {
    /// Band-k curves of the token-mixing slots (those whose band-0 mass is below 1): the mass within `k` tokens against
    /// `k`, one line per slot, from light (first block) to dark (last block).
    public static func bandCurves(_ report: AnalysisReport, tokenOrder: Bool = true) -> PNGImage {
        var plot = LinePlot(width: 640, height: 360)
        let mixing = report.slots.filter { ($0.band.first ?? 1) < 1 - 1e-9 }
        for (i, slot) in mixing.enumerated() {
            let shade = UInt8(200 - 170 * i / max(1, mixing.count - 1))
            plot.add(
                x: report.bandWidths.map(Double.init), y: tokenOrder ? slot.band : slot.neighbourhood,
                color: (shade, shade / 2, 255 - shade / 2))
        }
        return plot.render()
    }

    /// Band-k curves of the attention weights the operators report (ABI 1.6; mean over each slot's heads): the mass
    /// within `k` tokens (or `k` rows and columns on the grid) against `k`, one line per attention layer, light (first
    /// block) to dark (last), and in grey what uniform weights would give; nil when no slot reports weights.
    public static func attentionBandCurves(_ report: AnalysisReport, tokenOrder: Bool = true) -> PNGImage? {
        let slots = report.slots.filter { $0.attention != nil }
        guard !slots.isEmpty else { return nil }
        var plot = LinePlot(width: 640, height: 360)
        for (i, slot) in slots.enumerated() {
            let shade = UInt8(200 - 170 * i / max(1, slots.count - 1))
            plot.add(
                x: report.bandWidths.map(Double.init),
                y: tokenOrder ? slot.attention!.band : slot.attention!.neighbourhood,
                color: (255 - shade / 3, shade / 2, shade / 3))
        }
        if let side = slots.first?.timesteps.first?.influence.side {
            let u = AttentionLocality.uniform(side: side, bandWidths: report.bandWidths)
            plot.add(
                x: report.bandWidths.map(Double.init), y: tokenOrder ? u.band : u.neighbourhood, color: (128, 128, 128))
        }
        return plot.render()
    }

    /// Histograms of each slot's output over every measured timestep, in standard deviations from the mean (x) against
    /// the share of values per unit (log y): attention slots in blue, MLP slots in red (light to dark by depth), and a
    /// standard normal in black for reference. Heavy tails show as lines far above the normal's beyond 3 or 4.
    public static func histograms(_ report: AnalysisReport) -> PNGImage {
        var plot = LinePlot(width: 640, height: 360, logY: true)
        let bins = ActivationStatistics.histogramBins
        let width = ActivationStatistics.histogramBinWidth
        let centres = (1..<(bins - 1)).map { ActivationStatistics.histogramEdge($0) + width / 2 }
        let depth = max(1, report.slots.count / 2)
        // The normal's density is drawn only down to a tenth of the smallest share seen, so the data keep the y range.
        let floor =
            (report.slots.compactMap(\.output.histogram).flatMap { $0 }.filter { $0 > 0 }.min() ?? 1e-6) / width / 10
        for (i, slot) in report.slots.enumerated() {
            guard let h = slot.output.histogram, h.count == bins else { continue }
            let shade = UInt8(200 - 170 * min(i / 2, depth - 1) / max(1, depth - 1))
            let color: LinePlot.Color =
                slot.slot.hasSuffix(".attn")
                ? (shade / 3, shade / 2, 255 - shade / 3) : (255 - shade / 3, shade / 3, shade / 3)
            plot.add(x: centres, y: h[1..<(bins - 1)].map { $0 / width }, color: color)
        }
        let normal = centres.map { Foundation.exp(-$0 * $0 / 2) / (2 * Double.pi).squareRoot() }
        plot.add(x: centres, y: normal.map { $0 >= floor ? $0 : .nan }, color: (0, 0, 0))
        return plot.render()
    }

    /// Heat maps of each slot's influence on the token grid (offsets `-(side-1) ... side-1` in rows and columns, the
    /// query at the centre), averaged over the measured timesteps: one tile per slot, blocks down, attention then MLP
    /// across; white is no influence, dark red the slot's largest share (square-root scale, so small shares show).
    public static func influenceMaps(_ report: AnalysisReport, pixelsPerOffset: Int = 4) -> PNGImage {
        let maps = report.slots.map { slot -> (key: String, map: [Double], side: Int) in
            let side = slot.timesteps.first?.influence.side ?? 1
            var sum = [Double](repeating: 0, count: (2 * side - 1) * (2 * side - 1))
            for t in slot.timesteps {
                for i in sum.indices where i < t.influence.grid.count { sum[i] += t.influence.grid[i] }
            }
            return (slot.slot, sum, side)
        }
        let side = maps.map(\.side).max() ?? 1
        let tile = (2 * side - 1) * pixelsPerOffset, gap = 4
        let blocks = Set(report.slots.compactMap { Int($0.slot.split(separator: ".").dropFirst().first ?? "") }).count
        let width = 2 * tile + 3 * gap, height = max(1, blocks) * (tile + gap) + gap
        var image = PNGImage(width: width, height: height, filledWith: (128, 128, 128))
        for entry in maps {
            let parts = entry.key.split(separator: ".")
            guard parts.count == 3, let block = Int(parts[1]) else { continue }
            let column = parts[2] == "attn" ? 0 : 1
            let (x0, y0) = (gap + column * (tile + gap), gap + block * (tile + gap))
            let peak = entry.map.max() ?? 0
            let w = 2 * entry.side - 1
            for r in 0..<w {
                for c in 0..<w {
                    let v = peak > 0 ? (entry.map[r * w + c] / peak).squareRoot() : 0
                    let color = (UInt8(255 - 75 * v), UInt8(255 - 255 * v), UInt8(255 - 255 * v))
                    for dy in 0..<pixelsPerOffset {
                        for dx in 0..<pixelsPerOffset {
                            image[x0 + c * pixelsPerOffset + dx, y0 + r * pixelsPerOffset + dy] = color
                        }
                    }
                }
            }
        }
        return image
    }
}
