/*
 * OperatorABI.h -- the OperatorZoo operator ABI, major version 1.
 *
 * A plugin is a shared library that exports ONE symbol, `oz_plugin_entry` (C linkage), which returns a
 * pointer to a static, read-only `oz_plugin` table. The host calls nothing before it and needs no global
 * constructors. This header is the whole contract: a plugin needs nothing else from OperatorZoo.
 *
 * Compatibility rules
 * -------------------
 *  - `abi_major` must equal the host's OZ_ABI_MAJOR; any `abi_minor` is accepted.
 *  - Every struct that crosses the boundary (except `oz_tensor`, which is DLPack's `DLTensor` layout)
 *    starts with `uint32_t struct_size`, the size the writer compiled against. Fields are only ever
 *    appended. A reader reads only the fields that both its own and the writer's `struct_size` cover and
 *    treats the rest as zero/NULL, so structs both smaller (older) and larger (newer) than the reader's
 *    own are accepted.
 *  - A NULL function pointer means "not implemented".
 *  - The entry symbol's name is never changed, in any major version. The first three fields of
 *    `oz_plugin` (struct_size, abi_major, abi_minor) keep their offsets forever, so a host can always
 *    tell a plugin built for another major version and refuse it with a clear message.
 *
 * Behaviour rules for plugins
 * ---------------------------
 *  - Never abort, exit, print, or let a C++ exception or Swift trap cross the boundary. Every failing
 *    call returns a non-zero `oz_status` and writes a message naming what was wrong into `oz_error`.
 *  - The host owns every buffer it sees (inputs, outputs, parameters, gradients, workspace); buffers are
 *    64-byte aligned. A plugin allocates only inside its instance.
 *  - Use `oz_host_services.parallel_for` for parallel work instead of creating threads.
 *  - Calls on distinct instances may run concurrently. Calls on one instance run concurrently only if the
 *    operator declares OZ_CAP_REENTRANT.
 *  - Output buffers (y, dx, dparams, workspace) never alias inputs (x, dy, params) or each other.
 *  - A host ignores capability and flag bits it does not know (a newer plugin may set them).
 *  - A struct smaller than the fields a call needs (e.g. an `oz_forward_args` that ends before `workspace_size`)
 *    is refused with OZ_ERR_INVALID_ARGUMENT; fields a newer minor appended are optional by construction.
 *
 * Shapes
 * ------
 *  Every operator maps x `[B, L, D]` to y `[B, L, D]` (token mixers mix along L, channel mixers only along
 *  D). For an image, L = H*W and token r*W + c is grid cell (r, c) (row-major). D is fixed at create; B and
 *  L may change from call to call unless the operator needs the grid (then L == H*W of create).
 *
 * The header compiles as C99 and as C++.
 */
#ifndef OPERATOR_ZOO_OPERATOR_ABI_H
#define OPERATOR_ZOO_OPERATOR_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Nullability annotations for clang (and Swift's importer); nothing under gcc. */
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wnullability-extension"
#pragma clang diagnostic ignored "-Wnullability-completeness"
#define OZ_NONNULL _Nonnull
#define OZ_NULLABLE _Nullable
#else
#define OZ_NONNULL
#define OZ_NULLABLE
#endif

/* Symbol visibility for the entry point. */
#if defined(_WIN32)
#define OZ_EXPORT __declspec(dllexport)
#else
#define OZ_EXPORT __attribute__((visibility("default")))
#endif

/** ABI major version: a plugin whose `abi_major` differs is refused. */
#define OZ_ABI_MAJOR 1
/** ABI minor version of this header: grows when fields or functions are appended. */
#define OZ_ABI_MINOR 6
/** The one exported symbol, of type `oz_plugin_entry_fn`. Never renamed. */
#define OZ_ENTRY_SYMBOL "oz_plugin_entry"
/** Longest tensor rank a parameter may have. */
#define OZ_MAX_PARAM_DIMS 8

/* ------------------------------------------------------------------------------------------------ */
/* Status codes                                                                                      */
/* ------------------------------------------------------------------------------------------------ */

/** Return code of every fallible call. 0 is success; the message is in the call's `oz_error`. */
typedef int32_t oz_status;
#define OZ_OK 0                    /**< success */
#define OZ_ERR_INVALID_ARGUMENT 1  /**< a pointer, attribute value or argument is invalid */
#define OZ_ERR_SHAPE 2             /**< a tensor has the wrong rank or shape */
#define OZ_ERR_DTYPE 3             /**< a tensor's dtype or device is not supported */
#define OZ_ERR_UNSUPPORTED 4       /**< the operation is not implemented for this configuration */
#define OZ_ERR_OUT_OF_MEMORY 5     /**< an allocation inside the instance failed */
#define OZ_ERR_INTERNAL 6          /**< anything else (a bug in the plugin) */

/**
 * Where a failing call writes its message. Host-owned; the plugin writes at most `capacity` bytes
 * (including the terminating NUL) into `message`. UTF-8, one sentence naming what was wrong, e.g.
 * "attribute 'num_heads' = 5 does not divide D = 384".
 */
typedef struct oz_error {
    uint32_t struct_size;          /**< sizeof(oz_error) as the host compiled it */
    uint32_t capacity;             /**< bytes available at `message`, including the NUL */
    char *OZ_NULLABLE message;     /**< host buffer; may be NULL when capacity is 0 */
} oz_error;

/* ------------------------------------------------------------------------------------------------ */
/* Tensors: layout-compatible with DLPack's DLTensor (dlpack.h v0.8+), so DLPack producers plug in.  */
/* `oz_tensor` deliberately has no struct_size: its layout is DLPack's and never changes.            */
/* ------------------------------------------------------------------------------------------------ */

/** DLPack `DLDeviceType` values used here. Version 1 supports CPU only. */
#define OZ_DEVICE_CPU 1

/** DLPack `DLDataTypeCode` values. Version 1 uses float (code 2) with 32 or 64 bits, 1 lane. */
#define OZ_DTYPE_CODE_INT 0
#define OZ_DTYPE_CODE_UINT 1
#define OZ_DTYPE_CODE_FLOAT 2

/** Same layout as DLPack `DLDevice`. */
typedef struct oz_device {
    int32_t device_type;           /**< OZ_DEVICE_CPU (DLPack kDLCPU) */
    int32_t device_id;             /**< 0 for CPU (the only value version 1 accepts) */
} oz_device;

/** Same layout as DLPack `DLDataType`. */
typedef struct oz_dtype {
    uint8_t code;                  /**< OZ_DTYPE_CODE_FLOAT */
    uint8_t bits;                  /**< 32 (always supported) or 64 (if OZ_CAP_FLOAT64) */
    uint16_t lanes;                /**< 1 */
} oz_dtype;

/**
 * Same layout as DLPack `DLTensor`. The host always fills `strides` (in elements, never NULL) and passes
 * C-contiguous tensors with `byte_offset` 0 and 64-byte-aligned `data`. A plugin rejects anything it does
 * not support with OZ_ERR_DTYPE or OZ_ERR_SHAPE.
 */
typedef struct oz_tensor {
    void *OZ_NULLABLE data;        /**< element (0, ..., 0) is at (char*)data + byte_offset */
    oz_device device;              /**< where `data` lives */
    int32_t ndim;                  /**< rank */
    oz_dtype dtype;                /**< element type */
    int64_t *OZ_NULLABLE shape;    /**< `ndim` extents */
    int64_t *OZ_NULLABLE strides;  /**< `ndim` strides in elements; always filled by the host */
    uint64_t byte_offset;          /**< bytes from `data` to the first element */
} oz_tensor;

/* ------------------------------------------------------------------------------------------------ */
/* Attributes: a typed schema declared by the operator, values passed at create.                     */
/* ------------------------------------------------------------------------------------------------ */

/** Attribute types. */
#define OZ_ATTR_INT 1        /**< one int64 in `ints[0]` */
#define OZ_ATTR_FLOAT 2      /**< one double in `floats[0]` */
#define OZ_ATTR_BOOL 3       /**< 0 or 1 in `ints[0]` */
#define OZ_ATTR_STRING 4     /**< NUL-terminated UTF-8 in `string` */
#define OZ_ATTR_INT_LIST 5   /**< `count` int64 in `ints` (a tuple such as window_size=(4,4)) */
#define OZ_ATTR_FLOAT_LIST 6 /**< `count` doubles in `floats` */

/**
 * A typed attribute value. Only the members the type names are read; the others are NULL.
 * Its layout is FROZEN for ABI major 1 (it is embedded by value in `oz_attr_def` and `oz_attr`, so it can never
 * grow): new kinds of values come as new OZ_ATTR_* types that use these fields.
 */
typedef struct oz_attr_value {
    uint32_t struct_size;               /**< sizeof(oz_attr_value) as the writer compiled it */
    uint32_t type;                      /**< OZ_ATTR_* */
    uint32_t count;                     /**< number of elements: 1 for INT/FLOAT/BOOL, list length for lists, 0 for STRING */
    uint32_t reserved;                  /**< 0 */
    const int64_t *OZ_NULLABLE ints;    /**< INT, BOOL, INT_LIST */
    const double *OZ_NULLABLE floats;   /**< FLOAT, FLOAT_LIST */
    const char *OZ_NULLABLE string;     /**< STRING */
} oz_attr_value;

/**
 * One entry of an operator's attribute schema. Names follow the upstream constructor arguments
 * (`num_heads`, `window_size`, `d_state`, `expansion_ratio`, ...): `[a-z][a-z0-9_]*`.
 * The host validates type, range, list length and choices before create; the plugin validates again
 * (anything may call it) and returns OZ_ERR_INVALID_ARGUMENT with a message.
 */
typedef struct oz_attr_def {
    uint32_t struct_size;               /**< sizeof(oz_attr_def) as the plugin compiled it */
    uint32_t type;                      /**< OZ_ATTR_* */
    const char *OZ_NULLABLE name;       /**< attribute name (required; NULL is refused) */
    const char *OZ_NULLABLE doc;        /**< one-line description shown by `zoo plugins inspect` (required) */
    oz_attr_value default_value;        /**< used when the user gives none; same type as `type` */
    int64_t min_int;                    /**< inclusive bounds for INT / INT_LIST elements (ignored if min_int > max_int) */
    int64_t max_int;
    double min_float;                   /**< inclusive bounds for FLOAT / FLOAT_LIST elements (ignored if min_float > max_float) */
    double max_float;
    uint32_t list_length;               /**< required element count of a list type; 0 = any length >= 1 */
    uint32_t reserved;                  /**< 0 */
    const char *OZ_NULLABLE choices;    /**< STRING only: allowed values separated by '|', or NULL for any */
} oz_attr_def;

/** A named attribute value passed to create. */
typedef struct oz_attr {
    uint32_t struct_size;               /**< sizeof(oz_attr) as the host compiled it */
    uint32_t reserved;                  /**< 0 */
    const char *OZ_NULLABLE name;       /**< matches an `oz_attr_def.name` (never NULL from the host; plugins check) */
    oz_attr_value value;                /**< of the schema's type */
} oz_attr;

/* ------------------------------------------------------------------------------------------------ */
/* Host services                                                                                     */
/* ------------------------------------------------------------------------------------------------ */

/** Body of a parallel loop: process indices [begin, end). Must not fail (record errors in `context`). */
typedef void (*oz_range_fn)(void *OZ_NULLABLE context, int64_t begin, int64_t end);

/** Log levels for `oz_host_services.log`. */
#define OZ_LOG_DEBUG 0
#define OZ_LOG_INFO 1
#define OZ_LOG_WARNING 2
#define OZ_LOG_ERROR 3

/** What the host offers the plugin. Valid from create until destroy. */
typedef struct oz_host_services {
    uint32_t struct_size;               /**< sizeof(oz_host_services) as the host compiled it */
    uint32_t num_threads;               /**< threads in the host pool (>= 1) */
    void *OZ_NULLABLE host_context;     /**< pass back as the first argument of every service */
    /**
     * Runs `body` over disjoint ranges covering [0, n) on the host's thread pool and returns when all are
     * done. Ranges hold at least `grain` indices (except the last). Nested calls run serially.
     * The ranges are a function of `n`, `grain` and `num_threads` alone: the same when the host runs the
     * loop serially (a nested call, a busy pool) as when it runs it in parallel; only the order in which
     * ranges run varies. A body whose results depend only on its range is therefore deterministic: keep
     * per-range partial results and combine them in range order, never in the order the ranges finish.
     */
    void (*OZ_NULLABLE parallel_for)(void *OZ_NULLABLE host_context, int64_t n, int64_t grain,
                                     oz_range_fn OZ_NONNULL body, void *OZ_NULLABLE context);
    /** Hands a message to the host's log (the plugin never prints). */
    void (*OZ_NULLABLE log)(void *OZ_NULLABLE host_context, int32_t level, const char *OZ_NONNULL message);
} oz_host_services;

/* ------------------------------------------------------------------------------------------------ */
/* Instances                                                                                         */
/* ------------------------------------------------------------------------------------------------ */

/** An operator instance: opaque, allocated by create, freed by destroy. */
typedef struct oz_instance oz_instance;

/** Arguments of create. */
typedef struct oz_create_args {
    uint32_t struct_size;                          /**< sizeof(oz_create_args) as the host compiled it */
    uint32_t num_attrs;                            /**< entries in `attrs` */
    int64_t dim;                                   /**< model width D (>= 1) */
    int64_t grid_h;                                /**< grid height H, or 0 when no grid is given */
    int64_t grid_w;                                /**< grid width W, or 0 when no grid is given */
    /**
     * Attribute values. The host passes every schema attribute once, in schema order, defaults filled in.
     * The array's element size is `attrs[0].struct_size` (a newer host's `oz_attr` may be larger than the
     * plugin's): element i starts at `(const char *)attrs + i * attrs[0].struct_size`.
     */
    const oz_attr *OZ_NULLABLE attrs;
    const oz_host_services *OZ_NULLABLE host;      /**< services, valid until destroy (the host always passes them; a plugin given NULL runs serially) */
} oz_create_args;

/** Instance flags reported by `describe`. */
#define OZ_INSTANCE_CAUSAL 1u            /**< output token t depends only on input tokens <= t */
#define OZ_INSTANCE_RECEPTIVE_FIELD 2u   /**< `receptive_left/right` bound the tokens each output sees */

/**
 * Declared time complexity of an instance in the sequence length L (`oz_instance_info.complexity`, since 1.2):
 * how the time of forward (and backward) grows with L at fixed B and D. It is an upper bound (big O), per
 * instance because attributes may change it (`swa` with a bounded window is linear, with an unbounded one
 * quadratic). The conformance harness's `complexity` check times the instance at several L, fits the exponent
 * of time against L, and compares. A host reads a value it does not know as undeclared.
 */
#define OZ_COMPLEXITY_UNDECLARED 0u      /**< not declared (what a 1.0 or 1.1 plugin leaves: the host's zero) */
#define OZ_COMPLEXITY_LINEAR 1u          /**< O(L): MLPs, convolutions, bounded windows, linear attention, scans */
#define OZ_COMPLEXITY_LINEARITHMIC 2u    /**< O(L log L): e.g. FFT long convolutions */
#define OZ_COMPLEXITY_QUADRATIC 3u       /**< O(L^2): dense (or unbounded-window) softmax attention */

/** What an instance reports about itself after create. */
typedef struct oz_instance_info {
    uint32_t struct_size;               /**< sizeof(oz_instance_info) as the host compiled it (host-owned) */
    uint32_t flags;                     /**< OZ_INSTANCE_* */
    uint32_t num_params;                /**< number of parameter tensors */
    uint32_t reserved;                  /**< 0 */
    /**
     * With OZ_INSTANCE_RECEPTIVE_FIELD: output token t depends only on input tokens in
     * [t - receptive_left, t + receptive_right] of the 1D token order. -1 means unbounded on that side.
     */
    int64_t receptive_left;
    int64_t receptive_right;
    /**
     * Since 1.1: the one sequence length L every call must have (e.g. a layer with one filter per token
     * position), or 0 when any L >= 1 works. A 1.0 plugin never writes it, so the host's zero means "any".
     */
    int64_t fixed_length;
    /**
     * Since 1.2: OZ_COMPLEXITY_*, this instance's declared time complexity in L. A 1.0 or 1.1 plugin never writes
     * it, so the host's zero means undeclared. A plugin writes it only when `struct_size` covers it (an older host
     * passes a shorter struct): `struct_size >= offsetof(oz_instance_info, complexity) + sizeof(uint32_t)`.
     */
    uint32_t complexity;
    uint32_t reserved2;                 /**< 0 */
    /**
     * Since 1.5: how many upstream state-dict entries that are not parameters `get_state_entry` describes (0 when
     * none). Written only when `struct_size` covers it; an older plugin leaves the host's zero.
     */
    uint32_t num_state_entries;
    uint32_t reserved3;                 /**< 0 */
    /**
     * Since 1.6: the OZ_DIAG_* bits of the diagnostics `oz_operator.diagnose` gives for this instance (0: none).
     * Written only when `struct_size` covers it; an older plugin leaves the host's zero.
     */
    uint32_t diagnostics;
    /** Since 1.6, with OZ_DIAG_ATTENTION_WEIGHTS: the number of attention heads H of its weights (>= 1). */
    uint32_t attention_heads;
} oz_instance_info;

/**
 * Since 1.3: the work one call does, as the operator counts it (`oz_operator.cost`). Host-owned; the plugin writes
 * only the fields `struct_size` covers. The host uses it for FLOP counts in grafting reports, GFLOP/s in benchmarks
 * and `zoo plugins inspect`, so a third-party operator is counted exactly like a shipped one.
 *
 * Counting convention (the DiT paper's and fvcore's): matrix products and convolutions only, a multiply-add counts
 * as 2 FLOPs; elementwise work (activations, gates, softmax, norms, biases) is left out. FFTs count 2.5 N log2 N per
 * real transform of size N. Bytes are the minimum traffic of the call: every element of the host-owned buffers it
 * reads and writes (forward: x, params, y; backward: x, params, dy, dx, dparams), at the call's element size.
 */
typedef struct oz_cost {
    uint32_t struct_size;               /**< sizeof(oz_cost) as the host compiled it (host-owned) */
    uint32_t reserved;                  /**< 0 */
    uint64_t forward_flops;             /**< FLOPs of one forward of the whole batch */
    uint64_t backward_flops;            /**< FLOPs of one backward (dx and dparams), 0 when there is no backward */
    uint64_t forward_bytes;             /**< bytes one forward reads and writes at least */
    uint64_t backward_bytes;            /**< bytes one backward reads and writes at least, 0 when none */
} oz_cost;

/** Name and shape of one parameter tensor, as `get_param` reports it. */
typedef struct oz_param_info {
    uint32_t struct_size;                          /**< sizeof(oz_param_info) as the host compiled it (host-owned) */
    uint32_t ndim;                                 /**< rank, 1 ... OZ_MAX_PARAM_DIMS */
    const char *OZ_NULLABLE name;                  /**< upstream PyTorch state_dict name, e.g. "qkv.weight"; static or instance-owned */
    int64_t shape[OZ_MAX_PARAM_DIMS];              /**< upstream shape, first `ndim` entries */
} oz_param_info;

/**
 * Since 1.5: what an upstream `state_dict` holds besides the parameters, so that a file PyTorch saved from the
 * upstream module loads unchanged and is checked rather than ignored (`oz_operator.get_state_entry`).
 */
#define OZ_STATE_BUFFER 1u  /**< a buffer the operator computes from its attributes (`values`); the file's must agree */
#define OZ_STATE_ALIAS 2u   /**< a tied copy of parameter `param` (a module used twice); the file's must be equal */
#define OZ_STATE_PART 3u    /**< rows [row_begin, row_end) of parameter `param` along its first axis; a file may give
                                 all the parts of a parameter instead of the parameter (e.g. separate q, k, v) */

/** One upstream state-dict entry that is not a parameter, as `get_state_entry` reports it (host-owned). */
typedef struct oz_state_entry {
    uint32_t struct_size;                          /**< sizeof(oz_state_entry) as the host compiled it */
    uint32_t kind;                                 /**< OZ_STATE_* */
    const char *OZ_NULLABLE name;                  /**< upstream state_dict name; static or instance-owned */
    uint32_t param;                                /**< ALIAS, PART: the parameter's index */
    uint32_t ndim;                                 /**< BUFFER: rank, 0 ... OZ_MAX_PARAM_DIMS */
    int64_t shape[OZ_MAX_PARAM_DIMS];              /**< BUFFER: shape, first `ndim` entries */
    const double *OZ_NULLABLE values;              /**< BUFFER: product(shape) values, instance-owned, valid until destroy */
    int64_t row_begin;                             /**< PART: first row of `param` */
    int64_t row_end;                               /**< PART: one past the last row */
} oz_state_entry;

/**
 * Since 1.6: diagnostics an operator may expose for analysis (`zoo analyze`), never needed to run it. An instance lists
 * the ones it gives in `oz_instance_info.diagnostics`; `oz_operator.diagnose` computes one for an input.
 *
 * OZ_DIAG_ATTENTION_WEIGHTS: the softmax attention weights of a forward at x, `out` `[B, H, L, L]` in x's dtype
 * (H = `oz_instance_info.attention_heads`): `out[b, h, q, s]` is the weight query token q gives key token s in head h
 * (the row the forward multiplies the values by). Every row is non-negative and sums to 1; a key outside the query's
 * window (its receptive field, a causal mask) has weight exactly 0. Memory is O(B H L^2): the host asks for it at the
 * lengths it analyses.
 */
#define OZ_DIAG_ATTENTION_WEIGHTS 1u

/** Arguments of diagnose (since 1.6). All tensors are host-owned; `out` is overwritten entirely. */
typedef struct oz_diagnose_args {
    uint32_t struct_size;                          /**< sizeof(oz_diagnose_args) as the host compiled it */
    uint32_t kind;                                 /**< one OZ_DIAG_* bit the instance lists in `diagnostics` */
    uint32_t num_params;                           /**< must equal `oz_instance_info.num_params` */
    uint32_t reserved;                             /**< 0 */
    const oz_tensor *OZ_NONNULL x;                 /**< input [B, L, D]; never modified */
    const oz_tensor *OZ_NULLABLE params;           /**< `num_params` tensors in `get_param` order; never modified */
    oz_tensor *OZ_NONNULL out;                     /**< the diagnostic, shaped as its OZ_DIAG_* kind says */
    void *OZ_NULLABLE workspace;                   /**< scratch of at least `workspace_size(FORWARD)` bytes */
    uint64_t workspace_size;                       /**< bytes at `workspace` */
} oz_diagnose_args;

/** Which pass a workspace query is about. */
#define OZ_PASS_FORWARD 0
#define OZ_PASS_BACKWARD 1
/**
 * Since 1.4, only for an operator with OZ_CAP_SAVE_FOR_BACKWARD: `workspace_size` answers the bytes of the
 * saved-activations buffer (`oz_forward_args.saved`) at batch B and length L.
 */
#define OZ_PASS_SAVED 2

/** Arguments of forward. All tensors are host-owned; `y` is overwritten entirely. */
typedef struct oz_forward_args {
    uint32_t struct_size;                          /**< sizeof(oz_forward_args) as the host compiled it */
    uint32_t num_params;                           /**< must equal `oz_instance_info.num_params` */
    const oz_tensor *OZ_NONNULL x;                 /**< input [B, L, D]; never modified */
    const oz_tensor *OZ_NULLABLE params;           /**< `num_params` tensors in `get_param` order; never modified */
    oz_tensor *OZ_NONNULL y;                       /**< output [B, L, D] */
    void *OZ_NULLABLE workspace;                   /**< scratch of at least `workspace_size(FORWARD)` bytes */
    uint64_t workspace_size;                       /**< bytes at `workspace` */
    /**
     * Since 1.4 (train-mode forward): NULL, or, only for an operator with OZ_CAP_SAVE_FOR_BACKWARD, a host-owned,
     * 64-byte-aligned buffer of `saved_size >= workspace_size(OZ_PASS_SAVED)` bytes, of unspecified contents, into
     * which forward writes whatever its backward needs (e.g. projections, pre-activations). The host keeps it
     * unchanged and hands it to backward calls with the same instance, x, params, B and L (see
     * `oz_backward_args.saved`). `y` is the same with or without it. An operator without the capability ignores it;
     * a 1.3 host's shorter struct reads as NULL.
     */
    void *OZ_NULLABLE saved;
    uint64_t saved_size;                           /**< bytes at `saved` (0 when `saved` is NULL) */
} oz_forward_args;

/**
 * Arguments of backward, the vector-Jacobian product: dx = d<y, dy>/dx, dparams[k] = d<y, dy>/dparams[k].
 * Outputs are OVERWRITTEN, never accumulated into. A NULL `dx`, a NULL `dparams`, or a `dparams[k]` whose
 * `data` is NULL means "not needed"; the plugin must not write there.
 */
typedef struct oz_backward_args {
    uint32_t struct_size;                          /**< sizeof(oz_backward_args) as the host compiled it */
    uint32_t num_params;                           /**< must equal `oz_instance_info.num_params` */
    const oz_tensor *OZ_NONNULL x;                 /**< forward input [B, L, D]; never modified */
    const oz_tensor *OZ_NULLABLE params;           /**< parameters as in forward; never modified */
    const oz_tensor *OZ_NONNULL dy;                /**< gradient of the output [B, L, D]; never modified */
    oz_tensor *OZ_NULLABLE dx;                     /**< gradient of the input [B, L, D], or NULL */
    oz_tensor *OZ_NULLABLE dparams;                /**< `num_params` gradients shaped like `params`, or NULL */
    void *OZ_NULLABLE workspace;                   /**< scratch of at least `workspace_size(BACKWARD)` bytes */
    uint64_t workspace_size;                       /**< bytes at `workspace` */
    /**
     * Since 1.4: NULL (backward recomputes what it needs from x and params), or the buffer a forward of this
     * instance filled through `oz_forward_args.saved` with the same x, params, B and L. Read-only: backward never
     * writes it, so one saved buffer may serve several backward calls. The results must equal those of the call
     * without it (bitwise for an OZ_CAP_DETERMINISTIC operator): saving only skips recomputation.
     */
    const void *OZ_NULLABLE saved;
    uint64_t saved_size;                           /**< bytes at `saved` (0 when `saved` is NULL) */
} oz_backward_args;

/* ------------------------------------------------------------------------------------------------ */
/* Operators                                                                                         */
/* ------------------------------------------------------------------------------------------------ */

/** Roles: both map [B, L, D] -> [B, L, D]. */
#define OZ_ROLE_TOKEN_MIXER 1     /**< replaces attention (`blocks.{i}.attn`) */
#define OZ_ROLE_CHANNEL_MIXER 2   /**< replaces the MLP (`blocks.{i}.mlp`) */

/** Static capability flags of an operator (`oz_operator.capabilities`). */
#define OZ_CAP_BACKWARD 1u        /**< `backward` is implemented */
#define OZ_CAP_DETERMINISTIC 2u   /**< identical inputs give bitwise-identical outputs and gradients */
#define OZ_CAP_NEEDS_GRID 4u      /**< create needs grid_h, grid_w > 0 and every call has L == H*W */
#define OZ_CAP_REENTRANT 8u       /**< one instance may be called from several threads at once */
#define OZ_CAP_FLOAT64 16u        /**< forward/backward also accept float64 tensors (all of one dtype) */
/**
 * Since 1.4: forward can save what backward needs into a host-owned buffer (`oz_forward_args.saved`, sized by
 * `workspace_size(OZ_PASS_SAVED)`), and backward reads it instead of recomputing the forward. Training uses it;
 * inference passes NULL and pays nothing. Needs OZ_CAP_BACKWARD.
 */
#define OZ_CAP_SAVE_FOR_BACKWARD 32u

/** One operator: metadata, attribute schema and entry points. */
typedef struct oz_operator {
    uint32_t struct_size;                          /**< sizeof(oz_operator) as the plugin compiled it */
    uint32_t role;                                 /**< OZ_ROLE_* */
    const char *OZ_NULLABLE id;                    /**< stable id, `[a-z][a-z0-9_]*`, e.g. "mha", "swa", "hyena_x" (required) */
    const char *OZ_NULLABLE version;               /**< version of this operator's implementation, e.g. "1.0.0" (required) */
    const char *OZ_NULLABLE summary;               /**< one line: what it computes, with the upstream source (required) */
    uint64_t capabilities;                         /**< OZ_CAP_* */
    uint32_t num_attrs;                            /**< entries in `attrs` */
    uint32_t reserved;                             /**< 0 */
    const oz_attr_def *const *OZ_NULLABLE attrs;   /**< attribute schema (array of pointers, so each entry may grow) */

    /**
     * Creates an instance; on failure returns non-zero, writes `err`, and leaves `*out` NULL. Required.
     * `op` is this very table (the pointer found in `oz_plugin.operators`), so one create function can
     * serve several operators.
     */
    oz_status (*OZ_NULLABLE create)(const struct oz_operator *OZ_NONNULL op, const oz_create_args *OZ_NONNULL args,
                                    oz_instance *OZ_NULLABLE *OZ_NONNULL out, oz_error *OZ_NONNULL err);
    /** Frees an instance and everything it owns. Accepts NULL. Required. */
    void (*OZ_NULLABLE destroy)(oz_instance *OZ_NULLABLE instance);
    /** Fills `info` (host-owned; honour its struct_size). Required. */
    oz_status (*OZ_NULLABLE describe)(const oz_instance *OZ_NONNULL instance, oz_instance_info *OZ_NONNULL info,
                                      oz_error *OZ_NONNULL err);
    /** Fills `info` for parameter `index` < num_params. Required. */
    oz_status (*OZ_NULLABLE get_param)(const oz_instance *OZ_NONNULL instance, uint32_t index,
                                       oz_param_info *OZ_NONNULL info, oz_error *OZ_NONNULL err);
    /**
     * Writes the upstream initialisation of every parameter into the host-owned `params` (shaped as
     * `get_param` says), deterministically from `seed`. Required when num_params > 0.
     */
    oz_status (*OZ_NULLABLE init_params)(const oz_instance *OZ_NONNULL instance, uint64_t seed,
                                         oz_tensor *OZ_NONNULL params, uint32_t num_params, oz_error *OZ_NONNULL err);
    /**
     * Bytes of workspace `pass` needs for batch B and length L (0 if none). NULL means none. May refuse B and L
     * the instance can never take (e.g. L != H*W for a grid operator) with OZ_ERR_SHAPE.
     */
    oz_status (*OZ_NULLABLE workspace_size)(const oz_instance *OZ_NONNULL instance, uint32_t pass, int64_t batch,
                                            int64_t length, uint64_t *OZ_NONNULL bytes, oz_error *OZ_NONNULL err);
    /** y = op(x). Required. */
    oz_status (*OZ_NULLABLE forward)(oz_instance *OZ_NONNULL instance, const oz_forward_args *OZ_NONNULL args,
                                     oz_error *OZ_NONNULL err);
    /** Vector-Jacobian product (see oz_backward_args). NULL when OZ_CAP_BACKWARD is not set. */
    oz_status (*OZ_NULLABLE backward)(oz_instance *OZ_NONNULL instance, const oz_backward_args *OZ_NONNULL args,
                                      oz_error *OZ_NONNULL err);
    /**
     * Since 1.3, optional: fills `cost` (see `oz_cost`) for one call with batch B and length L, for float32
     * tensors. NULL, or an operator table from 1.2 or older (its `struct_size` ends before this field), means "not
     * declared", and so does OZ_ERR_UNSUPPORTED (the operator cannot count this configuration, or a count
     * would overflow 64 bits). May refuse B and L the instance can never take with OZ_ERR_SHAPE, like
     * `workspace_size`.
     */
    oz_status (*OZ_NULLABLE cost)(const oz_instance *OZ_NONNULL instance, int64_t batch, int64_t length,
                                  oz_cost *OZ_NONNULL cost, oz_error *OZ_NONNULL err);
    /**
     * Since 1.5, optional: fills `entry` for upstream state-dict entry `index` < `oz_instance_info.num_state_entries`
     * (see `oz_state_entry`). NULL, or a table from 1.4 or older, means the upstream state dict holds the parameters
     * only. The host checks the answers when it creates the instance: names unique and not a parameter's, buffer
     * values finite, and the parts of a parameter tiling its rows exactly.
     */
    oz_status (*OZ_NULLABLE get_state_entry)(const oz_instance *OZ_NONNULL instance, uint32_t index,
                                             oz_state_entry *OZ_NONNULL entry, oz_error *OZ_NONNULL err);
    /**
     * Since 1.6, optional: computes diagnostic `args->kind` (see OZ_DIAG_ATTENTION_WEIGHTS) at input x, for analysis.
     * NULL, or a table from 1.5 or older, means the operator gives none; a kind the instance does not list in
     * `oz_instance_info.diagnostics` is refused with OZ_ERR_UNSUPPORTED.
     */
    oz_status (*OZ_NULLABLE diagnose)(oz_instance *OZ_NONNULL instance, const oz_diagnose_args *OZ_NONNULL args,
                                      oz_error *OZ_NONNULL err);
} oz_operator;

/* ------------------------------------------------------------------------------------------------ */
/* The plugin table and the entry symbol                                                            */
/* ------------------------------------------------------------------------------------------------ */

/**
 * What `oz_plugin_entry` returns. Static and read-only: the host never frees or writes it.
 * Pointer fields of tables the plugin provides are declared nullable because the host checks them and
 * refuses a NULL where one is required (with a message naming the field), rather than trusting them.
 */
typedef struct oz_plugin {
    uint32_t struct_size;                          /**< sizeof(oz_plugin) as the plugin compiled it; offset 0 forever */
    uint32_t abi_major;                            /**< OZ_ABI_MAJOR the plugin was built with; offset 4 forever */
    uint32_t abi_minor;                            /**< OZ_ABI_MINOR the plugin was built with; offset 8 forever */
    uint32_t num_operators;                        /**< entries in `operators` (>= 1) */
    const char *OZ_NULLABLE name;                  /**< plugin name, e.g. "OZAttention" (required) */
    const char *OZ_NULLABLE version;               /**< plugin version (semver), e.g. "1.0.0" (required) */
    const char *OZ_NULLABLE license;               /**< SPDX identifier, e.g. "MIT" (required) */
    const char *OZ_NULLABLE description;           /**< one line, or NULL */
    /** Operator tables (array of pointers, so each table may grow independently). */
    const oz_operator *const *OZ_NULLABLE operators;
} oz_plugin;

/** Type of the entry symbol. */
typedef const oz_plugin *OZ_NULLABLE (*oz_plugin_entry_fn)(void);

/* ------------------------------------------------------------------------------------------------ */
/* Helpers for plugin authors (static inline: nothing to link)                                       */
/* ------------------------------------------------------------------------------------------------ */

/** Copies `message` into `err` (truncating, always NUL-terminated) and returns `status`. */
static inline oz_status oz_error_set(oz_error *OZ_NULLABLE err, oz_status status, const char *OZ_NONNULL message) {
    if (err != NULL && err->struct_size >= offsetof(oz_error, message) + sizeof(char *) && err->message != NULL &&
        err->capacity > 0) {
        uint32_t i = 0;
        while (message[i] != '\0' && i + 1 < err->capacity) {
            err->message[i] = message[i];
            i++;
        }
        err->message[i] = '\0';
    }
    return status;
}

/** Number of elements of a tensor (product of its shape); -1 for a negative extent or an overflow. */
static inline int64_t oz_tensor_numel(const oz_tensor *OZ_NONNULL t) {
    int64_t n = 1;
    int32_t i;
    for (i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0 || (t->shape[i] > 0 && n > INT64_MAX / t->shape[i])) return -1;
        n *= t->shape[i];
    }
    return n;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#if defined(__clang__)
#pragma clang diagnostic pop
#endif

#endif /* OPERATOR_ZOO_OPERATOR_ABI_H */
