/* Content checks of a host matrix view: indptr, indices and finiteness of the values.
 *
 * Backend-neutral. The small inline helpers are meant to be called from inside a kernel's own
 * first pass over the data (so that the check costs no extra pass); the range functions check a
 * slice and record the first problem found; normot_report_matrix_problem() turns a problem into
 * the status and message of a failed call. Every check only reads. */
#ifndef NORMOT_SRC_VALIDATE_MATRIX_H
#define NORMOT_SRC_VALIDATE_MATRIX_H

#include <math.h>
#include <stdint.h>

#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The first problem a check found. Problems are ordered by (major, position), so that merging
 * the findings of several threads gives the same report for any thread count. */
typedef struct normot_matrix_problem {
  normot_status status; /* NORMOT_SUCCESS: nothing found */
  int64_t major;        /* the row (CSR, dense) or column (CSC) it was found in */
  int64_t position;     /* index into indptr (INVALID_INDPTR) or into indices/values */
  int64_t bad_index;    /* the offending indptr or index value */
  double bad_value;     /* the offending value (NONFINITE_VALUE) */
} normot_matrix_problem;

static inline normot_matrix_problem normot_no_problem(void) {
  normot_matrix_problem none = {NORMOT_SUCCESS, INT64_MAX, INT64_MAX, 0, 0.0};
  return none;
}

/* Keeps in *into whichever of the two problems comes first in the matrix. */
static inline void normot_merge_problem(normot_matrix_problem *into,
                                        const normot_matrix_problem *other) {
  if (other->status == NORMOT_SUCCESS) return;
  if (into->status == NORMOT_SUCCESS || other->major < into->major ||
      (other->major == into->major && other->position < into->position))
    *into = *other;
}

static inline int64_t normot_load_index(const void *array, normot_index_type type, int64_t i) {
  return type == NORMOT_INDEX_INT32 ? (int64_t)((const int32_t *)array)[i]
                                    : ((const int64_t *)array)[i];
}

/* A major's slice [start, end) is safe to read iff 0 <= start <= end <= nnz. Together with
 * indptr[0] == 0 and indptr[last] == nnz, every slice passing this makes indptr valid. */
static inline int normot_indptr_step_ok(int64_t start, int64_t end, int64_t nnz) {
  return 0 <= start && start <= end && end <= nnz;
}

/* Checks indptr[0] == 0 and indptr[n_major] == nnz; records a problem if not. */
void normot_check_indptr_ends(const void *indptr, normot_index_type type, int64_t n_major,
                              int64_t nnz, normot_matrix_problem *problem);

/* Checks the steps indptr[m] -> indptr[m + 1] for majors m in [first, last). */
void normot_check_indptr_steps(const void *indptr, normot_index_type type, int64_t first,
                               int64_t last, int64_t nnz, normot_matrix_problem *problem);

/* Checks X's stored indices [begin, end), found in `major`: 0 <= index < the minor extent
 * (n_cols for CSR, n_rows for CSC). */
void normot_check_indices(const normot_matrix *X, int64_t begin, int64_t end, int64_t major,
                          normot_matrix_problem *problem);

/* Checks that values[j] is finite for j in [begin, end), found in `major`. Integer types are
 * always finite. */
void normot_check_finite(const void *values, normot_value_type type, int64_t begin, int64_t end,
                         int64_t major, normot_matrix_problem *problem);

/* Checks a whole host matrix with n_threads OpenMP threads: indptr (sparse), indices when
 * check_indices, values when check_values. The problem found first in the matrix is recorded. */
void normot_check_matrix(const normot_matrix *X, int check_indices, int check_values, int n_threads,
                         normot_matrix_problem *problem);

/* Records the message for `problem` on the context and returns its status (SUCCESS if none). */
normot_status normot_report_matrix_problem(normot_context *context, const normot_matrix *X,
                                           const normot_matrix_problem *problem);

/* Refuses (NORMOT_ERROR_INVALID_ARGUMENT) an output array that overlaps one of X's arrays or
 * another output array. output->values equal to X->values with X's value type is in-place
 * normalization, as with NULL, and allowed. Needs only pointers and checked sizes. */
normot_status normot_check_normalize_overlaps(normot_context *context, const normot_matrix *X,
                                              const normot_normalize_output *output);

#ifdef __cplusplus
}
#endif

#endif
