/// A dict built by the unpickler: entries in insertion order (Python dicts keep it), a later value for the same
/// key replacing the earlier one.
struct PickleDict {
    private(set) var keys: [PickleKey] = []
    private(set) var values: [PickleValue] = []
    private var index: [PickleKey: Int] = [:]

    mutating func set(_ key: PickleKey, _ value: PickleValue) {
        if let i = index[key] {
            values[i] = value
        } else {
            index[key] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    func value(for key: PickleKey) -> PickleValue? { index[key].map { values[$0] } }
}

/// A storage named by a persistent id: its element type, its record in the archive and its element count.
struct PickleStorage {
    let type: PyTorchStorageType
    let key: String
    let count: Int
}

/// A tensor: a strided view of a storage.
struct PickleTensor {
    let storage: Int
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// The containers, storages and tensors a pickle built, addressed by the indices in ``PickleValue``.
struct PickleObjects {
    var lists: [[PickleValue]] = []
    var tuples: [[PickleValue]] = []
    var dicts: [PickleDict] = []
    var storages: [PickleStorage] = []
    var tensors: [PickleTensor] = []
}
