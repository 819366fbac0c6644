/// Why an ImageFolder dataset could not be opened, read or exported. Every case names the folder or file.
///
/// The description is one sentence naming the path and what was wrong, suitable for printing as
/// `Error: <description>`.
public enum ImageFolderError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The root folder does not exist.
    case missingFolder(path: String)
    /// The root path exists but is not a folder.
    case notAFolder(path: String)
    /// A folder could not be listed.
    case listingFailed(path: String, reason: String)
    /// The root folder has no class sub-folders.
    case noClassFolders(path: String)
    /// A class folder holds no `.png` files.
    case emptyClass(path: String, className: String)
    /// An image in the dataset could not be read (the wrapped error names the file).
    case unreadableImage(ImageError)
    /// Export refuses to write into a folder that already has entries.
    case outputNotEmpty(path: String)
    /// Export could not create a folder or write an image.
    case exportFailed(path: String, reason: String)

    /// The folder or file the error is about.
    public var path: String {
        switch self {
        case .missingFolder(let path), .notAFolder(let path), .listingFailed(let path, _), .noClassFolders(let path),
            .emptyClass(let path, _), .outputNotEmpty(let path), .exportFailed(let path, _):
            path
        case .unreadableImage(let error): error.path
        }
    }

    /// One sentence: the path and what is wrong.
    public var description: String {
        switch self {
        case .missingFolder(let path):
            return "image folder '\(path)' does not exist"
        case .notAFolder(let path):
            return "'\(path)' is not a folder; expected a folder with one sub-folder of .png files per class"
        case .listingFailed(let path, let reason):
            return "cannot list folder '\(path)': \(reason)"
        case .noClassFolders(let path):
            return "image folder '\(path)' has no class sub-folders; expected one sub-folder of .png files per class"
        case .emptyClass(let path, let className):
            return "class folder '\(path)' (class '\(className)') holds no .png files"
        case .unreadableImage(let error):
            return error.description
        case .outputNotEmpty(let path):
            return "output folder '\(path)' is not empty; export writes into a new or empty folder"
        case .exportFailed(let path, let reason):
            return "cannot export to '\(path)': \(reason)"
        }
    }
}
