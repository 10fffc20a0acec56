/* In-memory count matrices for the CLI, and the readers/writers of every file format.
 * Every reader returns 0 on success, or non-zero with a one-line reason in `error`.
 * Every writer writes to a temporary name beside the target and renames it at the end, so that
 * a failed write leaves no output file (see atomic_file.h). */
#ifndef NORMOT_CLI_MATRIX_IO_H
#define NORMOT_CLI_MATRIX_IO_H

#include <stddef.h>
#include <stdint.h>

#include "normot/normot.h"

/* An owning CSR matrix, rows = cells, columns = genes, 64-bit indices. */
typedef struct cli_matrix {
  int64_t n_rows;
  int64_t n_cols;
  int64_t nnz;
  int64_t *indptr;               /* n_rows + 1 */
  int64_t *indices;              /* nnz column indices */
  void *values;                  /* nnz values of value_type */
  normot_value_type value_type;  /* integer files: an integer type; real files: FLOAT64 */
  char **row_names;              /* optional (NULL): n_rows cell barcodes / obs names */
  char **col_names;              /* optional (NULL): n_cols gene ids / var names */
  char **col_symbols;            /* optional (NULL): n_cols gene symbols */
} cli_matrix;

void cli_matrix_free(cli_matrix *matrix);

/* Matrix Market coordinate (integer | real | pattern, general), plain or .gz, rows = cells
 * (scipy.io.mmread); `transpose` for genes x cells files. */
int cli_read_mtx(const char *path, int transpose, cli_matrix *out, char *error, size_t error_size);
/* Writes values of `value_type` (FLOAT32: 9 significant digits, FLOAT64: 17; round-trip). */
int cli_write_mtx(const char *path, const cli_matrix *matrix, char *error, size_t error_size);

/* Reads any supported input by its name: a directory (10x), .h5 (10x), .h5ad, .mtx[.gz]. */
int cli_read_matrix(const char *path, int transpose, cli_matrix *out, char *error,
                    size_t error_size);
/* Writes by extension: .mtx or .h5ad (size_factors: optional n_rows values of the matrix's
 * value_type, stored as an obs column in .h5ad). */
int cli_write_matrix(const char *path, const cli_matrix *matrix, const void *size_factors,
                     char *error, size_t error_size);

#endif
