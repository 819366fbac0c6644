import Foundation
import HostCore

/// A dataset over a folder of PNG files with one sub-folder per class (torchvision's ImageFolder convention),
/// each image center-cropped to `resolution` as DiT prepares training data.
///
/// ```
/// root/
///   cat/ 0001.png 0002.png ...
///   dog/ a.png b.png ...
/// ```
///
/// Classes are the sub-folder names (hidden ones, starting with `.`, are skipped) sorted by name, and a class's
/// label is its position in that order. Each class's files are those whose name ends in `.png` (any case),
/// sorted by name; other files are ignored. Samples are ordered class by class, so index `i` is stable for a
/// given folder. Opening lists the files; images are decoded on demand by ``sample(_:)``
/// (``PNGImage/centerCropped(to:)``, then ``PNGImage/tensor()``).
///
/// ```swift
/// let data = try ImageFolder(root: "data/train", resolution: 32)
/// let (image, label) = try data.sample(0)    // [3, 32, 32] in [-1, 1]
/// ```
public struct ImageFolder: ImageDataset {
    /// One image file and its label.
    public struct Entry: Equatable, Sendable {
        /// The file's path (`root/class/name.png`).
        public let path: String
        /// Its class index.
        public let label: Int
    }

    /// The folder the dataset was opened from.
    public let root: String
    public let resolution: Int
    public let classNames: [String]
    /// Every image, class by class, each class's files sorted by name.
    public let entries: [Entry]

    /// Lists the dataset under `root`.
    /// - Parameters:
    ///   - root: the folder holding one sub-folder per class.
    ///   - resolution: the side of the square images ``sample(_:)`` returns (at least 1).
    /// - Throws: ``ImageFolderError`` when `root` is missing or not a folder, has no class folders, a class
    ///   folder has no `.png` files, or a folder cannot be listed.
    public init(root: String, resolution: Int) throws(ImageFolderError) {
        precondition(resolution >= 1, "resolution \(resolution) must be at least 1")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else {
            throw .missingFolder(path: root)
        }
        guard isDirectory.boolValue else { throw .notAFolder(path: root) }
        let classNames = try Self.list(root).filter { name in
            var isFolder: ObjCBool = false
            return !name.hasPrefix(".")
                && FileManager.default.fileExists(atPath: root + "/" + name, isDirectory: &isFolder)
                && isFolder.boolValue
        }
        guard !classNames.isEmpty else { throw .noClassFolders(path: root) }
        var entries: [Entry] = []
        for (label, name) in classNames.enumerated() {
            let folder = root + "/" + name
            let files = try Self.list(folder).filter { file in
                var isFolder: ObjCBool = false
                return file.lowercased().hasSuffix(".png")
                    && FileManager.default.fileExists(atPath: folder + "/" + file, isDirectory: &isFolder)
                    && !isFolder.boolValue
            }
            guard !files.isEmpty else { throw .emptyClass(path: folder, className: name) }
            entries += files.map { Entry(path: folder + "/" + $0, label: label) }
        }
        self.root = root
        self.resolution = resolution
        self.classNames = classNames
        self.entries = entries
    }

    public var count: Int { entries.count }

    /// The label of image `index`, from its folder (the file is not read).
    public func label(_ index: Int) -> Int { entries[index].label }

    public var numClasses: Int { classNames.count }

    /// Image `index`, decoded, center-cropped to ``resolution`` and scaled to [-1, 1], with its label.
    /// - Throws: ``ImageFolderError/unreadableImage(_:)`` naming the file.
    public func sample(_ index: Int) throws(ImageFolderError) -> (image: Tensor<Float>, label: Int) {
        precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
        let entry = entries[index]
        do {
            let image = try PNGImage.read(path: entry.path)
            return (image.centerCropped(to: resolution).tensor(), entry.label)
        } catch {
            throw .unreadableImage(error)
        }
    }

    /// The names in `folder`, sorted.
    private static func list(_ folder: String) throws(ImageFolderError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        } catch {
            throw .listingFailed(path: folder, reason: error.localizedDescription)
        }
    }
}
