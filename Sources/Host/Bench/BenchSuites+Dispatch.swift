import Foundation
import HostCore
import HostModel
import HostPlugins

extension BenchSuites {
    /// The cost of one operator call through the ABI: the smallest call the host can make (the model's attention
    /// operator `attention`, B = L = 1, D = 8, one head where it takes heads: a few hundred FLOPs) timed over many calls, so the figure is the host-side wrapping,
    /// output allocation, workspace and the plugin's dispatch, an upper bound of pure dispatch. It is then set
    /// against `model`'s forward (measured in the same run): a forward makes two slot calls per block, so the
    /// share is `2 depth x call / forward`.
    public static func dispatch(
        attention: OperatorDescriptor, model: DiTModel, batch: Int, repeats: Int
    ) throws -> [BenchEntry] {
        let op = try Operator(attention, dim: 8, attributes: attention.completing([:], heads: 1, tokens: 1))
        let params = try op.initialParameters(seed: 1)
        let x = Tensor<Float>.randomNormal([1, 1, 8], seed: 2)
        let calls = 2000
        let perCall = try Timing.measure(repeats: repeats) {
            for _ in 0..<calls { _ = try op.forward(x, parameters: params) }
        }.scaled(by: 1 / Double(calls))
        var call = BenchEntry(
            suite: "dispatch", name: "one operator call (\(attention.id) B=1 L=1 D=8)", timing: perCall)
        call.notes["microseconds_per_call"] = String(format: "%.2f", perCall.median * 1e6)

        let c = model.config
        let images = Tensor<Float>.randomNormal([batch, c.inChannels, c.inputSize, c.inputSize], seed: 3)
        let t = (0..<batch).map { Double($0 * 997 % 1000) }, y = (0..<batch).map { $0 % c.numClasses }
        let forward = try Timing.measure(repeats: repeats) { _ = try model.forward(images, timesteps: t, labels: y) }
        let name = "forward \(c.depth)x\(c.hiddenSize) p\(c.patchSize) T=\(c.tokenCount) batch \(batch)"
        let share = Double(2 * c.depth) * perCall.median / forward.median
        call.baseline = name
        call.ratio = share
        call.notes["calls_per_forward"] = "\(2 * c.depth)"
        call.notes["share_of_forward_percent"] = String(format: "%.4f", share * 100)
        return [call, BenchEntry(suite: "dispatch", name: name, timing: forward)]
    }
}

extension Timing {
    /// Every figure multiplied by `factor` (per-call times from a loop of calls).
    public func scaled(by factor: Double) -> Timing {
        Timing(median: median * factor, min: min * factor, max: max * factor, repeats: repeats)
    }
}
