/* AnnData's .h5ad writer: either built from the matrix as scanpy's write_h5ad would lay it out,
 * or, from an .h5ad input, every element but X copied from that file (H5Ocopy) and X written
 * in its layout. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdf5_internal.h"

/* A variable-length UTF-8 string type, as h5py writes Python str. */
static hid_t utf8_string_type(void) {
  hid_t type = H5Tcopy(H5T_C_S1);
  if (type < 0) return -1;
  if (H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0) {
    H5Tclose(type);
    return -1;
  }
  return type;
}

/* A scalar attribute of `type`, `value` pointing to one value of it. */
static int write_scalar_attribute(hid_t object, const char *name, hid_t type, const void *value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attribute =
      space < 0 ? -1 : H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  int status = attribute < 0 || H5Awrite(attribute, type, value) < 0;
  if (attribute >= 0) H5Aclose(attribute);
  if (space >= 0) H5Sclose(space);
  return status;
}

static int write_string_attribute(hid_t object, const char *name, const char *value) {
  hid_t type = utf8_string_type();
  int status = type < 0 || write_scalar_attribute(object, name, type, &value);
  if (type >= 0) H5Tclose(type);
  return status;
}

static int write_encoding(hid_t object, const char *type, const char *version) {
  return write_string_attribute(object, "encoding-type", type) ||
         write_string_attribute(object, "encoding-version", version);
}

/* A dataframe's column-order: the names of its columns (anndata writes an empty float array
 * when there are none). */
static int write_column_order(hid_t group, const char *const *columns, int count) {
  hsize_t dims[1] = {(hsize_t)count};
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t type = count > 0 ? utf8_string_type() : H5Tcopy(H5T_NATIVE_DOUBLE);
  hid_t attribute = -1;
  int status = 1;
  if (space >= 0 && type >= 0)
    attribute = H5Acreate2(group, "column-order", type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attribute >= 0) {
    double nothing = 0.0;
    const void *data = count > 0 ? (const void *)columns : (const void *)&nothing;
    status = H5Awrite(attribute, type, data) < 0;
    H5Aclose(attribute);
  }
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  return status;
}

/* The creation properties of a dataset this writer makes: without modification times (as h5py
 * and anndata write), so that one input gives the same bytes at any time; and, when `like` is a
 * dataset of the input (>= 0), with its layout and filters (chunks, compression). */
static hid_t dataset_properties(hid_t like) {
  hid_t properties = like >= 0 ? H5Dget_create_plist(like) : H5Pcreate(H5P_DATASET_CREATE);
  if (properties >= 0 && H5Pset_obj_track_times(properties, 0) < 0) {
    H5Pclose(properties);
    return -1;
  }
  return properties;
}

/* A 1-D dataset of `length` values of `file_type`, created as every dataset of this writer. */
static hid_t create_vector(hid_t location, const char *name, hid_t file_type, int64_t length) {
  hsize_t dims[1] = {(hsize_t)length};
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t properties = dataset_properties(-1);
  hid_t dataset = -1;
  if (space >= 0 && properties >= 0)
    dataset = H5Dcreate2(location, name, file_type, space, H5P_DEFAULT, properties, H5P_DEFAULT);
  if (properties >= 0) H5Pclose(properties);
  if (space >= 0) H5Sclose(space);
  return dataset;
}

/* A 1-D dataset of `file_type` (anndata's "array"), written from values of `memory_type`. */
static int write_vector_as(hid_t location, const char *name, hid_t file_type, hid_t memory_type,
                           int64_t length, const void *data) {
  hid_t dataset = create_vector(location, name, file_type, length);
  int status = 1;
  if (dataset >= 0) {
    status = length > 0 && H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0;
    if (status == 0 && H5Tget_class(memory_type) != H5T_STRING)
      status = write_encoding(dataset, "array", "0.2.0");
    H5Dclose(dataset);
  }
  return status;
}

static int write_vector(hid_t location, const char *name, hid_t type, int64_t length,
                        const void *data) {
  return write_vector_as(location, name, type, type, length, data);
}

/* Writes `length` strings; NULL `strings` writes "0", "1", ... as anndata names rows. */
static int write_string_array(hid_t location, const char *name, char *const *strings,
                              int64_t length) {
  const char **pointers = cli_io_allocate((size_t)length, sizeof *pointers);
  char *numbers = NULL;
  int status = 1;
  if (pointers == NULL) {
    cli_h5_failure_note("out of memory");
    return 1;
  }
  if (strings == NULL) {
    numbers = cli_io_allocate((size_t)length, 24);
    if (numbers == NULL) {
      cli_h5_failure_note("out of memory");
      goto done;
    }
    for (int64_t i = 0; i < length; i++) {
      snprintf(numbers + (size_t)i * 24, 24, "%lld", (long long)i);
      pointers[i] = numbers + (size_t)i * 24;
    }
  } else {
    for (int64_t i = 0; i < length; i++) pointers[i] = strings[i] != NULL ? strings[i] : "";
  }
  hid_t type = utf8_string_type();
  hsize_t dims[1] = {(hsize_t)length};
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t properties = dataset_properties(-1);
  hid_t dataset = -1;
  if (type >= 0 && space >= 0 && properties >= 0)
    dataset = H5Dcreate2(location, name, type, space, H5P_DEFAULT, properties, H5P_DEFAULT);
  if (properties >= 0) H5Pclose(properties);
  if (dataset >= 0) {
    status = length > 0 && H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers) < 0;
    if (status == 0) status = write_encoding(dataset, "string-array", "0.2.0");
    H5Dclose(dataset);
  }
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
done:
  free(numbers);
  free(pointers);
  return status;
}

static int write_empty_dict(hid_t file, const char *name) {
  hid_t group = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (group < 0) return 1;
  int status = write_encoding(group, "dict", "0.1.0");
  H5Gclose(group);
  return status;
}

/* The group of a csr_matrix X, with its encoding and shape. Returns it, or -1. */
static hid_t create_csr_group(hid_t file, const cli_matrix *matrix) {
  hid_t group = H5Gcreate2(file, "X", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (group < 0) return -1;
  int status = write_encoding(group, "csr_matrix", "0.1.0");
  if (status == 0) {
    int64_t shape[2] = {matrix->n_rows, matrix->n_cols};
    hsize_t dims[1] = {2};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t attribute =
        space < 0 ? -1 : H5Acreate2(group, "shape", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    status = attribute < 0 || H5Awrite(attribute, H5T_NATIVE_INT64, shape) < 0;
    if (attribute >= 0) H5Aclose(attribute);
    if (space >= 0) H5Sclose(space);
  }
  if (status == 0) return group;
  H5Gclose(group);
  return -1;
}

/* Indices and indptr are int32 when every value fits (as scipy makes them), else int64. */
static int narrow_indices(const cli_matrix *matrix) {
  return matrix->n_cols <= INT32_MAX && matrix->nnz <= INT32_MAX;
}

/* `count` int64 index values as int32 (allocated), or NULL when out of memory (noted). */
static int32_t *narrowed_copy(const int64_t *values, int64_t count) {
  int32_t *narrowed = cli_io_allocate((size_t)(count > 0 ? count : 1), sizeof *narrowed);
  if (narrowed == NULL) {
    cli_h5_failure_note("out of memory");
    return NULL;
  }
  for (int64_t i = 0; i < count; i++) narrowed[i] = (int32_t)values[i];
  return narrowed;
}

/* An index array (indices, indptr) of `count` values, narrowed to int32 or not. */
static int write_index_vector(hid_t group, const char *name, const int64_t *values, int64_t count,
                              int narrow) {
  if (!narrow) return write_vector(group, name, H5T_NATIVE_INT64, count, values);
  int32_t *narrowed = narrowed_copy(values, count);
  int status = narrowed == NULL || write_vector(group, name, H5T_NATIVE_INT32, count, narrowed);
  free(narrowed);
  return status;
}

/* X as anndata's csr_matrix. */
static int write_csr_x(hid_t file, const cli_matrix *matrix) {
  hid_t group = create_csr_group(file, matrix);
  if (group < 0) return 1;
  int narrow = narrow_indices(matrix);
  int status = write_vector(group, "data", cli_h5_native_type_of(matrix->value_type), matrix->nnz,
                            matrix->values) ||
               write_index_vector(group, "indices", matrix->indices, matrix->nnz, narrow) ||
               write_index_vector(group, "indptr", matrix->indptr, matrix->n_rows + 1, narrow);
  H5Gclose(group);
  return status;
}

/* Writes values [first, first + count) of a 1-D dataset from `buffer` of `memory_type`. */
static int write_range(hid_t dataset, hid_t memory_type, int64_t first, int64_t count,
                       const void *buffer) {
  cli_h5_range range = {1, {(hsize_t)first, 0}, {(hsize_t)count, 0}};
  return count > 0 && cli_h5_write_range(dataset, memory_type, &range, buffer);
}

/* A block's indices into a streamed X's indices, narrowed as write_csr_x narrows them. */
static int put_block_indices(hid_t indices, const cli_values_block *block, int narrow) {
  if (!narrow)
    return write_range(indices, H5T_NATIVE_INT64, block->first, block->nnz, block->indices);
  int32_t *narrowed = narrowed_copy(block->indices, block->nnz);
  int status = narrowed == NULL ||
               write_range(indices, H5T_NATIVE_INT32, block->first, block->nnz, narrowed);
  free(narrowed);
  return status;
}

/* The blocks after the first into the data and indices already created and placed. */
static int put_later_blocks(hid_t group, const cli_matrix *matrix, const cli_values_source *source,
                            int *more) {
  hid_t data = H5Dopen2(group, "data", H5P_DEFAULT);
  hid_t indices = H5Dopen2(group, "indices", H5P_DEFAULT);
  int status = data < 0 || indices < 0, narrow = narrow_indices(matrix);
  hid_t value_type = cli_h5_native_type_of(matrix->value_type);
  cli_values_block block;
  while (status == 0 && (*more = source->next(source->state, &block)) == 1)
    status = write_range(data, value_type, block.first, block.nnz, block.values) ||
             put_block_indices(indices, &block, narrow);
  if (indices >= 0) H5Dclose(indices);
  if (data >= 0) H5Dclose(data);
  return status;
}

/* X from a values source (a 10x .h5 read a block at a time) in the bytes write_csr_x gives the
 * whole matrix. A contiguous dataset's storage is placed by its first write, so data and indices
 * are each created, written with the first non-empty block (placing them) and closed, and indptr
 * written, all in write_csr_x's order; the later blocks fill storage already placed. */
static int write_streamed_csr_x(hid_t file, const cli_matrix *matrix,
                                const cli_values_source *source) {
  hid_t group = create_csr_group(file, matrix);
  if (group < 0) return 1;
  cli_values_block block;
  int more = source->next(source->state, &block), narrow = narrow_indices(matrix);
  while (more == 1 && block.nnz == 0) more = source->next(source->state, &block);
  hid_t data = more < 0 ? -1
                        : create_vector(group, "data", cli_h5_native_type_of(matrix->value_type),
                                        matrix->nnz);
  int status = data < 0 ||
               (more == 1 && write_range(data, cli_h5_native_type_of(matrix->value_type),
                                         block.first, block.nnz, block.values)) ||
               write_encoding(data, "array", "0.2.0");
  if (data >= 0) H5Dclose(data);
  hid_t indices = status ? -1
                         : create_vector(group, "indices",
                                         narrow ? H5T_NATIVE_INT32 : H5T_NATIVE_INT64, matrix->nnz);
  status = status || indices < 0 || (more == 1 && put_block_indices(indices, &block, narrow)) ||
           write_encoding(indices, "array", "0.2.0");
  if (indices >= 0) H5Dclose(indices);
  if (status == 0)
    status = write_index_vector(group, "indptr", matrix->indptr, matrix->n_rows + 1, narrow);
  if (status == 0 && more == 1) status = put_later_blocks(group, matrix, source, &more);
  H5Gclose(group);
  return status || more < 0;
}

/* One dataframe column: strings (written as anndata writes a str column) or numbers. */
typedef struct frame_column {
  const char *name;
  char *const *strings; /* NULL for a numeric column */
  hid_t number_type;
  const void *numbers;
} frame_column;

/* A bool attribute as h5py stores numpy's bool_: an 8-bit enum with FALSE = 0 and TRUE = 1. */
static int write_bool_attribute(hid_t object, const char *name, int value) {
  int8_t false_value = 0, true_value = 1, stored = value ? 1 : 0;
  hid_t type = H5Tenum_create(H5T_NATIVE_INT8);
  int status = type < 0 || H5Tenum_insert(type, "FALSE", &false_value) < 0 ||
               H5Tenum_insert(type, "TRUE", &true_value) < 0 ||
               write_scalar_attribute(object, name, type, &stored);
  if (type >= 0) H5Tclose(type);
  return status;
}

/* The integer type pandas gives the codes of a categorical with n categories. */
static hid_t code_type_for(int64_t n_categories) {
  if (n_categories < INT8_MAX) return H5T_STD_I8LE;
  if (n_categories < INT16_MAX) return H5T_STD_I16LE;
  if (n_categories < INT32_MAX) return H5T_STD_I32LE;
  return H5T_STD_I64LE;
}

static int write_categorical(hid_t location, const char *name, const cli_categorical *categorical,
                             int64_t length) {
  hid_t group = H5Gcreate2(location, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (group < 0) return 1;
  int status = write_encoding(group, "categorical", "0.2.0") ||
               write_bool_attribute(group, "ordered", 0) ||
               write_string_array(group, "categories", (char *const *)categorical->categories,
                                  categorical->n_categories) ||
               write_vector_as(group, "codes", code_type_for(categorical->n_categories),
                               H5T_NATIVE_INT64, length, categorical->codes);
  H5Gclose(group);
  return status;
}

/* A string column as anndata writes it: a categorical when some value repeats (fewer distinct
 * values than rows), else a string array. */
static int write_string_column(hid_t location, const char *name, char *const *strings,
                               int64_t length) {
  cli_categorical categorical;
  if (cli_categorical_build(strings, length, &categorical) != 0) return 1;
  int status = categorical.n_categories < length
                   ? write_categorical(location, name, &categorical, length)
                   : write_string_array(location, name, strings, length);
  cli_categorical_free(&categorical);
  return status;
}

static int write_dataframe(hid_t file, const char *name, char *const *index, int64_t length,
                           const frame_column *columns, int n_columns) {
  hid_t group = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (group < 0) return 1;
  const char *names[64];
  for (int k = 0; k < n_columns && k < 64; k++) names[k] = columns[k].name;
  int status = n_columns > 64 || write_encoding(group, "dataframe", "0.2.0") ||
               write_string_attribute(group, "_index", "_index") ||
               write_column_order(group, names, n_columns) ||
               write_string_array(group, "_index", index, length);
  for (int k = 0; status == 0 && k < n_columns; k++) {
    const frame_column *column = &columns[k];
    status = column->strings != NULL
                 ? write_string_column(group, column->name, column->strings, length)
                 : write_vector(group, column->name, column->number_type, length, column->numbers);
  }
  H5Gclose(group);
  return status;
}

/* var as scanpy's 10x readers lay it out: the chosen names in the index, the other names in a
 * column (gene_ids or gene_symbols), then the annotations. */
static int write_var(hid_t file, const cli_matrix *matrix, cli_var_index var_index) {
  frame_column columns[64];
  int count = 0;
  if (matrix->n_annotations > 62) return 1; /* the readers make at most 34 */
  char *const *index = matrix->col_names;
  if (matrix->col_symbols != NULL && var_index == CLI_VAR_INDEX_SYMBOLS) {
    index = matrix->col_symbols;
    if (matrix->col_names != NULL)
      columns[count++] = (frame_column){"gene_ids", matrix->col_names, -1, NULL};
  } else if (matrix->col_symbols != NULL) {
    columns[count++] = (frame_column){"gene_symbols", matrix->col_symbols, -1, NULL};
  }
  for (int k = 0; k < matrix->n_annotations; k++)
    columns[count++] =
        (frame_column){matrix->annotations[k].name, matrix->annotations[k].values, -1, NULL};
  return write_dataframe(file, "var", index, matrix->n_cols, columns, count);
}

static int write_obs(hid_t file, const cli_matrix *matrix, const cli_h5ad_output *output) {
  frame_column size_factors = {output->key_added, NULL, cli_h5_native_type_of(matrix->value_type),
                               output->size_factors};
  return write_dataframe(file, "obs", matrix->row_names, matrix->n_rows, &size_factors,
                         output->size_factors != NULL ? 1 : 0);
}

/* Python's None as anndata writes it: an empty (null dataspace) float32 dataset. */
static int write_none(hid_t location, const char *name) {
  hid_t space = H5Screate(H5S_NULL);
  hid_t properties = dataset_properties(-1);
  hid_t dataset = space < 0 || properties < 0 ? -1
                                              : H5Dcreate2(location, name, H5T_IEEE_F32LE, space,
                                                           H5P_DEFAULT, properties, H5P_DEFAULT);
  if (properties >= 0) H5Pclose(properties);
  int status = dataset < 0 || write_encoding(dataset, "null", "0.1.0");
  if (dataset >= 0) H5Dclose(dataset);
  if (space >= 0) H5Sclose(space);
  return status;
}

/* uns["log1p"] = {"base": None}, what sc.pp.log1p records for the natural logarithm. Replaces
 * an earlier record, as scanpy does. */
static int write_log1p_record(hid_t uns) {
  if (cli_h5_link_exists(uns, "log1p") && H5Ldelete(uns, "log1p", H5P_DEFAULT) < 0) return 1;
  hid_t group = H5Gcreate2(uns, "log1p", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (group < 0) return 1;
  int status = write_encoding(group, "dict", "0.1.0") || write_none(group, "base");
  H5Gclose(group);
  return status;
}

static int write_uns(hid_t file, int log1p) {
  if (!cli_h5_link_exists(file, "uns") && write_empty_dict(file, "uns") != 0) return 1;
  if (!log1p) return 0;
  hid_t uns = H5Gopen2(file, "uns", H5P_DEFAULT);
  if (uns < 0) return 1;
  int status = write_log1p_record(uns);
  H5Gclose(uns);
  return status;
}

/* An .h5ad made from a matrix alone (10x and Matrix Market inputs). */
static int write_built_h5ad(hid_t file, const cli_matrix *matrix, const cli_h5ad_output *output) {
  hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
  int status = root < 0 || write_encoding(root, "anndata", "0.1.0");
  if (root >= 0) H5Gclose(root);
  if (status == 0)
    status = output->values_source != NULL
                 ? write_streamed_csr_x(file, matrix, output->values_source)
                 : write_csr_x(file, matrix);
  if (status == 0) status = write_obs(file, matrix, output);
  if (status == 0) status = write_var(file, matrix, output->var_index);
  const char *dicts[] = {"layers", "obsm", "obsp", "varm", "varp"};
  for (size_t i = 0; status == 0 && i < sizeof dicts / sizeof dicts[0]; i++)
    status = write_empty_dict(file, dicts[i]);
  if (status == 0) status = write_uns(file, output->log1p);
  return status;
}

/* ---- .h5ad writing from an .h5ad input: everything but X copied --------------------------- */

/* Where a copy reports its failure. */
typedef struct copy_context {
  const char *source_path;
  const char *path;
  char *error;
  size_t error_size;
} copy_context;

static int copy_failed(const copy_context *context, const char *what) {
  return cli_io_fail(context->error, context->error_size, "cannot copy %s from '%s' into '%s'",
                     what, context->source_path, context->path);
}

/* Copies one attribute, in its stored type, onto the object whose id `data` points to. */
static herr_t copy_one_attribute(hid_t source, const char *name, const H5A_info_t *info,
                                 void *data) {
  (void)info;
  hid_t target = *(const hid_t *)data;
  hid_t attribute = H5Aopen(source, name, H5P_DEFAULT);
  hid_t file_type = attribute < 0 ? -1 : H5Aget_type(attribute);
  hid_t memory_type = file_type < 0 ? -1 : H5Tget_native_type(file_type, H5T_DIR_ASCEND);
  hid_t space = attribute < 0 ? -1 : H5Aget_space(attribute);
  hssize_t points = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
  void *buffer = NULL;
  hid_t copy = -1;
  herr_t result = -1;
  if (memory_type >= 0 && points >= 0)
    buffer = cli_io_allocate((size_t)points, H5Tget_size(memory_type));
  if (buffer != NULL && (points == 0 || H5Aread(attribute, memory_type, buffer) >= 0)) {
    copy = H5Acreate2(target, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (copy >= 0 && (points == 0 || H5Awrite(copy, memory_type, buffer) >= 0)) result = 0;
    if (points > 0 &&
        (H5Tdetect_class(memory_type, H5T_VLEN) > 0 || H5Tis_variable_str(memory_type) > 0))
      cli_h5_reclaim_strings(memory_type, space, buffer);
  }
  free(buffer);
  if (copy >= 0) H5Aclose(copy);
  if (space >= 0) H5Sclose(space);
  if (memory_type >= 0) H5Tclose(memory_type);
  if (file_type >= 0) H5Tclose(file_type);
  if (attribute >= 0) H5Aclose(attribute);
  return result;
}

static int copy_attributes(hid_t source, hid_t target) {
  hsize_t position = 0;
  return H5Aiterate2(source, H5_INDEX_NAME, H5_ITER_INC, &position, copy_one_attribute, &target) <
         0;
}

/* Copies every member of the source root but X (obs, var, obsm, varm, obsp, varp, layers, uns,
 * raw, and whatever else is there) with H5Ocopy, which keeps each object as it is stored. */
static herr_t copy_root_member(hid_t source, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  hid_t target = *(const hid_t *)data;
  if (strcmp(name, "X") == 0) return 0;
  return H5Ocopy(source, name, target, name, H5P_DEFAULT, H5P_DEFAULT) < 0 ? -1 : 0;
}

/* Each stored value of a CSC X in the source's order: the reader turned it into CSR by visiting
 * the columns in order, so the same visit finds every entry's place in the CSR values. */
static void *csc_values_of(const cli_matrix *matrix, const int64_t *col_ptr,
                           const int64_t *row_index) {
  size_t size = normot_value_size(matrix->value_type);
  int64_t *next = cli_io_allocate((size_t)matrix->n_rows, sizeof *next);
  char *values = cli_io_allocate((size_t)matrix->nnz, size);
  if (next == NULL || values == NULL) {
    free(next);
    free(values);
    return NULL;
  }
  memcpy(next, matrix->indptr, (size_t)matrix->n_rows * sizeof *next);
  const char *csr_values = matrix->values;
  for (int64_t c = 0; c < matrix->n_cols; c++)
    for (int64_t i = col_ptr[c]; i < col_ptr[c + 1]; i++)
      memcpy(values + (size_t)i * size, csr_values + (size_t)next[row_index[i]]++ * size, size);
  free(next);
  return values;
}

/* The normalized values of a CSC source X in its order (see csc_values_of). Returns a new
 * array, or NULL with the error set. */
static void *values_in_csc_order(hid_t source_x, const cli_matrix *matrix,
                                 const copy_context *context) {
  int64_t *col_ptr = NULL, *row_index = NULL;
  void *values = NULL;
  const cli_h5_source source = {context->source_path, context->error, context->error_size};
  const cli_h5_source *src = &source;
  if (cli_h5_read_int64_vector(src, source_x, "indptr", matrix->n_cols + 1, &col_ptr, NULL) == 0 &&
      cli_h5_read_int64_vector(src, source_x, "indices", matrix->nnz, &row_index, NULL) == 0) {
    values = csc_values_of(matrix, col_ptr, row_index);
    if (values == NULL) copy_failed(context, "X (out of memory)");
  }
  free(col_ptr);
  free(row_index);
  return values;
}

/* A dataset written in order, in bands of whole chunks (whole rows of chunks in 2-D) of about
 * 8 MB, whatever pieces its values come in: each chunk is written once and whole, so the file
 * does not depend on how the values were cut (the whole matrix, or a stream of blocks). */
typedef struct band_writer {
  hid_t dataset, type;
  int rank;
  int64_t width; /* values per row: a 2-D dataset's columns, 1 in 1-D */
  size_t row_bytes;
  int64_t band;   /* rows per band */
  int64_t first;  /* the row the buffer starts at */
  int64_t filled; /* rows in the buffer */
  char *buffer;
} band_writer;

static int band_open(band_writer *w, hid_t dataset, int rank, int64_t width,
                     normot_value_type value_type) {
  memset(w, 0, sizeof *w);
  w->dataset = dataset;
  w->type = cli_h5_native_type_of(value_type);
  w->rank = rank;
  w->width = width;
  w->row_bytes = (size_t)width * normot_value_size(value_type);
  hsize_t chunk[2] = {1, 1};
  hid_t properties = H5Dget_create_plist(dataset);
  if (properties >= 0 && H5Pget_layout(properties) == H5D_CHUNKED)
    H5Pget_chunk(properties, 2, chunk);
  if (properties >= 0) H5Pclose(properties);
  size_t unit_bytes = (size_t)chunk[0] * (w->row_bytes > 0 ? w->row_bytes : 1);
  int64_t units = (int64_t)(((size_t)8 << 20) / unit_bytes);
  w->band = (int64_t)chunk[0] * (units > 1 ? units : 1);
  w->buffer = cli_io_allocate((size_t)w->band, w->row_bytes > 0 ? w->row_bytes : 1);
  return w->buffer == NULL;
}

/* Writes the rows in the buffer where they go. */
static int band_flush(band_writer *w) {
  hid_t file_space = H5Dget_space(w->dataset);
  hsize_t start[2] = {(hsize_t)w->first, 0}, extent[2] = {(hsize_t)w->filled, (hsize_t)w->width};
  hid_t memory_space = H5Screate_simple(w->rank, extent, NULL);
  int status =
      file_space < 0 || memory_space < 0 ||
      H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, extent, NULL) < 0 ||
      (w->filled > 0 && w->width > 0 &&
       H5Dwrite(w->dataset, w->type, memory_space, file_space, H5P_DEFAULT, w->buffer) < 0);
  if (memory_space >= 0) H5Sclose(memory_space);
  if (file_space >= 0) H5Sclose(file_space);
  w->first += w->filled;
  w->filled = 0;
  return status;
}

/* Where the next rows go, and how many of *count fit before the band is full. */
static char *band_room(band_writer *w, int64_t *count) {
  if (*count > w->band - w->filled) *count = w->band - w->filled;
  return w->buffer + (size_t)w->filled * w->row_bytes;
}

static int band_commit(band_writer *w, int64_t count) {
  w->filled += count;
  return w->filled == w->band ? band_flush(w) : 0;
}

static int band_close(band_writer *w) {
  int status = w->filled > 0 ? band_flush(w) : 0;
  free(w->buffer);
  w->buffer = NULL;
  return status;
}

static int band_put_values(band_writer *w, const void *values, int64_t count) {
  int status = 0;
  for (int64_t done = 0; status == 0 && done < count;) {
    int64_t n = count - done;
    char *room = band_room(w, &n);
    memcpy(room, (const char *)values + (size_t)done * w->row_bytes, (size_t)n * w->row_bytes);
    status = band_commit(w, n);
    done += n;
  }
  return status;
}

/* X/data, laid out and compressed as the source's, from `values` (all of them) or, with a values
 * source, a block at a time (in order): the same dataset either way. */
static int write_x_data(hid_t source_x, hid_t x, const cli_matrix *matrix, const void *values,
                        const cli_values_source *source) {
  hid_t source_data = H5Dopen2(source_x, "data", H5P_DEFAULT);
  hid_t properties = source_data < 0 ? -1 : dataset_properties(source_data);
  hsize_t dims[1] = {(hsize_t)matrix->nnz};
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t data = properties < 0 || space < 0
                   ? -1
                   : H5Dcreate2(x, "data", cli_h5_native_type_of(matrix->value_type), space,
                                H5P_DEFAULT, properties, H5P_DEFAULT);
  band_writer band;
  int opened = data >= 0 && band_open(&band, data, 1, 1, matrix->value_type) == 0;
  int status = !opened;
  if (status == 0 && source == NULL) status = band_put_values(&band, values, matrix->nnz);
  cli_values_block block;
  int more = status == 0 && source != NULL ? source->next(source->state, &block) : 0;
  for (; more == 1; more = status == 0 ? source->next(source->state, &block) : 0)
    status = band_put_values(&band, block.values, block.nnz);
  if (opened && band_close(&band) != 0) status = 1;
  if (more < 0) status = 1;
  if (status == 0) status = write_encoding(data, "array", "0.2.0");
  if (data >= 0) H5Dclose(data);
  if (space >= 0) H5Sclose(space);
  if (properties >= 0) H5Pclose(properties);
  if (source_data >= 0) H5Dclose(source_data);
  return status;
}

/* A sparse X in the source's layout: its attributes and index arrays copied, the data new. */
static int write_sparse_x_like(hid_t source_x, hid_t file, const cli_matrix *matrix,
                               const cli_h5ad_output *output, const copy_context *context) {
  char encoding[64];
  if (cli_h5_read_string_attribute(source_x, "encoding-type", encoding, sizeof encoding) != 0)
    cli_h5_read_string_attribute(source_x, "h5sparse_format", encoding, sizeof encoding);
  int is_csc = strcmp(encoding, "csc_matrix") == 0 || strcmp(encoding, "csc") == 0;
  /* A CSR source was read in its entry order: the values are in that order already, and a
   * values source gives them in the source's order whatever it is. */
  int reorder = is_csc && output->values_source == NULL;
  void *csc_values = reorder ? values_in_csc_order(source_x, matrix, context) : NULL;
  if (reorder && csc_values == NULL) return 1;
  const void *values = reorder ? csc_values : matrix->values;
  hid_t x = H5Gcreate2(file, "X", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int status = x < 0 || copy_attributes(source_x, x) ||
               H5Ocopy(source_x, "indices", x, "indices", H5P_DEFAULT, H5P_DEFAULT) < 0 ||
               H5Ocopy(source_x, "indptr", x, "indptr", H5P_DEFAULT, H5P_DEFAULT) < 0 ||
               write_x_data(source_x, x, matrix, values, output->values_source);
  if (x >= 0) H5Gclose(x);
  free(csc_values);
  return status ? copy_failed(context, "X") : 0;
}

/* Rows [first, first + count) of `rows` (CSR, `width` columns, values of `size` bytes) as a
 * dense row-major block, zeros elsewhere. */
static void fill_dense_rows(const cli_values_block *rows, int64_t first, int64_t count,
                            int64_t width, size_t size, char *block) {
  memset(block, 0, (size_t)count * (size_t)width * size);
  const char *values = rows->values;
  for (int64_t r = 0; r < count; r++) {
    char *row = block + (size_t)r * (size_t)width * size;
    for (int64_t i = rows->indptr[first + r]; i < rows->indptr[first + r + 1]; i++)
      memcpy(row + (size_t)rows->indices[i] * size, values + (size_t)i * size, size);
  }
}

/* Rows [first, first + count) of `rows` into the band, as dense rows. */
static int band_put_rows(band_writer *w, const cli_values_block *rows, int64_t first,
                         int64_t count) {
  int status = 0;
  size_t size = w->width > 0 ? w->row_bytes / (size_t)w->width : 1;
  for (int64_t done = 0; status == 0 && done < count;) {
    int64_t n = count - done;
    char *room = band_room(w, &n);
    fill_dense_rows(rows, first + done, n, w->width, size, room);
    status = band_commit(w, n);
    done += n;
  }
  return status;
}

/* Writes the rows of a dense X, from the matrix or from the values source (in order). */
static int write_dense_rows(hid_t x, const cli_matrix *matrix, const cli_values_source *source) {
  band_writer band;
  if (band_open(&band, x, 2, matrix->n_cols, matrix->value_type) != 0) return 1;
  cli_values_block block = {
      0, matrix->n_rows, matrix->nnz, matrix->indptr, matrix->indices, matrix->values};
  int status = 0, more = source != NULL ? source->next(source->state, &block) : 1;
  while (status == 0 && more == 1) {
    status = band_put_rows(&band, &block, 0, block.n_rows);
    more = status == 0 && source != NULL ? source->next(source->state, &block) : 0;
  }
  if (band_close(&band) != 0) status = 1;
  return status || more < 0;
}

/* A dense X as the source stores it (its attributes, layout and filters). */
static int write_dense_x_like(hid_t source_x, hid_t file, const cli_matrix *matrix,
                              const cli_h5ad_output *output, const copy_context *context) {
  hsize_t dims[2] = {(hsize_t)matrix->n_rows, (hsize_t)matrix->n_cols};
  hid_t file_space = H5Screate_simple(2, dims, NULL);
  hid_t properties = dataset_properties(source_x);
  hid_t x = file_space < 0 || properties < 0
                ? -1
                : H5Dcreate2(file, "X", cli_h5_native_type_of(matrix->value_type), file_space,
                             H5P_DEFAULT, properties, H5P_DEFAULT);
  int status =
      x < 0 || copy_attributes(source_x, x) || write_dense_rows(x, matrix, output->values_source);
  if (x >= 0) H5Dclose(x);
  if (properties >= 0) H5Pclose(properties);
  if (file_space >= 0) H5Sclose(file_space);
  return status ? copy_failed(context, "X") : 0;
}

/* The names a dataframe's column-order attribute lists (anndata writes an empty float array for
 * none). Returns 0 with *names NULL and *count 0 when there are none, 1 on failure. */
static int read_column_order(hid_t frame, char ***names, int64_t *count) {
  *names = NULL;
  *count = 0;
  if (H5Aexists(frame, "column-order") <= 0) return 0;
  hid_t attribute = H5Aopen(frame, "column-order", H5P_DEFAULT);
  hid_t file_type = attribute < 0 ? -1 : H5Aget_type(attribute);
  hid_t space = attribute < 0 ? -1 : H5Aget_space(attribute);
  hid_t memory_type = utf8_string_type();
  hssize_t points = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
  int status = 1;
  if (file_type >= 0 && H5Tget_class(file_type) != H5T_STRING) {
    status = 0; /* the empty float array */
  } else if (file_type >= 0 && memory_type >= 0 && points >= 0 &&
             H5Tis_variable_str(file_type) > 0) {
    char **read = cli_io_allocate((size_t)points, sizeof *read);
    char **copies = calloc((size_t)(points > 0 ? points : 1), sizeof *copies);
    H5Tset_cset(memory_type, H5Tget_cset(file_type));
    if (read != NULL && copies != NULL &&
        (points == 0 || H5Aread(attribute, memory_type, read) >= 0)) {
      status = 0;
      for (hssize_t i = 0; i < points; i++)
        if ((copies[i] = strdup(read[i] != NULL ? read[i] : "")) == NULL) status = 1;
      if (points > 0) cli_h5_reclaim_strings(memory_type, space, read);
    }
    if (status == 0) {
      *names = copies;
      *count = (int64_t)points;
    } else {
      cli_free_strings(copies, (int64_t)points);
    }
    free(read);
  }
  if (memory_type >= 0) H5Tclose(memory_type);
  if (space >= 0) H5Sclose(space);
  if (file_type >= 0) H5Tclose(file_type);
  if (attribute >= 0) H5Aclose(attribute);
  return status;
}

/* Adds `column` to the end of a dataframe's column-order, unless it is listed already (a
 * replaced pandas column keeps its place). */
static int append_column_order(hid_t frame, const char *column) {
  char **names = NULL;
  int64_t count = 0;
  if (read_column_order(frame, &names, &count) != 0) return 1;
  int listed = 0;
  for (int64_t i = 0; i < count; i++) listed |= strcmp(names[i], column) == 0;
  const char **order = cli_io_allocate((size_t)count + 1, sizeof *order);
  int status = order == NULL;
  if (status == 0 && !listed) {
    for (int64_t i = 0; i < count; i++) order[i] = names[i];
    order[count] = column;
    status =
        H5Adelete(frame, "column-order") < 0 || write_column_order(frame, order, (int)(count + 1));
  }
  free(order);
  cli_free_strings(names, count);
  return status;
}

/* obs[key_added] in an obs copied from the input: the column written (or replaced) and named in
 * column-order. */
static int add_obs_column(hid_t file, const cli_matrix *matrix, const cli_h5ad_output *output,
                          const copy_context *context) {
  if (cli_h5_object_kind(file, "obs") != H5I_GROUP)
    return cli_io_fail(context->error, context->error_size,
                       "cannot add obs['%s']: obs in '%s' is not a dataframe group",
                       output->key_added, context->source_path);
  hid_t obs = H5Gopen2(file, "obs", H5P_DEFAULT);
  if (obs < 0) return copy_failed(context, "obs");
  char index_name[256];
  if (cli_h5_read_string_attribute(obs, "_index", index_name, sizeof index_name) == 0 &&
      strcmp(index_name, output->key_added) == 0) {
    H5Gclose(obs);
    return cli_io_fail(context->error, context->error_size,
                       "cannot add obs['%s']: that is the name of obs's index in '%s'",
                       output->key_added, context->source_path);
  }
  int status = (cli_h5_link_exists(obs, output->key_added) &&
                H5Ldelete(obs, output->key_added, H5P_DEFAULT) < 0) ||
               write_vector(obs, output->key_added, cli_h5_native_type_of(matrix->value_type),
                            matrix->n_rows, output->size_factors) ||
               append_column_order(obs, output->key_added);
  H5Gclose(obs);
  return status ? copy_failed(context, "obs") : 0;
}

/* An .h5ad made from an .h5ad input: all of it copied but X, which is written in its layout. */
static int write_copied_h5ad(hid_t file, const cli_matrix *matrix, const cli_h5ad_output *output,
                             const copy_context *context) {
  hid_t source = cli_h5_open_input(output->source_h5ad, context->error, context->error_size);
  if (source < 0) return 1;
  hid_t source_root = H5Gopen2(source, "/", H5P_DEFAULT);
  hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
  hsize_t position = 0;
  int status =
      source_root < 0 || root < 0 || copy_attributes(source_root, root) ||
      H5Literate(source, H5_INDEX_NAME, H5_ITER_INC, &position, copy_root_member, &root) < 0;
  if (status) copy_failed(context, "the elements other than X");
  H5I_type_t x_kind = cli_h5_object_kind(source, "X");
  hid_t source_x = status == 0 ? H5Oopen(source, "X", H5P_DEFAULT) : -1;
  if (status == 0 && source_x < 0) status = copy_failed(context, "X");
  if (status == 0)
    status = x_kind == H5I_DATASET ? write_dense_x_like(source_x, file, matrix, output, context)
                                   : write_sparse_x_like(source_x, file, matrix, output, context);
  if (status == 0 && output->size_factors != NULL)
    status = add_obs_column(file, matrix, output, context);
  if (status == 0 && write_uns(file, output->log1p) != 0) status = copy_failed(context, "uns");
  if (source_x >= 0) H5Oclose(source_x);
  if (root >= 0) H5Gclose(root);
  if (source_root >= 0) H5Gclose(source_root);
  H5Fclose(source);
  return status != 0;
}

/* A name a dataframe column can have: not empty, no '/' (a path in HDF5), not the index's. */
static int is_column_name(const char *name) {
  return name != NULL && name[0] != '\0' && strchr(name, '/') == NULL &&
         strcmp(name, "_index") != 0;
}

int cli_write_h5ad(const char *path, const cli_matrix *matrix, const cli_h5ad_output *output,
                   char *error, size_t error_size) {
  cli_h5_setup();
  const cli_h5ad_output defaults = {NULL, NULL, CLI_VAR_INDEX_SYMBOLS, 0, NULL, NULL};
  if (output == NULL) output = &defaults;
  /* With a values source, the matrix gives only its sizes and type (to an .h5ad input's copy),
   * and its indptr (to a built .h5ad). */
  int arrays_needed = output->values_source == NULL;
  int indptr_needed = output->values_source == NULL || output->source_h5ad == NULL;
  if (matrix == NULL || matrix->n_rows < 0 || matrix->n_cols < 0 || matrix->nnz < 0 ||
      (indptr_needed && matrix->indptr == NULL) ||
      (arrays_needed && matrix->nnz > 0 && (matrix->indices == NULL || matrix->values == NULL))) {
    cli_io_fail(error, error_size, "cannot write '%s': the matrix is incomplete", path);
    return 1;
  }
  if (normot_value_size(matrix->value_type) == 0) {
    cli_io_fail(error, error_size, "cannot write '%s': unknown value type", path);
    return 1;
  }
  if (output->size_factors != NULL && matrix->value_type != NORMOT_FLOAT32 &&
      matrix->value_type != NORMOT_FLOAT64) {
    cli_io_fail(error, error_size,
                "cannot write '%s': size factors need a float32 or float64 matrix", path);
    return 1;
  }
  if (output->size_factors != NULL && !is_column_name(output->key_added)) {
    cli_io_fail(error, error_size,
                "cannot write '%s': the size factors need an obs column name without '/', other "
                "than '_index'",
                path);
    return 1;
  }
  char *temp_path = cli_atomic_temp_name(path);
  if (temp_path == NULL) {
    cli_io_fail(error, error_size, "cannot write '%s': out of memory", path);
    return 1;
  }
  char cause[256];
  cli_h5_failure_reset();
  hid_t file = H5Fcreate(temp_path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) {
    cli_h5_failure_cause(cause, sizeof cause);
    cli_io_fail(error, error_size, "cannot create '%s': %s", path, cause);
    cli_atomic_discard_path(temp_path);
    return 1;
  }
  int status;
  if (output->source_h5ad != NULL) {
    copy_context context = {output->source_h5ad, path, error, error_size};
    status = write_copied_h5ad(file, matrix, output, &context);
  } else {
    status = write_built_h5ad(file, matrix, output);
  }
  if (H5Fclose(file) < 0 && status == 0) status = 2;
  if (status != 0) {
    /* A copy failure names what it could not copy; any other failure gets HDF5's cause. */
    if (output->source_h5ad == NULL || status == 2) {
      cli_h5_failure_cause(cause, sizeof cause);
      cli_io_fail(error, error_size, "cannot write '%s': %s", path, cause);
    }
    cli_atomic_discard_path(temp_path);
    return 1;
  }
  if (cli_atomic_commit_path(temp_path, path) != 0) { /* it removed the temporary file */
    cli_io_fail(error, error_size, "cannot rename the finished file onto '%s': %s", path,
                strerror(errno));
    free(temp_path);
    return 1;
  }
  free(temp_path);
  return 0;
}
