/// The globals a PyTorch state dict's pickle may name. Any other `module.name` is refused, by that name, before
/// anything is built from it: nothing in a file is ever executed.
enum PickleGlobal: Equatable {
    /// `collections.OrderedDict`: built as a dict.
    case orderedDict
    /// `torch._utils._rebuild_tensor_v2`: a view of a storage (offset, size, stride).
    case rebuildTensor
    /// `torch._utils._rebuild_parameter`: an `nn.Parameter`, read as its tensor.
    case rebuildParameter
    /// `torch.FloatStorage` and its kin: the element type of a storage in a persistent id.
    case storageType(PyTorchStorageType)

    /// The global for `module` and `name`, or nil when it is not one of the allowed ones.
    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch", _):
            guard let type = PyTorchStorageType(storageName: name) else { return nil }
            self = .storageType(type)
        default: return nil
        }
    }

    var pythonName: String {
        switch self {
        case .orderedDict: "collections.OrderedDict"
        case .rebuildTensor: "torch._utils._rebuild_tensor_v2"
        case .rebuildParameter: "torch._utils._rebuild_parameter"
        case .storageType(let type): "torch.\(type.storageName)"
        }
    }
}

/// The element types of the PyTorch storages a state dict is read from, and their safetensors equivalents.
enum PyTorchStorageType: CaseIterable, Equatable {
    case float32, float16, bfloat16, float64, int64

    init?(storageName: String) {
        guard let type = Self.allCases.first(where: { $0.storageName == storageName }) else { return nil }
        self = type
    }

    /// The class name in `torch` (`FloatStorage`, ...).
    var storageName: String {
        switch self {
        case .float32: "FloatStorage"
        case .float16: "HalfStorage"
        case .bfloat16: "BFloat16Storage"
        case .float64: "DoubleStorage"
        case .int64: "LongStorage"
        }
    }

    var dtype: SafetensorsDType {
        switch self {
        case .float32: .float32
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .float64: .float64
        case .int64: .int64
        }
    }
}
