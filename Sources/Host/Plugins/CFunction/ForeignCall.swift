import CFFI
import Foundation

/// A value passed by value to a foreign C function, converted to the argument's C type by ``ForeignFunction``.
enum ForeignValue {
    case pointer(UnsafeMutableRawPointer?)
    case integer(Int64)
    case real(Double)
    case bool(Bool)
}

/// Why a foreign function's call interface could not be prepared.
struct ForeignCallError: Error, Equatable {
    let reason: String
}

/// A C function in a loaded library, with its libffi call interface prepared once.
///
/// This file is the adapter's only unsafe code: the one place that calls libffi and touches raw memory
/// (argument slots, zero-filling, float32/float64 conversion, scratch buffers, instance handles). The
/// interface is immutable after `init`, so one function may be called from several threads at once.
final class ForeignFunction: @unchecked Sendable {
    let symbol: String
    private let types: [CType]
    private let status: CInteger?
    private let entryPoint: @convention(c) () -> Void
    private let cif: UnsafeMutablePointer<ffi_cif>
    private let argumentTypes: UnsafeMutablePointer<UnsafeMutablePointer<ffi_type>?>

    /// Prepares a call interface for `address` (a `dlsym` result) taking `arguments` and returning `status`
    /// (an integer type) or nothing.
    init(
        symbol: String, address: UnsafeMutableRawPointer, arguments: [CType], status: CInteger?
    ) throws(ForeignCallError) {
        self.symbol = symbol
        types = arguments
        self.status = status
        entryPoint = unsafeBitCast(address, to: (@convention(c) () -> Void).self)
        cif = .allocate(capacity: 1)
        argumentTypes = .allocate(capacity: max(1, arguments.count))
        for (i, type) in arguments.enumerated() { argumentTypes[i] = Self.ffiType(type) }
        let returnType = status.map { Self.ffiType(.integer($0)) } ?? cffi_type_void()
        let prepared = ffi_prep_cif(cif, cffi_default_abi(), UInt32(arguments.count), returnType, argumentTypes)
        guard prepared == FFI_OK else {
            cif.deallocate()
            argumentTypes.deallocate()
            throw ForeignCallError(reason: "ffi_prep_cif refused the signature (ffi_status \(prepared.rawValue))")
        }
    }

    deinit {
        cif.deallocate()
        argumentTypes.deallocate()
    }

    /// Calls the function with `values` (one per argument, in order) and returns its status (0 for `void`).
    /// Every value has already been checked against its C type's range by the caller.
    func call(_ values: [ForeignValue]) -> Int64 {
        precondition(
            values.count == types.count, "ForeignFunction.call: \(values.count) values for \(types.count) arguments")
        let count = max(1, values.count)
        return withUnsafeTemporaryAllocation(byteCount: 8 * count, alignment: 8) { slots in
            withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer?.self, capacity: count) { pointers in
                let base = slots.baseAddress!
                for (i, (value, type)) in zip(values, types).enumerated() {
                    let slot = base + 8 * i
                    Self.store(value, as: type, into: slot)
                    pointers[i] = slot
                }
                var result: Int64 = 0  // ffi_arg: libffi widens small integer results to a full register
                ffi_call(cif, entryPoint, &result, pointers.baseAddress)
                return status == nil ? 0 : result
            }
        }
    }

    private static func store(_ value: ForeignValue, as type: CType, into slot: UnsafeMutableRawPointer) {
        switch (value, type) {
        case (.pointer(let p), _): slot.storeBytes(of: p, as: UnsafeMutableRawPointer?.self)
        case (.integer(let v), .integer(let i)):
            switch (i.bits, i.isSigned) {
            case (32, true): slot.storeBytes(of: Int32(truncatingIfNeeded: v), as: Int32.self)
            case (32, false): slot.storeBytes(of: UInt32(truncatingIfNeeded: v), as: UInt32.self)
            case (_, true): slot.storeBytes(of: v, as: Int64.self)
            default: slot.storeBytes(of: UInt64(bitPattern: v), as: UInt64.self)
            }
        case (.real(let v), .float): slot.storeBytes(of: Float(v), as: Float.self)
        case (.real(let v), _): slot.storeBytes(of: v, as: Double.self)
        case (.bool(let b), _): slot.storeBytes(of: b ? 1 : 0, as: UInt8.self)
        case (.integer(let v), _): slot.storeBytes(of: v, as: Int64.self)
        }
    }

    private static func ffiType(_ type: CType) -> UnsafeMutablePointer<ffi_type> {
        switch type {
        case .pointer: cffi_type_pointer()
        case .integer(let i):
            switch (i.bits, i.isSigned) {
            case (32, true): cffi_type_sint32()
            case (32, false): cffi_type_uint32()
            case (_, true): cffi_type_sint64()
            default: cffi_type_uint64()
            }
        case .float: cffi_type_float()
        case .double: cffi_type_double()
        case .bool: cffi_type_uint8()
        }
    }
}

/// Raw-memory helpers of the adapter: host-owned tensors are only ever touched here.
enum ForeignMemory {
    /// A 64-byte aligned, zero-filled buffer of `bytes` bytes (at least 1), to be released with ``release(_:)``.
    static func scratch(bytes: Int) -> UnsafeMutableRawPointer {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, bytes))
        return pointer
    }

    static func release(_ pointer: UnsafeMutableRawPointer) { pointer.deallocate() }

    /// Sets `bytes` bytes at `pointer` to zero.
    static func zero(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    /// Widens `count` float32 values at `source` into float64 at `target`.
    static func widen(_ source: UnsafeRawPointer, into target: UnsafeMutableRawPointer, count: Int) {
        let s = source.assumingMemoryBound(to: Float.self)
        let t = target.assumingMemoryBound(to: Double.self)
        for i in 0..<count { t[i] = Double(s[i]) }
    }

    /// Rounds `count` float64 values at `source` to float32 at `target`.
    static func narrow(_ source: UnsafeRawPointer, into target: UnsafeMutableRawPointer, count: Int) {
        let s = source.assumingMemoryBound(to: Double.self)
        let t = target.assumingMemoryBound(to: Float.self)
        for i in 0..<count { t[i] = Float(s[i]) }
    }

    /// Writes `values` at `target` as float32 (`bits` 32) or float64.
    static func store(_ values: [Double], into target: UnsafeMutableRawPointer, bits: UInt8) {
        if bits == 64 {
            let t = target.assumingMemoryBound(to: Double.self)
            for (i, v) in values.enumerated() { t[i] = v }
        } else {
            let t = target.assumingMemoryBound(to: Float.self)
            for (i, v) in values.enumerated() { t[i] = Float(v) }
        }
    }

    /// An instance handle for the ABI: a retained reference to `object`, released by ``releaseHandle(_:as:)``.
    static func handle<T: AnyObject>(retaining object: T) -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(object).toOpaque())
    }

    /// The object behind a handle from ``handle(retaining:)``.
    static func object<T: AnyObject>(_ handle: OpaquePointer, as _: T.Type) -> T {
        Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// Releases a handle from ``handle(retaining:)``.
    static func releaseHandle<T: AnyObject>(_ handle: OpaquePointer, as _: T.Type) {
        Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).release()
    }
}
