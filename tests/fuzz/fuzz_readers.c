#include "fuzz_readers.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_support.h"

static void check_empty(const char *what, const cli_matrix *matrix) {
  static const cli_matrix empty;
  if (memcmp(matrix, &empty, sizeof empty) != 0)
    fuzz_fail("%s failed but left a non-empty matrix", what);
}

static void check_names(const char *what, const char *axis, char **names, int64_t count) {
  if (names == NULL) return;
  for (int64_t i = 0; i < count; ++i)
    if (names[i] == NULL) fuzz_fail("%s: %s name %lld is NULL", what, axis, (long long)i);
}

static void check_indptr(const char *what, const cli_matrix *matrix) {
  const int64_t *indptr = matrix->indptr;
  if (indptr == NULL) {
    fuzz_fail("%s: no indptr", what);
  } else {
    if (indptr[0] != 0) fuzz_fail("%s: indptr[0] != 0", what);
    for (int64_t r = 0; r < matrix->n_rows; ++r)
      if (indptr[r + 1] < indptr[r])
        fuzz_fail("%s: indptr decreases at row %lld", what, (long long)r);
    if (indptr[matrix->n_rows] != matrix->nnz)
      fuzz_fail("%s: indptr ends at %lld, nnz is %lld", what, (long long)indptr[matrix->n_rows],
                (long long)matrix->nnz);
  }
}

static void check_indices(const char *what, const cli_matrix *matrix, int sorted_unique) {
  if (matrix->nnz > 0 && (matrix->indices == NULL || matrix->values == NULL))
    fuzz_fail("%s: entries without indices or values", what);
  for (int64_t r = 0; r < matrix->n_rows; ++r) {
    for (int64_t e = matrix->indptr[r]; e < matrix->indptr[r + 1]; ++e) {
      int64_t column = matrix->indices[e];
      if (column < 0 || column >= matrix->n_cols)
        fuzz_fail("%s: column %lld out of range in row %lld", what, (long long)column,
                  (long long)r);
      if (sorted_unique && e > matrix->indptr[r] && matrix->indices[e - 1] >= column)
        fuzz_fail("%s: row %lld not strictly ascending", what, (long long)r);
    }
  }
}

static void check_values(const char *what, const cli_matrix *matrix, int finite) {
  switch (matrix->value_type) {
    case NORMOT_INT32:
    case NORMOT_INT64:
    case NORMOT_UINT16:
    case NORMOT_UINT32: return;
    case NORMOT_FLOAT32:
      for (int64_t e = 0; finite && e < matrix->nnz; ++e)
        if (!isfinite(((const float *)matrix->values)[e]))
          fuzz_fail("%s: non-finite value %lld", what, (long long)e);
      return;
    case NORMOT_FLOAT64:
      for (int64_t e = 0; finite && e < matrix->nnz; ++e)
        if (!isfinite(((const double *)matrix->values)[e]))
          fuzz_fail("%s: non-finite value %lld", what, (long long)e);
      return;
  }
  fuzz_fail("%s: unknown value type %d", what, (int)matrix->value_type);
}

void fuzz_check_read(const char *what, int status, const char *error, cli_matrix *matrix,
                     fuzz_read_promises promises) {
  fuzz_report_outcome(what, status != 0 ? error : NULL);
  if (status != 0) {
    fuzz_check_error_line(what, error);
    check_empty(what, matrix);
    return;
  }
  if (matrix->n_rows < 0 || matrix->n_cols < 0 || matrix->nnz < 0)
    fuzz_fail("%s: negative size", what);
  check_indptr(what, matrix);
  check_indices(what, matrix, promises.sorted_unique_columns);
  check_values(what, matrix, promises.finite_values);
  check_names(what, "row", matrix->row_names, matrix->n_rows);
  check_names(what, "column", matrix->col_names, matrix->n_cols);
  check_names(what, "symbol", matrix->col_symbols, matrix->n_cols);
  cli_matrix_free(matrix);
}

void fuzz_read_and_check(const char *path, int transpose, fuzz_read_promises promises) {
  cli_matrix matrix;
  char error[1024] = "";
  int status = cli_read_matrix(path, transpose, &matrix, error, sizeof error);
  fuzz_check_read(path, status, error, &matrix, promises);
}

void fuzz_read_as_file(const uint8_t *data, size_t size, const char *name, int gzip, int transpose,
                       fuzz_read_promises promises) {
  char path[640];
  fuzz_scratch_path(name, path, sizeof path);
  fuzz_write_file(path, data, size, gzip);
  fuzz_read_and_check(path, transpose, promises);
  unlink(path);
}
