import OperatorABI

/// A host-owned tensor seen by a kernel: base address and shape, C-contiguous (validated from `oz_tensor`).
public struct TensorView<S: KernelScalar> {
    public let base: UnsafeMutablePointer<S>
    public let shape: [Int]
    public var count: Int { shape.reduce(1, *) }

    public init(base: UnsafeMutablePointer<S>, shape: [Int]) {
        self.base = base
        self.shape = shape
    }

    /// Sets every element to `value`.
    public func fill(_ value: S) { base.update(repeating: value, count: count) }
}

/// Reads `oz_tensor` descriptors, refusing anything version 1 does not allow. The only code in PluginKit that
/// dereferences tensor descriptors.
enum TensorReader {
    /// The element width of `t` (32 or 64), after checking device, dtype code and lanes.
    static func bits(_ t: UnsafePointer<oz_tensor>, name: String) throws(PluginFailure) -> UInt8 {
        let d = t.pointee
        guard d.device.device_type == OZ_DEVICE_CPU else {
            throw .dtype("\(name) is on device type \(d.device.device_type); only CPU (1) is supported")
        }
        guard d.dtype.code == UInt8(OZ_DTYPE_CODE_FLOAT), d.dtype.lanes == 1, d.dtype.bits == 32 || d.dtype.bits == 64
        else {
            throw .dtype(
                "\(name) has dtype code \(d.dtype.code), \(d.dtype.bits) bits, \(d.dtype.lanes) lanes; expected float32 or float64"
            )
        }
        return d.dtype.bits
    }

    /// A view of `t` after checking it is `S`, has exactly `shape`, is C-contiguous and non-null.
    static func view<S: KernelScalar>(
        _ t: UnsafePointer<oz_tensor>?, as _: S.Type, shape expected: [Int], name: String
    )
        throws(PluginFailure) -> TensorView<S>
    {
        guard let t else { throw .invalid("\(name) is NULL") }
        guard try bits(t, name: name) == S.bits else {
            throw .dtype(
                "\(name) is float\(t.pointee.dtype.bits), but the input x is float\(S.bits); all tensors of a call share one dtype"
            )
        }
        let d = t.pointee
        guard Int(d.ndim) == expected.count else {
            throw .shape("\(name) has rank \(d.ndim), expected \(expected.count) (shape \(expected))")
        }
        guard expected.isEmpty || (d.shape != nil && d.strides != nil) else {
            throw .invalid("\(name) has a NULL shape or strides pointer")
        }
        var stride: Int64 = 1
        for axis in (0..<expected.count).reversed() {
            guard d.shape![axis] == Int64(expected[axis]) else {
                let found = (0..<expected.count).map { d.shape![$0] }
                throw .shape("\(name) has shape \(found), expected \(expected)")
            }
            guard d.strides![axis] == stride || expected[axis] == 1 else {
                throw .shape(
                    "\(name) is not C-contiguous (stride \(d.strides![axis]) on axis \(axis), expected \(stride))")
            }
            stride *= Int64(expected[axis])
        }
        guard let data = d.data else { throw .invalid("\(name) has a NULL data pointer") }
        guard d.byte_offset % UInt64(MemoryLayout<S>.alignment) == 0 else {
            throw .invalid("\(name) has byte_offset \(d.byte_offset), not a multiple of the element size")
        }
        return TensorView(base: (data + Int(d.byte_offset)).assumingMemoryBound(to: S.self), shape: expected)
    }

    /// The `[B, L, D]` extents of the input `x`.
    static func inputShape(_ t: UnsafePointer<oz_tensor>?, dim: Int) throws(PluginFailure) -> (Int, Int) {
        guard let t else { throw .invalid("x is NULL") }
        _ = try bits(t, name: "x")
        let d = t.pointee
        guard d.ndim == 3, let shape = d.shape else { throw .shape("x has rank \(d.ndim), expected 3 ([B, L, D])") }
        let (b, l, dd) = (shape[0], shape[1], shape[2])
        guard b >= 1, l >= 1, dd == Int64(dim), b <= Int64(Int32.max), l <= Int64(Int32.max) else {
            throw .shape("x has shape [\(b), \(l), \(dd)], expected [B, L, \(dim)] with B, L >= 1")
        }
        return (Int(b), Int(l))
    }
}
