/* DNNLShim.c -- see include/DNNLShim.h. Only this file knows oneDNN's and libgomp's symbol names. */
#define _GNU_SOURCE
#include "DNNLShim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dnnl_version_t of oneDNN 2.x and 3.x (dnnl_types.h); only the numbers are read. */
typedef struct {
    int major, minor, patch;
    const char *hash;
    unsigned cpu_runtime, gpu_runtime;
} ozdnnl_version;

static struct {
    int active;
    char status[160];
    int (*sgemm)(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t, float,
                 float *, int64_t);
    void (*omp_set_num_threads)(int);
} dnnl;

static pthread_once_t dnnl_once = PTHREAD_ONCE_INIT;
/* Whether this thread has told OpenMP to use one thread for oneDNN's calls. */
static __thread int dnnl_thread_ready;

/* oneDNN's name for the instruction set its kernels use (dnnl_cpu_isa_t values of dnnl_types.h). */
static const char *ozdnnl_isa_name(unsigned isa) {
    switch (isa) {
    case 0x1: return "sse41";
    case 0x3: return "avx";
    case 0x7: return "avx2";
    case 0x407: return "avx2_vnni";
    case 0x27: return "avx512_core";
    case 0x67: return "avx512_core_vnni";
    case 0xe7: return "avx512_core_bf16";
    case 0x3e7: return "avx512_core_amx";
    default: return "unknown ISA";
    }
}

static void ozdnnl_open(void) {
    const char *choice = getenv("ZOO_BLAS");
    void *library;
    const ozdnnl_version *(*version)(void);
    unsigned (*isa)(void);
    if (choice != NULL && strcmp(choice, "openblas") == 0) {
        snprintf(dnnl.status, sizeof dnnl.status, "OpenBLAS (ZOO_BLAS=openblas)");
        return;
    }
    if (choice != NULL && *choice != '\0' && strcmp(choice, "onednn") != 0) {
        snprintf(dnnl.status, sizeof dnnl.status, "OpenBLAS (ZOO_BLAS=%.40s is neither openblas nor onednn)", choice);
        return;
    }
    library = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) library = dlopen("libdnnl.so.3", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(dnnl.status, sizeof dnnl.status, "OpenBLAS (oneDNN not found: libdnnl.so.2 or .3)");
        return;
    }
    *(void **)(&dnnl.sgemm) = dlsym(library, "dnnl_sgemm");
    /* libgomp is oneDNN's dependency: the handle's lookup reaches it. */
    *(void **)(&dnnl.omp_set_num_threads) = dlsym(library, "omp_set_num_threads");
    *(void **)(&version) = dlsym(library, "dnnl_version");
    *(void **)(&isa) = dlsym(library, "dnnl_get_effective_cpu_isa");
    if (dnnl.sgemm == NULL || version == NULL || isa == NULL) {
        snprintf(dnnl.status, sizeof dnnl.status, "OpenBLAS (the oneDNN library found lacks dnnl_sgemm or its version)");
        dlclose(library);
        return;
    }
    /* A oneDNN on another threading runtime (TBB, a thread pool) could not be held to one thread per call, and its
     * products could then depend on how it splits them: OpenBLAS instead. */
    if (dnnl.omp_set_num_threads == NULL) {
        snprintf(dnnl.status, sizeof dnnl.status, "OpenBLAS (the oneDNN library found does not use OpenMP)");
        dnnl.sgemm = NULL;
        dlclose(library);
        return;
    }
    {
        const ozdnnl_version *v = version();
        snprintf(dnnl.status, sizeof dnnl.status, "oneDNN %d.%d.%d (%s)", v->major, v->minor, v->patch,
                 ozdnnl_isa_name(isa()));
    }
    dnnl.active = 1;
}

int ozdnnl_active(void) {
    pthread_once(&dnnl_once, ozdnnl_open);
    return dnnl.active;
}

const char *ozdnnl_status(void) {
    pthread_once(&dnnl_once, ozdnnl_open);
    return dnnl.status;
}

int ozdnnl_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (!ozdnnl_active()) return -1;
    /* oneDNN 2.6 returns success for k = 0 but leaves C as it was, where BLAS scales it by beta: refused here, so the
     * caller's OpenBLAS does it (BLASTests.emptyInnerExtentScalesC). */
    if (k <= 0) return -1;
    if (!dnnl_thread_ready) {
        /* OpenMP's thread count is per calling thread: one, so oneDNN never starts a team of its own. */
        dnnl.omp_set_num_threads(1);
        dnnl_thread_ready = 1;
    }
    return dnnl.sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
