/* Convenience constructors of host matrix views. */
#include "normot/normot.h"

static normot_matrix sparse_view(normot_layout layout, int64_t n_rows, int64_t n_cols,
                                 int64_t nnz, const void *indptr, const void *indices,
                                 normot_index_type index_type, void *values,
                                 normot_value_type value_type) {
  normot_matrix view = {0};
  view.layout = layout;
  view.n_rows = n_rows;
  view.n_cols = n_cols;
  view.nnz = nnz;
  view.indptr = indptr;
  view.indices = indices;
  view.index_type = index_type;
  view.values = values;
  view.value_type = value_type;
  view.memory = NORMOT_MEMORY_HOST;
  return view;
}

normot_matrix normot_matrix_csr(int64_t n_rows, int64_t n_cols, int64_t nnz, const void *indptr,
                                const void *indices, normot_index_type index_type, void *values,
                                normot_value_type value_type) {
  return sparse_view(NORMOT_LAYOUT_CSR, n_rows, n_cols, nnz, indptr, indices, index_type, values,
                     value_type);
}

normot_matrix normot_matrix_csc(int64_t n_rows, int64_t n_cols, int64_t nnz, const void *indptr,
                                const void *indices, normot_index_type index_type, void *values,
                                normot_value_type value_type) {
  return sparse_view(NORMOT_LAYOUT_CSC, n_rows, n_cols, nnz, indptr, indices, index_type, values,
                     value_type);
}

normot_matrix normot_matrix_dense(int64_t n_rows, int64_t n_cols, void *values,
                                  normot_value_type value_type) {
  normot_matrix view = sparse_view(NORMOT_LAYOUT_DENSE, n_rows, n_cols, 0, NULL, NULL,
                                   NORMOT_INDEX_INT64, values, value_type);
  view.ld = n_cols;
  return view;
}
