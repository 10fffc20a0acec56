/* The contract every matrix reader of the CLI keeps, whatever the bytes it is given: a failure
 * is a non-zero status with one line of reason and an empty matrix; a success is a consistent
 * CSR matrix (io/normot_io.h). */
#ifndef NORMOT_FUZZ_READERS_H
#define NORMOT_FUZZ_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "normot_io.h"

typedef struct fuzz_read_promises {
  int sorted_unique_columns; /* column indices strictly ascending within each row */
  int finite_values;         /* float values are never NaN or infinite */
} fuzz_read_promises;

/* Checks the outcome of one read (the reason in `error`), then frees the matrix. */
void fuzz_check_read(const char *what, int status, const char *error, cli_matrix *matrix,
                     fuzz_read_promises promises);

/* Reads `path` with cli_read_matrix (format by name), transposed or not, and checks it. */
void fuzz_read_and_check(const char *path, int transpose, fuzz_read_promises promises);

/* Writes the input to "<scratch>/<name>" (gzip-compressed when `gzip`), reads it with
 * cli_read_matrix, checks the outcome and removes the file. */
void fuzz_read_as_file(const uint8_t *data, size_t size, const char *name, int gzip, int transpose,
                       fuzz_read_promises promises);

#endif
