import Crypto
import Foundation
import HostCore
import HostModel

/// DDIM samples of a model kept on disk, so that the teacher's evaluation samples, the same for every run that
/// grafts one teacher with one seed, are drawn once per machine instead of once per run.
///
/// The key is the SHA-256 of everything the samples depend on: the model's configuration, each slot's operator
/// (id, version, attributes), every parameter's name and bytes, the sampler's settings, the labels and the
/// arithmetic (``DiffusionTrainer/arithmetic``: the thread count, which sets the matrix products' blocks, and the
/// libraries that compute them; the last bits depend on both). A cached file is a `.npy` written
/// atomically; one that cannot be read or has the wrong shape is drawn again, and a cache that cannot be written is
/// skipped (the run goes on).
public enum SampleCache {
    /// `$ZOO_CACHE_DIR/samples`, else `$XDG_CACHE_HOME/operatorzoo/samples`, else `~/.cache/operatorzoo/samples`.
    public static var directory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["ZOO_CACHE_DIR"], !dir.isEmpty { return dir + "/samples" }
        let base = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache")
        return base + "/operatorzoo/samples"
    }

    /// The key of `model`'s samples from `sampler` for `labels` (64 hex digits).
    public static func key(model: DiTModel, sampler: DiTSampler, labels: [Int]) -> String {
        var hash = SHA256()
        func add(_ text: String) { hash.update(data: Data((text + "\n").utf8)) }
        add("zoo-samples-v1")
        add(model.config.jsonString())
        for slot in model.slots {
            let choice = slot.choice
            let attributes = choice.attributes.keys.sorted().map { "\($0)=\(choice.attributes[$0]!)" }
            add("\(slot.key) \(choice.descriptor.id)@\(choice.descriptor.version) \(attributes)")
        }
        for (name, tensor) in zip(model.parameters.names, model.parameters.tensors) {
            add("\(name) \(tensor.shape)")
            tensor.withUnsafeBufferPointer { hash.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        }
        add(
            "\(sampler.kind.rawValue) \(sampler.steps) \(sampler.cfgScale) \(String(describing: sampler.guidedChannels)) "
                + "\(sampler.seed) \(String(describing: sampler.clipDenoised)) chunk \(sampler.forwardBatch) "
                + DiffusionTrainer.arithmetic
        )
        add(labels.map(String.init).joined(separator: ","))
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// `model`'s samples from `sampler` for `labels`: read from the cache in `directory` when present, else drawn
    /// and stored there.
    /// - Returns: the samples and whether they came from the cache.
    public static func samples(
        model: DiTModel, sampler: DiTSampler, labels: [Int], directory: String = SampleCache.directory,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> (samples: Tensor<Float>, cached: Bool) {
        precondition(sampler.initialNoise == nil, "a sampler with given noise is not cached")
        let c = model.config
        let path = directory + "/" + key(model: model, sampler: sampler, labels: labels) + ".npy"
        if let stored = try? NPY.readTensor(path: path, as: Float.self),
            stored.shape == [labels.count, c.inChannels, c.inputSize, c.inputSize]
        {
            return (stored, true)
        }
        let drawn = try sampler.sample(model, labels: labels, progress: progress)
        if (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)) != nil {
            try? NPY.write(drawn, path: path)
        }
        return (drawn, false)
    }
}
