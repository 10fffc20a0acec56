/* Convenience constructors of host matrix views. */
#include "normot/normot.h"

/* The fields every view shares; the sparse constructors add their index arrays. */
static normot_matrix host_view(normot_layout layout, int64_t n_rows, int64_t n_cols, void *values,
                               normot_value_type value_type) {
  normot_matrix view = {0};
  view.layout = layout;
  view.n_rows = n_rows;
  view.n_cols = n_cols;
  view.values = values;
  view.value_type = value_type;
  view.memory = NORMOT_MEMORY_HOST;
  return view;
}

static normot_matrix with_indices(normot_matrix view, int64_t nnz, const void *indptr,
                                  const void *indices, normot_index_type index_type) {
  view.nnz = nnz;
  view.indptr = indptr;
  view.indices = indices;
  view.index_type = index_type;
  return view;
}

/* The two sparse constructors take eight parameters: their signatures are public API (ABI). */
normot_matrix normot_matrix_csr(/* NOLINT(readability-function-size): public ABI */
                                int64_t n_rows, int64_t n_cols, int64_t nnz, const void *indptr,
                                const void *indices, normot_index_type index_type, void *values,
                                normot_value_type value_type) {
  return with_indices(host_view(NORMOT_LAYOUT_CSR, n_rows, n_cols, values, value_type), nnz, indptr,
                      indices, index_type);
}

normot_matrix normot_matrix_csc(/* NOLINT(readability-function-size): public ABI */
                                int64_t n_rows, int64_t n_cols, int64_t nnz, const void *indptr,
                                const void *indices, normot_index_type index_type, void *values,
                                normot_value_type value_type) {
  return with_indices(host_view(NORMOT_LAYOUT_CSC, n_rows, n_cols, values, value_type), nnz, indptr,
                      indices, index_type);
}

normot_matrix normot_matrix_dense(int64_t n_rows, int64_t n_cols, void *values,
                                  normot_value_type value_type) {
  normot_matrix view = host_view(NORMOT_LAYOUT_DENSE, n_rows, n_cols, values, value_type);
  view.index_type = NORMOT_INDEX_INT64;
  view.ld = n_cols;
  return view;
}
