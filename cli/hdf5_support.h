/* What the HDF5 readers and writers share: setting the library up once, the cause of the last
 * failure, and whether a dataset's declared size fits the file and the memory. Only built with
 * HDF5 (NORMOT_HAVE_HDF5). */
#ifndef NORMOT_CLI_HDF5_SUPPORT_H
#define NORMOT_CLI_HDF5_SUPPORT_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* A stored size can be at most this many times smaller than the data it holds: deflate's limit
 * (what h5py, anndata and Cell Ranger compress with). Data stored more compactly still (the
 * scale-offset filter on constant values) is refused. */
enum { CLI_H5_MAX_COMPRESSION = 1032 };
/* Declared data up to this size is accepted whatever the file stores (fill values of small
 * datasets cost nothing). */
enum { CLI_H5_UNSTORED_ALLOWANCE = 1 << 20 };

/* Before any other HDF5 call of the process: HDF5 prints nothing (its failures are recorded
 * instead, see cli_h5_failure_cause) and installs no exit handler: after a failed close (a full
 * disk), libhdf5 1.10's own exit handler crashes on the half-closed file. */
void cli_h5_setup(void);

/* Forgets the recorded failure; the next HDF5 call that fails is recorded. */
void cli_h5_failure_reset(void);
/* Records `cause` as the failure when nothing is recorded yet (for failures outside HDF5, such
 * as an allocation). */
void cli_h5_failure_note(const char *cause);
/* The first failure since the last reset, in words: the system's reason (strerror of the errno
 * HDF5 reports), "out of memory", or HDF5's own major and minor error names. Never a file name:
 * the callers name the file. "unknown failure" when nothing failed inside HDF5. */
void cli_h5_failure_cause(char *text, size_t text_size);

/* Checks, before it is read, that `count` values of `dataset` (a name for messages) can be real:
 * their stored bytes must account for the declared size (a tiny file declaring a huge, never
 * written dataset is refused), and `memory_bytes` (what reading them allocates) must fit in the
 * memory available. Returns 0, or 1 with a one-line reason in `error`. */
int cli_h5_check_declared_size(const char *path, hid_t dataset, const char *name, uint64_t count,
                               double memory_bytes, char *error, size_t error_size);

#endif
