import Foundation
import Testing

@testable import HostBench
@testable import HostConformance
@testable import HostCore
@testable import HostGraft
@testable import HostModel
@testable import HostPlugins

/// ``GaussianDiffusion`` against `Fixtures/Diffusion`, written by an independent float64 numpy port of DiT's
/// `gaussian_diffusion.py` (`make_diffusion_golden.py`). Both sides compute in float64, so the tolerance is
/// 1e-10 relative (summation order aside, the two are the same formulas).
@Suite struct DiffusionGoldenTests {
    private func fixture(_ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/HostTests/Fixtures/Diffusion/\(name)").path
    }
    private func f64(_ name: String) throws -> Tensor<Double> {
        try NPY.readTensor(path: fixture(name), as: Double.self)
    }
    private func ints(_ name: String) throws -> [Int] { try NPY.readInt64(path: fixture(name)).scalars.map(Int.init) }

    @Test func lossesMatchTheNumpyPort() throws {
        let diffusion = try GaussianDiffusion(respacing: "", learnSigma: true)
        let x0 = try f64("x0.npy"), noise = try f64("noise.npy"), out = try f64("model_output.npy")
        let t = try ints("t.npy")
        let xt = try diffusion.qSample(x0: x0, t: t, noise: noise)
        expectClose(xt, try f64("x_t.npy").scalars, rtol: 1e-10, atol: 1e-12, "q_sample")
        let loss = try diffusion.trainingLoss(x0: x0, t: t, noise: noise, modelOutput: out)
        let mse = try f64("mse.npy").scalars, vb = try f64("vb.npy").scalars, total = try f64("loss.npy").scalars
        for i in 0..<4 {
            #expect(abs(loss.mse[i] - mse[i]) <= 1e-10 * abs(mse[i]), "mse[\(i)]")
            #expect(
                abs(loss.vb![i] - vb[i]) <= 1e-9 * abs(vb[i]) + 1e-12,
                "vb[\(i)] at t = \(t[i]): \(loss.vb![i]) vs \(vb[i])")
            #expect(abs(loss.losses[i] - total[i]) <= 1e-9 * abs(total[i]), "loss[\(i)]")
        }
    }

    /// p_mean_variance runs in float32 tensors: 1e-5 relative.
    @Test func posteriorPredictionMatchesTheNumpyPort() throws {
        let diffusion = try GaussianDiffusion(respacing: "", learnSigma: true)
        let xt = try f64("x_t.npy").converted(to: Float.self),
            out = try f64("model_output.npy").converted(to: Float.self)
        let t = try ints("t.npy")
        let p = try diffusion.pMeanVariance(x: xt, t: t) { _, _ in out }
        expectClose(p.mean, try f64("model_mean.npy").scalars, rtol: 1e-4, atol: 1e-5, "model mean")
        expectClose(
            p.logVariance, try f64("model_log_variance.npy").scalars, rtol: 1e-5, atol: 1e-5, "model log variance")
        expectClose(p.predXstart, try f64("pred_xstart.npy").scalars, rtol: 1e-4, atol: 1e-4, "pred_xstart")
    }

    @Test func respacingMatchesTheNumpyPort() throws {
        #expect(
            try GaussianDiffusion.spacedTimesteps(numTimesteps: 1000, sectionCounts: "250")
                == (try ints("space_250.npy")))
        #expect(
            try GaussianDiffusion.spacedTimesteps(numTimesteps: 1000, sectionCounts: "ddim50")
                == (try ints("space_ddim50.npy")))
        let spaced = try GaussianDiffusion(respacing: "250", learnSigma: true)
        let betas = try f64("betas_250.npy").scalars
        #expect(spaced.betas.count == 250)
        for (a, b) in zip(spaced.betas, betas) { #expect(abs(a - b) <= 1e-12 + 1e-10 * b) }
    }
}
