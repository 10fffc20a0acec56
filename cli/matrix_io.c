/* Picks the reader or writer of a matrix file by what the path is: a directory (10x), .h5 (10x),
 * .h5ad (AnnData), .mtx / .mtx.gz (Matrix Market). A name with another ending is sniffed: Matrix
 * Market text or gzip data is read as Matrix Market. */
#define _POSIX_C_SOURCE 200809L
#include "matrix_io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "hdf5_io.h"
#include "io_error.h"
#include "tenx_io.h"

static int ends_with(const char *text, const char *suffix) {
  size_t text_length = strlen(text), suffix_length = strlen(suffix);
  return text_length >= suffix_length &&
         strcasecmp(text + text_length - suffix_length, suffix) == 0;
}

typedef enum sniffed_kind { SNIFF_UNKNOWN, SNIFF_MTX_OR_GZIP, SNIFF_HDF5 } sniffed_kind;

static sniffed_kind sniff(const char *path) {
  unsigned char head[16] = {0};
  FILE *stream = fopen(path, "rb");
  if (stream == NULL) return SNIFF_UNKNOWN;
  size_t got = fread(head, 1, sizeof head, stream);
  fclose(stream);
  if (got >= 2 && head[0] == 0x1f && head[1] == 0x8b) return SNIFF_MTX_OR_GZIP;
  if (got >= 14 && strncasecmp((const char *)head, "%%MatrixMarket", 14) == 0)
    return SNIFF_MTX_OR_GZIP;
  if (got >= 8 && memcmp(head, "\x89HDF\r\n\x1a\n", 8) == 0) return SNIFF_HDF5;
  return SNIFF_UNKNOWN;
}

static void free_strings(char **strings, int64_t count) {
  if (strings == NULL) return;
  for (int64_t i = 0; i < count; i++) free(strings[i]);
  free(strings);
}

void cli_matrix_free_annotations(cli_matrix *matrix) {
  for (int k = 0; k < matrix->n_annotations; k++) {
    free(matrix->annotations[k].name);
    free_strings(matrix->annotations[k].values, matrix->n_cols);
  }
  free(matrix->annotations);
  matrix->annotations = NULL;
  matrix->n_annotations = 0;
}

int cli_matrix_add_annotation(cli_matrix *matrix, const char *name, char **values) {
  cli_gene_annotation *grown = realloc(
      matrix->annotations, (size_t)(matrix->n_annotations + 1) * sizeof *matrix->annotations);
  char *name_copy = strdup(name);
  if (grown != NULL) matrix->annotations = grown;
  if (grown == NULL || name_copy == NULL) {
    free(name_copy);
    free_strings(values, matrix->n_cols);
    return 1;
  }
  cli_gene_annotation *added = &matrix->annotations[matrix->n_annotations++];
  added->name = name_copy;
  added->values = values;
  return 0;
}

cli_input_kind cli_input_kind_of(const char *path) {
  struct stat info;
  if (stat(path, &info) == 0 && S_ISDIR(info.st_mode)) return CLI_INPUT_10X_DIR;
  if (ends_with(path, ".h5ad")) return CLI_INPUT_H5AD;
  if (ends_with(path, ".h5")) return CLI_INPUT_10X_H5;
  return CLI_INPUT_OTHER;
}

int cli_transpose_matrix(cli_matrix *matrix, char *error, size_t error_size) {
  int64_t n_rows = matrix->n_rows, n_cols = matrix->n_cols, nnz = matrix->nnz;
  size_t value_size = matrix->value_type == NORMOT_FLOAT64 || matrix->value_type == NORMOT_INT64
                          ? 8
                          : (matrix->value_type == NORMOT_UINT16 ? 2 : 4);
  int64_t *indptr = calloc((size_t)n_cols + 1, sizeof *indptr);
  int64_t *indices = malloc((nnz > 0 ? (size_t)nnz : 1) * sizeof *indices);
  char *values = malloc((nnz > 0 ? (size_t)nnz : 1) * value_size);
  if (indptr == NULL || indices == NULL || values == NULL) {
    free(indptr);
    free(indices);
    free(values);
    return cli_io_fail(error, error_size, "out of memory transposing the matrix");
  }
  for (int64_t i = 0; i < nnz; ++i) indptr[matrix->indices[i] + 1]++;
  for (int64_t c = 0; c < n_cols; ++c) indptr[c + 1] += indptr[c];
  /* Visiting rows in order keeps the new rows' indices sorted. */
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t i = matrix->indptr[r]; i < matrix->indptr[r + 1]; ++i) {
      int64_t slot = indptr[matrix->indices[i]]++;
      indices[slot] = r;
      memcpy(values + (size_t)slot * value_size,
             (const char *)matrix->values + (size_t)i * value_size, value_size);
    }
  }
  for (int64_t c = n_cols; c > 0; --c) indptr[c] = indptr[c - 1];
  indptr[0] = 0;
  free(matrix->indptr);
  free(matrix->indices);
  free(matrix->values);
  matrix->indptr = indptr;
  matrix->indices = indices;
  matrix->values = values;
  matrix->n_rows = n_cols;
  matrix->n_cols = n_rows;
  /* Names follow their axis; symbols and annotations belong to genes, which are now rows: drop
   * them. */
  char **old_rows = matrix->row_names;
  matrix->row_names = matrix->col_names;
  matrix->col_names = old_rows;
  free_strings(matrix->col_symbols, n_cols);
  matrix->col_symbols = NULL;
  matrix->n_cols = n_cols;
  cli_matrix_free_annotations(matrix);
  matrix->n_cols = n_rows;
  return 0;
}

int cli_read_matrix(const char *path, int transpose, cli_matrix *out, char *error,
                    size_t error_size) {
  memset(out, 0, sizeof *out);
  struct stat info;
  if (stat(path, &info) != 0)
    return cli_io_fail(error, error_size, "%s: %s", path, strerror(errno));
  int status;
  int transposed_on_read = 0;
  if (S_ISDIR(info.st_mode)) {
    if (!cli_is_10x_dir(path))
      return cli_io_fail(error, error_size, "%s: a directory without matrix.mtx or matrix.mtx.gz",
                         path);
    status = cli_read_10x_dir(path, out, error, error_size);
  } else if (ends_with(path, ".h5ad")) {
    status = cli_read_h5ad(path, out, error, error_size);
  } else if (ends_with(path, ".h5")) {
    status = cli_read_10x_h5(path, out, error, error_size);
  } else if (ends_with(path, ".mtx") || ends_with(path, ".mtx.gz")) {
    status = cli_read_mtx(path, transpose, out, error, error_size);
    transposed_on_read = 1;
  } else {
    switch (sniff(path)) {
      case SNIFF_MTX_OR_GZIP:
        status = cli_read_mtx(path, transpose, out, error, error_size);
        transposed_on_read = 1;
        break;
      case SNIFF_HDF5:
        return cli_io_fail(
            error, error_size,
            "%s: an HDF5 file: name it .h5 (10x) or .h5ad (AnnData) so that it can be "
            "read as one",
            path);
      default:
        return cli_io_fail(
            error, error_size,
            "%s: unknown input format (expected a 10x directory, .h5, .h5ad, .mtx or "
            ".mtx.gz)",
            path);
    }
  }
  if (status != 0) {
    cli_matrix_free(out);
    return status;
  }
  if (transpose && !transposed_on_read && cli_transpose_matrix(out, error, error_size) != 0) {
    cli_matrix_free(out);
    return -1;
  }
  return 0;
}

int cli_check_output_path(const char *path, char *error, size_t error_size) {
  if (path == NULL || path[0] == '\0') return cli_io_fail(error, error_size, "empty output path");
  if (ends_with(path, ".mtx") || ends_with(path, ".mtx.gz")) return 0;
  if (ends_with(path, ".h5ad")) {
    if (!cli_hdf5_available())
      return cli_io_fail(error, error_size,
                         "%s: .h5ad output needs HDF5, not compiled into this build", path);
    return 0;
  }
  return cli_io_fail(error, error_size, "%s: unknown output format (use .mtx, .mtx.gz or .h5ad)",
                     path);
}

int cli_write_matrix(const char *path, const cli_matrix *matrix, const struct cli_h5ad_output *h5ad,
                     char *error, size_t error_size) {
  if (cli_check_output_path(path, error, error_size) != 0) return -1;
  if (ends_with(path, ".h5ad")) return cli_write_h5ad(path, matrix, h5ad, error, error_size);
  return cli_write_mtx(path, matrix, error, error_size);
}
