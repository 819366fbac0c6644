#include "VectorKernels.h"
#include "fastmath.h"
#include "isa.h"

/* The sums below run in 16 fixed lanes combined in a fixed order, whatever the vector width, so every instruction
 * set adds in the same order (the exponentials may still differ in the last bit with FMA contraction). */
#define OZV_LANES 16

OZV_CLONES void ozv_softmax_row(float *row, int64_t visible, int64_t length) {
    float m = row[0];
    for (int64_t j = 1; j < visible; j++) m = row[j] > m ? row[j] : m;
    float lanes[OZV_LANES] = {0};
    int64_t j = 0;
    for (; j + OZV_LANES <= visible; j += OZV_LANES)
        for (int l = 0; l < OZV_LANES; l++) {
            float e = ozv_exp1(row[j + l] - m);
            row[j + l] = e;
            lanes[l] += e;
        }
    for (; j < visible; j++) {
        float e = ozv_exp1(row[j] - m);
        row[j] = e;
        lanes[0] += e;
    }
    float sum = 0;
    for (int l = 0; l < OZV_LANES; l++) sum += lanes[l];
    float inv = 1.0f / sum;
    for (j = 0; j < visible; j++) row[j] *= inv;
    for (j = visible; j < length; j++) row[j] = 0;
}

OZV_CLONES void ozv_softmax_backward_row(const float *p, float *g, int64_t n) {
    float lanes[OZV_LANES] = {0};
    int64_t j = 0;
    for (; j + OZV_LANES <= n; j += OZV_LANES)
        for (int l = 0; l < OZV_LANES; l++) lanes[l] += p[j + l] * g[j + l];
    for (; j < n; j++) lanes[0] += p[j] * g[j];
    float dot = 0;
    for (int l = 0; l < OZV_LANES; l++) dot += lanes[l];
    for (j = 0; j < n; j++) g[j] = p[j] * (g[j] - dot);
}
