import Foundation
import HostCore

/// The files of a training run folder (`zoo pretrain --out`, a grafting run's `stage2/`).
public struct RunFolder: Sendable {
    public let path: String
    public init(path: String) { self.path = path }

    /// Weights, EMA and AdamW moments: what a resume continues from, bit for bit.
    public var state: String { path + "/train-state.safetensors" }
    /// The EMA weights as a DiT checkpoint (float32), rewritten at every checkpoint.
    public var ema: String { path + "/ema.safetensors" }
    /// The EMA weights in the run's storage dtype, written at the end.
    public var model: String { path + "/model.safetensors" }
    public var lossCSV: String { path + "/loss.csv" }
    public var lossPNG: String { path + "/loss.png" }
    public var samples: String { path + "/samples.png" }

    /// loss.csv and loss.png (training loss in blue, held-out loss in orange, log scale).
    public func writeLossFiles(_ history: [LossRecord]) throws {
        var csv = "step,loss,grad_norm,held_out_loss\n"
        for r in history { csv += "\(r.step),\(r.loss),\(r.gradNorm),\(r.heldOut.map { "\($0)" } ?? "")\n" }
        try writeText(csv, name: "loss.csv")
        var plot = LinePlot(width: 640, height: 360, logY: true)
        plot.add(x: history.map { Double($0.step) }, y: history.map(\.loss), color: (31, 119, 180))
        let held = history.compactMap { r in r.heldOut.map { (Double(r.step), $0) } }
        plot.add(x: held.map(\.0), y: held.map(\.1), color: (255, 127, 14))
        try plot.write(path: lossPNG)
    }

    /// `object` as pretty-printed JSON with sorted keys, atomically.
    public func writeJSON(_ object: [String: Any], name: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try writeText(String(decoding: data, as: UTF8.self) + "\n", name: name)
    }

    /// Writes a text file atomically (temporary file, then rename).
    public func writeText(_ text: String, name: String) throws {
        try AtomicFile.write(Data(text.utf8), to: path + "/" + name)
    }
}
