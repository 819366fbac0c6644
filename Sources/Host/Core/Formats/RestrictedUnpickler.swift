/// A pickle interpreter that builds data and nothing else: the opcodes of protocols 2 to 5 that a PyTorch state
/// dict uses (containers, strings, numbers, memo, globals, `REDUCE`, `BUILD`, persistent ids), with
/// ``PickleGlobal``'s few globals as the only callables. A global outside that list is refused by its name when
/// the pickle names it; no code from a file ever runs. Unsupported opcodes are refused by name and offset.
struct RestrictedUnpickler {
    /// Why the pickle was refused: a sentence without the file's path, and the byte offset of the opcode.
    struct Failure: Error {
        let offset: Int
        let reason: String
    }

    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    private var opcodeStart = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var storageIndex: [String: Int] = [:]
    private(set) var objects = PickleObjects()

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Runs the pickle to its `STOP` and returns the value it leaves.
    mutating func run() throws(Failure) -> PickleValue {
        while true {
            opcodeStart = position
            let opcode = try byte()
            switch opcode {
            case 0x80:  // PROTO
                let version = try byte()
                guard (2...5).contains(version) else { throw fail("pickle protocol \(version) (expected 2 to 5)") }
            case 0x95: _ = try take(8)  // FRAME: framing only
            case 0x2E:  // STOP
                guard stack.count == 1, marks.isEmpty else {
                    throw fail("STOP with \(stack.count) values on the stack (expected exactly one)")
                }
                return stack[0]
            case 0x28: marks.append(stack.count)  // MARK
            case 0x7D: push(.dict(newDict()))  // EMPTY_DICT
            case 0x5D: push(.list(newList([])))  // EMPTY_LIST
            case 0x29: push(.tuple(newTuple([])))  // EMPTY_TUPLE
            case 0x74: push(.tuple(newTuple(try popToMark())))  // TUPLE
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                let n = Int(opcode) - 0x84
                guard stack.count - n >= (marks.last ?? 0) else { throw fail("TUPLE\(n) with too few values") }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                push(.tuple(newTuple(items)))
            case 0x73:  // SETITEM
                let value = try pop(), key = try pop()
                try setItems(in: try top(), [key, value])
            case 0x75:  // SETITEMS
                let items = try popToMark()
                guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of values") }
                try setItems(in: try top(), items)
            case 0x61: try append(to: try topBelow(1), [try pop()])  // APPEND
            case 0x65:  // APPENDS
                let items = try popToMark()
                try append(to: try top(), items)
            case 0x4A: push(.int(Int64(Int32(bitPattern: try littleEndian(4)))))  // BININT
            case 0x4B: push(.int(Int64(try byte())))  // BININT1
            case 0x4D: push(.int(Int64(try littleEndian(2))))  // BININT2
            case 0x8A: push(.int(try long(length: Int(try byte()))))  // LONG1
            case 0x8B: push(.int(try long(length: Int(try littleEndian(4)))))  // LONG4
            case 0x47:  // BINFLOAT: big-endian
                let raw = try take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                push(.float(Double(bitPattern: raw)))
            case 0x4E: push(.none)  // NONE
            case 0x88: push(.bool(true))  // NEWTRUE
            case 0x89: push(.bool(false))  // NEWFALSE
            case 0x58: push(.string(try text(length: Int(try littleEndian(4)))))  // BINUNICODE
            case 0x8C: push(.string(try text(length: Int(try byte()))))  // SHORT_BINUNICODE
            case 0x8D: push(.string(try text(length: try length64())))  // BINUNICODE8
            case 0x54: push(.string(try text(length: Int(try littleEndian(4)))))  // BINSTRING (Python 2 str)
            case 0x55: push(.string(try text(length: Int(try byte()))))  // SHORT_BINSTRING
            case 0x42: push(.bytes(count: try take(Int(try littleEndian(4))).count))  // BINBYTES
            case 0x43: push(.bytes(count: try take(Int(try byte())).count))  // SHORT_BINBYTES
            case 0x8E: push(.bytes(count: try take(try length64()).count))  // BINBYTES8
            case 0x71: memo[Int(try byte())] = try top()  // BINPUT
            case 0x72: memo[Int(try littleEndian(4))] = try top()  // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()  // MEMOIZE
            case 0x68: push(try recall(Int(try byte())))  // BINGET
            case 0x6A: push(try recall(Int(try littleEndian(4))))  // LONG_BINGET
            case 0x63:  // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                push(.global(try allowedGlobal(module, name)))
            case 0x93:  // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL without a module and a name")
                }
                push(.global(try allowedGlobal(module, name)))
            case 0x52:  // REDUCE
                let arguments = try pop(), callable = try pop()
                push(try reduce(callable, arguments))
            case 0x62:  // BUILD: only an OrderedDict's attributes (a state dict's `_metadata`), which are not needed
                let state = try pop()
                guard case .dict = try top(), case .dict = state else {
                    throw fail("BUILD on a \(try top().kind) (only a dict's attributes are accepted)")
                }
            case 0x51: push(try persistent(try pop()))  // BINPERSID
            case 0x30: _ = try pop()  // POP
            case 0x32: push(try top())  // DUP
            case 0x31: _ = try popToMark()  // POP_MARK
            default:
                throw fail("unsupported pickle opcode 0x\(String(opcode, radix: 16)) (\(Self.opcodeName(opcode)))")
            }
        }
    }

    // MARK: Values

    private mutating func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws(Failure) -> PickleValue {
        guard case .tuple(let t) = arguments else { throw fail("REDUCE with \(arguments.kind) arguments") }
        let args = objects.tuples[t]
        switch callable {
        case .global(.orderedDict):
            guard args.isEmpty else { throw fail("collections.OrderedDict called with arguments") }
            return .dict(newDict())
        case .global(.rebuildParameter):
            guard args.count >= 1, case .tensor = args[0] else {
                throw fail("torch._utils._rebuild_parameter without a tensor")
            }
            return args[0]
        case .global(.rebuildTensor):
            return .tensor(try rebuildTensor(args))
        default:
            throw fail("REDUCE calls \(callable.kind), which is not callable here")
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`.
    private mutating func rebuildTensor(_ args: [PickleValue]) throws(Failure) -> Int {
        guard args.count >= 4, case .storage(let storage) = args[0], case .int(let offset) = args[1],
            case .tuple(let sizeTuple) = args[2], case .tuple(let strideTuple) = args[3]
        else {
            throw fail(
                "torch._utils._rebuild_tensor_v2 with arguments (\(args.map(\.kind).joined(separator: ", "))), expected (storage, int, tuple, tuple, ...)"
            )
        }
        func integers(_ tuple: Int, _ what: String) throws(Failure) -> [Int] {
            var out: [Int] = []
            for item in objects.tuples[tuple] {
                guard case .int(let v) = item, v >= 0, v <= Int64(Int32.max) * 1024 else {
                    throw fail("a tensor's \(what) holds \(item), expected non-negative integers")
                }
                out.append(Int(v))
            }
            return out
        }
        let shape = try integers(sizeTuple, "size"), strides = try integers(strideTuple, "stride")
        guard shape.count == strides.count else {
            throw fail("a tensor has \(shape.count) sizes but \(strides.count) strides")
        }
        guard offset >= 0, offset <= Int64(objects.storages[storage].count) else {
            throw fail("a tensor's storage offset \(offset) lies outside its storage")
        }
        objects.tensors.append(PickleTensor(storage: storage, offset: Int(offset), shape: shape, strides: strides))
        return objects.tensors.count - 1
    }

    /// A persistent id `('storage', storage_type, key, location, numel)`.
    private mutating func persistent(_ id: PickleValue) throws(Failure) -> PickleValue {
        guard case .tuple(let t) = id, objects.tuples[t].count == 5, case .string("storage") = objects.tuples[t][0],
            case .global(.storageType(let type)) = objects.tuples[t][1], case .string(let key) = objects.tuples[t][2],
            case .int(let count) = objects.tuples[t][4], count >= 0, count <= Int64(Int.max / 8)
        else { throw fail("a persistent id that is not ('storage', type, key, location, count)") }
        if let existing = storageIndex[key] {
            let known = objects.storages[existing]
            guard known.type == type, known.count == Int(count) else {
                throw fail("storage '\(key)' is named twice with different types or sizes")
            }
            return .storage(existing)
        }
        storageIndex[key] = objects.storages.count
        objects.storages.append(PickleStorage(type: type, key: key, count: Int(count)))
        return .storage(objects.storages.count - 1)
    }

    private func allowedGlobal(_ module: String, _ name: String) throws(Failure) -> PickleGlobal {
        guard let global = PickleGlobal(module: module, name: name) else {
            throw fail(
                "it names the global '\(module).\(name)', which a weights-only reader refuses (only collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and the storage types of float32, float16, bfloat16, float64 and int64 are allowed)"
            )
        }
        return global
    }

    private mutating func setItems(in target: PickleValue, _ items: [PickleValue]) throws(Failure) {
        guard case .dict(let d) = target else { throw fail("SETITEM(S) on a \(target.kind)") }
        for pair in stride(from: 0, to: items.count, by: 2) {
            guard let key = PickleKey(items[pair]) else { throw fail("a dict key of type \(items[pair].kind)") }
            objects.dicts[d].set(key, items[pair + 1])
        }
    }

    private mutating func append(to target: PickleValue, _ items: [PickleValue]) throws(Failure) {
        guard case .list(let l) = target else { throw fail("APPEND(S) on a \(target.kind)") }
        objects.lists[l] += items
    }

    private mutating func newDict() -> Int {
        objects.dicts.append(PickleDict())
        return objects.dicts.count - 1
    }

    private mutating func newList(_ items: [PickleValue]) -> Int {
        objects.lists.append(items)
        return objects.lists.count - 1
    }

    private mutating func newTuple(_ items: [PickleValue]) -> Int {
        objects.tuples.append(items)
        return objects.tuples.count - 1
    }

    // MARK: Stack and memo

    private mutating func push(_ value: PickleValue) { stack.append(value) }

    private mutating func pop() throws(Failure) -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw fail("an opcode needs a value but the stack is empty") }
        return stack.removeLast()
    }

    private func top() throws(Failure) -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw fail("an opcode needs a value but the stack is empty") }
        return stack[stack.count - 1]
    }

    private func topBelow(_ depth: Int) throws(Failure) -> PickleValue {
        guard stack.count > (marks.last ?? 0) + depth else { throw fail("an opcode needs more values on the stack") }
        return stack[stack.count - 1 - depth]
    }

    private mutating func popToMark() throws(Failure) -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail("an opcode needs a MARK but there is none") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func recall(_ key: Int) throws(Failure) -> PickleValue {
        guard let value = memo[key] else { throw fail("memo entry \(key) is read before it is written") }
        return value
    }

    // MARK: Bytes

    private mutating func byte() throws(Failure) -> UInt8 {
        guard position < bytes.count else { throw fail("the pickle ends before its STOP opcode") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func take(_ count: Int) throws(Failure) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= bytes.count - position else {
            throw fail("a \(count)-byte argument runs past the end of the pickle")
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
    }

    private mutating func littleEndian(_ count: Int) throws(Failure) -> UInt32 {
        try take(count).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    private mutating func length64() throws(Failure) -> Int {
        let raw = try take(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard raw <= UInt64(bytes.count) else { throw fail("a length of \(raw) bytes runs past the end of the pickle") }
        return Int(raw)
    }

    /// A two's-complement little-endian integer of `length` bytes (at most 8: a state dict holds no bigger ones).
    private mutating func long(length: Int) throws(Failure) -> Int64 {
        guard length <= 8 else { throw fail("an integer of \(length) bytes (at most 8 are supported)") }
        let raw = try take(length)
        guard length > 0 else { return 0 }
        var value = raw.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if length < 8, raw[length - 1] & 0x80 != 0 { value |= ~UInt64(0) << UInt64(8 * length) }
        return Int64(bitPattern: value)
    }

    private mutating func text(length: Int) throws(Failure) -> String {
        guard let string = String(validating: try take(length), as: UTF8.self) else {
            throw fail("a string that is not valid UTF-8")
        }
        return string
    }

    /// A newline-terminated ASCII line (the arguments of `GLOBAL`).
    private mutating func line() throws(Failure) -> String {
        let start = position
        while position < bytes.count, bytes[position] != 0x0A, position - start < 256 { position += 1 }
        guard position < bytes.count, bytes[position] == 0x0A else { throw fail("GLOBAL without a complete line") }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        position += 1
        return text
    }

    private func fail(_ reason: String) -> Failure { Failure(offset: opcodeStart, reason: reason) }

    /// The names of the opcodes refused, for messages.
    private static func opcodeName(_ opcode: UInt8) -> String {
        switch opcode {
        case 0x81: "NEWOBJ"
        case 0x92: "NEWOBJ_EX"
        case 0x6F: "OBJ"
        case 0x69: "INST"
        case 0x8F: "EMPTY_SET"
        case 0x90: "ADDITEMS"
        case 0x91: "FROZENSET"
        case 0x50: "PERSID"
        case 0x82, 0x83, 0x84: "EXT"
        case 0x96: "BYTEARRAY8"
        case 0x97: "NEXT_BUFFER"
        case 0x98: "READONLY_BUFFER"
        case 0x49, 0x4C, 0x46, 0x53, 0x56, 0x70, 0x67, 0x64, 0x6C: "a protocol-0 text opcode"
        default: "not a pickle opcode"
        }
    }
}
