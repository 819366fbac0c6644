import Foundation
import HostCore
import HostPlugins
import OperatorABI

/// Runs one conformance check on one operator, in the current process (the harness runs it in a child).
///
/// The probe computes in float64 when the operator offers it (gradient checks are then tight) and in float32
/// otherwise. Inputs come from a fixed seed, so a check reruns identically.
public enum ConformanceProbe {
    /// Runs `check` on operator `operatorId` of the library at `path`.
    /// - Parameter strictTiming: the `complexity` check fails an operator whose time grows faster than it declares
    ///   (without it, that is reported only; see ``ComplexityPolicy``).
    public static func run(
        check: ConformanceCheckID, library path: String, operatorId: String, seed: UInt64, quick: Bool,
        strictTiming: Bool = false
    ) -> ConformanceResult {
        func result(_ verdict: ConformanceVerdict, _ reason: String, figure: String? = nil) -> ConformanceResult {
            ConformanceResult(
                check: check, operatorId: operatorId, verdict: verdict, figure: figure, reason: reason, seed: seed)
        }
        do {
            let library = try PluginLibrary.open(path)
            guard let descriptor = library.operator(operatorId) else {
                return result(.fail, "the library has no operator '\(operatorId)'")
            }
            if check == .metadata {
                return result(
                    .pass,
                    "\(library.name) \(library.version), ABI \(library.abiMajor).\(library.abiMinor), \(library.operators.count) operator(s)"
                )
            }
            let outcome =
                descriptor.capabilities.contains(.float64)
                ? try Probe<Double>(descriptor: descriptor, seed: seed, quick: quick, strictTiming: strictTiming).run(
                    check)
                : try Probe<Float>(descriptor: descriptor, seed: seed, quick: quick, strictTiming: strictTiming).run(
                    check)
            return result(outcome.verdict, outcome.reason, figure: outcome.figure)
        } catch {
            return result(.fail, "\(error)")
        }
    }
}

/// A check's outcome inside the probe.
struct ProbeOutcome {
    var verdict: ConformanceVerdict
    var reason: String
    var figure: String? = nil

    static func pass(_ reason: String, figure: String? = nil) -> ProbeOutcome {
        .init(verdict: .pass, reason: reason, figure: figure)
    }
    static func fail(_ reason: String, figure: String? = nil) -> ProbeOutcome {
        .init(verdict: .fail, reason: reason, figure: figure)
    }
    static func skipped(_ reason: String, figure: String? = nil) -> ProbeOutcome {
        .init(verdict: .skipped, reason: reason, figure: figure)
    }
}

/// The checks, generic over the compute precision.
struct Probe<S: TensorScalar> {
    let descriptor: OperatorDescriptor
    let seed: UInt64
    let quick: Bool
    /// Timing checks fail on what they measure (otherwise they report it).
    let strictTiming: Bool
    let dim = 16
    /// The standard grid: 4 x 4 when the operator needs one (16 tokens); otherwise L = 16 in 1D.
    var grid: (height: Int, width: Int)? { descriptor.capabilities.contains(.needsGrid) ? (4, 4) : nil }
    /// 16 tokens, or the one length the instance takes (`fixed_length`).
    let length: Int
    /// The instance only takes L = `length`.
    let lengthIsFixed: Bool

    init(descriptor: OperatorDescriptor, seed: UInt64, quick: Bool, strictTiming: Bool = false) throws {
        self.descriptor = descriptor
        self.seed = seed
        self.quick = quick
        self.strictTiming = strictTiming
        let grid: (height: Int, width: Int)? = descriptor.capabilities.contains(.needsGrid) ? (4, 4) : nil
        let fixed = try Operator(descriptor, dim: 16, grid: grid).fixedLength
        length = fixed ?? grid.map { $0.height * $0.width } ?? 16
        lengthIsFixed = fixed != nil
    }

    func run(_ check: ConformanceCheckID) throws -> ProbeOutcome {
        switch check {
        case .metadata: return .pass("loaded")
        case .attributes: return try attributes()
        case .initParams: return try initParams()
        case .shapes: return try shapes()
        case .inputsUnmodified: return try inputsUnmodified()
        case .guardRegions: return try guardRegions()
        case .workspace: return try workspace()
        case .determinism: return try determinism()
        case .batchIndependence: return try batchIndependence()
        case .receptiveField: return try receptiveField()
        case .finiteOutputs: return try finiteOutputs()
        case .backward: return try backward()
        case .saveForBackward: return try saveForBackward()
        case .stateEntries: return try stateEntries()
        case .diagnostics: return try diagnostics()
        case .float32Agreement: return try float32Agreement()
        case .reference: return try reference()
        case .concurrency: return try concurrency()
        case .reentrancy: return try reentrancy()
        case .resources: return try resources()
        case .complexity: return try complexity()
        case .errorPath: return try errorPath()
        }
    }

    // MARK: Helpers

    func makeOperator(dim: Int? = nil, grid: (height: Int, width: Int)? = nil) throws -> Operator {
        try Operator(descriptor, dim: dim ?? self.dim, grid: grid ?? self.grid)
    }

    func input(_ shape: [Int], salt: UInt64, scale: Double = 1) -> [S] {
        Tensor<S>.randomNormal(shape, seed: seed &+ salt, scale: scale).scalars
    }

    /// A raw forward into guarded buffers: (status error or nil, y, workspace damage).
    func rawForward(
        _ op: Operator, x: GuardedBuffer<S>, params: [GuardedBuffer<S>], y: GuardedBuffer<S>
    )
        throws -> (error: PluginCallError?, workspaceDamage: Int?)
    {
        let ws = GuardedWorkspace(size: try op.workspaceSize(backward: false, batch: x.shape[0], length: x.shape[1]))
        do {
            try op.table.forward(
                op.instance, x: x.argument, params: params.map(\.argument), y: y.argument,
                workspace: ws.pointer, workspaceSize: ws.size)
            return (nil, ws.damage)
        } catch { return (error, ws.damage) }
    }

    func rawBackward(
        _ op: Operator, x: GuardedBuffer<S>, params: [GuardedBuffer<S>], dy: GuardedBuffer<S>, dx: GuardedBuffer<S>?,
        dparams: [GuardedBuffer<S>?]?
    ) throws -> (error: PluginCallError?, workspaceDamage: Int?) {
        let ws = GuardedWorkspace(size: try op.workspaceSize(backward: true, batch: x.shape[0], length: x.shape[1]))
        let dpArgs = dparams.map { list in
            zip(list, params).map { d, p in d?.argument ?? TensorArgument(data: nil, shape: p.shape, bits: S.bits) }
        }
        do {
            try op.table.backward(
                op.instance, x: x.argument, params: params.map(\.argument), dy: dy.argument,
                dx: dx?.argument, dparams: dpArgs, workspace: ws.pointer, workspaceSize: ws.size)
            return (nil, ws.damage)
        } catch { return (error, ws.damage) }
    }

    func parameters(_ op: Operator) throws -> [GuardedBuffer<S>] {
        try op.initialParameters(seed: seed, as: S.self).map { GuardedBuffer(shape: $0.shape, values: $0.scalars) }
    }

    func forwardValues(_ op: Operator, x: [S], shape: [Int], params: [GuardedBuffer<S>]) throws -> [S] {
        let y = GuardedBuffer<S>(shape: shape)
        if let error = try rawForward(op, x: GuardedBuffer(shape: shape, values: x), params: params, y: y).error {
            throw error
        }
        return y.values
    }

    func bitwiseEqual(_ a: [S], _ b: [S]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern64 == $1.bitPattern64 }
    }

    // MARK: Checks

    func attributes() throws -> ProbeOutcome {
        _ = try makeOperator()
        var refused = 0
        for schema in descriptor.attributes {
            var bad: [(AttributeValue, String)] = []
            switch schema.type {
            case .int, .intList:
                bad.append((.string("not-a-number"), "a string"))
                if let r = schema.intRange, r.upperBound < Int64.max {
                    bad.append(
                        (
                            schema.type == .int
                                ? .int(r.upperBound + 1)
                                : .intList(Array(repeating: r.upperBound + 1, count: schema.listLength ?? 1)),
                            "\(r.upperBound + 1) above its range"
                        ))
                }
            case .float, .floatList:
                bad.append((.string("not-a-number"), "a string"))
                if let r = schema.floatRange, r.upperBound.isFinite {
                    let v = r.upperBound + max(1, abs(r.upperBound))
                    bad.append(
                        (
                            schema.type == .float
                                ? .float(v) : .floatList(Array(repeating: v, count: schema.listLength ?? 1)),
                            "\(v) above its range"
                        ))
                }
            case .bool: bad.append((.float(0.5), "a float"))
            case .string:
                bad.append((.int(1), "an int"))
                if schema.choices != nil { bad.append((.string("__not_a_choice__"), "a value outside its choices")) }
            }
            for (value, what) in bad {
                let attrs = descriptor.attributes.map { s in (s, s.name == schema.name ? value : s.defaultValue) }
                do {
                    let instance = try descriptor.table.create(
                        dim: dim, grid: grid.map { ($0.height, $0.width) }, attributes: attrs, services: .shared)
                    descriptor.table.destroy(instance)
                    return .fail("create accepted attribute '\(schema.name)' = \(value) (\(what))")
                } catch {
                    refused += 1
                }
            }
        }
        return .pass(
            "defaults create an instance; \(refused) invalid attribute value(s) refused", figure: "\(refused) refused")
    }

    func shapes() throws -> ProbeOutcome {
        // Edge shapes run and give finite outputs.
        var cases: [(b: Int, grid: (Int, Int)?, l: Int, d: Int)] = []
        if lengthIsFixed {
            cases = [
                (1, grid.map { ($0.height, $0.width) }, length, dim),
                (3, grid.map { ($0.height, $0.width) }, length, quick ? 64 : 256),
            ]
        } else if grid != nil {
            cases = [(1, (1, 1), 1, dim), (2, (1, 7), 7, dim), (1, (3, 5), 15, quick ? 64 : 256)]
        } else {
            cases = [(1, nil, 1, dim), (2, nil, 7, dim), (1, nil, 13, quick ? 64 : 256)]
        }
        for c in cases {
            let op = try makeOperator(dim: c.d, grid: c.grid.map { (height: $0.0, width: $0.1) } ?? nil)
            let shape = [c.b, c.l, c.d]
            let y = try forwardValues(op, x: input(shape, salt: 1), shape: shape, params: try parameters(op))
            guard y.allSatisfy({ $0.isFinite }) else { return .fail("non-finite output for x of shape \(shape)") }
        }
        // Wrong shapes and dtypes are refused, not computed.
        let op = try makeOperator()
        let params = try parameters(op)
        let shape = [2, length, dim]
        let x = GuardedBuffer<S>(shape: shape, values: input(shape, salt: 2))
        let wrong: [(String, GuardedBuffer<S>, GuardedBuffer<S>, UInt8?)] = [
            ("y of shape [2, L + 1, D]", x, GuardedBuffer(shape: [2, length + 1, dim]), nil),
            (
                "x of rank 2", GuardedBuffer(shape: [2 * length, dim], values: x.values),
                GuardedBuffer(shape: [2 * length, dim]), nil
            ),
            (
                "x with D + 1 channels", GuardedBuffer(shape: [2, length, dim + 1]),
                GuardedBuffer(shape: [2, length, dim + 1]), nil
            ),
            ("float16 tensors", x, GuardedBuffer(shape: shape), 16),
        ]
        for (what, xb, yb, bits) in wrong {
            var xa = xb.argument
            var ya = yb.argument
            var pa = params.map(\.argument)
            // A dtype the ABI does not allow, on every tensor alike (the buffers stay large enough either way).
            if let bits {
                (xa.bits, ya.bits) = (bits, bits)
                for i in pa.indices { pa[i].bits = bits }
            }
            let ws = GuardedWorkspace(size: try op.workspaceSize(backward: false, batch: 2, length: length))
            do {
                try op.table.forward(
                    op.instance, x: xa, params: pa, y: ya, workspace: ws.pointer, workspaceSize: ws.size)
                return .fail("forward accepted \(what) instead of refusing it with a status")
            } catch {}
        }
        return .pass(
            "\(lengthIsFixed ? "B=1 and 3 at the fixed L = \(length)" : "B=1/L=1, prime L") and D=\(quick ? 64 : 256) ran; 4 malformed calls refused"
        )
    }

    func inputsUnmodified() throws -> ProbeOutcome {
        let op = try makeOperator()
        let params = try parameters(op)
        let before = params.map(\.values)
        let shape = [2, length, dim]
        let xv = input(shape, salt: 3)
        let dyv = input(shape, salt: 4)
        let x = GuardedBuffer<S>(shape: shape, values: xv)
        let dy = GuardedBuffer<S>(shape: shape, values: dyv)
        if let e = try rawForward(op, x: x, params: params, y: GuardedBuffer(shape: shape)).error { throw e }
        guard bitwiseEqual(x.values, xv) else { return .fail("forward modified its input x") }
        if descriptor.capabilities.contains(.backward) {
            if let e = try rawBackward(
                op, x: x, params: params, dy: dy, dx: GuardedBuffer(shape: shape),
                dparams: params.map { GuardedBuffer(shape: $0.shape) }
            ).error {
                throw e
            }
            guard bitwiseEqual(x.values, xv) else { return .fail("backward modified its input x") }
            guard bitwiseEqual(dy.values, dyv) else { return .fail("backward modified dy") }
        }
        for (i, p) in params.enumerated() where !bitwiseEqual(p.values, before[i]) {
            return .fail("parameter '\(op.parameters[i].name)' was modified")
        }
        return .pass("x, dy and \(params.count) parameter(s) bitwise unchanged")
    }

    func guardRegions() throws -> ProbeOutcome {
        let op = try makeOperator()
        let params = try parameters(op)
        let shape = [2, length, dim]
        let x = GuardedBuffer<S>(shape: shape, values: input(shape, salt: 5))
        let y = GuardedBuffer<S>(shape: shape)
        let f = try rawForward(op, x: x, params: params, y: y)
        if let e = f.error { throw e }
        if let at = y.damage { return .fail("forward wrote outside y (byte offset \(at) relative to its start)") }
        if let at = f.workspaceDamage { return .fail("forward wrote outside its workspace (byte offset \(at))") }
        if let at = x.damage { return .fail("forward wrote next to x (byte offset \(at))") }
        guard descriptor.capabilities.contains(.backward) else {
            return .pass("forward stays inside y and the workspace")
        }
        let dx = GuardedBuffer<S>(shape: shape)
        let dparams = params.map { GuardedBuffer<S>(shape: $0.shape) }
        let b = try rawBackward(
            op, x: x, params: params, dy: GuardedBuffer(shape: shape, values: input(shape, salt: 6)), dx: dx,
            dparams: dparams)
        if let e = b.error { throw e }
        if let at = dx.damage { return .fail("backward wrote outside dx (byte offset \(at))") }
        for (i, d) in dparams.enumerated() {
            if let at = d.damage {
                return .fail("backward wrote outside the gradient of '\(op.parameters[i].name)' (byte offset \(at))")
            }
        }
        if let at = b.workspaceDamage { return .fail("backward wrote outside its workspace (byte offset \(at))") }
        return .pass("forward and backward stay inside their outputs and workspace")
    }

    func determinism() throws -> ProbeOutcome {
        guard descriptor.capabilities.contains(.deterministic) else {
            return .skipped("the operator does not declare itself deterministic")
        }
        let op = try makeOperator()
        let params = try parameters(op)
        let shape = [2, length, dim]
        let xv = input(shape, salt: 7)
        let first = try forwardValues(op, x: xv, shape: shape, params: params)
        for _ in 0..<(quick ? 2 : 5) {
            guard bitwiseEqual(try forwardValues(op, x: xv, shape: shape, params: params), first) else {
                return .fail("two forward calls on the same input differ")
            }
        }
        if descriptor.capabilities.contains(.backward) {
            func grads() throws -> [S] {
                let dx = GuardedBuffer<S>(shape: shape)
                let dp = params.map { GuardedBuffer<S>(shape: $0.shape) }
                if let e = try rawBackward(
                    op, x: GuardedBuffer(shape: shape, values: xv), params: params,
                    dy: GuardedBuffer(shape: shape, values: input(shape, salt: 8)), dx: dx, dparams: dp
                ).error {
                    throw e
                }
                return dx.values + dp.flatMap(\.values)
            }
            let g = try grads()
            guard bitwiseEqual(try grads(), g) else { return .fail("two backward calls on the same input differ") }
        }
        // Then as the host runs it: float32, the shared pool, sizes it splits, one instance with its workspace reused.
        let pooled = try pooledDeterminism(Float.self)
        if let failure = pooled.failure { return .fail(failure, figure: pooled.figure) }
        return .pass(
            "repeated forward\(descriptor.capabilities.contains(.backward) ? " and backward" : "") calls are bitwise equal; \(pooled.note)",
            figure: pooled.figure)
    }

    func batchIndependence() throws -> ProbeOutcome {
        let op = try makeOperator()
        let params = try parameters(op)
        let shape = [3, length, dim]
        var xv = input(shape, salt: 9)
        let y1 = try forwardValues(op, x: xv, shape: shape, params: params)
        let sample = length * dim
        for i in sample..<2 * sample { xv[i] += 1 }
        let y2 = try forwardValues(op, x: xv, shape: shape, params: params)
        for b in [0, 2]
        where !bitwiseEqual(Array(y1[b * sample..<(b + 1) * sample]), Array(y2[b * sample..<(b + 1) * sample])) {
            return .fail("changing sample 1 changed the output of sample \(b)")
        }
        return .pass("changing sample 1 left samples 0 and 2 bitwise unchanged")
    }

    func receptiveField() throws -> ProbeOutcome {
        let op = try makeOperator()
        let bound: (left: Int?, right: Int?)
        if let rf = op.receptiveField {
            bound = (rf.left, op.isCausal ? min(rf.right ?? 0, 0) : rf.right)
        } else if op.isCausal {
            bound = (nil, 0)
        } else {
            return .skipped("the operator declares neither causality nor a receptive field")
        }
        let params = try parameters(op)
        let shape = [1, length, dim]
        let xv = input(shape, salt: 10)
        let base = try forwardValues(op, x: xv, shape: shape, params: params)
        // Outputs outside the field may move by rounding only: 16 ulp of the output's scale. A convolution through
        // FFTs (`hyena`) is causal in exact arithmetic, but every output of a transform depends on every input in
        // floating point; a real leak moves an output by the order of the weights, many orders above this.
        let scale = base.reduce(0.0) { max($0, abs(Double($1))) }
        let rounding = 16 * Double(S.ulpOfOne) * scale
        var probes = 0
        // Every output token when L is small; an even spread of 16 (and 16 inputs each) when it is large.
        let stride = max(1, length / 16)
        for t in Swift.stride(from: 0, to: length, by: stride) {
            for s in Swift.stride(from: t % stride, to: length, by: stride) {
                let outside = (bound.left.map { s < t - $0 } ?? false) || (bound.right.map { s > t + $0 } ?? false)
                guard outside else { continue }
                var xp = xv
                for c in 0..<dim { xp[s * dim + c] += 1 }
                let y = try forwardValues(op, x: xp, shape: shape, params: params)
                probes += 1
                let moved = (t * dim..<(t + 1) * dim).reduce(0.0) { max($0, abs(Double(y[$1]) - Double(base[$1]))) }
                if !(moved <= rounding) {
                    let declared =
                        "[t - \(bound.left.map(String.init) ?? "inf"), t + \(bound.right.map(String.init) ?? "inf")]\(op.isCausal ? " (causal)" : "")"
                    return .fail(
                        "output token \(t) changed (by \(String(format: "%.3g", moved)), output scale \(String(format: "%.3g", scale))) when input token \(s) changed, outside the declared field \(declared)"
                    )
                }
                if quick && probes > 64 {
                    return .pass("\(probes) perturbations outside the declared field had no effect beyond rounding")
                }
            }
        }
        return .pass("\(probes) perturbations outside the declared field had no effect beyond rounding")
    }

    func finiteOutputs() throws -> ProbeOutcome {
        let op = try makeOperator()
        let params = try parameters(op)
        let shape = [2, length, dim]
        var xv = input(shape, salt: 11, scale: 2)
        // DiT-like activations: a few outlier channels tens of times larger than the rest.
        for t in 0..<2 * length {
            xv[t * dim] *= 40
            xv[t * dim + dim / 2] *= -25
        }
        let y = try forwardValues(op, x: xv, shape: shape, params: params)
        guard let worst = y.map({ abs(Double($0)) }).max(), y.allSatisfy({ $0.isFinite }) else {
            return .fail(
                "non-finite output for finite input with outlier channels (|x| up to \(Int(xv.map { abs(Double($0)) }.max() ?? 0)))"
            )
        }
        if descriptor.capabilities.contains(.backward) {
            let dx = GuardedBuffer<S>(shape: shape)
            let dp = params.map { GuardedBuffer<S>(shape: $0.shape) }
            if let e = try rawBackward(
                op, x: GuardedBuffer(shape: shape, values: xv), params: params,
                dy: GuardedBuffer(shape: shape, values: input(shape, salt: 12)), dx: dx, dparams: dp
            ).error {
                throw e
            }
            guard dx.values.allSatisfy({ $0.isFinite }), dp.allSatisfy({ $0.values.allSatisfy { $0.isFinite } }) else {
                return .fail("non-finite gradient for finite input with outlier channels")
            }
        }
        return .pass("outputs finite (max |y| = \(String(format: "%.3g", worst)))")
    }

    func backward() throws -> ProbeOutcome {
        guard descriptor.capabilities.contains(.backward) else { return .skipped("the operator declares no backward") }
        let op = try makeOperator()
        let params = try parameters(op)
        let shape = [2, length, dim]
        let xv = input(shape, salt: 13)
        let dyv = input(shape, salt: 14)
        let dx = GuardedBuffer<S>(shape: shape)
        let dp = params.map { GuardedBuffer<S>(shape: $0.shape) }
        if let e = try rawBackward(
            op, x: GuardedBuffer(shape: shape, values: xv), params: params,
            dy: GuardedBuffer(shape: shape, values: dyv), dx: dx, dparams: dp
        ).error {
            throw e
        }

        // Directional central differences of <f, dy> along random directions, for x and each parameter.
        let is64 = S.bits == 64
        let h = is64 ? 1e-6 : 1e-2
        let tolerance = is64 ? 1e-6 : 3e-2
        func objective(_ x: [S], _ p: [GuardedBuffer<S>]) throws -> Double {
            zip(try forwardValues(op, x: x, shape: shape, params: p), dyv).reduce(0.0) {
                $0 + Double($1.0) * Double($1.1)
            }
        }
        var worst = 0.0
        var worstName = ""
        for which in -1..<params.count {
            let count = which < 0 ? xv.count : params[which].count
            let v = input([count], salt: 100 + UInt64(which + 1))
            let analytic = zip(which < 0 ? dx.values : dp[which].values, v).reduce(0.0) {
                $0 + Double($1.0) * Double($1.1)
            }
            func shifted(_ sign: Double) throws -> Double {
                if which < 0 { return try objective(zip(xv, v).map { $0 + S(sign * h) * $1 }, params) }
                var p = params
                p[which] = GuardedBuffer(
                    shape: params[which].shape, values: zip(params[which].values, v).map { $0 + S(sign * h) * $1 })
                return try objective(xv, p)
            }
            let numeric = (try shifted(1) - shifted(-1)) / (2 * h)
            let rel = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-8)
            if rel > worst { (worst, worstName) = (rel, which < 0 ? "x" : op.parameters[which].name) }
        }
        let figure = String(format: "max rel. error %.2e (%@)", worst, S.dtypeName)
        if worst > tolerance {
            return .fail(
                "the gradient of '\(worstName)' disagrees with central finite differences (relative error \(String(format: "%.2e", worst)) > \(tolerance))",
                figure: figure)
        }
        // Overwrite semantics: outputs poisoned with NaN must come back fully written, equal to the clean result.
        let pdx = GuardedBuffer<S>(shape: shape, fill: .nan)
        let pdp = params.map { GuardedBuffer<S>(shape: $0.shape, fill: .nan) }
        if let e = try rawBackward(
            op, x: GuardedBuffer(shape: shape, values: xv), params: params,
            dy: GuardedBuffer(shape: shape, values: dyv), dx: pdx, dparams: pdp
        ).error {
            throw e
        }
        guard bitwiseEqual(pdx.values, dx.values) else {
            return .fail(
                "dx is accumulated into or not fully written (a NaN-poisoned dx came back different)", figure: figure)
        }
        for (i, d) in pdp.enumerated() where !bitwiseEqual(d.values, dp[i].values) {
            return .fail(
                "the gradient of '\(op.parameters[i].name)' is accumulated into or not fully written", figure: figure)
        }
        // NULL outputs: no dx; no dparams; each dparam alone.
        if let e = try rawBackward(
            op, x: GuardedBuffer(shape: shape, values: xv), params: params,
            dy: GuardedBuffer(shape: shape, values: dyv), dx: nil, dparams: dp
        ).error {
            return .fail("backward with dx = NULL failed: \(e.message)", figure: figure)
        }
        if let e = try rawBackward(
            op, x: GuardedBuffer(shape: shape, values: xv), params: params,
            dy: GuardedBuffer(shape: shape, values: dyv), dx: dx, dparams: nil
        ).error {
            return .fail("backward with dparams = NULL failed: \(e.message)", figure: figure)
        }
        return .pass(
            "VJP agrees with finite differences (tolerance \(tolerance)); outputs overwritten; NULL outputs honoured",
            figure: figure)
    }

    func reference() throws -> ProbeOutcome {
        guard ReferenceOperators.ids.contains(descriptor.id) else {
            return .skipped("no built-in reference for operator id '\(descriptor.id)'")
        }
        let op = try makeOperator()
        // The plugin's initialisation plus 0.05 N(0, 1) per element, so that parameters initialised to special values
        // (an identity filter, zero biases) still shape the output the reference is compared on.
        let params = try parameters(op).enumerated().map { i, p in
            GuardedBuffer<S>(
                shape: p.shape,
                values: zip(p.values, input([p.count], salt: 200 + UInt64(i), scale: 0.05)).map { $0 + $1 })
        }
        let shape = [2, length, dim]
        let xv = input(shape, salt: 40)
        let y = try forwardValues(op, x: xv, shape: shape, params: params)
        let named = Dictionary(
            uniqueKeysWithValues: zip(op.parameters.map(\.name), params.map { $0.values.map { Double($0) } }))
        let referenceInput = ReferenceInput(
            x: xv.map { Double($0) }, shape: shape, grid: grid,
            attributes: Dictionary(uniqueKeysWithValues: op.attributes.map { ($0.name, $0.value) }), parameters: named)
        guard let expected = ReferenceOperators.evaluate(id: descriptor.id, referenceInput) else {
            return .fail(
                "the parameters \(op.parameters.map(\.name)) or attributes \(op.attributes.map(\.name)) do not carry the upstream names the reference of '\(descriptor.id)' needs"
            )
        }
        // float64 agrees to rounding; float32 carries ~1e-7 relative error per operation over O(D) sums.
        let (rtol, atol) = S.bits == 64 ? (1e-9, 1e-12) : (1e-4, 1e-5)
        var worst = 0.0
        for (a, e) in zip(y, expected) {
            let excess = abs(Double(a) - e) / (atol + rtol * abs(e))
            if !(excess <= worst) { worst = excess.isNaN ? .infinity : max(worst, excess) }
        }
        let maxError = zip(y, expected).map { abs(Double($0) - $1) }.max() ?? 0
        let figure = String(format: "max |y - ref| %.2e (%@)", maxError, S.dtypeName)
        guard worst <= 1 else {
            return .fail(
                "the output disagrees with the built-in '\(descriptor.id)' reference (max error \(String(format: "%.2e", maxError)), tolerance \(rtol) relative + \(atol))",
                figure: figure)
        }
        return .pass(
            "agrees with the built-in float64 reference of '\(descriptor.id)' (on perturbed initial parameters)",
            figure: figure)
    }

    func concurrency() throws -> ProbeOutcome {
        let threads = 3
        let shape = [2, length, dim]
        // Distinct instances, parameters and inputs per thread; serial results first.
        let ops = try (0..<threads).map { _ in try makeOperator() }
        let params = try ops.enumerated().map { i, op in
            try parameters(op).map { p in
                GuardedBuffer<S>(shape: p.shape, values: p.values.map { $0 * S(1 + Double(i)) })
            }
        }
        let inputs = (0..<threads).map { input(shape, salt: 20 + UInt64($0)) }
        let serial = try (0..<threads).map {
            try forwardValues(ops[$0], x: inputs[$0], shape: shape, params: params[$0])
        }
        let deterministic = descriptor.capabilities.contains(.deterministic)
        func same(_ a: [S], _ b: [S]) -> Bool {
            deterministic
                ? bitwiseEqual(a, b)
                : zip(a, b).allSatisfy { abs(Double($0) - Double($1)) <= 1e-5 * max(1, abs(Double($1))) }
        }
        func concurrent(_ instance: @escaping (Int) -> Operator) -> Int? {
            let results = ConcurrentResults<S>(count: threads)
            for _ in 0..<(quick ? 3 : 10) {
                // The threads only read the shared values; each writes its own result slot under a lock.
                let shared = UncheckedSendable((probe: self, instance: instance, params: params, inputs: inputs))
                DispatchQueue.concurrentPerform(iterations: threads) { i in
                    let s = shared.value
                    results.set(
                        i, try? s.probe.forwardValues(s.instance(i), x: s.inputs[i], shape: shape, params: s.params[i]))
                }
                if let bad = (0..<threads).first(where: { i in results.get(i).map { !same($0, serial[i]) } ?? true }) {
                    return bad
                }
            }
            return nil
        }
        if let bad = concurrent({ ops[$0] }) {
            return .fail(
                "thread \(bad) got a different result from distinct instances called concurrently than serially")
        }
        // One instance from several threads is the reentrancy check's.
        return .pass("\(threads) distinct instances on \(threads) threads match the serial results")
    }

    func resources() throws -> ProbeOutcome {
        let shape = [2, length, dim]
        let xv = input(shape, salt: 30)
        let dyv = input(shape, salt: 31)
        func cycle() throws {
            let op = try makeOperator()
            let params = try parameters(op)
            _ = try forwardValues(op, x: xv, shape: shape, params: params)
            if descriptor.capabilities.contains(.backward) {
                if let e = try rawBackward(
                    op, x: GuardedBuffer(shape: shape, values: xv), params: params,
                    dy: GuardedBuffer(shape: shape, values: dyv), dx: GuardedBuffer(shape: shape),
                    dparams: params.map { GuardedBuffer(shape: $0.shape) }
                ).error {
                    throw e
                }
            }
        }
        // Warm up: the host pool, OpenBLAS's threads and allocator caches settle during the first cycles.
        for _ in 0..<20 { try cycle() }
        let threadsBefore = ProcessStats.threadCount
        let rssBefore = ProcessStats.residentBytes
        let cycles = quick ? 150 : 600
        for _ in 0..<cycles { try cycle() }
        let growth = ProcessStats.residentBytes - rssBefore
        let threadsAfter = ProcessStats.threadCount
        let figure = String(format: "%+.1f MiB over %d cycles", Double(growth) / 1_048_576, cycles)
        if threadsAfter > threadsBefore {
            return .fail(
                "\(threadsAfter - threadsBefore) thread(s) left behind after \(cycles) create/destroy cycles",
                figure: figure)
        }
        // 8 MiB of slack covers allocator noise; a leak of even 16 KiB per cycle exceeds it.
        if growth > 8 << 20 {
            return .fail(
                "resident memory grew by \(growth >> 10) KiB over \(cycles) cycles (about \((growth / cycles) >> 10) KiB per cycle)",
                figure: figure)
        }
        // Then one instance as training keeps it: thousands of calls.
        let longLived = try longLivedInstance()
        let figures = figure + "; " + longLived.figure
        if let failure = longLived.failure { return .fail(failure, figure: figures) }
        return .pass(
            "no memory growth beyond noise and no threads left behind over \(cycles) create/destroy cycles; \(longLived.note)",
            figure: figures)
    }

    func errorPath() throws -> ProbeOutcome {
        let op = try makeOperator()
        let params = try parameters(op)
        let shape = [2, length, dim]
        let bad = [2, length, dim + 1]
        let ws = GuardedWorkspace(size: try op.workspaceSize(backward: false, batch: 2, length: length))
        do {
            try op.table.forward(
                op.instance, x: GuardedBuffer<S>(shape: bad).argument, params: params.map(\.argument),
                y: GuardedBuffer<S>(shape: bad).argument, workspace: ws.pointer, workspaceSize: ws.size)
            return .fail("forward with x of D + 1 channels returned OZ_OK")
        } catch {
            guard !error.message.trimmingCharacters(in: .whitespaces).isEmpty else {
                return .fail(
                    "a failing call (x with the wrong width) returned status \(error.status) with an empty message")
            }
        }
        let xv = input(shape, salt: 15)
        let after = try forwardValues(op, x: xv, shape: shape, params: params)
        let fresh = try forwardValues(try makeOperator(), x: xv, shape: shape, params: params)
        guard bitwiseEqual(after, fresh) else {
            return .fail("after a failed call the instance computes differently from a fresh one")
        }
        return .pass("a failing call gave a status and a message; the instance stayed usable")
    }
}

/// Values handed to the threads of a concurrency probe, which only read them.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Per-thread results of a concurrent run, under a lock.
final class ConcurrentResults<S: TensorScalar>: @unchecked Sendable {
    private var values: [[S]?]
    private let lock = NSLock()
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ v: [S]?) { lock.withLock { values[i] = v } }
    func get(_ i: Int) -> [S]? { lock.withLock { values[i] } }
}

/// This process's resident memory and thread count, from /proc.
enum ProcessStats {
    static var residentBytes: Int {
        let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
        let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static var threadCount: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
    }
}

extension TensorScalar {
    /// The bits of the value widened to 64 (exact for Float and Double), for bitwise comparison.
    var bitPattern64: UInt64 { Double(self).bitPattern }
}
