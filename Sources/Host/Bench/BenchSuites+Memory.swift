import Foundation
import HostCore
import HostModel

extension BenchSuites {
    /// Peak memory of loading a checkpoint and running one forward (batch 1) in a fresh process: `zoo` (at
    /// `executable`) writes a randomly initialised float32 checkpoint of `config` into `folder`, then
    /// `zoo dit forward` runs on it `repeats` times, each a child whose peak resident memory the kernel reports
    /// (``PeakMemory``). The ratio is that peak over the weights' own size (4 bytes per parameter).
    public static func memory(
        executable: String, config: DiTConfig, configName: String, folder: String, pluginArguments: [String],
        repeats: Int
    ) throws -> [BenchEntry] {
        let configPath = folder + "/config.json", checkpoint = folder + "/model.safetensors"
        try AtomicFile.write(Data(config.jsonString().utf8), to: configPath)
        let initialised = try PeakMemory.run(
            executable, ["dit", "init", "--config", configPath, "--out", checkpoint] + pluginArguments)
        guard initialised.status == 0 else {
            throw BenchError.argument(
                "zoo dit init for \(configName) failed (status \(initialised.status)): \(initialised.errorOutput)")
        }
        try NPY.write(
            Tensor<Float>.randomNormal([1, config.inChannels, config.inputSize, config.inputSize], seed: 1),
            path: folder + "/x.npy")
        try NPY.write(try Int64Array(shape: [1], scalars: [500]), path: folder + "/t.npy")
        try NPY.write(try Int64Array(shape: [1], scalars: [1]), path: folder + "/y.npy")
        let arguments =
            [
                "dit", "forward", "--checkpoint", checkpoint, "--input", folder + "/x.npy", "--timesteps",
                folder + "/t.npy",
                "--labels", folder + "/y.npy", "--output", folder + "/out.npy",
            ] + pluginArguments
        var runs: [PeakMemory.Measurement] = []
        for _ in 0..<max(1, repeats) {
            let run = try PeakMemory.run(executable, arguments)
            guard run.status == 0 else {
                throw BenchError.argument(
                    "zoo dit forward on \(configName) failed (status \(run.status)): \(run.errorOutput)")
            }
            runs.append(run)
        }
        let file = try SafetensorsFile.read(path: checkpoint)
        let weightBytes = file.entries.reduce(0) { $0 + $1.dataOffsets.count }
        let times = runs.map(\.seconds).sorted(), peaks = runs.map(\.peakResidentBytes).sorted()
        let timing = Timing(median: times[times.count / 2], min: times.first!, max: times.last!, repeats: runs.count)
        let peak = peaks[peaks.count / 2]
        var entry = BenchEntry(
            suite: "memory", name: "zoo dit forward \(configName) batch 1 (load + forward, fresh process)",
            timing: timing,
            baseline: "weights (float32) \(weightBytes) bytes", ratio: Double(peak) / Double(weightBytes))
        entry.notes["peak_resident_bytes"] = "\(peak)"
        entry.notes["weights_bytes"] = "\(weightBytes)"
        entry.notes["peak_over_weights"] = String(format: "%.2f", Double(peak) / Double(weightBytes))
        return [entry]
    }
}
