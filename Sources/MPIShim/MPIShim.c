/* MPIShim.c -- see include/MPIShim.h. Only this file knows Open MPI's symbol names. */
#define _GNU_SOURCE
#include "MPIShim.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef void *ompi_handle; /* MPI_Comm, MPI_Datatype: pointers to Open MPI's objects */

static struct {
    void *library;
    int (*init_thread)(int *, char ***, int, int *);
    int (*comm_rank)(ompi_handle, int *);
    int (*comm_size)(ompi_handle, int *);
    int (*alltoall)(const void *, int, ompi_handle, void *, int, ompi_handle, ompi_handle);
    int (*allgather)(const void *, int, ompi_handle, void *, int, ompi_handle, ompi_handle);
    int (*barrier)(ompi_handle);
    int (*abort_)(ompi_handle, int);
    int (*finalize)(void);
    int (*error_string)(int, char *, int *);
    ompi_handle world;
    ompi_handle types[3];
} mpi;

static int fail(char *message, size_t capacity, int code, const char *what) {
    if (message != NULL && capacity > 0) snprintf(message, capacity, "%s", what);
    return code;
}

/* The MPI library's own text for `code` after `call`. */
static int mpi_fail(char *message, size_t capacity, int code, const char *call) {
    char text[256] = "";
    int length = 0;
    if (mpi.error_string != NULL) mpi.error_string(code, text, &length);
    if (message != NULL && capacity > 0) snprintf(message, capacity, "%s failed (MPI error %d: %s)", call, code, text);
    return code;
}

int ozmpi_open(const char *path, char *message, size_t capacity) {
    const char *candidates[] = {path, "libmpi.so.40", "libmpi.so"};
    size_t i;
    if (mpi.library != NULL) return 0;
    for (i = 0; i < 3 && mpi.library == NULL; i++) {
        if (candidates[i] != NULL) mpi.library = dlopen(candidates[i], RTLD_NOW | RTLD_GLOBAL);
        if (path != NULL) break; /* an explicit path is the only one tried */
    }
    if (mpi.library == NULL) {
        const char *reason = dlerror();
        char text[512];
        snprintf(text, sizeof text, "cannot open the Open MPI library %s (%s)", path != NULL ? path : "libmpi.so.40",
                 reason != NULL ? reason : "not found");
        return fail(message, capacity, -1, text);
    }
#define OZ_RESOLVE(field, name)                                                                 \
    do {                                                                                        \
        *(void **)(&mpi.field) = dlsym(mpi.library, name);                                      \
        if (mpi.field == NULL) {                                                                \
            char text[256];                                                                     \
            snprintf(text, sizeof text, "the MPI library has no symbol %s (Open MPI 4 or 5 is needed)", name); \
            dlclose(mpi.library);                                                               \
            mpi.library = NULL;                                                                 \
            return fail(message, capacity, -1, text);                                           \
        }                                                                                       \
    } while (0)
    OZ_RESOLVE(init_thread, "MPI_Init_thread");
    OZ_RESOLVE(comm_rank, "MPI_Comm_rank");
    OZ_RESOLVE(comm_size, "MPI_Comm_size");
    OZ_RESOLVE(alltoall, "MPI_Alltoall");
    OZ_RESOLVE(allgather, "MPI_Allgather");
    OZ_RESOLVE(barrier, "MPI_Barrier");
    OZ_RESOLVE(abort_, "MPI_Abort");
    OZ_RESOLVE(finalize, "MPI_Finalize");
    OZ_RESOLVE(error_string, "MPI_Error_string");
    OZ_RESOLVE(world, "ompi_mpi_comm_world");
    OZ_RESOLVE(types[OZMPI_BYTE], "ompi_mpi_byte");
    OZ_RESOLVE(types[OZMPI_FLOAT], "ompi_mpi_float");
    OZ_RESOLVE(types[OZMPI_DOUBLE], "ompi_mpi_double");
#undef OZ_RESOLVE
    return 0;
}

int ozmpi_init(int *rank, int *size, char *message, size_t capacity) {
    int provided = 0, code;
    if (mpi.library == NULL) return fail(message, capacity, -1, "the MPI library is not open");
    if ((code = mpi.init_thread(NULL, NULL, 1 /* MPI_THREAD_FUNNELED */, &provided)) != 0)
        return mpi_fail(message, capacity, code, "MPI_Init_thread");
    if ((code = mpi.comm_rank(mpi.world, rank)) != 0) return mpi_fail(message, capacity, code, "MPI_Comm_rank");
    if ((code = mpi.comm_size(mpi.world, size)) != 0) return mpi_fail(message, capacity, code, "MPI_Comm_size");
    return 0;
}

static int check_type(int type, char *message, size_t capacity) {
    if (mpi.library == NULL) return fail(message, capacity, -1, "the MPI library is not open");
    if (type < OZMPI_BYTE || type > OZMPI_DOUBLE) return fail(message, capacity, -1, "unknown element type");
    return 0;
}

int ozmpi_alltoall(const void *send, void *receive, int count, int type, char *message, size_t capacity) {
    int code = check_type(type, message, capacity);
    if (code != 0) return code;
    code = mpi.alltoall(send, count, mpi.types[type], receive, count, mpi.types[type], mpi.world);
    return code == 0 ? 0 : mpi_fail(message, capacity, code, "MPI_Alltoall");
}

int ozmpi_allgather(const void *send, void *receive, int count, int type, char *message, size_t capacity) {
    int code = check_type(type, message, capacity);
    if (code != 0) return code;
    code = mpi.allgather(send, count, mpi.types[type], receive, count, mpi.types[type], mpi.world);
    return code == 0 ? 0 : mpi_fail(message, capacity, code, "MPI_Allgather");
}

int ozmpi_barrier(char *message, size_t capacity) {
    int code;
    if (mpi.library == NULL) return fail(message, capacity, -1, "the MPI library is not open");
    code = mpi.barrier(mpi.world);
    return code == 0 ? 0 : mpi_fail(message, capacity, code, "MPI_Barrier");
}

void ozmpi_abort(int code) {
    if (mpi.library != NULL) mpi.abort_(mpi.world, code);
}

int ozmpi_finalize(char *message, size_t capacity) {
    int code;
    if (mpi.library == NULL) return 0;
    code = mpi.finalize();
    return code == 0 ? 0 : mpi_fail(message, capacity, code, "MPI_Finalize");
}
