import OperatorABI

/// A failing plugin call: the `oz_status` and the message the host will show.
///
/// Kernels throw it; the C trampolines turn it into a status and copy the message into `oz_error`.
public struct PluginFailure: Error, Sendable {
    public let status: oz_status
    public let message: String

    public init(_ status: oz_status, _ message: String) {
        self.status = status
        self.message = message
    }

    public static func invalid(_ message: String) -> PluginFailure { PluginFailure(OZ_ERR_INVALID_ARGUMENT, message) }
    public static func shape(_ message: String) -> PluginFailure { PluginFailure(OZ_ERR_SHAPE, message) }
    public static func dtype(_ message: String) -> PluginFailure { PluginFailure(OZ_ERR_DTYPE, message) }
    public static func unsupported(_ message: String) -> PluginFailure { PluginFailure(OZ_ERR_UNSUPPORTED, message) }
}
