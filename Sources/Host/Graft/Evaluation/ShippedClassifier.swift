import Foundation
import HostModel

/// The classifier shipped in the repository (`models/shapes-classifier/`), the backbone of ``SampleQuality``.
public enum ShippedClassifier {
    /// The file, relative to the repository root.
    public static let relativePath = "models/shapes-classifier/model.safetensors"

    /// `$ZOO_CLASSIFIER` when set, else the shipped file found by ``EmbeddedModel/findInRepository(_:)``.
    /// - Throws: ``ClassifierError/file(path:reason:)`` when neither exists.
    public static func path() throws(ClassifierError) -> String {
        if let env = ProcessInfo.processInfo.environment["ZOO_CLASSIFIER"], !env.isEmpty { return env }
        guard let found = EmbeddedModel.findInRepository(relativePath) else {
            throw .file(
                path: relativePath,
                reason: "not found beside the zoo executable or in the current folder's parents; set ZOO_CLASSIFIER")
        }
        return found
    }

    /// The shipped classifier, read from ``path()``.
    public static func load() throws(ClassifierError) -> ShapeClassifier { try ShapeClassifier.read(path: try path()) }
}
