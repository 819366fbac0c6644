/*
 * MPIShim.h -- the host's thin door to Open MPI, found at run time.
 *
 * `zoo` links no MPI library: a process launched by `mpirun` (Open MPI sets OMPI_COMM_WORLD_SIZE) opens
 * libmpi.so.40 with dlopen (RTLD_GLOBAL, as Open MPI's own components need) and resolves the few calls below. A machine
 * without Open MPI builds, tests and runs exactly as before. Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, ...) are
 * addresses of its global objects, resolved the same way; this shim is therefore Open MPI specific (documented).
 *
 * Every call returns 0 on success, or an MPI error code (or -1 when the library is not open) and writes a message.
 */
#ifndef OZ_MPI_SHIM_H
#define OZ_MPI_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Element types the collectives move. */
#define OZMPI_BYTE 0
#define OZMPI_FLOAT 1
#define OZMPI_DOUBLE 2

/** Opens libmpi (`path` NULL: libmpi.so.40, then libmpi.so) and resolves the calls; 0 on success. */
int ozmpi_open(const char *path, char *message, size_t capacity);
/** MPI_Init_thread (funneled: only the main thread calls MPI) and the world's rank and size. */
int ozmpi_init(int *rank, int *size, char *message, size_t capacity);
/** Every rank sends `count` elements of `type` to every rank: `send` holds `size` blocks of `count`, block r goes to
 *  rank r; `receive` gets block r from rank r (MPI_Alltoall). */
int ozmpi_alltoall(const void *send, void *receive, int count, int type, char *message, size_t capacity);
/** Every rank's `count` elements, gathered on every rank in rank order (MPI_Allgather). */
int ozmpi_allgather(const void *send, void *receive, int count, int type, char *message, size_t capacity);
/** Waits for every rank (MPI_Barrier). */
int ozmpi_barrier(char *message, size_t capacity);
/** Ends every rank of the job with `code` (MPI_Abort): for a failure one rank cannot recover from alone. */
void ozmpi_abort(int code);
/** MPI_Finalize. */
int ozmpi_finalize(char *message, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif /* OZ_MPI_SHIM_H */
