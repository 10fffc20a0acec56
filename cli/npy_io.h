/* NumPy .npy arrays (format 1.0/2.0/3.0, C order, little-endian float32/float64/int32/int64). */
#ifndef NORMOT_CLI_NPY_IO_H
#define NORMOT_CLI_NPY_IO_H

#include <stddef.h>
#include <stdint.h>

#include "normot/normot.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { CLI_NPY_MAX_DIMS = 4 };

typedef struct cli_array {
  int ndim;
  int64_t shape[CLI_NPY_MAX_DIMS];
  normot_value_type type; /* FLOAT32, FLOAT64, INT32 or INT64 */
  void *data;             /* owning, C order */
} cli_array;

/* Total number of elements (product of the shape; 1 for ndim 0). */
int64_t cli_array_size(const cli_array *array);
void cli_array_free(cli_array *array);

/* Returns 0 on success, or non-zero with a one-line reason in `error` (truncated file, Fortran
 * order, big-endian or unsupported dtype, absurd shape, ...). */
int cli_npy_read(const char *path, cli_array *out, char *error, size_t error_size);
/* Writes atomically (temporary name, then rename). Format 1.0, data 64-byte aligned. */
int cli_npy_write(const char *path, const cli_array *array, char *error, size_t error_size);
/* Writes to exactly `temp_path`, created exclusively (an existing file is an error, never
 * overwritten); removes it again if the write fails. For commands that stage several outputs
 * under cli_atomic_temp_name() names and rename them all together at the end. Messages name
 * `final_path`, the file the user asked for, never the temporary name. */
int cli_npy_write_staged(const char *temp_path, const char *final_path, const cli_array *array,
                         char *error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif
