/* Content checks of host matrix views (see validate_matrix.h). */
#include "validate_matrix.h"

#include "validate_overlap.h"

static void record(normot_matrix_problem *problem, normot_status status, int64_t major,
                   int64_t position, int64_t bad_index, double bad_value) {
  normot_matrix_problem found = {status, major, position, bad_index, bad_value};
  normot_merge_problem(problem, &found);
}

void normot_check_indptr_ends(const void *indptr, normot_index_type type, int64_t n_major,
                              int64_t nnz, normot_matrix_problem *problem) {
  int64_t first = normot_load_index(indptr, type, 0);
  if (first != 0) {
    record(problem, NORMOT_ERROR_INVALID_INDPTR, 0, 0, first, 0.0);
    return;
  }
  int64_t last = normot_load_index(indptr, type, n_major);
  if (last != nnz) record(problem, NORMOT_ERROR_INVALID_INDPTR, n_major, n_major, last, 0.0);
}

void normot_check_indptr_steps(const void *indptr, normot_index_type type, int64_t first,
                               int64_t last, int64_t nnz, normot_matrix_problem *problem) {
  for (int64_t m = first; m < last; ++m) {
    int64_t start = normot_load_index(indptr, type, m);
    int64_t end = normot_load_index(indptr, type, m + 1);
    if (!normot_indptr_step_ok(start, end, nnz)) {
      /* Blame the entry that breaks the order: the end, unless the start is already off. */
      int blame_start = start < 0 || start > nnz;
      record(problem, NORMOT_ERROR_INVALID_INDPTR, m, blame_start ? m : m + 1,
             blame_start ? start : end, 0.0);
      return;
    }
  }
}

void normot_check_indices(const normot_matrix *X, int64_t begin, int64_t end, int64_t major,
                          normot_matrix_problem *problem) {
  const int64_t limit = X->layout == NORMOT_LAYOUT_CSC ? X->n_rows : X->n_cols;
  for (int64_t j = begin; j < end; ++j) {
    int64_t index = normot_load_index(X->indices, X->index_type, j);
    if (index < 0 || index >= limit) {
      record(problem, NORMOT_ERROR_INDEX_OUT_OF_RANGE, major, j, index, 0.0);
      return;
    }
  }
}

void normot_check_finite(const void *values, normot_value_type type, int64_t begin, int64_t end,
                         int64_t major, normot_matrix_problem *problem) {
  if (type == NORMOT_FLOAT32) {
    const float *v = values;
    for (int64_t j = begin; j < end; ++j)
      if (!isfinite(v[j])) {
        record(problem, NORMOT_ERROR_NONFINITE_VALUE, major, j, 0, v[j]);
        return;
      }
  } else if (type == NORMOT_FLOAT64) {
    const double *v = values;
    for (int64_t j = begin; j < end; ++j)
      if (!isfinite(v[j])) {
        record(problem, NORMOT_ERROR_NONFINITE_VALUE, major, j, 0, v[j]);
        return;
      }
  }
}

void normot_check_matrix(const normot_matrix *X, int check_indices, int check_values, int n_threads,
                         normot_matrix_problem *problem) {
  *problem = normot_no_problem();
  if (X->layout == NORMOT_LAYOUT_DENSE) {
    if (!check_values || !normot_is_float_type(X->value_type)) return;
    int64_t ld = X->ld > 0 ? X->ld : X->n_cols;
#pragma omp parallel num_threads(n_threads)
    {
      normot_matrix_problem local = normot_no_problem();
#pragma omp for schedule(static)
      for (int64_t r = 0; r < X->n_rows; ++r)
        if (local.status == NORMOT_SUCCESS)
          normot_check_finite(X->values, X->value_type, r * ld, r * ld + X->n_cols, r, &local);
#pragma omp critical(normot_check_matrix_merge)
      normot_merge_problem(problem, &local);
    }
    return;
  }
  int64_t n_major = X->layout == NORMOT_LAYOUT_CSR ? X->n_rows : X->n_cols;
  normot_check_indptr_ends(X->indptr, X->index_type, n_major, X->nnz, problem);
  if (problem->status != NORMOT_SUCCESS) return;
#pragma omp parallel num_threads(n_threads)
  {
    normot_matrix_problem local = normot_no_problem();
#pragma omp for schedule(static)
    for (int64_t m = 0; m < n_major; ++m) {
      if (local.status != NORMOT_SUCCESS) continue;
      int64_t start = normot_load_index(X->indptr, X->index_type, m);
      int64_t end = normot_load_index(X->indptr, X->index_type, m + 1);
      if (!normot_indptr_step_ok(start, end, X->nnz)) {
        normot_check_indptr_steps(X->indptr, X->index_type, m, m + 1, X->nnz, &local);
        continue;
      }
      if (check_indices) normot_check_indices(X, start, end, m, &local);
      if (check_values) normot_check_finite(X->values, X->value_type, start, end, m, &local);
    }
#pragma omp critical(normot_check_matrix_merge)
    normot_merge_problem(problem, &local);
  }
}

static const char *major_name(const normot_matrix *X) {
  return X->layout == NORMOT_LAYOUT_CSC ? "column" : "row";
}

normot_status normot_report_matrix_problem(normot_context *context, const normot_matrix *X,
                                           const normot_matrix_problem *problem) {
  switch (problem->status) {
    case NORMOT_SUCCESS: return NORMOT_SUCCESS;
    case NORMOT_ERROR_INVALID_INDPTR: {
      int64_t n_major = X->layout == NORMOT_LAYOUT_CSR ? X->n_rows : X->n_cols;
      if (problem->position == 0)
        return normot_fail(context, problem->status,
                           "invalid indptr: indptr[0] is %lld, it must be 0",
                           (long long)problem->bad_index);
      if (problem->position == n_major && problem->major == n_major)
        return normot_fail(context, problem->status,
                           "invalid indptr: indptr[%lld] is %lld, it must equal nnz = %lld",
                           (long long)n_major, (long long)problem->bad_index, (long long)X->nnz);
      return normot_fail(context, problem->status,
                         "invalid indptr: indptr[%lld] = %lld makes %s %lld's range invalid "
                         "(indptr must be non-decreasing, within [0, nnz = %lld])",
                         (long long)problem->position, (long long)problem->bad_index, major_name(X),
                         (long long)problem->major, (long long)X->nnz);
    }
    case NORMOT_ERROR_INDEX_OUT_OF_RANGE: {
      int64_t limit = X->layout == NORMOT_LAYOUT_CSR ? X->n_cols : X->n_rows;
      return normot_fail(context, problem->status,
                         "index out of range: indices[%lld] = %lld in %s %lld, expected a %s "
                         "index in [0, %lld)",
                         (long long)problem->position, (long long)problem->bad_index, major_name(X),
                         (long long)problem->major,
                         X->layout == NORMOT_LAYOUT_CSR ? "column" : "row", (long long)limit);
    }
    case NORMOT_ERROR_NONFINITE_VALUE:
      return normot_fail(context, problem->status,
                         "non-finite value: values[%lld] = %g in %s %lld (NaN and Inf are "
                         "rejected; set check_values = 0 to skip this check)",
                         (long long)problem->position, problem->bad_value, major_name(X),
                         (long long)problem->major);
    default:
      return normot_fail(context, problem->status, "invalid matrix (status %d)",
                         (int)problem->status);
  }
}

/* Elements of X's values array that a call reads: nnz, or the rows of a dense view. */
static int64_t value_extent(const normot_matrix *X) {
  if (X->layout != NORMOT_LAYOUT_DENSE) return X->nnz;
  if (X->n_rows == 0 || X->n_cols == 0) return 0;
  int64_t ld = X->ld > 0 ? X->ld : X->n_cols;
  return (X->n_rows - 1) * ld + X->n_cols;
}

normot_status normot_check_normalize_overlaps(normot_context *context, const normot_matrix *X,
                                              const normot_normalize_output *output) {
  const int64_t extent = value_extent(X);
  const int sparse = X->layout != NORMOT_LAYOUT_DENSE;
  const int64_t index_bytes = (int64_t)normot_index_size(X->index_type);
  const int64_t n_major = X->layout == NORMOT_LAYOUT_CSC ? X->n_cols : X->n_rows;
  const int64_t out_bytes = (int64_t)normot_value_size(output->value_type);
  /* The values array given again as the output, same type: in place, as with NULL. */
  const int in_place = output->values == NULL ||
                       (output->values == X->values && output->value_type == X->value_type);
  const normot_byte_range inputs[] = {
      {sparse ? X->indptr : NULL, (n_major + 1) * index_bytes, "X->indptr"},
      {sparse ? X->indices : NULL, X->nnz * index_bytes, "X->indices"},
      {X->values, extent * (int64_t)normot_value_size(X->value_type), "X->values"}};
  const normot_byte_range outputs[] = {
      {in_place ? NULL : output->values, extent * out_bytes, "output->values"},
      {output->size_factors, X->n_rows * out_bytes, "output->size_factors"},
      {output->totals, X->n_rows * out_bytes, "output->totals"}};
  return normot_check_overlaps(context, inputs, (int)(sizeof inputs / sizeof inputs[0]), outputs,
                               (int)(sizeof outputs / sizeof outputs[0]));
}
