import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// The `cfunction` signature parser: the shipped description parses into what it says, and every malformed
/// description is refused with a typed error naming the entry and the field.
@Suite struct CFunctionSpecTests {
    /// The description of the shipped `token_shift` entry, as JSON text.
    static let tokenShift = """
        {
          "role": "token_mixer",
          "summary": "RWKV token shift",
          "capabilities": ["deterministic", "reentrant"],
          "causal": true,
          "receptive_field": {"left": "shift", "right": 0},
          "complexity": "linear",
          "forward": {
            "symbol": "token_shift_mix",
            "returns": "void",
            "arguments": [
              {"kind": "input", "type": "const float *"},
              {"kind": "output", "type": "float *"},
              {"kind": "B", "type": "long"},
              {"kind": "L", "type": "long"},
              {"kind": "D", "type": "long"},
              {"kind": "parameter", "name": "time_mix", "type": "const float *", "shape": ["D"], "init": {"constant": 0.5}},
              {"kind": "attribute", "name": "shift", "type": "long", "default": 1, "min": 1, "max": 65536, "doc": "tokens back"}
            ]
          },
          "vjp": {
            "symbol": "token_shift_mix_vjp",
            "arguments": [
              {"kind": "input", "type": "const float *"},
              {"kind": "output_grad", "type": "const float *"},
              {"kind": "input_grad", "type": "float *"},
              {"kind": "parameter_grad", "name": "time_mix", "type": "float *"},
              {"kind": "B", "type": "long"},
              {"kind": "L", "type": "long"},
              {"kind": "D", "type": "long"},
              {"kind": "parameter", "name": "time_mix", "type": "const float *"},
              {"kind": "attribute", "name": "shift", "type": "long"}
            ]
          }
        }
        """

    static func parse(_ text: String) throws(CFunctionSpecError) -> CFunctionSpec {
        try CFunctionSpec.parse(json: Array(text.utf8), entry: "ts")
    }

    /// The error `text` is refused with (recording an issue and returning nil when it parses).
    static func error(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> CFunctionSpecError? {
        do {
            _ = try parse(text)
            Issue.record("the description parsed, but it should have been refused", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    /// The shipped description with `old` replaced by `new` (which must occur exactly once).
    static func variant(_ old: String, _ new: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        #expect(
            tokenShift.components(separatedBy: old).count == 2, "'\(old)' must occur once",
            sourceLocation: sourceLocation)
        return tokenShift.replacingOccurrences(of: old, with: new)
    }

    /// The shipped description with the first occurrence of `old` (in the forward signature) replaced by `new`.
    static func variantFirst(_ old: String, _ new: String, sourceLocation: SourceLocation = #_sourceLocation) -> String
    {
        guard let range = tokenShift.range(of: old) else {
            Issue.record("'\(old)' does not occur", sourceLocation: sourceLocation)
            return tokenShift
        }
        return tokenShift.replacingCharacters(in: range, with: new)
    }

    static let forwardArguments = "cfunction.forward.arguments"
    static let vjpArguments = "cfunction.vjp.arguments"

    // MARK: What a valid description means

    @Test func shippedDescriptionParsesIntoItsMeaning() throws {
        let spec = try Self.parse(Self.tokenShift)
        #expect(spec.role == .tokenMixer && spec.causal && spec.scalar == .float && spec.complexity == .linear)
        #expect(spec.capabilities == [.backward, .deterministic, .reentrant])
        #expect(spec.attributes.map(\.name) == ["shift"])
        let shift = try #require(spec.attribute("shift")).schema
        #expect(
            shift.type == .int && shift.defaultValue == .int(1) && shift.intRange == 1...65536
                && shift.doc == "tokens back")
        #expect(
            spec.parameters == [
                CFunctionParameter(name: "time_mix", shape: [.variable("D")], initializer: .constant(0.5))
            ])
        #expect(spec.receptiveField == CFunctionReceptiveField(left: .variable("shift"), right: .constant(0)))
        #expect(spec.forward.symbol == "token_shift_mix" && spec.forward.status == nil)
        #expect(
            spec.forward.arguments.map(\.binding) == [
                .input, .output, .batch, .length, .dim, .parameter("time_mix"), .attribute("shift"),
            ])
        #expect(
            spec.forward.arguments.map(\.type) == [
                .pointer(pointee: .float, isConst: true), .pointer(pointee: .float, isConst: false), .integer(.long),
                .integer(.long), .integer(.long), .pointer(pointee: .float, isConst: true), .integer(.long),
            ])
        let vjp = try #require(spec.vjp)
        #expect(
            vjp.arguments.map(\.binding) == [
                .input, .outputGradient, .inputGradient, .parameterGradient("time_mix"), .batch, .length, .dim,
                .parameter("time_mix"), .attribute("shift"),
            ])
        #expect(!spec.needsGrid)
    }

    @Test func doubleFunctionsWithStatusWorkspaceAndGridBindingsParse() throws {
        let text = """
            {"role": "channel_mixer", "summary": "s", "forward": {"symbol": "f", "returns": "int32_t", "arguments": [
              {"kind": "input", "type": "double const*"}, {"kind": "output", "type": "double*"},
              {"kind": "H", "type": "int"}, {"kind": "W", "type": "unsigned long"},
              {"kind": "attribute", "name": "gain", "type": "float", "default": 2},
              {"kind": "attribute", "name": "on", "type": "_Bool", "default": false},
              {"kind": "workspace", "type": "void *", "count": "8 * (B*L + H)"}, {"kind": "workspace_bytes", "type": "size_t"}]}}
            """
        let spec = try Self.parse(text)
        #expect(
            spec.scalar == .double && spec.forward.status == .int32 && spec.vjp == nil && spec.complexity == .undeclared
        )
        #expect(spec.capabilities == [.float64, .needsGrid])
        #expect(spec.attributes.map(\.schema.type) == [.float, .bool])
        #expect(spec.attribute("gain")?.schema.defaultValue == .float(2))
        #expect(
            spec.attribute("gain")?.schema.floatRange == -Double(
                Float.greatestFiniteMagnitude)...Double(Float.greatestFiniteMagnitude))
        let workspace = try #require(spec.forward.workspace)
        #expect(workspace.type == .pointer(pointee: nil, isConst: false))
        #expect(try workspace.count.evaluate(["B": 2, "L": 3, "H": 4]) == 80)
    }

    @Test func cTypesReadTheirSpellings() {
        #expect(CType(parsing: "const   float*") == .pointer(pointee: .float, isConst: true))
        #expect(CType(parsing: "long int") == .integer(.long))
        #expect(CType(parsing: "unsigned") == .integer(.unsigned))
        #expect(CType(parsing: "bool") == .bool)
        for bad in ["float **", "char *", "struct x", "int[4]", "signed int", "volatile float *", ""] {
            #expect(CType(parsing: bad) == nil, "'\(bad)'")
        }
        #expect(
            CInteger.int.range == Int64(Int32.min)...Int64(Int32.max) && CInteger.uint32.range == 0...Int64(UInt32.max))
    }

    // MARK: Refused, with the entry and the field named

    @Test func unknownArgumentKindIsNamed() {
        let e = Self.error(
            Self.variantFirst(#"{"kind": "L", "type": "long"},"#, #"{"kind": "length", "type": "long"},"#))
        #expect(
            e
                == .unknownArgumentKind(
                    entry: "ts", field: "\(Self.forwardArguments)[3].kind", kind: "length",
                    known: CFunctionSpec.argumentKinds))
    }

    @Test func duplicateBindingsAreNamed() {
        let twiceL = Self.variantFirst(#"{"kind": "D", "type": "long"},"#, #"{"kind": "L", "type": "int"},"#)
        #expect(
            Self.error(twiceL)
                == .duplicateBinding(
                    entry: "ts", field: "\(Self.forwardArguments)[4]", binding: "L",
                    first: "\(Self.forwardArguments)[3]"))
        let twiceGrad = Self.variant(
            #"{"kind": "parameter", "name": "time_mix", "type": "const float *"},"#,
            #"{"kind": "parameter_grad", "name": "time_mix", "type": "float *"},"#)
        #expect(
            Self.error(twiceGrad)
                == .duplicateBinding(
                    entry: "ts", field: "\(Self.vjpArguments)[7]", binding: "parameter_grad 'time_mix'",
                    first: "\(Self.vjpArguments)[3]"))
    }

    @Test func missingInputOutputAndGradientsAreNamed() {
        let noInput = Self.variantFirst(#"{"kind": "input", "type": "const float *"},"#, "")
        #expect(Self.error(noInput) == .missingBinding(entry: "ts", field: Self.forwardArguments, binding: "input"))
        let noOutput = Self.variant(#"{"kind": "output", "type": "float *"},"#, "")
        #expect(Self.error(noOutput) == .missingBinding(entry: "ts", field: Self.forwardArguments, binding: "output"))
        let noDx = Self.variant(#"{"kind": "input_grad", "type": "float *"},"#, "")
        #expect(Self.error(noDx) == .missingBinding(entry: "ts", field: Self.vjpArguments, binding: "input_grad"))
        let noParameterGrad = Self.variant(#"{"kind": "parameter_grad", "name": "time_mix", "type": "float *"},"#, "")
        #expect(
            Self.error(noParameterGrad)
                == .missingBinding(entry: "ts", field: Self.vjpArguments, binding: "parameter_grad 'time_mix'"))
    }

    @Test func unsupportedAndMismatchedCTypesAreNamed() throws {
        let pointerToPointer = Self.variant(
            #"{"kind": "output", "type": "float *"}"#, #"{"kind": "output", "type": "float **"}"#)
        guard case .unsupportedType(let entry, let field, let type, let expected)? = Self.error(pointerToPointer) else {
            Issue.record("float ** was not refused as an unsupported type")
            return
        }
        #expect(entry == "ts" && field == "\(Self.forwardArguments)[1].type" && type == "float **")
        #expect(expected.contains("const float *") && expected.contains("uint64_t"))
        // Constness decides which way a buffer goes.
        let writableInput = Self.variantFirst(
            #"{"kind": "input", "type": "const float *"},"#, #"{"kind": "input", "type": "float *"},"#)
        let constOutput = Self.variant(
            #"{"kind": "output", "type": "float *"}"#, #"{"kind": "output", "type": "const float *"}"#)
        let floatLength = Self.variantFirst(#"{"kind": "L", "type": "long"},"#, #"{"kind": "L", "type": "double"},"#)
        let pointerAttribute = Self.variant(
            #""name": "shift", "type": "long", "default""#, #""name": "shift", "type": "long *", "default""#)
        let mixedElements = Self.variant(
            #"{"kind": "input_grad", "type": "float *"}"#, #"{"kind": "input_grad", "type": "double *"}"#)
        let floatReturn = Self.variant(#""returns": "void""#, #""returns": "float""#)
        for (text, field, type) in [
            (writableInput, "\(Self.forwardArguments)[0].type", "float *"),
            (constOutput, "\(Self.forwardArguments)[1].type", "const float *"),
            (floatLength, "\(Self.forwardArguments)[3].type", "double"),
            (pointerAttribute, "\(Self.forwardArguments)[6].type", "long *"),
            (mixedElements, "\(Self.vjpArguments)[2].type", "double *"),
            (floatReturn, "cfunction.forward.returns", "float"),
        ] {
            guard case .unsupportedType("ts", field, type, _)? = Self.error(text) else {
                Issue.record("\(field) = '\(type)' was not refused as an unsupported type")
                continue
            }
        }
    }

    @Test func bindingsInTheWrongSignatureAreNamed() {
        let outputInVJP = Self.variant(
            #"{"kind": "input_grad", "type": "float *"}"#, #"{"kind": "output", "type": "float *"}"#)
        #expect(
            Self.error(outputInVJP)
                == .misplacedBinding(
                    entry: "ts", field: "\(Self.vjpArguments)[2].kind", binding: "output",
                    reason: "is not available to the VJP (the host passes x and dy; recompute y from x)"))
        let gradientInForward = Self.variant(
            #"{"kind": "output", "type": "float *"}"#, #"{"kind": "input_grad", "type": "float *"}"#)
        #expect(
            Self.error(gradientInForward)
                == .misplacedBinding(
                    entry: "ts", field: "\(Self.forwardArguments)[1].kind", binding: "input_grad",
                    reason: "belongs in the vjp signature"))
    }

    @Test func undeclaredNamesAreNamed() {
        let text = Self.variant(
            #"{"kind": "attribute", "name": "shift", "type": "long"}"#,
            #"{"kind": "attribute", "name": "lag", "type": "long"}"#)
        #expect(
            Self.error(text)
                == .undeclaredName(entry: "ts", field: "\(Self.vjpArguments)[8].name", name: "lag", declared: ["shift"])
        )
        let grad = Self.variant(
            #"{"kind": "parameter_grad", "name": "time_mix""#, #"{"kind": "parameter_grad", "name": "mix""#)
        #expect(
            Self.error(grad)
                == .undeclaredName(
                    entry: "ts", field: "\(Self.vjpArguments)[3].name", name: "mix", declared: ["time_mix"]))
    }

    @Test func expressionsAreCheckedWhereTheyStand() {
        let unbalanced = Self.variant(#""shape": ["D"]"#, #""shape": ["2*(D"]"#)
        #expect(
            Self.error(unbalanced)
                == .invalidExpression(
                    entry: "ts", field: "\(Self.forwardArguments)[5].shape[0]", expression: "2*(D",
                    reason: "expected ')' at character 5, found end of text"))
        // L changes from call to call, so a parameter's shape may not use it.
        let byLength = Self.variant(#""shape": ["D"]"#, #""shape": ["L"]"#)
        guard
            case .invalidExpression("ts", "\(Self.forwardArguments)[5].shape[0]", "L", let reason)? = Self.error(
                byLength)
        else {
            Issue.record("a parameter shaped by L was not refused")
            return
        }
        #expect(reason.contains("'L' is not a size known here"))
        let unknownField = Self.variant(#""left": "shift""#, #""left": "shift + width""#)
        guard case .invalidExpression("ts", "cfunction.receptive_field.left", _, _)? = Self.error(unknownField) else {
            Issue.record("a receptive field naming an unknown size was not refused")
            return
        }
        let zeroExtent = Self.variant(#""shape": ["D"]"#, #""shape": [0]"#)
        #expect(
            Self.error(zeroExtent)
                == .invalidField(
                    entry: "ts", field: "\(Self.forwardArguments)[5].shape[0]", expected: "a positive extent (found 0)")
        )
    }

    @Test func unknownFieldsAndBadValuesAreNamed() {
        #expect(
            Self.error(Self.variant(#""causal": true,"#, #""causal": true, "fast": true,"#))
                == .unknownField(
                    entry: "ts", field: "cfunction.fast",
                    allowed: [
                        "capabilities", "causal", "complexity", "forward", "receptive_field", "role", "summary", "vjp",
                    ]))
        #expect(
            Self.error(Self.variant(#""complexity": "linear""#, #""complexity": "cubic""#))
                == .invalidField(
                    entry: "ts", field: "cfunction.complexity",
                    expected:
                        "\"linear\", \"linearithmic\" or \"quadratic\" (how the time grows with L) (found \"cubic\")"))
        #expect(
            Self.error(
                Self.variant(#""name": "shift", "type": "long"}"#, #""name": "shift", "type": "long", "default": 2}"#))
                == .unknownField(
                    entry: "ts", field: "\(Self.vjpArguments)[8].default", allowed: ["kind", "name", "type"]))
        #expect(
            Self.error(Self.variant(#""default": 1, "min": 1"#, #""default": 0, "min": 1"#))
                == .invalidField(
                    entry: "ts", field: "\(Self.forwardArguments)[6].default",
                    expected:
                        "a value the attribute accepts (attribute 'shift' = 0 is out of range (allowed: 1...65536))"))
        #expect(
            Self.error(Self.variant(#""reentrant"]"#, #""fast"]"#))
                == .invalidField(
                    entry: "ts", field: "cfunction.capabilities[1]",
                    expected:
                        "\"deterministic\" or \"reentrant\" (found \"fast\"; backward, float64 and needs_grid follow from the signatures)"
                ))
        #expect(
            Self.error(Self.variant(#""role": "token_mixer""#, #""role": "mixer""#))
                == .invalidField(
                    entry: "ts", field: "cfunction.role",
                    expected: "\"token_mixer\" or \"channel_mixer\" (found \"mixer\")"))
        #expect(
            Self.error(Self.variant(#""symbol": "token_shift_mix","#, #""symbol": "token-shift","#))
                == .invalidField(
                    entry: "ts", field: "cfunction.forward.symbol", expected: "a C identifier (found \"token-shift\")"))
        #expect(
            Self.error(Self.variant(#""init": {"constant": 0.5}"#, #""init": {"xavier": 1}"#))
                == .unknownField(
                    entry: "ts", field: "\(Self.forwardArguments)[5].init.xavier",
                    allowed: ["constant", "normal", "uniform"]))
        let workspaceBytesAlone = Self.variantFirst(
            #"{"kind": "D", "type": "long"},"#,
            #"{"kind": "D", "type": "long"}, {"kind": "workspace_bytes", "type": "size_t"},"#)
        #expect(
            Self.error(workspaceBytesAlone)
                == .missingBinding(
                    entry: "ts", field: Self.forwardArguments, binding: "workspace (workspace_bytes gives its size)"))
    }

    @Test func textThatIsNotJSONOrRepeatsAKeyIsRefused() {
        guard
            case .invalidJSON("ts", let reason)? = Self.error(
                Self.variant(#""causal": true,"#, #""causal": true, "causal": false,"#))
        else {
            Issue.record("a repeated key was not refused")
            return
        }
        #expect(reason.contains("'causal' appears twice"))
        guard case .invalidJSON("ts", _)? = Self.error("{\"role\": ") else {
            Issue.record("truncated JSON was not refused")
            return
        }
        #expect(
            Self.error("[1, 2]")
                == .invalidField(entry: "ts", field: "cfunction", expected: "an object (found an array)"))
    }

    /// Every mutation of a valid description parses or is refused with a typed error: never a trap (the property
    /// the fuzz target of issue 8 will test at scale).
    @Test func mutatedDescriptionsNeverTrap() {
        let base = Array(Self.tokenShift.utf8)
        var rng = SplitMix64(seed: 5)
        var (refused, parsed) = (0, 0)
        let alphabet = Array("{}[]\",:0123456789-+*/%() abcDLBHWxyz*_.\\".utf8)
        for _ in 0..<3000 {
            var bytes = base
            for _ in 0..<Int(1 + rng.next() % 4) {
                let i = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: i)
                default: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: i)
                }
            }
            do {
                _ = try CFunctionSpec.parse(json: bytes, entry: "fuzz")
                parsed += 1
            } catch {
                refused += 1
            }
        }
        // Both outcomes occur, so both paths were exercised (and nothing trapped on the way).
        #expect(refused > 300 && parsed > 30, "\(refused) refused, \(parsed) parsed")
    }

    // MARK: Shape expressions

    @Test func shapeExpressionsParseWithPrecedenceAndEvaluateLikeC() throws {
        let sizes: [String: Int64] = ["D": 12, "k": 5]
        #expect(try ShapeExpression.parse("2*D + 1").evaluate(sizes) == 25)
        #expect(try ShapeExpression.parse("(k - 1) / 2").evaluate(sizes) == 2)
        #expect(try ShapeExpression.parse("D - k - 1").evaluate(sizes) == 6)
        #expect(try ShapeExpression.parse("D % k * 2").evaluate(sizes) == 4)
        #expect(try ShapeExpression.parse(" ( ( D ) ) ").evaluate(sizes) == 12)
        #expect(try ShapeExpression.parse("k*D").variables == ["k", "D"])
        for (text, reason) in [
            ("", "expected a number, a name or '(' at the end"), ("2 +", "expected a number, a name or '(' at the end"),
            ("D D", "unexpected 'D' at character 3"), ("3k", "a number runs into a name at character 2"),
            ("99999999999999999999", "the number 99999999999999999999 does not fit in 64 bits"),
            ("-1", "expected a number, a name or '(' at character 1, found '-'"),
            (
                String(repeating: "(", count: 17) + "1" + String(repeating: ")", count: 17),
                "parentheses nested deeper than 16"
            ),
        ] {
            #expect(throws: ShapeExpression.Failure(reason: reason)) { try ShapeExpression.parse(text) }
        }
        #expect(throws: ShapeExpression.Failure(reason: "division by zero in '(D / (k - 5))'")) {
            try ShapeExpression.parse("D / (k - 5)").evaluate(sizes)
        }
        #expect(throws: ShapeExpression.Failure(reason: "'q' has no value here")) {
            try ShapeExpression.parse("q").evaluate(sizes)
        }
        #expect(throws: ShapeExpression.Failure(reason: "'(4611686018427387904 * 2)' overflows 64-bit integers")) {
            try ShapeExpression.parse("4611686018427387904 * 2").evaluate([:])
        }
    }
}
