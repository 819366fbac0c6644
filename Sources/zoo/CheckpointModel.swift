import ArgumentParser
import HostGraft
import HostModel
import HostPlugins

/// Opens the model a command runs: the checkpoint's own description, or, with `--plan`, the grafted slots the plan
/// names (for a checkpoint saved without zoo's slot manifest, e.g. the grafting repository's `model.pt`).
func openCheckpoint(_ checkpoint: String, config: String?, plan: String?, host: PluginHost) throws -> DiTModel {
    guard let plan else { return try DiTModel.open(checkpoint: checkpoint, configPath: config, host: host) }
    return try Grafting.open(
        checkpoint: checkpoint, configPath: config, plan: try GraftPlan.load(path: plan), host: host)
}

/// The class ids of a `--classes 0,3,7` option, each checked against the model's `numClasses`.
func classIDs(_ text: String, numClasses: Int) throws -> [Int] {
    try text.split(separator: ",").map { item in
        guard let id = Int(item.trimmingCharacters(in: .whitespaces)), id >= 0, id < numClasses else {
            throw ValidationError("--classes: '\(item)' is not a class id in 0..<\(numClasses)")
        }
        return id
    }
}
