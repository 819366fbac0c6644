/// The element types a ``Tensor`` can hold: float32 (every operator) and float64 (references, gradient checks).
public protocol TensorScalar: BinaryFloatingPoint, Sendable, CustomStringConvertible {
    /// The numpy/safetensors-style name: `"float32"` or `"float64"`.
    static var dtypeName: String { get }
    /// Bits per element, as DLPack's `DLDataType.bits` spells it.
    static var bits: UInt8 { get }
}

extension Float: TensorScalar {
    public static var dtypeName: String { "float32" }
    public static var bits: UInt8 { 32 }
}

extension Double: TensorScalar {
    public static var dtypeName: String { "float64" }
    public static var bits: UInt8 { 64 }
}
