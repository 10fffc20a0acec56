/* Private to io/: what the HDF5 readers and writers share (hdf5_support.c: setting the library
 * up once, the cause of the last failure, whether a dataset's declared size fits the file and the
 * memory; hdf5_read.c: reading datasets and attributes, checking sparse index arrays). Only built
 * with HDF5 (NORMOT_HAVE_HDF5). */
#ifndef NORMOT_IO_HDF5_INTERNAL_H
#define NORMOT_IO_HDF5_INTERNAL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "io_internal.h"

/* The file a reader is reading: its name for messages, and where a failure's one-line reason
 * goes (as every reader reports, see cli_io_fail). */
typedef struct cli_h5_source {
  const char *path;
  char *error;
  size_t error_size;
} cli_h5_source;

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

/* Opens an input HDF5 file read-only; a negative id, with the one-line reason in `error`, when
 * it is not one. */
hid_t cli_h5_open_input(const char *path, char *error, size_t error_size);

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
int cli_h5_check_declared_size(const cli_h5_source *src, hid_t dataset, const char *name,
                               uint64_t count, double memory_bytes);

/* No real matrix has more rows or columns than this (2^48); larger shapes come from damaged
 * files, and rejecting them keeps every size computation far from overflow. */
static const int64_t CLI_H5_MAX_DIMENSION = (int64_t)1 << 48;

/* What cli_h5_read_string_attribute found. */
enum { CLI_H5_ATTRIBUTE_READ = 0, CLI_H5_ATTRIBUTE_ABSENT = 1, CLI_H5_ATTRIBUTE_NOT_A_STRING = 2 };

/* ---- reading (hdf5_read.c) ------------------------------------------------------------------- */

hid_t cli_h5_native_type_of(normot_value_type type);
int cli_h5_link_exists(hid_t location, const char *name);
/* H5I_GROUP, H5I_DATASET, or H5I_BADID when `name` is absent (portable across HDF5 1.10-1.14,
 * whose H5Oget_info signatures differ). */
H5I_type_t cli_h5_object_kind(hid_t location, const char *name);
/* Frees what HDF5 allocated for variable-length strings read into `buffer`. */
void cli_h5_reclaim_strings(hid_t memory_type, hid_t space, void *buffer);
/* Opens a 1-D dataset and returns its length (or -1 with the error set). */
hid_t cli_h5_open_vector(const cli_h5_source *src, hid_t location, const char *name,
                         int64_t *length);
H5T_class_t cli_h5_dataset_class(hid_t dataset);
/* Reads a 1-D integer dataset into int64. expected < 0: any length. */
int cli_h5_read_int64_vector(const cli_h5_source *src, hid_t location, const char *name,
                             int64_t expected, int64_t **out, int64_t *out_length);
/* The normot value type that holds a stored numeric type without loss (integers stay
 * integers: the normalization then matches scanpy's cast to float32). */
int cli_h5_value_type_for(hid_t file_type, normot_value_type *value_type);
/* Reads a 1-D numeric dataset of `expected` entries in the type that fits it. */
int cli_h5_read_value_vector(const cli_h5_source *src, hid_t location, const char *name,
                             int64_t expected, void **out, normot_value_type *out_type);
/* Reads a 1-D dataset of strings (fixed-length as Cell Ranger writes, or variable-length as
 * anndata writes) into `expected` owned C strings. */
int cli_h5_read_string_vector(const cli_h5_source *src, hid_t location, const char *name,
                              int64_t expected, char ***out);
/* Reads a string attribute (fixed or variable length, scalar) into `text`. Returns
 * CLI_H5_ATTRIBUTE_READ, CLI_H5_ATTRIBUTE_ABSENT, or CLI_H5_ATTRIBUTE_NOT_A_STRING (another type,
 * or unreadable). */
int cli_h5_read_string_attribute(hid_t object, const char *name, char *text, size_t text_size);
/* Reads an integer attribute of exactly two entries (a matrix shape). */
int cli_h5_read_shape_attribute(hid_t object, const char *name, int64_t shape[2]);
/* indptr of n_outer + 1 offsets must start at 0, never decrease, and end at nnz. */
int cli_h5_check_indptr(const cli_h5_source *src, const char *name, const int64_t *indptr,
                        int64_t n_outer, int64_t nnz);
/* Whether one stored value of `type` is zero; -0.0 counts as zero, so bytes alone cannot tell. */
int cli_h5_value_is_zero(const char *value, normot_value_type type);
int cli_h5_check_indices(const cli_h5_source *src, const char *name, const int64_t *indices,
                         int64_t nnz, int64_t bound);

/* A block of a 1-D dataset (rank 1: count[0] values from first[0]) or of a 2-D one (rows). */
typedef struct cli_h5_range {
  int rank;
  hsize_t first[2], count[2];
} cli_h5_range;
/* Reads or writes the range of `dataset` from or into `buffer` (values of memory_type, packed).
 * Returns 0, or 1 when libhdf5 fails. */
int cli_h5_read_range(hid_t dataset, hid_t memory_type, const cli_h5_range *range, void *buffer);
int cli_h5_write_range(hid_t dataset, hid_t memory_type, const cli_h5_range *range,
                       const void *buffer);

/* A 10x .h5's matrix group (v3's /matrix, or v2's first genome group) opened, and all of it but
 * the entries read into `names` as cli_read_10x_h5 reads it: n_rows cells, n_cols genes (every
 * feature, none dropped yet), barcodes, gene ids and names, v3's feature annotations. Returns
 * the group, or -1 with a one-line reason in src->error (`names` then empty). */
hid_t cli_tenx_h5_open_matrix(const cli_h5_source *src, hid_t file, cli_matrix *names);

#endif
