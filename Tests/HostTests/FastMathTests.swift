import Foundation
import PluginKit
import Testing

/// PluginKit's vectorisable `exp` and `tanh` against libm in float64, over their whole float32 range.
@Suite struct FastMathTests {
    /// Relative error of `exp` at most 4e-7 (about 3 ulp: the degree-7 polynomial truncates below 2e-9, the
    /// rest is float32 rounding in Horner's scheme and the range reduction).
    @Test func expMatchesLibm() {
        var worst = 0.0
        var x: Float = -87
        while x < 88.5 {
            let exact = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(FastMath.exp(x)) - exact) / exact)
            x += 0.0137
        }
        #expect(worst < 4e-7, "worst relative error \(worst)")
        #expect(FastMath.exp(0) == 1)
        #expect(FastMath.exp(-200) == 0 && FastMath.exp(200) == .infinity && FastMath.exp(.nan).isNaN)
        #expect(FastMath.exp(-.infinity) == 0 && FastMath.exp(.infinity) == .infinity)
    }

    /// Absolute error of `tanh` at most 3e-7 and relative error at most 1e-6 away from the origin's cancellation.
    @Test func tanhMatchesLibm() {
        var worstAbsolute = 0.0, worstRelative = 0.0
        var x: Float = -12
        while x < 12 {
            let exact = Foundation.tanh(Double(x))
            let error = abs(Double(FastMath.tanh(x)) - exact)
            worstAbsolute = max(worstAbsolute, error)
            if abs(exact) > 1e-3 { worstRelative = max(worstRelative, error / abs(exact)) }
            x += 0.00731
        }
        #expect(worstAbsolute < 3e-7, "worst absolute error \(worstAbsolute)")
        #expect(worstRelative < 1e-6, "worst relative error \(worstRelative)")
        for tiny: Float in [1e-30, -1e-20, 1e-8, 0.01, -0.05] {
            #expect(abs(Double(FastMath.tanh(tiny)) - Foundation.tanh(Double(tiny))) <= 1e-7 * Double(abs(tiny)))
        }
        #expect(FastMath.tanh(0) == 0)
        #expect(FastMath.tanh(100) == 1)
        #expect(FastMath.tanh(-100) == -1)
        #expect(FastMath.tanh(.nan).isNaN)
    }
}
