import HostCore

/// Named float32 tensors in a fixed order: a model's weights, their gradients, or optimizer moments.
///
/// Names are `state_dict` names (`blocks.0.attn.qkv.weight`); the order is the model's, so two sets made
/// for one model line up index by index.
public struct ParameterSet: Sendable {
    /// Names, in order.
    public private(set) var names: [String]
    /// Tensors, in the order of ``names``.
    public var tensors: [Tensor<Float>]
    private var index: [String: Int]

    /// An empty set.
    public init() {
        names = []
        tensors = []
        index = [:]
    }

    /// Number of tensors.
    public var count: Int { names.count }
    /// Total number of scalars.
    public var scalarCount: Int { tensors.reduce(0) { $0 + $1.count } }

    /// Appends a tensor; the name must be new.
    public mutating func append(_ name: String, _ tensor: Tensor<Float>) {
        precondition(index[name] == nil, "parameter '\(name)' added twice")
        index[name] = names.count
        names.append(name)
        tensors.append(tensor)
    }

    /// The position of `name`, if present.
    public func position(of name: String) -> Int? { index[name] }

    /// The tensor named `name`, if present.
    public subscript(name: String) -> Tensor<Float>? {
        index[name].map { tensors[$0] }
    }

    /// A set with the same names and shapes, all zeros.
    public func zeros() -> ParameterSet {
        var copy = self
        copy.tensors = tensors.map { Tensor<Float>(zeros: $0.shape) }
        return copy
    }

    /// The shapes, by name, in order.
    public var shapes: [(name: String, shape: [Int])] { zip(names, tensors).map { ($0, $1.shape) } }
}
