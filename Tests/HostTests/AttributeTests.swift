import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

@Suite struct AttributeTests {
    let window = AttributeSchema(
        name: "window_size", type: .intList, doc: "", defaultValue: .intList([4, 4]), intRange: -1...1_000_000,
        listLength: 2)
    let heads = AttributeSchema(name: "num_heads", type: .int, doc: "", defaultValue: .int(16), intRange: 1...4096)
    let ratio = AttributeSchema(
        name: "expansion_ratio", type: .float, doc: "", defaultValue: .float(4), floatRange: 0.01...64)
    let flag = AttributeSchema(name: "causal", type: .bool, doc: "", defaultValue: .bool(false))
    let border = AttributeSchema(
        name: "border", type: .string, doc: "", defaultValue: .string("shift"), choices: ["shift", "clip"])

    @Test func parsesTheCLISyntax() throws {
        #expect(try window.parse("4,4") == .intList([4, 4]))
        #expect(try window.parse("(8, -1)") == .intList([8, -1]))
        #expect(try heads.parse(" 6 ") == .int(6))
        #expect(try ratio.parse("3") == .float(3))
        #expect(try flag.parse("true") == .bool(true))
        #expect(try flag.parse("False") == .bool(false))
        #expect(try border.parse("clip") == .string("clip"))
    }

    @Test func refusesBadValuesWithTheAttributeName() {
        #expect(throws: AttributeError.wrongLength(name: "window_size", expected: 2, found: 3)) {
            try window.parse("1,2,3")
        }
        #expect(
            throws: AttributeError.unparsable(
                name: "window_size", text: "4,x", expected: "comma-separated integers (2 of them)")
        ) {
            try window.parse("4,x")
        }
        #expect(throws: AttributeError.outOfRange(name: "num_heads", value: "0", range: "1...4096")) {
            try heads.parse("0")
        }
        #expect(throws: AttributeError.unparsable(name: "causal", text: "yes", expected: "true or false")) {
            try flag.parse("yes")
        }
        #expect(throws: AttributeError.notAChoice(name: "border", value: "wrap", choices: ["shift", "clip"])) {
            try border.parse("wrap")
        }
        #expect(throws: AttributeError.outOfRange(name: "expansion_ratio", value: "inf", range: "finite numbers")) {
            try ratio.parse("inf")
        }
        #expect(throws: AttributeError.wrongType(name: "num_heads", expected: .int, found: .string)) {
            try heads.validate(.string("6"))
        }
        let message = AttributeError.outOfRange(name: "num_heads", value: "0", range: "1...4096").description
        #expect(message.contains("num_heads") && message.contains("0"))
    }

    @Test func intBecomesFloatForFloatAttributes() throws {
        try ratio.validate(.int(2))
        #expect(ratio.normalized(.int(2)) == .float(2))
    }
}
