import Foundation
import HostCore
import Logging
import OperatorABI

/// The services the host lends every plugin instance (`oz_host_services`): its thread pool and its log.
///
/// The C struct is allocated once and lives as long as this object; every ``Operator`` keeps its services
/// alive, so the pointer a plugin receives at create stays valid until destroy.
public final class HostServices: @unchecked Sendable {
    /// The pool behind `parallel_for`.
    public let pool: ThreadPool
    /// Where plugin log messages go.
    public let logger: Logger
    private let table: UnsafeMutablePointer<oz_host_services>

    /// The services shared by the whole host (``ThreadPool/shared`` and the `zoo.plugin` logger).
    public static let shared = HostServices(pool: .shared)

    public init(pool: ThreadPool, logger: Logger = Logger(label: "zoo.plugin")) {
        self.pool = pool
        self.logger = logger
        table = .allocate(capacity: 1)
        table.initialize(to: oz_host_services())
        table.pointee.struct_size = ABIStruct.size(of: oz_host_services.self)
        table.pointee.num_threads = UInt32(pool.threadCount)
        table.pointee.host_context = Unmanaged.passUnretained(self).toOpaque()
        table.pointee.parallel_for = hostParallelFor
        table.pointee.log = hostLog
    }

    deinit {
        table.deallocate()
    }

    /// The C struct handed to plugins.
    func withServices<R, E: Error>(_ body: (UnsafePointer<oz_host_services>) throws(E) -> R) throws(E) -> R {
        try withExtendedLifetime(self) { () throws(E) -> R in try body(UnsafePointer(table)) }
    }
}

private let hostParallelFor:
    @convention(c) (UnsafeMutableRawPointer?, Int64, Int64, oz_range_fn, UnsafeMutableRawPointer?) -> Void = {
        hostContext, n, grain, body, context in
        guard let hostContext, n > 0 else { return }
        let services = Unmanaged<HostServices>.fromOpaque(hostContext).takeUnretainedValue()
        services.pool.parallelFor(Int(n), grain: Int(max(1, grain))) { begin, end in
            body(context, Int64(begin), Int64(end))
        }
    }

private let hostLog: @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>) -> Void = {
    hostContext, level, message in
    guard let hostContext else { return }
    let services = Unmanaged<HostServices>.fromOpaque(hostContext).takeUnretainedValue()
    let text = String(decoding: UnsafeRawBufferPointer(start: message, count: strnlen(message, 4096)), as: UTF8.self)
    let swiftLevel: Logger.Level =
        switch level {
        case OZ_LOG_DEBUG: .debug
        case OZ_LOG_INFO: .info
        case OZ_LOG_WARNING: .warning
        default: .error
        }
    services.logger.log(level: swiftLevel, "\(text)")
}
