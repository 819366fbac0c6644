import Foundation
import HostCore

extension ShapeClassifier {
    /// Metadata key holding the configuration JSON (``ShapeClassifierConfig/jsonString()``).
    public static let configMetadataKey = "zoo.classifier.config"
    /// Metadata key holding the classifier's measured held-out accuracy and the data it was measured on.
    public static let accuracyMetadataKey = "zoo.classifier.held_out"

    /// Reads a classifier written by ``write(path:dtype:metadata:)``: the configuration from the metadata, every
    /// tensor converted to float32.
    /// - Throws: ``ClassifierError/file(path:reason:)`` naming the file and what is wrong with it.
    public static func read(path: String) throws(ClassifierError) -> ShapeClassifier {
        let file: SafetensorsFile
        do { file = try WeightsFile.read(path: path) } catch { throw .file(path: path, reason: error.description) }
        guard let json = file.metadata[configMetadataKey] else {
            throw .file(path: path, reason: "no '\(configMetadataKey)' in the metadata: not a zoo classifier")
        }
        let config: ShapeClassifierConfig
        do { config = try JSONDecoder().decode(ShapeClassifierConfig.self, from: Data(json.utf8)) } catch {
            throw .file(
                path: path, reason: "metadata '\(configMetadataKey)' is not a classifier configuration: \(error)")
        }
        do { try config.validate() } catch { throw .file(path: path, reason: error.description) }
        // In the network's order whatever the file's (a file written elsewhere may list them otherwise).
        let layout = try ShapeClassifier(config: config, seed: 0).parameters.names
        if let extra = file.names.first(where: { !layout.contains($0) }) {
            throw .file(path: path, reason: "tensor '\(extra)' is not part of the network (expected \(layout))")
        }
        var set = ParameterSet()
        for name in layout {
            guard file.entry(named: name) != nil else { throw .file(path: path, reason: "tensor '\(name)' is missing") }
            do { set.append(name, try file.tensor(named: name)) } catch {
                throw .file(path: path, reason: "tensor '\(name)': \(error)")
            }
        }
        return try ShapeClassifier(config: config, parameters: set, path: path)
    }

    /// Writes the weights and configuration (plus `metadata`) to a safetensors file, atomically.
    /// - Throws: ``ClassifierError/file(path:reason:)`` when it cannot be written.
    public func write(
        path: String, dtype: SafetensorsDType = .float32, metadata: [String: String] = [:]
    )
        throws(ClassifierError)
    {
        var meta = metadata
        meta[Self.configMetadataKey] = config.jsonString()
        do {
            try SafetensorsFile.write(
                path: path, tensors: zip(parameters.names, parameters.tensors).map { ($0, $1) }, metadata: meta,
                dtype: dtype)
        } catch {
            throw .file(path: path, reason: error.description)
        }
    }
}
