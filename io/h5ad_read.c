/* AnnData's .h5ad: X (csr_matrix, csc_matrix or dense) with the obs and var names. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdf5_internal.h"

/* Reads the names of a dataframe group (obs or var): its index, and optionally one string
 * column. A missing dataframe gives NULL names (anndata then numbers them). */
static int read_dataframe_index(const cli_h5_source *src, hid_t file, const char *frame,
                                int64_t length, char ***names) {
  *names = NULL;
  if (cli_h5_object_kind(file, frame) != H5I_GROUP)
    return 0; /* anndata < 0.7 stored dataframes as compound datasets: names are not kept */
  hid_t group = H5Gopen2(file, frame, H5P_DEFAULT);
  if (group < 0) return 0;
  char index_name[256];
  int status = 0;
  if (cli_h5_read_string_attribute(group, "_index", index_name, sizeof index_name) == 0 &&
      cli_h5_link_exists(group, index_name)) {
    char qualified[300];
    snprintf(qualified, sizeof qualified, "%s/%s", frame, index_name);
    status = cli_h5_read_string_vector(src, file, qualified, length, names);
  }
  H5Gclose(group);
  return status;
}

/* Reads a categorical column (anndata: a group with "categories" strings and integer "codes",
 * -1 for a missing value) as one string per row. */
static int read_categorical_column(const cli_h5_source *src, hid_t file, const char *qualified,
                                   int64_t length, char ***values) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
  char name[320];
  snprintf(name, sizeof name, "%s/categories", qualified);
  int64_t n_categories = 0;
  hid_t categories_set = cli_h5_open_vector(src, file, name, &n_categories);
  if (categories_set < 0) return 1;
  H5Dclose(categories_set);
  char **categories = NULL;
  int64_t *codes = NULL;
  char **strings = NULL;
  int status = 1;
  if (cli_h5_read_string_vector(src, file, name, n_categories, &categories)) goto done;
  snprintf(name, sizeof name, "%s/codes", qualified);
  if (cli_h5_read_int64_vector(src, file, name, length, &codes, NULL)) goto done;
  strings = calloc((size_t)(length > 0 ? length : 1), sizeof *strings);
  if (strings == NULL) goto out_of_memory;
  for (int64_t i = 0; i < length; i++) {
    if (codes[i] < -1 || codes[i] >= n_categories) {
      cli_io_fail(error, error_size, "'%s': %s[%lld] = %lld is not a category", path, name,
                  (long long)i, (long long)codes[i]);
      goto done;
    }
    strings[i] = strdup(codes[i] < 0 ? "" : categories[codes[i]]);
    if (strings[i] == NULL) goto out_of_memory;
  }
  *values = strings;
  strings = NULL;
  status = 0;
  goto done;
out_of_memory:
  cli_io_fail(error, error_size, "'%s': out of memory reading '%s'", path, qualified);
done:
  cli_free_strings(strings, length);
  cli_free_strings(categories, n_categories);
  free(codes);
  return status;
}

/* Reads the string column `column` of dataframe `frame` when it is a string array or a
 * categorical of strings; another kind of column (numbers) gives NULL. */
static int read_dataframe_column(const cli_h5_source *src, hid_t file, const char *frame,
                                 const char *column, int64_t length, char ***values) {
  *values = NULL;
  char qualified[300];
  snprintf(qualified, sizeof qualified, "%s/%s", frame, column);
  if (!cli_h5_link_exists(file, frame)) return 0;
  H5I_type_t kind = cli_h5_object_kind(file, qualified);
  if (kind == H5I_GROUP) {
    hid_t group = H5Gopen2(file, qualified, H5P_DEFAULT);
    char encoding[64] = "";
    if (group >= 0) {
      cli_h5_read_string_attribute(group, "encoding-type", encoding, sizeof encoding);
      H5Gclose(group);
    }
    if (strcmp(encoding, "categorical") != 0) return 0;
    return read_categorical_column(src, file, qualified, length, values);
  }
  if (kind != H5I_DATASET) return 0;
  hid_t dataset = H5Dopen2(file, qualified, H5P_DEFAULT);
  if (dataset < 0) return 0;
  H5T_class_t type_class = cli_h5_dataset_class(dataset);
  H5Dclose(dataset);
  if (type_class != H5T_STRING) return 0;
  return cli_h5_read_string_vector(src, file, qualified, length, values);
}

/* Whether one stored value is zero; -0.0 counts as zero, so bytes alone cannot tell. */
#define RETURN_IS_ZERO_AS(type)  \
  do {                           \
    type v;                      \
    memcpy(&v, value, sizeof v); \
    return v == 0;               \
  } while (0)

int cli_h5_value_is_zero(const char *value, normot_value_type type) {
  switch (type) {
    case NORMOT_FLOAT32: RETURN_IS_ZERO_AS(float);
    case NORMOT_FLOAT64: RETURN_IS_ZERO_AS(double);
    case NORMOT_INT32: RETURN_IS_ZERO_AS(int32_t);
    case NORMOT_INT64: RETURN_IS_ZERO_AS(int64_t);
    case NORMOT_UINT16: RETURN_IS_ZERO_AS(uint16_t);
    case NORMOT_UINT32: RETURN_IS_ZERO_AS(uint32_t);
  }
  return 0;
}
#undef RETURN_IS_ZERO_AS

/* The shape and value type of a dense 2-D X. Returns 0, or non-zero with the reason. */
static int dense_x_shape(const cli_h5_source *src, hid_t file_space, hid_t file_type,
                         int64_t shape[2], normot_value_type *value_type) {
  const char *path = src->path;
  hsize_t dims[2] = {0, 0};
  uint64_t n_values = 0;
  if (file_space < 0 || file_type < 0 || H5Sget_simple_extent_ndims(file_space) != 2)
    return cli_io_fail(src->error, src->error_size, "'%s': a dense X must be 2-dimensional", path);
  if (cli_h5_value_type_for(file_type, value_type) != 0)
    return cli_io_fail(src->error, src->error_size, "'%s': X should hold numbers", path);
  H5Sget_simple_extent_dims(file_space, dims, NULL);
  /* Each dimension below 2^48 keeps a row's bytes far from overflow; their product may not. */
  if (dims[0] > (hsize_t)CLI_H5_MAX_DIMENSION || dims[1] > (hsize_t)CLI_H5_MAX_DIMENSION ||
      __builtin_mul_overflow((uint64_t)dims[0], (uint64_t)dims[1], &n_values))
    return cli_io_fail(src->error, src->error_size, "'%s': X has an impossible shape (%llu, %llu)",
                       path, (unsigned long long)dims[0], (unsigned long long)dims[1]);
  shape[0] = (int64_t)dims[0], shape[1] = (int64_t)dims[1];
  return 0;
}

/* A CSR matrix growing row by row from dense rows: only the non-zero values are kept. */
typedef struct sparse_rows {
  int64_t n_cols;
  normot_value_type value_type;
  size_t element_size;
  int64_t *indptr; /* n_rows + 1, allocated in advance */
  int64_t *indices;
  char *values;
  int64_t nnz, capacity;
} sparse_rows;

/* Appends the non-zeros of `count` dense rows (block) as rows first, first + 1, ... Returns 0,
 * or 1 when out of memory. */
static int append_dense_rows(sparse_rows *rows, const char *block, int64_t first, int64_t count) {
  const size_t size = rows->element_size;
  for (int64_t r = 0; r < count; r++) {
    for (int64_t c = 0; c < rows->n_cols; c++) {
      const char *value = block + ((size_t)r * (size_t)rows->n_cols + (size_t)c) * size;
      if (cli_h5_value_is_zero(value, rows->value_type)) continue;
      if (rows->nnz == rows->capacity) {
        int64_t grown = rows->capacity == 0 ? 1024 : 2 * rows->capacity;
        int64_t *more_indices = realloc(rows->indices, (size_t)grown * sizeof *more_indices);
        if (more_indices == NULL) return 1;
        rows->indices = more_indices;
        char *more_values = realloc(rows->values, (size_t)grown * size);
        if (more_values == NULL) return 1;
        rows->values = more_values;
        rows->capacity = grown;
      }
      rows->indices[rows->nnz] = c;
      memcpy(rows->values + (size_t)rows->nnz * size, value, size);
      rows->nnz++;
    }
    rows->indptr[first + r + 1] = rows->nnz;
  }
  return 0;
}

/* Reads `n_rows` rows of a dense X `rows_per_block` at a time into `rows`. Returns 0, 1 when HDF5
 * cannot read, 2 when out of memory. */
static int read_dense_blocks(hid_t dataset, hid_t file_space, int64_t n_rows,
                             int64_t rows_per_block, sparse_rows *rows) {
  char *block = cli_io_allocate((size_t)rows_per_block * (size_t)rows->n_cols, rows->element_size);
  if (block == NULL) return 2;
  hid_t memory_space = -1;
  int status = 0;
  for (int64_t first = 0; first < n_rows && status == 0; first += rows_per_block) {
    int64_t count = n_rows - first < rows_per_block ? n_rows - first : rows_per_block;
    hsize_t start[2] = {(hsize_t)first, 0}, extent[2] = {(hsize_t)count, (hsize_t)rows->n_cols};
    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, extent, NULL);
    if (memory_space >= 0) H5Sclose(memory_space);
    memory_space = H5Screate_simple(2, extent, NULL);
    if (rows->n_cols > 0 && H5Dread(dataset, cli_h5_native_type_of(rows->value_type), memory_space,
                                    file_space, H5P_DEFAULT, block) < 0)
      status = 1;
    else if (append_dense_rows(rows, block, first, count) != 0)
      status = 2;
  }
  if (memory_space >= 0) H5Sclose(memory_space);
  free(block);
  return status;
}

/* Reads the rows of a dense X of `shape` into `rows`, a block of rows at a time, after checking
 * that the file and the memory can hold what it declares. Returns 0, or 1 with the reason. */
static int read_dense_rows(const cli_h5_source *src, hid_t dataset, hid_t file_space,
                           const int64_t shape[2], sparse_rows *rows) {
  const int64_t n_rows = shape[0];
  rows->n_cols = shape[1];
  rows->element_size = normot_value_size(rows->value_type);
  /* About 32 MB per block, at least one row. */
  int64_t rows_per_block =
      rows->n_cols > 0 ? (int64_t)(((size_t)32 << 20) / (rows->element_size * rows->n_cols)) : 1;
  if (rows_per_block < 1) rows_per_block = 1;
  if (rows_per_block > n_rows) rows_per_block = n_rows > 0 ? n_rows : 1;
  double block_bytes = (double)rows_per_block * (double)rows->n_cols * (double)rows->element_size;
  if (cli_h5_check_declared_size(src, dataset, "X", (uint64_t)n_rows * (uint64_t)rows->n_cols,
                                 8.0 * ((double)n_rows + 1.0) + block_bytes))
    return 1;
  rows->indptr = cli_io_allocate((size_t)n_rows + 1, sizeof *rows->indptr);
  int status = rows->indptr == NULL ? 2 : 0;
  if (status == 0) {
    rows->indptr[0] = 0;
    status = read_dense_blocks(dataset, file_space, n_rows, rows_per_block, rows);
  }
  if (status == 0 && rows->indices == NULL) rows->indices = cli_io_allocate(0, sizeof(int64_t));
  if (status == 0 && rows->values == NULL) rows->values = cli_io_allocate(0, rows->element_size);
  if (status == 0 && (rows->indices == NULL || rows->values == NULL)) status = 2;
  if (status == 1)
    cli_io_fail(src->error, src->error_size, "'%s': cannot read the dense X", src->path);
  if (status == 2)
    cli_io_fail(src->error, src->error_size, "'%s': out of memory reading the dense X", src->path);
  return status != 0;
}

/* Reads a dense 2-D X and keeps its non-zero entries as CSR. */
static int read_dense_x(const cli_h5_source *src, hid_t dataset, cli_matrix *out) {
  hid_t file_space = H5Dget_space(dataset);
  hid_t file_type = H5Dget_type(dataset);
  int64_t shape[2] = {0, 0};
  sparse_rows rows = {0};
  int failed = dense_x_shape(src, file_space, file_type, shape, &rows.value_type) != 0 ||
               read_dense_rows(src, dataset, file_space, shape, &rows) != 0;
  if (file_type >= 0) H5Tclose(file_type);
  if (file_space >= 0) H5Sclose(file_space);
  if (failed) {
    free(rows.indptr);
    free(rows.indices);
    free(rows.values);
    return 1;
  }
  *out = (cli_matrix){.n_rows = shape[0],
                      .n_cols = rows.n_cols,
                      .nnz = rows.nnz,
                      .indptr = rows.indptr,
                      .indices = rows.indices,
                      .values = rows.values,
                      .value_type = rows.value_type};
  return 0;
}

/* Reads a sparse X group (csr_matrix or csc_matrix) into CSR. */
static int read_sparse_x(const cli_h5_source *src, hid_t group, int is_csr, cli_matrix *out) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
  int64_t shape[2];
  if (cli_h5_read_shape_attribute(group, "shape", shape) != 0 &&
      cli_h5_read_shape_attribute(group, "h5sparse_shape", shape) != 0) {
    cli_io_fail(error, error_size, "'%s': X has no integer 'shape' attribute of two entries", path);
    return 1;
  }
  if (shape[0] < 0 || shape[1] < 0 || shape[0] > CLI_H5_MAX_DIMENSION ||
      shape[1] > CLI_H5_MAX_DIMENSION) {
    cli_io_fail(error, error_size, "'%s': X has an impossible shape (%lld, %lld)", path,
                (long long)shape[0], (long long)shape[1]);
    return 1;
  }
  int64_t n_rows = shape[0], n_cols = shape[1];
  int64_t n_outer = is_csr ? n_rows : n_cols, n_inner = is_csr ? n_cols : n_rows;
  int64_t *indptr = NULL, *indices = NULL;
  void *values = NULL;
  normot_value_type value_type = NORMOT_FLOAT64;
  int status = 1;
  if (cli_h5_read_int64_vector(src, group, "indptr", n_outer + 1, &indptr, NULL)) goto done;
  int64_t nnz = indptr[n_outer];
  if (nnz < 0) {
    cli_io_fail(error, error_size, "'%s': X/indptr ends at a negative offset", path);
    goto done;
  }
  if (cli_h5_read_int64_vector(src, group, "indices", nnz, &indices, NULL)) goto done;
  if (cli_h5_read_value_vector(src, group, "data", nnz, &values, &value_type)) goto done;
  if (cli_h5_check_indptr(src, "X/indptr", indptr, n_outer, nnz)) goto done;
  if (cli_h5_check_indices(src, "X/indices", indices, nnz, n_inner)) goto done;
  char shortfall[160];
  if (!is_csr &&
      cli_memory_shortfall(16.0 * ((double)n_rows + 1.0) +
                               (double)nnz * (8.0 + (double)normot_value_size(value_type)),
                           shortfall, sizeof shortfall)) {
    cli_io_fail(error, error_size, "'%s': converting X (%lld x %lld) from CSC %s", path,
                (long long)n_rows, (long long)n_cols, shortfall);
    goto done;
  }
  /* A CSC X is the CSR matrix of its transpose: read as such, then transposed. */
  out->n_rows = is_csr ? n_rows : n_cols;
  out->n_cols = is_csr ? n_cols : n_rows;
  out->nnz = nnz;
  out->indptr = indptr;
  out->indices = indices;
  out->values = values;
  out->value_type = value_type;
  indptr = indices = NULL;
  values = NULL;
  if (!is_csr && cli_transpose_matrix(out, NULL, 0) != 0) {
    cli_matrix_free(out);
    cli_io_fail(error, error_size, "'%s': out of memory converting X from CSC", path);
    goto done;
  }
  status = 0;
done:
  free(indptr);
  free(indices);
  free(values);
  return status;
}

/* X's encoding attribute (anndata's encoding-type, or h5sparse_format for old files) in
 * `encoding`; returns what cli_h5_read_string_attribute found, and the attribute's name. */
static int read_x_encoding(hid_t x, H5I_type_t kind, char encoding[64], const char **name) {
  *name = "encoding-type";
  int found = cli_h5_read_string_attribute(x, *name, encoding, 64);
  if (kind == H5I_GROUP && found == CLI_H5_ATTRIBUTE_ABSENT) {
    *name = "h5sparse_format";
    found = cli_h5_read_string_attribute(x, *name, encoding, 64);
  }
  return found;
}

/* Reads X (the object `x`): a csr_matrix or csc_matrix group, or a dense dataset. */
static int read_x(const cli_h5_source *src, hid_t x, cli_matrix *out) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
  H5I_type_t kind = x >= 0 ? H5Iget_type(x) : H5I_BADID;
  char encoding[64] = "";
  const char *encoding_name;
  int encoding_found = read_x_encoding(x, kind, encoding, &encoding_name);
  if (encoding_found == CLI_H5_ATTRIBUTE_NOT_A_STRING)
    return cli_io_fail(error, error_size,
                       "'%s': X's %s attribute has the wrong type (not a string)", path,
                       encoding_name);
  const int is_csr = strcmp(encoding, "csr_matrix") == 0 || strcmp(encoding, "csr") == 0;
  const int is_csc = strcmp(encoding, "csc_matrix") == 0 || strcmp(encoding, "csc") == 0;
  if (kind == H5I_GROUP && encoding_found == CLI_H5_ATTRIBUTE_ABSENT)
    return cli_io_fail(error, error_size, "'%s': X is a group without an encoding-type attribute",
                       path);
  if ((kind == H5I_GROUP && !is_csr && !is_csc) ||
      (kind == H5I_DATASET && encoding_found == CLI_H5_ATTRIBUTE_READ &&
       strcmp(encoding, "array") != 0))
    return cli_io_fail(error, error_size,
                       "'%s': X has encoding-type '%s'; normot reads csr_matrix, csc_matrix or a "
                       "dense array",
                       path, encoding);
  if (kind == H5I_GROUP) return read_sparse_x(src, x, is_csr, out);
  if (kind == H5I_DATASET) return read_dense_x(src, x, out);
  return cli_io_fail(error, error_size, "'%s': X is neither a group nor a dataset", path);
}

/* The obs and var names, and the gene ids and symbols: scanpy's read_10x_* put the symbols in
 * the index and the ids in a gene_ids column, or (with var_names="gene_ids") the ids in the
 * index and the symbols in gene_symbols; normot writes the same two layouts. Either way, ids
 * become the names and symbols the symbols. */
static int read_names(const cli_h5_source *src, hid_t file, cli_matrix *out) {
  char **gene_ids = NULL;
  if (read_dataframe_index(src, file, "obs", out->n_rows, &out->row_names)) return 1;
  if (read_dataframe_index(src, file, "var", out->n_cols, &out->col_names)) return 1;
  if (read_dataframe_column(src, file, "var", "gene_ids", out->n_cols, &gene_ids)) return 1;
  if (gene_ids == NULL)
    return read_dataframe_column(src, file, "var", "gene_symbols", out->n_cols, &out->col_symbols);
  out->col_symbols = out->col_names;
  out->col_names = gene_ids;
  return 0;
}

int cli_read_h5ad(const char *path, cli_matrix *out, char *error, size_t error_size) {
  const cli_h5_source source = {path, error, error_size};
  cli_h5_setup();
  memset(out, 0, sizeof *out);
  hid_t file = cli_h5_open_input(path, error, error_size);
  if (file < 0) return 1;
  int status = 1;
  if (!cli_h5_link_exists(file, "X")) {
    cli_io_fail(error, error_size, "'%s' has no X: not an AnnData .h5ad file", path);
  } else {
    hid_t x = H5Oopen(file, "X", H5P_DEFAULT);
    status = read_x(&source, x, out) != 0;
    if (x >= 0) H5Oclose(x);
    if (status == 0 && read_names(&source, file, out) != 0) {
      cli_matrix_free(out);
      status = 1;
    }
  }
  H5Fclose(file);
  return status;
}
