import Foundation
import HostCore

extension ImageFolder {
    /// Writes the first `count` samples of `dataset` as an ImageFolder: `directory/<class name>/<index>.png`, one
    /// sub-folder per class (all of them, in label order, even a class that gets no samples), file names the
    /// sample index zero-padded to at least 6 digits so that name order is index order. Each PNG is written
    /// atomically with ``PNGImage/write(path:)``.
    ///
    /// Opening the result with ``ImageFolder/init(root:resolution:)`` at the dataset's resolution gives back the
    /// same labels, and images equal up to 8-bit quantisation, provided every class got a sample and the class
    /// names sort in label order (``SyntheticShapes`` names do not, so labels follow the sorted names: map them
    /// through ``classNames``).
    ///
    /// - Parameters:
    ///   - dataset: the samples to write.
    ///   - count: how many, from index 0 (all of them by default).
    ///   - directory: a folder that does not exist yet (it is created, with its parents) or is empty.
    /// - Returns: the number of images written per class, indexed by the dataset's labels.
    /// - Throws: ``ImageFolderError/outputNotEmpty(path:)``, ``ImageFolderError/exportFailed(path:reason:)``, or
    ///   the error a sample throws.
    @discardableResult
    public static func export(
        _ dataset: some ImageDataset, count: Int? = nil, to directory: String
    ) throws(ImageFolderError) -> [Int] {
        let count = count ?? dataset.count
        precondition(count >= 0 && count <= dataset.count, "count \(count) outside 0...\(dataset.count)")
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw .exportFailed(path: directory, reason: "it exists and is not a folder")
            }
            let existing: [String]
            do {
                existing = try manager.contentsOfDirectory(atPath: directory)
            } catch {
                throw .listingFailed(path: directory, reason: error.localizedDescription)
            }
            guard existing.isEmpty else { throw .outputNotEmpty(path: directory) }
        }
        for name in dataset.classNames {
            let folder = directory + "/" + name
            do {
                try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw .exportFailed(path: folder, reason: "cannot create the folder: \(error.localizedDescription)")
            }
        }
        let digits = max(6, String(max(count - 1, 0)).count)
        var perClass = [Int](repeating: 0, count: dataset.numClasses)
        for index in 0..<count {
            let (tensor, label): (Tensor<Float>, Int)
            do {
                (tensor, label) = try dataset.sample(index)
            } catch let error as ImageFolderError {
                throw error
            } catch let error as ImageError {
                throw .unreadableImage(error)
            } catch {
                throw .exportFailed(path: directory, reason: "sample \(index) failed: \(error)")
            }
            let number = String(index)
            let name = String(repeating: "0", count: max(0, digits - number.count)) + number
            let path = directory + "/" + dataset.classNames[label] + "/" + name + ".png"
            do {
                try PNGImage(tensor: tensor, path: path).write(path: path)
            } catch {
                throw .exportFailed(path: path, reason: error.description)
            }
            perClass[label] += 1
        }
        return perClass
    }
}
