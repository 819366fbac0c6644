/* Branch-free float32 exp and tanh that vectorise (internal to VectorKernels). The method is PluginKit's FastMath:
 * exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 with ln 2 in a high and a low part (Cody and Waite),
 * exp(r) by its degree-7 Taylor polynomial, 2^n built in the exponent bits (in two halves, so n = 128 and -127 stay
 * representable); tanh(a) = 1 - 2 / (exp(2a) + 1), with its odd Taylor polynomial below 0.25 where that form
 * cancels. */
#ifndef OPERATOR_ZOO_VECTOR_FASTMATH_H
#define OPERATOR_ZOO_VECTOR_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float ozv_bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline int32_t ozv_float_to_bits(float f) {
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i;
}

static inline float ozv_exp1(float x) {
    int is_nan = x != x;
    float c = is_nan ? 0.0f : x;
    c = c < -87.5f ? -87.5f : c;
    c = c > 88.75f ? 88.75f : c;
    /* Round to nearest by adding 1.5 * 2^23: the low mantissa bits then hold n exactly. */
    float shifted = c * 1.442695040888963f + 12582912.0f;
    float n = shifted - 12582912.0f;
    int32_t ni = ozv_float_to_bits(shifted) - 0x4B400000;
    float r = (c - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t half = ni >> 1;
    float a = ozv_bits_to_float((uint32_t)(half + 127) << 23);
    float b = ozv_bits_to_float((uint32_t)(ni - half + 127) << 23);
    float result = p * a * b;
    result = x < -87.3f ? 0.0f : result;
    result = x > 88.72f ? __builtin_inff() : result;
    return is_nan ? x : result;
}

static inline float ozv_tanh1(float x) {
    float a = x < 0 ? -x : x;
    a = a > 10.0f ? 10.0f : a;
    float e = ozv_exp1(2.0f * a);
    float big = 1.0f - 2.0f / (e + 1.0f);
    float a2 = a * a;
    float small =
        a * (1.0f + a2 * (-1.0f / 3 + a2 * (2.0f / 15 + a2 * (-17.0f / 315 + a2 * (62.0f / 2835 + a2 * (-1382.0f / 155925))))));
    float m = a < 0.25f ? small : big;
    float s = x < 0 ? -m : m;
    return x != x ? x : s;
}

#endif
