import Foundation
import OperatorABI
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The header is the contract for plugin authors in any language: it must compile as C99 and C++ with
/// strict warnings, and its layouts must match DLPack and the fixed version prefix.
@Suite struct ABIHeaderTests {
    static let include = packageRoot.appendingPathComponent("Sources/OperatorABI/include").path

    @Test(arguments: [
        ["cc", "-std=c99", "-x", "c"], ["cc", "-std=c11", "-x", "c"], ["c++", "-std=c++11", "-x", "c++"],
        ["c++", "-std=c++17", "-x", "c++"],
    ])
    func compilesStrictly(compiler: [String]) throws {
        let dir = try makeTemporaryDirectory()
        let source = dir.appendingPathComponent("probe.txt").path
        try """
        #include "OperatorABI.h"
        int probe(void);
        int probe(void) {
            oz_error e = {0, 0, 0};
            oz_tensor t;
            t.ndim = 0;
            return (int)oz_error_set(&e, OZ_ERR_SHAPE, "x") + t.ndim + (int)sizeof(oz_plugin);
        }
        """.write(toFile: source, atomically: true, encoding: .utf8)
        let result = try runCommand(
            "/usr/bin/env",
            compiler + [
                "-Wall", "-Wextra", "-pedantic", "-Werror", "-I", Self.include, "-c", source, "-o",
                dir.appendingPathComponent("probe.o").path,
            ])
        #expect(result.status == 0, "\(compiler.joined(separator: " ")): \(result.stderr)")
    }

    @Test func tensorIsLaidOutLikeDLTensor() {
        #expect(MemoryLayout<oz_tensor>.size == 48)
        #expect(MemoryLayout<oz_tensor>.offset(of: \oz_tensor.data) == 0)
        #expect(MemoryLayout<oz_tensor>.offset(of: \oz_tensor.device) == 8)
        #expect(MemoryLayout<oz_tensor>.offset(of: \oz_tensor.ndim) == 16)
        #expect(MemoryLayout<oz_tensor>.offset(of: \oz_tensor.dtype) == 20)
        #expect(MemoryLayout<oz_tensor>.offset(of: \oz_tensor.shape) == 24)
        #expect(MemoryLayout<oz_tensor>.offset(of: \oz_tensor.strides) == 32)
        #expect(MemoryLayout<oz_tensor>.offset(of: \oz_tensor.byte_offset) == 40)
    }

    @Test func versionPrefixNeverMoves() {
        #expect(MemoryLayout<oz_plugin>.offset(of: \oz_plugin.struct_size) == 0)
        #expect(MemoryLayout<oz_plugin>.offset(of: \oz_plugin.abi_major) == 4)
        #expect(MemoryLayout<oz_plugin>.offset(of: \oz_plugin.abi_minor) == 8)
        #expect(OZ_ENTRY_SYMBOL == "oz_plugin_entry")
        #expect(OZ_ABI_MAJOR == 1)
    }

    @Test func readsOnlyTheDeclaredPrefix() {
        // A struct whose writer declared 16 bytes: everything past them reads as zero.
        var source = oz_instance_info(
            struct_size: 16, flags: 3, num_params: 7, reserved: 9, receptive_left: 5, receptive_right: 6,
            fixed_length: 7,
            complexity: OZ_COMPLEXITY_QUADRATIC, reserved2: 0, num_state_entries: 4, reserved3: 0, diagnostics: 1,
            attention_heads: 2)
        let copy = withUnsafeBytes(of: &source) {
            ABIStruct.read($0.baseAddress!, declaredSize: 16, as: oz_instance_info.self)
        }
        #expect(copy.flags == 3 && copy.num_params == 7 && copy.reserved == 9)
        #expect(copy.receptive_left == 0 && copy.receptive_right == 0)
        // A larger (newer) declared size reads only the host's own fields.
        let full = withUnsafeBytes(of: &source) {
            ABIStruct.read($0.baseAddress!, declaredSize: 4096, as: oz_instance_info.self)
        }
        #expect(full.receptive_left == 5 && full.receptive_right == 6 && full.fixed_length == 7)
        #expect(copy.fixed_length == 0, "a 1.0 plugin leaves fixed_length unwritten: it reads as \"any length\"")
        #expect(full.complexity == OZ_COMPLEXITY_QUADRATIC)
        // A 1.1 writer's struct ends with fixed_length (40 bytes): complexity reads as undeclared.
        let v11 = withUnsafeBytes(of: &source) {
            ABIStruct.read($0.baseAddress!, declaredSize: 40, as: oz_instance_info.self)
        }
        #expect(v11.fixed_length == 7 && v11.complexity == OZ_COMPLEXITY_UNDECLARED)
        #expect(OperatorComplexity(code: v11.complexity) == .undeclared)
    }

    /// ABI 1.2 appended `complexity` after 1.1's `fixed_length`, without moving anything.
    @Test func complexityWasAppended() {
        #expect(MemoryLayout<oz_instance_info>.offset(of: \oz_instance_info.fixed_length) == 32)
        #expect(MemoryLayout<oz_instance_info>.offset(of: \oz_instance_info.complexity) == 40)
        #expect(
            [OZ_COMPLEXITY_UNDECLARED, OZ_COMPLEXITY_LINEAR, OZ_COMPLEXITY_LINEARITHMIC, OZ_COMPLEXITY_QUADRATIC] == [
                0, 1, 2, 3,
            ])
        for c in OperatorComplexity.allCases { #expect(OperatorComplexity(code: c.code) == c) }
        #expect(OperatorComplexity(code: 99) == .undeclared, "a class this host does not know reads as undeclared")
    }

    /// ABI 1.5 appended `num_state_entries` to `oz_instance_info` (after 1.2's `complexity`) and `get_state_entry` to
    /// `oz_operator` (after 1.3's `cost`); a 1.4 plugin's shorter structs read as "no state entries".
    @Test func stateEntriesWereAppended() {
        #expect(MemoryLayout<oz_instance_info>.offset(of: \oz_instance_info.num_state_entries) == 48)
        let cost = MemoryLayout<oz_operator>.offset(of: \oz_operator.cost)!
        #expect(MemoryLayout<oz_operator>.offset(of: \oz_operator.get_state_entry) == cost + 8)
        #expect([OZ_STATE_BUFFER, OZ_STATE_ALIAS, OZ_STATE_PART] == [1, 2, 3])
        var info = oz_instance_info()
        info.num_state_entries = 4
        let v14 = withUnsafeBytes(of: &info) {
            ABIStruct.read($0.baseAddress!, declaredSize: 48, as: oz_instance_info.self)
        }
        #expect(v14.num_state_entries == 0)
        var table = oz_operator()
        table.get_state_entry = { _, _, _, _ in OZ_OK }
        let old = withUnsafeBytes(of: &table) {
            ABIStruct.read($0.baseAddress!, declaredSize: cost + 8, as: oz_operator.self)
        }
        #expect(old.get_state_entry == nil)
    }

    /// ABI 1.6 appended `diagnostics` and `attention_heads` to `oz_instance_info` (after 1.5's `num_state_entries`) and
    /// `diagnose` to `oz_operator` (after 1.5's `get_state_entry`); a 1.5 plugin's shorter structs read as "no
    /// diagnostics".
    @Test func diagnosticsWereAppended() {
        #expect(OZ_ABI_MINOR == 6)
        #expect(MemoryLayout<oz_instance_info>.offset(of: \oz_instance_info.diagnostics) == 56)
        #expect(MemoryLayout<oz_instance_info>.offset(of: \oz_instance_info.attention_heads) == 60)
        #expect(MemoryLayout<oz_instance_info>.size == 64)
        let entry = MemoryLayout<oz_operator>.offset(of: \oz_operator.get_state_entry)!
        #expect(MemoryLayout<oz_operator>.offset(of: \oz_operator.diagnose) == entry + 8)
        #expect(MemoryLayout<oz_operator>.size == entry + 16)
        #expect(OZ_DIAG_ATTENTION_WEIGHTS == 1)
        var info = oz_instance_info()
        info.diagnostics = OZ_DIAG_ATTENTION_WEIGHTS
        info.attention_heads = 6
        let v15 = withUnsafeBytes(of: &info) {
            ABIStruct.read($0.baseAddress!, declaredSize: 56, as: oz_instance_info.self)
        }
        #expect(v15.diagnostics == 0 && v15.attention_heads == 0)
        var table = oz_operator()
        table.diagnose = { _, _, _ in OZ_OK }
        let old = withUnsafeBytes(of: &table) {
            ABIStruct.read($0.baseAddress!, declaredSize: entry + 8, as: oz_operator.self)
        }
        #expect(old.diagnose == nil)
    }

    /// ABI 1.3 appended `cost` to `oz_operator` (after 1.0's `backward`) and the host-owned `oz_cost`; an operator
    /// table from 1.2 or older ends before `cost`, so it reads as NULL: "not declared".
    @Test func costWasAppended() {
        let backward = MemoryLayout<oz_operator>.offset(of: \oz_operator.backward)!
        #expect(MemoryLayout<oz_operator>.offset(of: \oz_operator.cost) == backward + 8)
        #expect(MemoryLayout<oz_operator>.size >= backward + 16)
        #expect(MemoryLayout<oz_cost>.offset(of: \oz_cost.forward_flops) == 8)
        #expect(MemoryLayout<oz_cost>.offset(of: \oz_cost.backward_bytes) == 32)
        #expect(MemoryLayout<oz_cost>.size == 40)
        var table = oz_operator()
        table.cost = { _, _, _, _, _ in OZ_OK }
        let old = withUnsafeBytes(of: &table) {
            ABIStruct.read($0.baseAddress!, declaredSize: backward + 8, as: oz_operator.self)
        }
        #expect(old.cost == nil && old.backward == nil)
    }

    /// ABI 1.4 appended `saved` and `saved_size` to both call structs (after 1.0's `workspace_size`), the
    /// `OZ_CAP_SAVE_FOR_BACKWARD` flag and the `OZ_PASS_SAVED` query; a 1.3 host's shorter structs read as NULL (the
    /// plain forward and the recomputing backward), and the host reads the flag only with a backward.
    @Test func savedActivationsWereAppended() {
        #expect(OZ_CAP_SAVE_FOR_BACKWARD == 32 && OZ_PASS_SAVED == 2)
        let forwardEnd = MemoryLayout<oz_forward_args>.offset(of: \oz_forward_args.workspace_size)! + 8
        #expect(MemoryLayout<oz_forward_args>.offset(of: \oz_forward_args.saved) == forwardEnd)
        #expect(MemoryLayout<oz_forward_args>.offset(of: \oz_forward_args.saved_size) == forwardEnd + 8)
        #expect(MemoryLayout<oz_forward_args>.size == forwardEnd + 16)
        let backwardEnd = MemoryLayout<oz_backward_args>.offset(of: \oz_backward_args.workspace_size)! + 8
        #expect(MemoryLayout<oz_backward_args>.offset(of: \oz_backward_args.saved) == backwardEnd)
        #expect(MemoryLayout<oz_backward_args>.size == backwardEnd + 16)
        // A 1.3 writer's struct ends at `workspace_size`: whatever follows in memory is not read.
        var bytes = [UInt8](repeating: 0xAB, count: MemoryLayout<oz_forward_args>.size)
        let old = bytes.withUnsafeMutableBytes {
            ABIStruct.read($0.baseAddress!, declaredSize: forwardEnd, as: oz_forward_args.self)
        }
        #expect(old.saved == nil && old.saved_size == 0)
        #expect(OperatorCapabilities.saveForBackward.names == ["save_for_backward"])
    }
}
