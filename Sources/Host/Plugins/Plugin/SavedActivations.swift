import HostCore

/// What a train-mode forward of an operator saved for its backward (ABI 1.4, `OZ_CAP_SAVE_FOR_BACKWARD`): an
/// opaque, 64-byte-aligned buffer the host owns, tied to the instance, batch, length and dtype of the forward that
/// filled it. Read-only afterwards, so one value may serve several backward calls.
public struct SavedActivations: @unchecked Sendable {
    /// The bytes, held as float64 elements for their alignment (the contents are the plugin's).
    package let buffer: Tensor<Double>
    /// Bytes the plugin asked for (`workspace_size(OZ_PASS_SAVED)`).
    public let bytes: Int
    public let batch: Int
    public let length: Int
    /// 32 or 64: the dtype of the forward.
    public let bits: UInt8
    /// The instance that filled it.
    let owner: ObjectIdentifier
}
