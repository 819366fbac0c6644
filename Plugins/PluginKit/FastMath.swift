/// Branch-free float32 `exp` and `tanh` that compilers vectorise, accurate to a few ulp.
///
/// libm's `expf`/`tanhf` are scalar calls; in GELU, softmax and SiLU over millions of activations they
/// cost more than the matrix products around them. These are written from the textbook method:
/// `exp(x) = 2^n exp(r)` with `n = round(x / ln 2)`, `r = x - n ln 2` (ln 2 split in a high and a low
/// part, Cody and Waite), `exp(r)` by its Taylor polynomial of degree 7 (|r| <= ln 2 / 2, truncation
/// below 2e-9 relative), and `2^n` built in the exponent bits. `tanh(x) = 1 - 2 / (exp(2x) + 1)`, with
/// its odd Taylor polynomial below 0.25 where that form cancels. Tested against libm in `FastMathTests`.
public enum FastMath {
    /// `e^x` for float32; 0 below -87.3, +infinity above 88.7, NaN for NaN.
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let clamped = Swift.min(Swift.max(x.isNaN ? 0 : x, -87.5), 88.75)
        // Round to nearest by adding 1.5 * 2^23: the sum's low mantissa bits then hold n exactly (|n| < 2^22),
        // which gives n as an integer without a (trapping, unvectorisable) float-to-integer conversion.
        let shifted = clamped * 1.442695040888963 + 12_582_912
        let n = shifted - 12_582_912
        let ni = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
        let r = (clamped - n * 0.693145751953125) - n * 1.428606765330187e-06
        var p: Float = 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        // 2^n in two halves, so n up to 128 and down to -127 stay representable without overflow.
        let half = ni >> 1
        let scaleA = Float(bitPattern: UInt32(bitPattern: (half &+ 127) &<< 23))
        let scaleB = Float(bitPattern: UInt32(bitPattern: (ni &- half &+ 127) &<< 23))
        let result = p * scaleA * scaleB
        // Saturate outside the range (and keep NaN) without branches the vectoriser cannot follow.
        let underflow: Float = x < -87.3 ? 0 : result
        return x > 88.72 ? .infinity : (x.isNaN ? x : underflow)
    }

    /// `tanh(x)` for float32.
    @inlinable @inline(__always)
    public static func tanh(_ x: Float) -> Float {
        let a = Swift.min(Swift.abs(x), 10)
        let e = exp(2 * a)
        let big = 1 - 2 / (e + 1)
        let a2 = a * a
        // tanh(a) = a - a^3/3 + 2a^5/15 - 17a^7/315 + 62a^9/2835 - 1382a^11/155925 for |a| < 0.25
        // (the next term is below 3e-10 relative there).
        let small =
            a
            * (1 + a2 * (-1.0 / 3 + a2 * (2.0 / 15 + a2 * (-17.0 / 315 + a2 * (62.0 / 2835 + a2 * (-1382.0 / 155925))))))
        let magnitude = a < 0.25 ? small : big
        return x.isNaN ? x : (x < 0 ? -magnitude : magnitude)
    }
}
