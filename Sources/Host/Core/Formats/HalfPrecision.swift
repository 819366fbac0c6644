/// Exact conversions between 16-bit floating-point storage formats and `Float`/`Double`.
///
/// - IEEE 754 binary16 ("F16", numpy `float16`): 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits.
/// - bfloat16 ("BF16"): 1 sign bit, 8 exponent bits (bias 127), 7 fraction bits; the top half of a `Float`.
///
/// Decoding is exact for every bit pattern: subnormals, ±0, ±infinity and NaN (sign and payload are kept,
/// the payload shifted into the wider fraction). Encoding rounds to nearest, ties to even, directly from the
/// `Double` value (so a `Double` is rounded once, never through `Float` first), overflows to ±infinity, and
/// keeps NaNs NaN (quiet bit set, top payload bits kept).
enum HalfPrecision {
    // MARK: Decoding

    /// The `Float` whose value equals the binary16 value with bit pattern `bits`.
    static func float(fromHalf bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let fraction = UInt32(bits & 0x03FF)
        switch exponent {
        case 0:
            // Zero or subnormal: fraction × 2^-24, exact in Float (11 significant bits at most).
            let magnitude = Float(fraction) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            // Infinity (fraction 0) or NaN (payload kept).
            return Float(bitPattern: sign | 0x7F80_0000 | (fraction << 13))
        default:
            return Float(bitPattern: sign | ((exponent + 127 - 15) << 23) | (fraction << 13))
        }
    }

    /// The `Float` whose value equals the bfloat16 value with bit pattern `bits` (the top 16 bits of a `Float`).
    static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    // MARK: Encoding

    /// The binary16 bit pattern nearest to `value` (ties to even; overflow to ±infinity).
    static func halfBits(_ value: Double) -> UInt16 {
        round(value, exponentBits: 5, fractionBits: 10)
    }

    /// The bfloat16 bit pattern nearest to `value` (ties to even; overflow to ±infinity).
    static func bfloat16Bits(_ value: Double) -> UInt16 {
        round(value, exponentBits: 8, fractionBits: 7)
    }

    /// Rounds a `Double` to a 16-bit binary format with the given field widths (1 + exponentBits + fractionBits
    /// = 16), round-to-nearest-even, in one step.
    private static func round(_ value: Double, exponentBits: Int, fractionBits: Int) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: bits >> 48) & 0x8000
        let biasedExponent = Int((bits >> 52) & 0x7FF)
        let fraction = bits & 0x000F_FFFF_FFFF_FFFF
        let infinity = UInt16((1 << exponentBits) - 1) << fractionBits

        if biasedExponent == 0x7FF {
            if fraction == 0 { return sign | infinity }
            // NaN: keep the top payload bits and set the quiet bit so the result cannot become infinity.
            let payload = UInt16(truncatingIfNeeded: fraction >> (52 - fractionBits))
            return sign | infinity | (1 << (fractionBits - 1)) | payload
        }
        if biasedExponent == 0 {
            // Zero or a Double subnormal (< 2^-1022): far below half the smallest subnormal of either format.
            return sign
        }

        let bias = (1 << (exponentBits - 1)) - 1
        let exponent = biasedExponent - 1023
        if exponent > bias { return sign | infinity }

        let significand = (UInt64(1) << 52) | fraction
        let minimumNormalExponent = 1 - bias
        // Bits of the 53-bit significand that do not fit the target fraction; more for subnormal results.
        let droppedBits: Int
        var result: UInt64
        if exponent >= minimumNormalExponent {
            droppedBits = 52 - fractionBits
            result = (UInt64(exponent + bias) << fractionBits) | (fraction >> droppedBits)
        } else {
            droppedBits = 52 - fractionBits + (minimumNormalExponent - exponent)
            if droppedBits > 53 { return sign }  // below half the smallest subnormal: rounds to zero
            result = significand >> droppedBits
        }
        let remainder = significand & ((UInt64(1) << droppedBits) - 1)
        let halfway = UInt64(1) << (droppedBits - 1)
        if remainder > halfway || (remainder == halfway && result & 1 == 1) {
            // A carry out of the fraction increments the exponent: correct, including the step to infinity
            // and from the largest subnormal to the smallest normal.
            result += 1
        }
        return sign | UInt16(truncatingIfNeeded: result)
    }
}
