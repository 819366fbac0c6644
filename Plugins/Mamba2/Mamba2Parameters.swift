import Foundation
import PluginKit

/// The parameters of a Mamba-2 operator, in data-flow order, with upstream `state_dict` names and shapes:
///
///     in_proj.weight (d_in_proj, D)
///     <prefix>conv1d.weight (conv_dim, 1, d_conv), <prefix>conv1d.bias (conv_dim),
///     <prefix>dt_bias (H), <prefix>A_log (H), <prefix>D (H)                          for each scan
///     norm.weight (d_inner), out_proj.weight (D, d_inner)
///
/// The prefix is empty for `mamba2` (so its names are exactly upstream `Mamba2`'s) and names the scan otherwise.
struct Mamba2Parameters {
    let dimensions: Mamba2Dimensions
    let directions: [ScanDirection]

    static let inProj = 0
    /// Parameters per scan.
    static let perScan = 5
    var norm: Int { 1 + Self.perScan * directions.count }
    var outProj: Int { norm + 1 }

    /// Indices of scan `k`'s parameters.
    func scan(_ k: Int) -> (convWeight: Int, convBias: Int, dtBias: Int, aLog: Int, d: Int) {
        let first = 1 + Self.perScan * k
        return (first, first + 1, first + 2, first + 3, first + 4)
    }

    var declarations: [ParameterDecl] {
        let d = dimensions
        var list = [ParameterDecl("in_proj.weight", [d.inProjDim, d.dim])]
        for direction in directions {
            let p = direction.prefix
            list += [
                .init(p + "conv1d.weight", [d.convDim, 1, d.dConv]), .init(p + "conv1d.bias", [d.convDim]),
                .init(p + "dt_bias", [d.heads]), .init(p + "A_log", [d.heads]), .init(p + "D", [d.heads]),
            ]
        }
        return list + [.init("norm.weight", [d.dInner]), .init("out_proj.weight", [d.dim, d.dInner])]
    }

    /// Random streams: in_proj 0, out_proj 1, and for scan k `2 + 8k ...` (conv weight, conv bias, dt_bias, A_log).
    /// The first scan's streams are the same in every variant, so `mamba2_bidir`'s `fwd.` parameters and
    /// `mamba2_2d`'s `row_fwd.` ones equal `mamba2`'s for the same seed.
    private static func stream(scan k: Int, _ j: Int) -> Int { 2 + 8 * k + j }

    /// Upstream initialisation (`Mamba2.__init__` with its defaults):
    /// - `in_proj`, `out_proj`: `nn.Linear` default, `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`;
    /// - `conv1d` weight and bias: `nn.Conv1d` default, the same bound with `fan_in = d_conv` (depthwise);
    /// - `dt_bias = softplus^-1(dt)`, `dt = max(exp(U(log 1e-3, log 1e-1)), 1e-4)`;
    /// - `A_log = log U(1, 16)`; `D = 1`; `norm.weight = 1`.
    func initialize<S: KernelScalar>(_ params: [TensorView<S>], seed: UInt64) {
        let d = dimensions
        Initializer.linearUniform(params[Self.inProj], fanIn: d.dim, seed: seed, index: 0)
        Initializer.linearUniform(params[outProj], fanIn: d.dInner, seed: seed, index: 1)
        Initializer.constant(params[norm], 1)
        for k in directions.indices {
            let i = scan(k)
            Initializer.linearUniform(params[i.convWeight], fanIn: d.dConv, seed: seed, index: Self.stream(scan: k, 0))
            Initializer.linearUniform(params[i.convBias], fanIn: d.dConv, seed: seed, index: Self.stream(scan: k, 1))
            var dtStream = Initializer.generator(seed: seed, index: Self.stream(scan: k, 2))
            let (low, high) = (Foundation.log(1e-3), Foundation.log(1e-1))
            for h in 0..<d.heads {
                let dt = max(Foundation.exp(dtStream.unit() * (high - low) + low), 1e-4)
                params[i.dtBias].base[h] = S(dt + Foundation.log(-Foundation.expm1(-dt)))
            }
            var aStream = Initializer.generator(seed: seed, index: Self.stream(scan: k, 3))
            for h in 0..<d.heads { params[i.aLog].base[h] = S(Foundation.log(1 + 15 * aStream.unit())) }
            Initializer.constant(params[i.d], 1)
        }
    }
}
