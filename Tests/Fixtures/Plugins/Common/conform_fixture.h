/*
 * conform_fixture.h -- a small, VALID operator for the conformance-harness tests, with switchable bugs.
 *
 * The operator `conform_op` (token mixer, causal, receptive field (1, 0)):
 *     y[b,t,c] = gain * weight[c] * x[b,t,c] + x[b,t-1,c]        (the second term only for t >= 1)
 * parameter `weight` [D], attribute `gain` (float, 0.1 ... 10, default 1). Backward:
 *     dx[b,t,c] = gain * weight[c] * dy[b,t,c] + dy[b,t+1,c],   dweight[c] = gain * sum_{b,t} x[b,t,c] dy[b,t,c]
 *
 * Each fixture under Tests/Fixtures/Plugins/Conform<Bug>/ defines one FX_BUG_* macro before including this
 * header, so it breaks exactly one rule of the contract:
 *     FX_BUG_CRASH, FX_BUG_HANG, FX_BUG_WRITE_PAST, FX_BUG_MODIFY_INPUT, FX_BUG_WRONG_GRADIENT, FX_BUG_LIES_CAUSAL,
 *     FX_BUG_NONDETERMINISTIC, FX_BUG_MIXES_BATCH, FX_BUG_NAN, FX_BUG_ACCUMULATES, FX_BUG_NO_ATTR_CHECK,
 *     FX_BUG_NO_DTYPE_CHECK, FX_BUG_SILENT_ERROR, FX_BUG_WRITES_NULL_DX, FX_BUG_SHARED_STATE, FX_BUG_LEAKS,
 *     FX_BUG_SPAWNS_THREAD, FX_BUG_QUADRATIC,
 * and those that pass every check except one that calls the plugin the way the host really does:
 *     FX_BUG_WORKSPACE_STATE (accumulates into its workspace: right only while the workspace starts zeroed),
 *     with FX_SAVES (declares OZ_CAP_SAVE_FOR_BACKWARD, ABI 1.4: forward saves x for the weight gradient)
 *     FX_BUG_SAVED_PARTIAL (saves the first sample only) or FX_BUG_SAVED_SCRATCH (backward writes into the saved
 *     buffer after using it),
 *     FX_BUG_STATE_SCRATCH (declares upstream state entries, ABI 1.5: a buffer `grid` = (0, 0.5, 1) and a tied
 *     copy `weight_tied` of `weight`, but the buffer's values live in memory forward uses as scratch),
 *     FX_BUG_BF16_FLOAT32 (its float32 path rounds intermediate results to bfloat16),
 *     FX_BUG_INIT_COUNTER (init_params mixes in a call counter), FX_BUG_INIT_PROCESS (init_params mixes in the
 *     process id and an address: the same within a process, different in another),
 *     FX_BUG_LEAKS_PER_CALL (keeps 64 KiB per backward until destroy), FX_BUG_REENTRANT_STAGING (declares
 *     OZ_CAP_REENTRANT but stages x in a buffer owned by the instance), FX_BUG_SPLIT_ORDER (sums the weight
 *     gradient's chunks differently on the calling thread and on pool workers: in float32 the bits depend on which
 *     thread ran which chunk once parallel_for really splits), FX_BUG_TOUCHES_TOO_MUCH (from the 256th backward call on one instance,
 *     maps and touches another 64 MiB per call, unchecked, until destroy)
 * Every variant gives the analysis diagnostic of ABI 1.6 (`OZ_DIAG_ATTENTION_WEIGHTS`, one head): query t weighs
 * keys t and t - 1 by 1/2 each (key 0 alone by 1 at t = 0), the two tokens its output mixes; FX_BUG_DIAG_MISSES_KEY
 * reports weight 1 on key t alone (rows still sum to 1 inside the receptive field, but the output also depends on
 * token t - 1).
 * Two more break no rule the harness can see, only what a sanitizer sees (scripts/sanitize builds them with
 * -fsanitize=address,undefined and requires the sanitizer to stop them): FX_BUG_HEAP_OVERFLOW writes one byte
 * past its own allocation in create, FX_BUG_SIGNED_OVERFLOW overflows a signed integer in forward.
 * The operator declares itself O(L) (`complexity`, ABI 1.2), which it is unless FX_BUG_QUADRATIC adds O(L^2 D)
 * work to forward. Arguments are checked with OperatorPluginHelpers.h; every failing call returns through
 * cf_result, which FX_BUG_SILENT_ERROR uses to blank the message.
 */
#ifndef OZ_CONFORM_FIXTURE_H
#define OZ_CONFORM_FIXTURE_H

#ifdef FX_BUG_TOUCHES_TOO_MUCH
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#endif
#define _POSIX_C_SOURCE 200809L /* nanosleep under -std=c99 */

#include "OperatorPluginHelpers.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(FX_BUG_SHARED_STATE) || defined(FX_BUG_SPAWNS_THREAD) || defined(FX_BUG_LEAKS_PER_CALL) || \
    defined(FX_BUG_SPLIT_ORDER) || defined(FX_BUG_TOUCHES_TOO_MUCH)
#include <pthread.h>
#include <time.h>
#endif
#ifdef FX_BUG_INIT_PROCESS
#include <unistd.h>
#endif
#ifdef FX_BUG_TOUCHES_TOO_MUCH
#include <sys/mman.h>
#endif

#ifdef FX_BUG_REENTRANT_STAGING
#define CF_STAGE_TOKENS 256
#endif

struct oz_instance {
    int64_t dim;
    double gain;
#ifdef FX_BUG_STATE_SCRATCH
    double grid[3]; /* the buffer `grid` that get_state_entry hands out; forward scribbles on it */
#endif
#ifdef FX_BUG_REENTRANT_STAGING
    double *stage; /* CF_STAGE_TOKENS tokens of D values: shared by every call on the instance */
#endif
#if defined(FX_BUG_LEAKS_PER_CALL) || defined(FX_BUG_TOUCHES_TOO_MUCH)
    pthread_mutex_t lock;
    void *kept;              /* a chain of blocks kept until destroy (the first word links the next) */
    uint64_t backward_calls; /* under `lock` */
#endif
#ifdef FX_BUG_SPLIT_ORDER
    const oz_host_services *host;
#endif
};

/* Every failing call returns through here: `status` with the message a helper (or cf_fail) wrote, or, with
 * FX_BUG_SILENT_ERROR, with the message blanked. */
static oz_status cf_result(oz_error *err, oz_status status) {
#ifdef FX_BUG_SILENT_ERROR
    if (status != OZ_OK && err != NULL && err->message != NULL && err->capacity > 0) err->message[0] = '\0';
#else
    (void)err;
#endif
    return status;
}

#define cf_fail(err, status, message) cf_result((err), oz_fail((err), (status), "%s", (message)))

static const double cf_default_gain = 1.0;
static const oz_attr_def cf_attr_gain = {
    .struct_size = sizeof(oz_attr_def), .type = OZ_ATTR_FLOAT, .name = "gain", .doc = "output gain",
    .default_value = {.struct_size = sizeof(oz_attr_value), .type = OZ_ATTR_FLOAT, .count = 1, .floats = &cf_default_gain},
    .min_int = 0, .max_int = -1, .min_float = 0.1, .max_float = 10.0,
};
static const oz_attr_def *const cf_attrs[] = {&cf_attr_gain};
static const char *const cf_attr_names[] = {"gain"};

#ifdef FX_BUG_SPAWNS_THREAD
static void *cf_sleeper(void *unused) {
    struct timespec t = {3600, 0};
    (void)unused;
    for (;;) nanosleep(&t, NULL);
    return NULL;
}
#endif

#ifdef FX_BUG_SHARED_STATE
/* Scratch shared by every instance: concurrent calls on distinct instances overwrite each other's weights. */
static const oz_tensor *cf_shared_weight;
#endif

static oz_status cf_create(const oz_operator *op, const oz_create_args *args, oz_instance **out, oz_error *err) {
    double gain;
    oz_status s;
    oz_instance *inst;
    (void)op;
    *out = NULL;
    if (args->struct_size < OZ_COVERS(oz_create_args, host)) return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "args too small");
    if (args->dim < 1) return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "D must be >= 1");
    if ((s = oz_attrs_check_known(args, cf_attr_names, 1, "conform_op", "only 'gain'", err)) != OZ_OK) return cf_result(err, s);
#ifndef FX_BUG_NO_ATTR_CHECK
    if ((s = oz_attr_get_float(args, "gain", cf_default_gain, 0.1, 10.0, &gain, err)) != OZ_OK) return cf_result(err, s);
#else
    {
        /* The bug: whatever value 'gain' holds is taken, of any type and out of range. */
        const oz_attr *a;
        if ((s = oz_attr_find(args, "gain", &a, err)) != OZ_OK) return cf_result(err, s);
        gain = a == NULL ? cf_default_gain
                         : a->value.floats != NULL ? a->value.floats[0]
                                                   : (double)(a->value.ints != NULL ? a->value.ints[0] : 1);
    }
#endif
    inst = (oz_instance *)calloc(1, sizeof *inst);
    if (inst == NULL) return cf_fail(err, OZ_ERR_OUT_OF_MEMORY, "out of memory");
#ifdef FX_BUG_HEAP_OVERFLOW
    {
        /* One byte past a scratch buffer whose size the compiler cannot see (so only ASan, not UBSan, knows). */
        volatile size_t n = (size_t)args->dim;
        char *scratch = (char *)malloc(n);
        if (scratch != NULL) {
            ((volatile char *)scratch)[n] = 1;
            free(scratch);
        }
    }
#endif
#ifdef FX_BUG_LEAKS
    {
        /* 1 MiB per instance, touched so it counts in the resident set, and never freed (chained from a global
           so the compiler cannot drop the allocation). */
        static void *leaked = NULL;
        char *leak = (char *)malloc(1 << 20);
        if (leak != NULL) {
            memset(leak, 1, 1 << 20);
            *(void **)(void *)leak = leaked;
            leaked = leak;
        }
    }
#endif
#ifdef FX_BUG_SPAWNS_THREAD
    {
        pthread_t thread;
        if (pthread_create(&thread, NULL, cf_sleeper, NULL) == 0) pthread_detach(thread);
    }
#endif
    inst->dim = args->dim;
    inst->gain = gain;
#ifdef FX_BUG_STATE_SCRATCH
    inst->grid[0] = 0.0;
    inst->grid[1] = 0.5;
    inst->grid[2] = 1.0;
#endif
#ifdef FX_BUG_REENTRANT_STAGING
    inst->stage = (double *)calloc((size_t)(CF_STAGE_TOKENS * args->dim), sizeof(double));
    if (inst->stage == NULL) {
        free(inst);
        return cf_fail(err, OZ_ERR_OUT_OF_MEMORY, "out of memory");
    }
#endif
#if defined(FX_BUG_LEAKS_PER_CALL) || defined(FX_BUG_TOUCHES_TOO_MUCH)
    pthread_mutex_init(&inst->lock, NULL);
#endif
#ifdef FX_BUG_SPLIT_ORDER
    inst->host = args->host;
#endif
    *out = inst;
    return OZ_OK;
}

#ifdef FX_BUG_TOUCHES_TOO_MUCH
#define CF_KEPT_BYTES ((size_t)64 << 20)
#endif

static void cf_destroy(oz_instance *inst) {
#ifdef FX_BUG_REENTRANT_STAGING
    free(inst->stage);
#endif
#if defined(FX_BUG_LEAKS_PER_CALL) || defined(FX_BUG_TOUCHES_TOO_MUCH)
    while (inst->kept != NULL) {
        void *next = *(void **)inst->kept;
#ifdef FX_BUG_LEAKS_PER_CALL
        free(inst->kept);
#else
        munmap(inst->kept, CF_KEPT_BYTES);
#endif
        inst->kept = next;
    }
    pthread_mutex_destroy(&inst->lock);
#endif
    free(inst);
}

static oz_status cf_describe(const oz_instance *inst, oz_instance_info *info, oz_error *err) {
    (void)inst;
    (void)err;
    info->flags = OZ_INSTANCE_CAUSAL | OZ_INSTANCE_RECEPTIVE_FIELD;
    info->num_params = 1;
    info->receptive_left = 1;
    info->receptive_right = 0;
    if (info->struct_size >= OZ_COVERS(oz_instance_info, complexity)) info->complexity = OZ_COMPLEXITY_LINEAR;
    if (info->struct_size >= OZ_COVERS(oz_instance_info, attention_heads)) {
        info->diagnostics = OZ_DIAG_ATTENTION_WEIGHTS;
        info->attention_heads = 1;
    }
#ifdef FX_BUG_STATE_SCRATCH
    if (info->struct_size >= OZ_COVERS(oz_instance_info, num_state_entries)) info->num_state_entries = 2;
#endif
    return OZ_OK;
}

#ifdef FX_BUG_STATE_SCRATCH
static oz_status cf_get_state_entry(const oz_instance *inst, uint32_t index, oz_state_entry *entry, oz_error *err) {
    if (entry->struct_size < sizeof(oz_state_entry)) return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "entry too small");
    if (index == 0) {
        entry->kind = OZ_STATE_BUFFER;
        entry->name = "grid";
        entry->ndim = 1;
        entry->shape[0] = 3;
        entry->values = inst->grid;
    } else if (index == 1) {
        entry->kind = OZ_STATE_ALIAS;
        entry->name = "weight_tied";
        entry->param = 0;
    } else {
        return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "state entry index out of range");
    }
    return OZ_OK;
}
#define CF_GET_STATE_ENTRY cf_get_state_entry
#else
#define CF_GET_STATE_ENTRY NULL
#endif

static oz_status cf_get_param(const oz_instance *inst, uint32_t index, oz_param_info *info, oz_error *err) {
    if (index != 0) return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "parameter index out of range");
    info->ndim = 1;
    info->name = "weight";
    info->shape[0] = inst->dim;
    return OZ_OK;
}

/* Checks tensor `name`: [B, L, D] (`rank` 3, B and L >= 1) or [D] (`rank` 1), CPU float32/float64, with the dtype of
 * `ref` (x) and, for rank 3, its B and L (`ref` NULL: any). Strides and byte_offset are not checked (the host passes
 * C-contiguous tensors at offset 0). */
static oz_status cf_check(const oz_instance *inst, const oz_tensor *t, const char *name, const oz_tensor *ref, int rank,
                          oz_error *err) {
    int64_t expected[3];
    oz_status s;
    if (t == NULL || t->data == NULL) return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "NULL tensor");
#ifndef FX_BUG_NO_DTYPE_CHECK
    if ((s = oz_check_device(t, name, err)) != OZ_OK || (s = oz_check_float_dtype(t, name, 1, err)) != OZ_OK)
        return cf_result(err, s);
#endif
    if (ref != NULL && (s = oz_check_same_dtype(ref, "x", t, name, err)) != OZ_OK) return cf_result(err, s);
    expected[0] = rank == 1 ? inst->dim : ref != NULL ? ref->shape[0] : OZ_ANY_EXTENT;
    expected[1] = ref != NULL ? ref->shape[1] : OZ_ANY_EXTENT;
    expected[2] = inst->dim;
    if ((s = oz_check_rank(t, name, rank, err)) != OZ_OK || (s = oz_check_extents(t, name, expected, err)) != OZ_OK)
        return cf_result(err, s);
    return OZ_OK;
}

static oz_status cf_init_params(const oz_instance *inst, uint64_t seed, oz_tensor *params, uint32_t n, oz_error *err) {
    int64_t c;
    oz_status s;
    double extra = 0.0;
    (void)seed;
    if (n != 1) return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "one parameter");
    if ((s = cf_check(inst, &params[0], "weight", NULL, 1, err)) != OZ_OK) return s;
#ifdef FX_BUG_INIT_COUNTER
    {
        /* The bug: every call initialises a little differently. */
        static unsigned calls = 0;
        calls++;
        extra = 1e-3 * (double)(calls % 5);
    }
#endif
#ifdef FX_BUG_INIT_PROCESS
    /* The bug: the process id and an address (ASLR) mixed in: the same in one process, different in the next. */
    extra = 1e-3 * (double)((((uintptr_t)&cf_default_gain >> 12) ^ (uintptr_t)getpid()) & 0xFFFF) / 65536.0;
#endif
    for (c = 0; c < inst->dim; c++) {
        if (params[0].dtype.bits == 64) ((double *)params[0].data)[c] = 1.0 + 0.01 * (double)c + extra;
        else ((float *)params[0].data)[c] = 1.0f + 0.01f * (float)c + (float)extra;
    }
    return OZ_OK;
}

#ifdef FX_BUG_BF16_FLOAT32
/* Rounds a float to bfloat16 (8 significant bits), to nearest even: the float32 path's deliberate loss. */
static float cf_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    u &= 0xFFFF0000u;
    memcpy(&f, &u, sizeof f);
    return f;
}
#endif

#ifdef FX_BUG_WORKSPACE_STATE
/* Forward asks for B*L*D doubles of workspace; backward for none. */
static oz_status cf_workspace_size(const oz_instance *inst, uint32_t pass, int64_t batch, int64_t length, uint64_t *bytes,
                                   oz_error *err) {
    (void)err;
    *bytes = pass == OZ_PASS_FORWARD ? (uint64_t)batch * (uint64_t)length * (uint64_t)inst->dim * sizeof(double) : 0;
    return OZ_OK;
}
#define CF_WORKSPACE_SIZE cf_workspace_size
#elif defined(FX_SAVES)
/* Saves x (as doubles) for the weight gradient: B*L*D doubles of saved buffer, no workspace. */
static oz_status cf_workspace_size(const oz_instance *inst, uint32_t pass, int64_t batch, int64_t length, uint64_t *bytes,
                                   oz_error *err) {
    (void)err;
    *bytes = pass == OZ_PASS_SAVED ? (uint64_t)batch * (uint64_t)length * (uint64_t)inst->dim * sizeof(double) : 0;
    return OZ_OK;
}
#define CF_WORKSPACE_SIZE cf_workspace_size
#else
#define CF_WORKSPACE_SIZE NULL
#endif

#ifdef FX_SAVES
#define CF_CAP_SAVES OZ_CAP_SAVE_FOR_BACKWARD
/* The saved buffer of a 1.4 call (NULL from an older host, whose struct ends before it). */
#define CF_SAVED(a, type) \
    ((a)->struct_size >= offsetof(type, saved_size) + sizeof(uint64_t) ? (a)->saved : NULL)
#else
#define CF_CAP_SAVES 0
#endif

#define CF_AT(t, i) ((t)->dtype.bits == 64 ? ((const double *)(t)->data)[i] : (double)((const float *)(t)->data)[i])
#define CF_SET(t, i, v)                                                       \
    do {                                                                      \
        if ((t)->dtype.bits == 64) ((double *)(t)->data)[i] = (v);            \
        else ((float *)(t)->data)[i] = (float)(v);                            \
    } while (0)

static oz_status cf_forward(oz_instance *inst, const oz_forward_args *a, oz_error *err) {
    int64_t B, L, D, b, t, c;
    const oz_tensor *weight;
    oz_status s;
    if (a->num_params != 1 || a->params == NULL) return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "one parameter");
    if ((s = cf_check(inst, a->x, "x", NULL, 3, err)) != OZ_OK || (s = cf_check(inst, a->y, "y", a->x, 3, err)) != OZ_OK ||
        (s = cf_check(inst, &a->params[0], "weight", a->x, 1, err)) != OZ_OK)
        return s;
    B = a->x->shape[0];
    L = a->x->shape[1];
    D = a->x->shape[2];
    weight = &a->params[0];
#ifdef FX_BUG_STATE_SCRATCH
    /* The bug: the buffer handed out by get_state_entry doubles as scratch. */
    inst->grid[1] = (double)(B * L);
#endif
#ifdef FX_BUG_SHARED_STATE
    {
        struct timespec pause = {0, 2000000};
        cf_shared_weight = weight;
        nanosleep(&pause, NULL);
        weight = cf_shared_weight;
    }
#endif
#ifdef FX_BUG_CRASH
    if (B > 0) *(volatile int *)(uintptr_t)8 = 1;
#endif
#ifdef FX_BUG_SIGNED_OVERFLOW
    {
        volatile int32_t big = INT32_MAX;
        volatile int32_t sum = big + (int32_t)B;
        (void)sum;
    }
#endif
#ifdef FX_BUG_HANG
    for (;;) { (void)*(volatile int64_t *)&B; }
#endif
#ifdef FX_BUG_QUADRATIC
    {
        /* O(L^2 D) work that leaves y as it is: every token's dot product with every other token, summed into a
           volatile sink so the compiler must do it. At L >= 64 it outweighs the O(L D) math 64 times over. */
        volatile double sink = 0.0;
        int64_t s2;
        for (b = 0; b < B; b++)
            for (t = 0; t < L; t++) {
                double acc = 0.0;
                for (s2 = 0; s2 < L; s2++)
                    for (c = 0; c < D; c++) acc += CF_AT(a->x, (b * L + t) * D + c) * CF_AT(a->x, (b * L + s2) * D + c);
                sink += acc;
            }
        (void)sink;
    }
#endif
#ifdef FX_BUG_WORKSPACE_STATE
    if (a->workspace == NULL || a->workspace_size < (uint64_t)(B * L * D) * sizeof(double))
        return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "workspace too small");
#endif
    for (b = 0; b < B; b++)
        for (t = 0; t < L; t++) {
#ifdef FX_BUG_REENTRANT_STAGING
            /* The bug: x is staged, CF_STAGE_TOKENS tokens at a time, in a buffer owned by the instance, which a
               concurrent call on the same instance overwrites while this one still reads it. */
            int64_t token = b * L + t;
            if (token % CF_STAGE_TOKENS == 0) {
                int64_t n = B * L - token < CF_STAGE_TOKENS ? B * L - token : CF_STAGE_TOKENS;
                for (c = 0; c < n * D; c++) inst->stage[c] = CF_AT(a->x, token * D + c);
            }
#endif
            for (c = 0; c < D; c++) {
                int64_t i = (b * L + t) * D + c;
#ifdef FX_BUG_REENTRANT_STAGING
                double v = inst->gain * CF_AT(weight, c) * inst->stage[(token % CF_STAGE_TOKENS) * D + c];
#else
                double v = inst->gain * CF_AT(weight, c) * CF_AT(a->x, i);
#endif
#ifdef FX_BUG_BF16_FLOAT32
                if (a->x->dtype.bits == 32) v = (double)cf_bf16((float)v);
#endif
#ifdef FX_BUG_WORKSPACE_STATE
                /* The bug: the product is accumulated into the workspace, which is assumed to start at zero. */
                ((double *)a->workspace)[i] += v;
                v = ((double *)a->workspace)[i];
#endif
                if (t >= 1) v += CF_AT(a->x, i - D);
#ifdef FX_BUG_LIES_CAUSAL
                if (t + 1 < L) v += 0.5 * CF_AT(a->x, i + D);
#endif
#ifdef FX_BUG_MIXES_BATCH
                if (B > 1) v += 1e-3 * CF_AT(a->x, (((b + 1) % B) * L + t) * D + c);
#endif
#ifdef FX_BUG_NAN
                if (CF_AT(a->x, i) > 20.0 || CF_AT(a->x, i) < -20.0) v = v * 0.0 / 0.0;
#endif
#ifdef FX_BUG_NONDETERMINISTIC
                {
                    static unsigned counter = 0;
                    counter++;
                    v += 1e-6 * (double)(counter % 7);
                }
#endif
                CF_SET(a->y, i, v);
            }
        }
#ifdef FX_SAVES
    if (CF_SAVED(a, oz_forward_args) != NULL) {
        int64_t i, n = B * L * D;
        if (a->saved_size < (uint64_t)n * sizeof(double)) return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "saved too small");
#ifdef FX_BUG_SAVED_PARTIAL
        n = L * D; /* The bug: only the first sample is saved; backward reads the rest as it found it. */
#endif
        for (i = 0; i < n; i++) ((double *)a->saved)[i] = CF_AT(a->x, i);
    }
#endif
#ifdef FX_BUG_WRITE_PAST
    CF_SET(a->y, B * L * D, 42.0);
#endif
#ifdef FX_BUG_MODIFY_INPUT
    CF_SET((oz_tensor *)(uintptr_t)a->x, 0, CF_AT(a->x, 0) + 1.0);
#endif
    return OZ_OK;
}

#ifdef FX_BUG_SPLIT_ORDER
/* The weight gradient over the rows (b, t) on the host pool, 16 rows a chunk at least. The bug: a chunk the calling
   thread runs is summed in double into the caller's total; a chunk a pool worker runs is summed in the tensors'
   precision into the workers' total; the two totals are added at the end. Run serially that is the double sum in chunk
   order (exactly so in float64 at two chunks); split over threads the result depends on which thread happened to run
   which chunk, so in float32 its last bits change from call to call. */
#define CF_ROUND(a, v) ((a)->x->dtype.bits == 64 ? (v) : (double)(float)(v))

typedef struct {
    const oz_backward_args *a;
    int64_t D;
    pthread_t caller;
    pthread_mutex_t lock;
    double *mine, *theirs;
    int failed;
} cf_split;

static void cf_split_chunk(void *context, int64_t begin, int64_t end) {
    cf_split *s = (cf_split *)context;
    int64_t r, c, D = s->D;
    double *partial = (double *)calloc((size_t)D, sizeof(double));
    if (partial == NULL) {
        s->failed = 1;
        return;
    }
    if (pthread_equal(pthread_self(), s->caller)) {
        for (r = begin; r < end; r++)
            for (c = 0; c < D; c++) partial[c] += CF_AT(s->a->x, r * D + c) * CF_AT(s->a->dy, r * D + c);
        for (c = 0; c < D; c++) s->mine[c] += partial[c];
    } else {
        /* A worker sums in the tensors' precision (float32 sums round at every step). */
        for (r = begin; r < end; r++)
            for (c = 0; c < D; c++) partial[c] = CF_ROUND(s->a, partial[c] + CF_AT(s->a->x, r * D + c) * CF_AT(s->a->dy, r * D + c));
        pthread_mutex_lock(&s->lock);
        for (c = 0; c < D; c++) s->theirs[c] = CF_ROUND(s->a, s->theirs[c] + partial[c]);
        pthread_mutex_unlock(&s->lock);
    }
    free(partial);
}

static oz_status cf_split_gradient(oz_instance *inst, const oz_backward_args *a, oz_error *err) {
    cf_split s;
    int64_t c, D = a->x->shape[2];
    s.a = a;
    s.D = D;
    s.caller = pthread_self();
    s.failed = 0;
    s.mine = (double *)calloc((size_t)(2 * D), sizeof(double));
    if (s.mine == NULL) return cf_fail(err, OZ_ERR_OUT_OF_MEMORY, "out of memory");
    s.theirs = s.mine + D;
    pthread_mutex_init(&s.lock, NULL);
    inst->host->parallel_for(inst->host->host_context, a->x->shape[0] * a->x->shape[1], 16, cf_split_chunk, &s);
    pthread_mutex_destroy(&s.lock);
    for (c = 0; c < D; c++) CF_SET(&a->dparams[0], c, inst->gain * (s.mine[c] + s.theirs[c]));
    free(s.mine);
    return s.failed ? cf_fail(err, OZ_ERR_OUT_OF_MEMORY, "out of memory") : OZ_OK;
}
#endif

static oz_status cf_backward(oz_instance *inst, const oz_backward_args *a, oz_error *err) {
    int64_t B, L, D, b, t, c;
    oz_status s;
    if (a->num_params != 1 || a->params == NULL) return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "one parameter");
    if ((s = cf_check(inst, a->x, "x", NULL, 3, err)) != OZ_OK || (s = cf_check(inst, a->dy, "dy", a->x, 3, err)) != OZ_OK ||
        (s = cf_check(inst, &a->params[0], "weight", a->x, 1, err)) != OZ_OK)
        return s;
    if (a->dx != NULL && (s = cf_check(inst, a->dx, "dx", a->x, 3, err)) != OZ_OK) return s;
    B = a->x->shape[0];
    L = a->x->shape[1];
    D = a->x->shape[2];
#ifdef FX_BUG_WRITES_NULL_DX
    if (a->dx == NULL) *(volatile double *)(uintptr_t)16 = 0.0;
#endif
#ifdef FX_BUG_LEAKS_PER_CALL
    {
        /* The bug: 64 KiB per call, touched so it counts in the resident set, kept until destroy. */
        void *block = malloc((size_t)64 << 10);
        if (block != NULL) {
            memset(block, 1, (size_t)64 << 10);
            pthread_mutex_lock(&inst->lock);
            *(void **)block = inst->kept;
            inst->kept = block;
            pthread_mutex_unlock(&inst->lock);
        }
    }
#endif
#ifdef FX_BUG_TOUCHES_TOO_MUCH
    {
        /* The bug: from the 256th call on, 64 MiB more per call, mapped, touched and kept until destroy; the
           mapping is not checked, so without a resident limit the process runs the machine out of memory or
           crashes once the address-space limit makes mmap fail. */
        int grow;
        pthread_mutex_lock(&inst->lock);
        grow = ++inst->backward_calls > 256;
        pthread_mutex_unlock(&inst->lock);
        if (grow) {
            char *block = (char *)mmap(NULL, CF_KEPT_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            memset(block, 1, CF_KEPT_BYTES);
            pthread_mutex_lock(&inst->lock);
            *(void **)(void *)block = inst->kept;
            inst->kept = block;
            pthread_mutex_unlock(&inst->lock);
        }
    }
#endif
    if (a->dx != NULL)
        for (b = 0; b < B; b++)
            for (t = 0; t < L; t++)
                for (c = 0; c < D; c++) {
                    int64_t i = (b * L + t) * D + c;
                    double v = inst->gain * CF_AT(&a->params[0], c) * CF_AT(a->dy, i);
#ifdef FX_BUG_BF16_FLOAT32
                    if (a->x->dtype.bits == 32) v = (double)cf_bf16((float)v);
#endif
                    if (t + 1 < L) v += CF_AT(a->dy, i + D);
#ifdef FX_BUG_ACCUMULATES
                    v += CF_AT(a->dx, i);
#endif
                    CF_SET(a->dx, i, v);
                }
    if (a->dparams != NULL && a->dparams[0].data != NULL) {
        if ((s = cf_check(inst, &a->dparams[0], "gradient of weight", a->x, 1, err)) != OZ_OK) return s;
#ifdef FX_BUG_SPLIT_ORDER
        if (inst->host != NULL && inst->host->parallel_for != NULL) return cf_split_gradient(inst, a, err);
#endif
        for (c = 0; c < D; c++) {
            double g = 0.0;
#ifdef FX_SAVES
            const double *saved = (const double *)CF_SAVED(a, oz_backward_args);
#define CF_X(i) (saved != NULL ? saved[i] : CF_AT(a->x, i))
#else
#define CF_X(i) CF_AT(a->x, i)
#endif
            for (b = 0; b < B; b++)
                for (t = 0; t < L; t++) g += CF_X((b * L + t) * D + c) * CF_AT(a->dy, (b * L + t) * D + c);
#ifdef FX_BUG_WRONG_GRADIENT
            g *= 2.0;
#endif
            CF_SET(&a->dparams[0], c, inst->gain * g);
        }
    }
#ifdef FX_BUG_SAVED_SCRATCH
    /* The bug: the saved buffer is used as scratch once the gradients are out (it is read-only). */
    if (CF_SAVED(a, oz_backward_args) != NULL) ((double *)(uintptr_t)a->saved)[0] += 1.0;
#endif
    return OZ_OK;
}

/* The attention weights of ABI 1.6: [B, 1, L, L], row t = 1/2 on keys t and t - 1 (1 on key 0 at t = 0). */
static oz_status cf_diagnose(oz_instance *inst, const oz_diagnose_args *a, oz_error *err) {
    int64_t B, L, b, t, s, expected[4];
    oz_status st;
    if (a->struct_size < OZ_COVERS(oz_diagnose_args, workspace_size))
        return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "args too small");
    if (a->kind != OZ_DIAG_ATTENTION_WEIGHTS) return cf_fail(err, OZ_ERR_UNSUPPORTED, "unknown diagnostic kind");
    if ((st = cf_check(inst, a->x, "x", NULL, 3, err)) != OZ_OK) return st;
    B = a->x->shape[0];
    L = a->x->shape[1];
    expected[0] = B;
    expected[1] = 1;
    expected[2] = L;
    expected[3] = L;
    if (a->out == NULL || a->out->data == NULL) return cf_fail(err, OZ_ERR_INVALID_ARGUMENT, "NULL out");
    if ((st = oz_check_same_dtype(a->x, "x", a->out, "out", err)) != OZ_OK ||
        (st = oz_check_rank(a->out, "out", 4, err)) != OZ_OK || (st = oz_check_extents(a->out, "out", expected, err)) != OZ_OK)
        return cf_result(err, st);
    for (b = 0; b < B; b++) {
        for (t = 0; t < L; t++) {
            for (s = 0; s < L; s++) {
#ifdef FX_BUG_DIAG_MISSES_KEY
                double w = s == t ? 1.0 : 0.0;
#else
                double w = t == 0 ? (s == 0 ? 1.0 : 0.0) : (s == t || s == t - 1 ? 0.5 : 0.0);
#endif
                CF_SET(a->out, (b * L + t) * L + s, w);
            }
        }
    }
    return OZ_OK;
}

static const oz_operator cf_operator = {
    .struct_size = sizeof(oz_operator), .role = OZ_ROLE_TOKEN_MIXER, .id = "conform_op", .version = "1.0.0",
    .summary = "y = gain * weight * x[t] + x[t-1] (a conformance-test fixture)",
    .capabilities = OZ_CAP_BACKWARD | OZ_CAP_DETERMINISTIC | OZ_CAP_REENTRANT | OZ_CAP_FLOAT64 | CF_CAP_SAVES,
    .num_attrs = 1, .attrs = cf_attrs, .create = cf_create, .destroy = cf_destroy, .describe = cf_describe,
    .get_param = cf_get_param, .init_params = cf_init_params, .workspace_size = CF_WORKSPACE_SIZE, .forward = cf_forward,
    .backward = cf_backward, .get_state_entry = CF_GET_STATE_ENTRY, .diagnose = cf_diagnose,
};
static const oz_operator *const cf_operators[] = {&cf_operator};
static const oz_plugin cf_plugin = {
    sizeof(oz_plugin), OZ_ABI_MAJOR, OZ_ABI_MINOR, 1, "ConformFixture", "1.0.0", "MIT", "conformance fixture", cf_operators,
};

OZ_EXPORT const oz_plugin *oz_plugin_entry(void);
OZ_EXPORT const oz_plugin *oz_plugin_entry(void) { return &cf_plugin; }

#endif /* OZ_CONFORM_FIXTURE_H */
