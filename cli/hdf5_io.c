/* 10x .h5 and AnnData .h5ad, through the HDF5 C library.
 *
 * Every dataset's stored type is asked of the file and converted by HDF5 into the memory type
 * wanted here (Cell Ranger stores int32 data with int64 indices; anndata int32 indices with
 * float32 data; others differ again). HDF5's own error printing is switched off: each failure
 * becomes one sentence in `error`, naming the file and the dataset. */
#define _POSIX_C_SOURCE 200809L
#include "hdf5_io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anndata_names_io.h"
#include "io_error.h"
#include "tenx_io.h"

#ifndef NORMOT_HAVE_HDF5

int cli_hdf5_available(void) {
  return 0;
}

int cli_read_10x_h5(const char *path, cli_matrix *out, char *error, size_t error_size) {
  (void)out;
  cli_io_fail(error, error_size, "cannot read '%s': this normot was built without HDF5", path);
  return 1;
}

int cli_read_h5ad(const char *path, cli_matrix *out, char *error, size_t error_size) {
  (void)out;
  cli_io_fail(error, error_size, "cannot read '%s': this normot was built without HDF5", path);
  return 1;
}

int cli_write_h5ad(const char *path, const cli_matrix *matrix, const cli_h5ad_output *output,
                   char *error, size_t error_size) {
  (void)matrix;
  (void)output;
  cli_io_fail(error, error_size, "cannot write '%s': this normot was built without HDF5", path);
  return 1;
}

#else /* NORMOT_HAVE_HDF5 */

#include <hdf5.h>

#include "atomic_file.h"
#include "hdf5_support.h"
#include "memory_budget.h"

int cli_hdf5_available(void) {
  return 1;
}

/* No real matrix has more rows or columns than this (2^48); larger shapes come from damaged
 * files, and rejecting them keeps every size computation far from overflow. */
static const int64_t MAX_DIMENSION = (int64_t)1 << 48;

static size_t value_size(normot_value_type type) {
  switch (type) {
    case NORMOT_FLOAT32: return 4;
    case NORMOT_FLOAT64: return 8;
    case NORMOT_INT32: return 4;
    case NORMOT_INT64: return 8;
    case NORMOT_UINT16: return 2;
    case NORMOT_UINT32: return 4;
  }
  return 0;
}

static hid_t native_type_of(normot_value_type type) {
  switch (type) {
    case NORMOT_FLOAT32: return H5T_NATIVE_FLOAT;
    case NORMOT_FLOAT64: return H5T_NATIVE_DOUBLE;
    case NORMOT_INT32: return H5T_NATIVE_INT32;
    case NORMOT_INT64: return H5T_NATIVE_INT64;
    case NORMOT_UINT16: return H5T_NATIVE_UINT16;
    case NORMOT_UINT32: return H5T_NATIVE_UINT32;
  }
  return H5T_NATIVE_DOUBLE;
}

/* malloc that never returns NULL for a zero size, so that NULL always means failure. */
static void *allocate(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return NULL;
  size_t bytes = count * size;
  return malloc(bytes == 0 ? 1 : bytes);
}

static void free_strings(char **strings, int64_t count) {
  if (strings == NULL) return;
  for (int64_t i = 0; i < count; i++) free(strings[i]);
  free(strings);
}

static int link_exists(hid_t location, const char *name) {
  return H5Lexists(location, name, H5P_DEFAULT) > 0;
}

/* H5I_GROUP, H5I_DATASET, or H5I_BADID when `name` is absent (portable across HDF5 1.10-1.14,
 * whose H5Oget_info signatures differ). */
static H5I_type_t object_kind(hid_t location, const char *name) {
  if (!link_exists(location, name)) return H5I_BADID;
  hid_t object = H5Oopen(location, name, H5P_DEFAULT);
  if (object < 0) return H5I_BADID;
  H5I_type_t kind = H5Iget_type(object);
  H5Oclose(object);
  return kind;
}

/* Frees what HDF5 allocated for variable-length strings read into `buffer`. */
static void reclaim_strings(hid_t memory_type, hid_t space, void *buffer) {
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(memory_type, space, H5P_DEFAULT, buffer);
#else
  H5Dvlen_reclaim(memory_type, space, H5P_DEFAULT, buffer);
#endif
}

/* ---- reading datasets ------------------------------------------------------------------------ */

/* Opens a 1-D dataset and returns its length (or -1 with the error set). */
static hid_t open_vector(const char *path, hid_t location, const char *name, int64_t *length,
                         char *error, size_t error_size) {
  if (!link_exists(location, name)) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' is missing", path, name);
    return -1;
  }
  hid_t dataset = H5Dopen2(location, name, H5P_DEFAULT);
  if (dataset < 0) {
    cli_io_fail(error, error_size, "'%s': '%s' is not a dataset", path, name);
    return -1;
  }
  hid_t space = H5Dget_space(dataset);
  int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
  hsize_t dims[1] = {0};
  if (rank == 1) H5Sget_simple_extent_dims(space, dims, NULL);
  if (space >= 0) H5Sclose(space);
  if (rank != 1) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' should be 1-dimensional, it has %d",
                path, name, rank);
    H5Dclose(dataset);
    return -1;
  }
  *length = (int64_t)dims[0];
  return dataset;
}

static H5T_class_t dataset_class(hid_t dataset) {
  hid_t type = H5Dget_type(dataset);
  if (type < 0) return H5T_NO_CLASS;
  H5T_class_t type_class = H5Tget_class(type);
  H5Tclose(type);
  return type_class;
}

/* Reads a 1-D integer dataset into int64. expected < 0: any length. */
static int read_int64_vector(const char *path, hid_t location, const char *name, int64_t expected,
                             int64_t **out, int64_t *out_length, char *error, size_t error_size) {
  int64_t length = 0;
  hid_t dataset = open_vector(path, location, name, &length, error, error_size);
  if (dataset < 0) return 1;
  int status = 1;
  int64_t *values = NULL;
  if (dataset_class(dataset) != H5T_INTEGER) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' should hold integers", path, name);
  } else if (expected >= 0 && length != expected) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' has %lld entries, expected %lld", path,
                name, (long long)length, (long long)expected);
  } else if (cli_h5_check_declared_size(path, dataset, name, (uint64_t)length, 8.0 * (double)length,
                                        error, error_size) != 0) {
    /* the reason is in error */
  } else if ((values = allocate((size_t)length, sizeof *values)) == NULL) {
    cli_io_fail(error, error_size, "'%s': out of memory reading '%s'", path, name);
  } else if (length > 0 &&
             H5Dread(dataset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
    cli_io_fail(error, error_size, "'%s': cannot read the dataset '%s'", path, name);
  } else {
    *out = values;
    values = NULL;
    if (out_length != NULL) *out_length = length;
    status = 0;
  }
  free(values);
  H5Dclose(dataset);
  return status;
}

/* The normot value type that holds a stored numeric type without loss (integers stay
 * integers: the normalization then matches scanpy's cast to float32). */
static int value_type_for(hid_t file_type, normot_value_type *value_type) {
  H5T_class_t type_class = H5Tget_class(file_type);
  size_t size = H5Tget_size(file_type);
  if (type_class == H5T_FLOAT) {
    *value_type = size <= 4 ? NORMOT_FLOAT32 : NORMOT_FLOAT64;
    return 0;
  }
  if (type_class == H5T_INTEGER) {
    int is_signed = H5Tget_sign(file_type) == H5T_SGN_2;
    if (is_signed)
      *value_type = size <= 4 ? NORMOT_INT32 : NORMOT_INT64;
    else if (size <= 2)
      *value_type = NORMOT_UINT16;
    else if (size <= 4)
      *value_type = NORMOT_UINT32;
    else
      *value_type = NORMOT_INT64; /* counts beyond 2^63 do not occur */
    return 0;
  }
  return 1;
}

/* Reads a 1-D numeric dataset of `expected` entries in the type that fits it. */
static int read_value_vector(const char *path, hid_t location, const char *name, int64_t expected,
                             void **out, normot_value_type *out_type, char *error,
                             size_t error_size) {
  int64_t length = 0;
  hid_t dataset = open_vector(path, location, name, &length, error, error_size);
  if (dataset < 0) return 1;
  int status = 1;
  void *values = NULL;
  normot_value_type value_type = NORMOT_FLOAT64;
  hid_t file_type = H5Dget_type(dataset);
  if (file_type < 0 || value_type_for(file_type, &value_type) != 0) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' should hold numbers", path, name);
  } else if (length != expected) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' has %lld entries, expected %lld", path,
                name, (long long)length, (long long)expected);
  } else if (cli_h5_check_declared_size(path, dataset, name, (uint64_t)length,
                                        (double)length * (double)value_size(value_type), error,
                                        error_size) != 0) {
    /* the reason is in error */
  } else if ((values = allocate((size_t)length, value_size(value_type))) == NULL) {
    cli_io_fail(error, error_size, "'%s': out of memory reading '%s'", path, name);
  } else if (length > 0 && H5Dread(dataset, native_type_of(value_type), H5S_ALL, H5S_ALL,
                                   H5P_DEFAULT, values) < 0) {
    cli_io_fail(error, error_size, "'%s': cannot read the dataset '%s'", path, name);
  } else {
    *out = values;
    *out_type = value_type;
    values = NULL;
    status = 0;
  }
  free(values);
  if (file_type >= 0) H5Tclose(file_type);
  H5Dclose(dataset);
  return status;
}

/* Copies a fixed-length HDF5 string (NUL- or space-padded, maybe unterminated). */
static char *copy_fixed_string(const char *text, size_t size) {
  size_t length = 0;
  while (length < size && text[length] != '\0') length++;
  char *copy = malloc(length + 1);
  if (copy == NULL) return NULL;
  memcpy(copy, text, length);
  copy[length] = '\0';
  return copy;
}

/* Reads a 1-D dataset of strings (fixed-length as Cell Ranger writes, or variable-length as
 * anndata writes) into `expected` owned C strings. */
static int read_string_vector(const char *path, hid_t location, const char *name, int64_t expected,
                              char ***out, char *error, size_t error_size) {
  int64_t length = 0;
  hid_t dataset = open_vector(path, location, name, &length, error, error_size);
  if (dataset < 0) return 1;
  int status = 1;
  char **strings = NULL;
  char *fixed_buffer = NULL;
  char **variable_buffer = NULL;
  hid_t memory_type = -1;
  hid_t space = -1;
  hid_t file_type = H5Dget_type(dataset);
  if (file_type < 0 || H5Tget_class(file_type) != H5T_STRING) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' should hold strings", path, name);
    goto done;
  }
  if (length != expected) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' has %lld entries, expected %lld", path,
                name, (long long)length, (long long)expected);
    goto done;
  }
  /* A pointer, a copy of the text and HDF5's buffer: at least 24 bytes per string. */
  if (cli_h5_check_declared_size(path, dataset, name, (uint64_t)length, 24.0 * (double)length,
                                 error, error_size) != 0)
    goto done;
  strings = calloc((size_t)(length > 0 ? length : 1), sizeof *strings);
  memory_type = H5Tcopy(H5T_C_S1);
  if (strings == NULL || memory_type < 0) goto out_of_memory;
  H5Tset_cset(memory_type, H5Tget_cset(file_type));
  if (H5Tis_variable_str(file_type) > 0) {
    H5Tset_size(memory_type, H5T_VARIABLE);
    variable_buffer = calloc((size_t)(length > 0 ? length : 1), sizeof *variable_buffer);
    if (variable_buffer == NULL) goto out_of_memory;
    if (length > 0 &&
        H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, variable_buffer) < 0) {
      cli_io_fail(error, error_size, "'%s': cannot read the strings of '%s'", path, name);
      goto done;
    }
    for (int64_t i = 0; i < length; i++) {
      const char *text = variable_buffer[i] != NULL ? variable_buffer[i] : "";
      if ((strings[i] = strdup(text)) == NULL) break;
    }
    space = H5Dget_space(dataset);
    if (length > 0) reclaim_strings(memory_type, space, variable_buffer);
  } else {
    size_t size = H5Tget_size(file_type);
    H5Tset_size(memory_type, size);
    H5Tset_strpad(memory_type, H5T_STR_NULLPAD);
    fixed_buffer = allocate((size_t)length, size);
    if (fixed_buffer == NULL) goto out_of_memory;
    if (length > 0 &&
        H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, fixed_buffer) < 0) {
      cli_io_fail(error, error_size, "'%s': cannot read the strings of '%s'", path, name);
      goto done;
    }
    for (int64_t i = 0; i < length; i++)
      if ((strings[i] = copy_fixed_string(fixed_buffer + (size_t)i * size, size)) == NULL) break;
  }
  for (int64_t i = 0; i < length; i++)
    if (strings[i] == NULL) goto out_of_memory;
  *out = strings;
  strings = NULL;
  status = 0;
  goto done;
out_of_memory:
  cli_io_fail(error, error_size, "'%s': out of memory reading '%s'", path, name);
done:
  free_strings(strings, length);
  free(fixed_buffer);
  free(variable_buffer);
  if (space >= 0) H5Sclose(space);
  if (memory_type >= 0) H5Tclose(memory_type);
  if (file_type >= 0) H5Tclose(file_type);
  H5Dclose(dataset);
  return status;
}

enum { ATTRIBUTE_READ = 0, ATTRIBUTE_ABSENT = 1, ATTRIBUTE_NOT_A_STRING = 2 };

/* Reads a string attribute (fixed or variable length, scalar) into `text`. Returns
 * ATTRIBUTE_READ, ATTRIBUTE_ABSENT, or ATTRIBUTE_NOT_A_STRING (another type, or unreadable). */
static int read_string_attribute(hid_t object, const char *name, char *text, size_t text_size) {
  text[0] = '\0';
  if (H5Aexists(object, name) <= 0) return ATTRIBUTE_ABSENT;
  hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
  if (attribute < 0) return ATTRIBUTE_NOT_A_STRING;
  int status = ATTRIBUTE_NOT_A_STRING;
  hid_t file_type = H5Aget_type(attribute);
  hid_t memory_type = H5Tcopy(H5T_C_S1);
  hid_t space = H5Aget_space(attribute);
  if (file_type >= 0 && memory_type >= 0 && space >= 0 && H5Tget_class(file_type) == H5T_STRING &&
      H5Sget_simple_extent_npoints(space) == 1) {
    /* HDF5 converts no string between ASCII and UTF-8: read in the stored character set. */
    H5Tset_cset(memory_type, H5Tget_cset(file_type));
    if (H5Tis_variable_str(file_type) > 0) {
      char *value = NULL;
      H5Tset_size(memory_type, H5T_VARIABLE);
      if (H5Aread(attribute, memory_type, &value) >= 0) {
        snprintf(text, text_size, "%s", value != NULL ? value : "");
        reclaim_strings(memory_type, space, &value);
        status = 0;
      }
    } else {
      size_t size = H5Tget_size(file_type);
      char *buffer = allocate(size, 1);
      H5Tset_size(memory_type, size);
      H5Tset_strpad(memory_type, H5T_STR_NULLPAD);
      if (buffer != NULL && H5Aread(attribute, memory_type, buffer) >= 0) {
        char *copy = copy_fixed_string(buffer, size);
        if (copy != NULL) {
          snprintf(text, text_size, "%s", copy);
          free(copy);
          status = 0;
        }
      }
      free(buffer);
    }
  }
  if (space >= 0) H5Sclose(space);
  if (memory_type >= 0) H5Tclose(memory_type);
  if (file_type >= 0) H5Tclose(file_type);
  H5Aclose(attribute);
  return status;
}

/* Reads an integer attribute of exactly two entries (a matrix shape). */
static int read_shape_attribute(hid_t object, const char *name, int64_t shape[2]) {
  if (H5Aexists(object, name) <= 0) return 1;
  hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
  if (attribute < 0) return 1;
  int status = 1;
  hid_t file_type = H5Aget_type(attribute);
  hid_t space = H5Aget_space(attribute);
  if (file_type >= 0 && space >= 0 && H5Tget_class(file_type) == H5T_INTEGER &&
      H5Sget_simple_extent_npoints(space) == 2 && H5Aread(attribute, H5T_NATIVE_INT64, shape) >= 0)
    status = 0;
  if (space >= 0) H5Sclose(space);
  if (file_type >= 0) H5Tclose(file_type);
  H5Aclose(attribute);
  return status;
}

/* ---- checks shared by the sparse readers ----------------------------------------------------- */

/* indptr of n_outer + 1 offsets must start at 0, never decrease, and end at nnz. */
static int check_indptr(const char *path, const char *name, const int64_t *indptr, int64_t n_outer,
                        int64_t nnz, char *error, size_t error_size) {
  if (indptr[0] != 0) {
    cli_io_fail(error, error_size, "'%s': %s starts at %lld, not 0", path, name,
                (long long)indptr[0]);
    return 1;
  }
  for (int64_t i = 0; i < n_outer; i++) {
    if (indptr[i + 1] < indptr[i]) {
      cli_io_fail(error, error_size, "'%s': %s decreases at entry %lld", path, name,
                  (long long)(i + 1));
      return 1;
    }
  }
  if (indptr[n_outer] != nnz) {
    cli_io_fail(error, error_size, "'%s': %s ends at %lld but there are %lld entries", path, name,
                (long long)indptr[n_outer], (long long)nnz);
    return 1;
  }
  return 0;
}

static int check_indices(const char *path, const char *name, const int64_t *indices, int64_t nnz,
                         int64_t bound, char *error, size_t error_size) {
  for (int64_t i = 0; i < nnz; i++) {
    if (indices[i] < 0 || indices[i] >= bound) {
      cli_io_fail(error, error_size, "'%s': %s[%lld] = %lld is out of range [0, %lld)", path, name,
                  (long long)i, (long long)indices[i], (long long)bound);
      return 1;
    }
  }
  return 0;
}

/* ---- 10x .h5 --------------------------------------------------------------------------------- */

/* The legacy layout has one group per genome; the first (by name) that holds a matrix is read. */
typedef struct genome_search {
  char name[256];
  int found;
} genome_search;

static herr_t find_genome_group(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  genome_search *search = data;
  char data_path[300];
  snprintf(data_path, sizeof data_path, "%s/data", name);
  if (link_exists(group, name) && link_exists(group, data_path)) {
    snprintf(search->name, sizeof search->name, "%s", name);
    search->found = 1;
    return 1; /* stop iterating */
  }
  return 0;
}

/* The values of the annotation called `name`, or NULL. */
static char **annotation_values(const cli_matrix *matrix, const char *name) {
  for (int k = 0; k < matrix->n_annotations; k++)
    if (strcmp(matrix->annotations[k].name, name) == 0) return matrix->annotations[k].values;
  return NULL;
}

/* The names, in name order, of the string datasets of `features/` that scanpy's reader turns
 * into var columns of their own (all but the id, name and type it handles itself). */
typedef struct feature_columns {
  char names[32][64];
  int count;
  int overflow; /* more datasets, or longer names, than fit */
} feature_columns;

static herr_t collect_feature_column(hid_t group, const char *name, const H5L_info_t *info,
                                     void *data) {
  (void)info;
  feature_columns *columns = data;
  static const char *const handled[] = {"name", "feature_type", "id", "gene_id", "_all_tag_keys"};
  for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
    if (strcmp(name, handled[i]) == 0) return 0;
  if (object_kind(group, name) != H5I_DATASET) return 0;
  hid_t dataset = H5Dopen2(group, name, H5P_DEFAULT);
  H5T_class_t type_class = dataset >= 0 ? dataset_class(dataset) : H5T_NO_CLASS;
  if (dataset >= 0) H5Dclose(dataset);
  if (type_class != H5T_STRING) return 0;
  if (columns->count == 32 || strlen(name) >= sizeof columns->names[0]) {
    columns->overflow = 1;
    return 1;
  }
  snprintf(columns->names[columns->count++], sizeof columns->names[0], "%s", name);
  return 0;
}

/* Reads one string dataset of `features/` as the annotation `column`. */
static int add_feature_annotation(const char *path, hid_t group, const char *dataset,
                                  const char *column, cli_matrix *out, char *error,
                                  size_t error_size) {
  char qualified[128];
  char **values = NULL;
  snprintf(qualified, sizeof qualified, "features/%s", dataset);
  if (read_string_vector(path, group, qualified, out->n_cols, &values, error, error_size)) return 1;
  if (cli_matrix_add_annotation(out, column, values) != 0)
    return cli_io_fail(error, error_size, "'%s': out of memory reading '%s'", path, qualified);
  return 0;
}

/* The var columns scanpy.read_10x_h5 makes of a Cell Ranger 3+ features group, in its order:
 * probe_ids (probe matrices, whose gene ids are then features/gene_id), feature_types, then
 * every other string dataset (genome, ...) by name. */
static int read_feature_annotations(const char *path, hid_t group, cli_matrix *out, char *error,
                                    size_t error_size) {
  if (link_exists(group, "features/gene_id")) {
    char **gene_ids = NULL;
    if (read_string_vector(path, group, "features/gene_id", out->n_cols, &gene_ids, error,
                           error_size))
      return 1;
    if (cli_matrix_add_annotation(out, "probe_ids", out->col_names) != 0) {
      out->col_names = gene_ids;
      return cli_io_fail(error, error_size, "'%s': out of memory reading the probe ids", path);
    }
    out->col_names = gene_ids;
  }
  if (add_feature_annotation(path, group, "feature_type", "feature_types", out, error, error_size))
    return 1;
  feature_columns columns = {.count = 0, .overflow = 0};
  hid_t features = H5Gopen2(group, "features", H5P_DEFAULT);
  if (features < 0) return cli_io_fail(error, error_size, "'%s': no features group", path);
  hsize_t position = 0;
  H5Literate(features, H5_INDEX_NAME, H5_ITER_INC, &position, collect_feature_column, &columns);
  H5Gclose(features);
  if (columns.overflow)
    return cli_io_fail(error, error_size,
                       "'%s': features/ has more than 32 string datasets, or a name of more than "
                       "63 bytes",
                       path);
  for (int k = 0; k < columns.count; k++)
    if (add_feature_annotation(path, group, columns.names[k], columns.names[k], out, error,
                               error_size))
      return 1;
  return 0;
}

int cli_read_10x_h5(const char *path, cli_matrix *out, char *error, size_t error_size) {
  cli_h5_setup();
  memset(out, 0, sizeof *out);
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) {
    cli_io_fail(error, error_size, "cannot open '%s' as an HDF5 file", path);
    return 1;
  }
  int status = 1;
  hid_t group = -1;
  int64_t *shape = NULL, *indptr = NULL, *indices = NULL;
  void *values = NULL;
  normot_value_type value_type = NORMOT_INT32;
  char **barcodes = NULL, **gene_ids = NULL, **gene_names = NULL;
  int64_t n_genes = 0, n_cells = 0, nnz = 0;
  const char *ids_name, *names_name;
  int has_features = 0;
  char group_name[256];

  if (link_exists(file, "matrix")) { /* Cell Ranger 3 and later */
    snprintf(group_name, sizeof group_name, "matrix");
    ids_name = "features/id";
    names_name = "features/name";
    has_features = 1;
  } else { /* Cell Ranger 2: /<genome>/{genes,gene_names} */
    genome_search search = {{0}, 0};
    hsize_t position = 0;
    H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, &position, find_genome_group, &search);
    if (!search.found) {
      cli_io_fail(error, error_size,
                  "'%s' is not a 10x .h5 matrix: no /matrix group and no genome group with data",
                  path);
      goto done;
    }
    snprintf(group_name, sizeof group_name, "%s", search.name);
    ids_name = "genes";
    names_name = "gene_names";
  }
  group = H5Gopen2(file, group_name, H5P_DEFAULT);
  if (group < 0) {
    cli_io_fail(error, error_size, "'%s': '/%s' is not a group", path, group_name);
    goto done;
  }
  if (read_int64_vector(path, group, "shape", 2, &shape, NULL, error, error_size)) goto done;
  n_genes = shape[0];
  n_cells = shape[1];
  /* The bound keeps n + 1 and the allocations below from overflowing on a lying file. */
  if (n_genes < 0 || n_cells < 0 || n_genes > MAX_DIMENSION || n_cells > MAX_DIMENSION) {
    cli_io_fail(error, error_size, "'%s': impossible shape (%lld, %lld)", path, (long long)n_genes,
                (long long)n_cells);
    goto done;
  }
  /* Stored as CSC genes x cells: indptr runs over cells, indices are genes. That is exactly
   * CSR cells x genes. */
  if (read_int64_vector(path, group, "indptr", n_cells + 1, &indptr, NULL, error, error_size))
    goto done;
  nnz = indptr[n_cells];
  if (nnz < 0) {
    cli_io_fail(error, error_size, "'%s': indptr ends at a negative offset", path);
    goto done;
  }
  if (read_int64_vector(path, group, "indices", nnz, &indices, NULL, error, error_size)) goto done;
  if (read_value_vector(path, group, "data", nnz, &values, &value_type, error, error_size))
    goto done;
  if (check_indptr(path, "indptr", indptr, n_cells, nnz, error, error_size)) goto done;
  if (check_indices(path, "indices", indices, nnz, n_genes, error, error_size)) goto done;
  if (read_string_vector(path, group, "barcodes", n_cells, &barcodes, error, error_size)) goto done;
  if (read_string_vector(path, group, ids_name, n_genes, &gene_ids, error, error_size)) goto done;
  if (link_exists(group, names_name) &&
      read_string_vector(path, group, names_name, n_genes, &gene_names, error, error_size))
    goto done;

  out->n_rows = n_cells;
  out->n_cols = n_genes;
  out->nnz = nnz;
  out->indptr = indptr;
  out->indices = indices;
  out->values = values;
  out->value_type = value_type;
  out->row_names = barcodes;
  out->col_names = gene_ids;
  out->col_symbols = gene_names;
  indptr = indices = NULL;
  values = NULL;
  barcodes = gene_ids = gene_names = NULL;
  /* Each cell's entries stay in the file's order, as scanpy's reader keeps them. */
  if (has_features && read_feature_annotations(path, group, out, error, error_size) != 0) {
    cli_matrix_free(out);
    goto done;
  }
  if (cli_keep_gene_expression(out, annotation_values(out, "feature_types")) != 0) {
    cli_matrix_free(out);
    cli_io_fail(error, error_size, "'%s': out of memory selecting the gene expression features",
                path);
    goto done;
  }
  status = 0;
done:
  free(shape);
  free(indptr);
  free(indices);
  free(values);
  free_strings(barcodes, n_cells);
  free_strings(gene_ids, n_genes);
  free_strings(gene_names, n_genes);
  if (group >= 0) H5Gclose(group);
  H5Fclose(file);
  return status;
}

/* ---- .h5ad reading --------------------------------------------------------------------------- */

/* Reads the names of a dataframe group (obs or var): its index, and optionally one string
 * column. A missing dataframe gives NULL names (anndata then numbers them). */
static int read_dataframe_index(const char *path, hid_t file, const char *frame, int64_t length,
                                char ***names, char *error, size_t error_size) {
  *names = NULL;
  if (object_kind(file, frame) != H5I_GROUP)
    return 0; /* anndata < 0.7 stored dataframes as compound datasets: names are not kept */
  hid_t group = H5Gopen2(file, frame, H5P_DEFAULT);
  if (group < 0) return 0;
  char index_name[256];
  int status = 0;
  if (read_string_attribute(group, "_index", index_name, sizeof index_name) == 0 &&
      link_exists(group, index_name)) {
    char qualified[300];
    snprintf(qualified, sizeof qualified, "%s/%s", frame, index_name);
    status = read_string_vector(path, file, qualified, length, names, error, error_size);
  }
  H5Gclose(group);
  return status;
}

/* Reads a categorical column (anndata: a group with "categories" strings and integer "codes",
 * -1 for a missing value) as one string per row. */
static int read_categorical_column(const char *path, hid_t file, const char *qualified,
                                   int64_t length, char ***values, char *error, size_t error_size) {
  char name[320];
  snprintf(name, sizeof name, "%s/categories", qualified);
  int64_t n_categories = 0;
  hid_t categories_set = open_vector(path, file, name, &n_categories, error, error_size);
  if (categories_set < 0) return 1;
  H5Dclose(categories_set);
  char **categories = NULL;
  int64_t *codes = NULL;
  char **strings = NULL;
  int status = 1;
  if (read_string_vector(path, file, name, n_categories, &categories, error, error_size)) goto done;
  snprintf(name, sizeof name, "%s/codes", qualified);
  if (read_int64_vector(path, file, name, length, &codes, NULL, error, error_size)) goto done;
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
  free_strings(strings, length);
  free_strings(categories, n_categories);
  free(codes);
  return status;
}

/* Reads the string column `column` of dataframe `frame` when it is a string array or a
 * categorical of strings; another kind of column (numbers) gives NULL. */
static int read_dataframe_column(const char *path, hid_t file, const char *frame,
                                 const char *column, int64_t length, char ***values, char *error,
                                 size_t error_size) {
  *values = NULL;
  char qualified[300];
  snprintf(qualified, sizeof qualified, "%s/%s", frame, column);
  if (!link_exists(file, frame)) return 0;
  H5I_type_t kind = object_kind(file, qualified);
  if (kind == H5I_GROUP) {
    hid_t group = H5Gopen2(file, qualified, H5P_DEFAULT);
    char encoding[64] = "";
    if (group >= 0) {
      read_string_attribute(group, "encoding-type", encoding, sizeof encoding);
      H5Gclose(group);
    }
    if (strcmp(encoding, "categorical") != 0) return 0;
    return read_categorical_column(path, file, qualified, length, values, error, error_size);
  }
  if (kind != H5I_DATASET) return 0;
  hid_t dataset = H5Dopen2(file, qualified, H5P_DEFAULT);
  if (dataset < 0) return 0;
  H5T_class_t type_class = dataset_class(dataset);
  H5Dclose(dataset);
  if (type_class != H5T_STRING) return 0;
  return read_string_vector(path, file, qualified, length, values, error, error_size);
}

/* Transposes a CSC n_rows x n_cols matrix (indptr over columns) into CSR, keeping each row's
 * entries in column order. */
static int csc_to_csr(int64_t n_rows, int64_t n_cols, int64_t nnz, const int64_t *col_ptr,
                      const int64_t *row_index, const void *values, size_t element_size,
                      int64_t **out_indptr, int64_t **out_indices, void **out_values) {
  int64_t *indptr = calloc((size_t)n_rows + 1, sizeof *indptr);
  int64_t *indices = allocate((size_t)nnz, sizeof *indices);
  char *out = allocate((size_t)nnz, element_size);
  int64_t *next = allocate((size_t)n_rows, sizeof *next);
  if (indptr == NULL || indices == NULL || out == NULL || next == NULL) {
    free(indptr);
    free(indices);
    free(out);
    free(next);
    return 1;
  }
  for (int64_t i = 0; i < nnz; i++) indptr[row_index[i] + 1]++;
  for (int64_t r = 0; r < n_rows; r++) indptr[r + 1] += indptr[r];
  memcpy(next, indptr, (size_t)n_rows * sizeof *next);
  const char *in = values;
  for (int64_t c = 0; c < n_cols; c++) {
    for (int64_t i = col_ptr[c]; i < col_ptr[c + 1]; i++) {
      int64_t position = next[row_index[i]]++;
      indices[position] = c;
      memcpy(out + (size_t)position * element_size, in + (size_t)i * element_size, element_size);
    }
  }
  free(next);
  *out_indptr = indptr;
  *out_indices = indices;
  *out_values = out;
  return 0;
}

/* Whether one stored value is zero; -0.0 counts as zero, so bytes alone cannot tell. */
#define RETURN_IS_ZERO_AS(type)  \
  do {                           \
    type v;                      \
    memcpy(&v, value, sizeof v); \
    return v == 0;               \
  } while (0)

static int value_is_zero(const char *value, normot_value_type type) {
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

/* Reads a dense 2-D X block of rows at a time and keeps its non-zero entries as CSR. */
static int read_dense_x(const char *path, hid_t dataset, cli_matrix *out, char *error,
                        size_t error_size) {
  int status = 1;
  hid_t file_space = H5Dget_space(dataset);
  hid_t file_type = H5Dget_type(dataset);
  hid_t memory_space = -1;
  char *block = NULL;
  int64_t *indptr = NULL, *indices = NULL;
  char *values = NULL;
  int64_t capacity = 0, nnz = 0;
  hsize_t dims[2] = {0, 0};
  normot_value_type value_type = NORMOT_FLOAT64;
  if (file_space < 0 || file_type < 0 || H5Sget_simple_extent_ndims(file_space) != 2) {
    cli_io_fail(error, error_size, "'%s': a dense X must be 2-dimensional", path);
    goto done;
  }
  if (value_type_for(file_type, &value_type) != 0) {
    cli_io_fail(error, error_size, "'%s': X should hold numbers", path);
    goto done;
  }
  H5Sget_simple_extent_dims(file_space, dims, NULL);
  uint64_t n_values = 0;
  /* Each dimension below 2^48 keeps a row's bytes far from overflow; their product may not. */
  if (dims[0] > (hsize_t)MAX_DIMENSION || dims[1] > (hsize_t)MAX_DIMENSION ||
      __builtin_mul_overflow((uint64_t)dims[0], (uint64_t)dims[1], &n_values)) {
    cli_io_fail(error, error_size, "'%s': X has an impossible shape (%llu, %llu)", path,
                (unsigned long long)dims[0], (unsigned long long)dims[1]);
    goto done;
  }
  int64_t n_rows = (int64_t)dims[0], n_cols = (int64_t)dims[1];
  size_t element_size = value_size(value_type);
  /* About 32 MB per block, at least one row. */
  int64_t rows_per_block = n_cols > 0 ? (int64_t)(((size_t)32 << 20) / (element_size * n_cols)) : 1;
  if (rows_per_block < 1) rows_per_block = 1;
  if (rows_per_block > n_rows) rows_per_block = n_rows > 0 ? n_rows : 1;
  double block_bytes = (double)rows_per_block * (double)n_cols * (double)element_size;
  if (cli_h5_check_declared_size(path, dataset, "X", n_values,
                                 8.0 * ((double)n_rows + 1.0) + block_bytes, error, error_size))
    goto done;
  block = allocate((size_t)rows_per_block * (size_t)n_cols, element_size);
  indptr = allocate((size_t)n_rows + 1, sizeof *indptr);
  if (block == NULL || indptr == NULL) goto out_of_memory;
  indptr[0] = 0;
  for (int64_t first = 0; first < n_rows; first += rows_per_block) {
    int64_t count = n_rows - first < rows_per_block ? n_rows - first : rows_per_block;
    hsize_t start[2] = {(hsize_t)first, 0}, extent[2] = {(hsize_t)count, (hsize_t)n_cols};
    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, extent, NULL);
    if (memory_space >= 0) H5Sclose(memory_space);
    memory_space = H5Screate_simple(2, extent, NULL);
    if (n_cols > 0 && H5Dread(dataset, native_type_of(value_type), memory_space, file_space,
                              H5P_DEFAULT, block) < 0) {
      cli_io_fail(error, error_size, "'%s': cannot read the dense X", path);
      goto done;
    }
    for (int64_t r = 0; r < count; r++) {
      for (int64_t c = 0; c < n_cols; c++) {
        const char *value = block + ((size_t)r * (size_t)n_cols + (size_t)c) * element_size;
        if (value_is_zero(value, value_type)) continue;
        if (nnz == capacity) {
          int64_t grown = capacity == 0 ? 1024 : 2 * capacity;
          int64_t *more_indices = realloc(indices, (size_t)grown * sizeof *indices);
          if (more_indices == NULL) goto out_of_memory;
          indices = more_indices;
          char *more_values = realloc(values, (size_t)grown * element_size);
          if (more_values == NULL) goto out_of_memory;
          values = more_values;
          capacity = grown;
        }
        indices[nnz] = c;
        memcpy(values + (size_t)nnz * element_size, value, element_size);
        nnz++;
      }
      indptr[first + r + 1] = nnz;
    }
  }
  if (indices == NULL) indices = allocate(0, sizeof *indices);
  if (values == NULL) values = allocate(0, element_size);
  if (indices == NULL || values == NULL) goto out_of_memory;
  out->n_rows = n_rows;
  out->n_cols = n_cols;
  out->nnz = nnz;
  out->indptr = indptr;
  out->indices = indices;
  out->values = values;
  out->value_type = value_type;
  indptr = indices = NULL;
  values = NULL;
  status = 0;
  goto done;
out_of_memory:
  cli_io_fail(error, error_size, "'%s': out of memory reading the dense X", path);
done:
  free(block);
  free(indptr);
  free(indices);
  free(values);
  if (memory_space >= 0) H5Sclose(memory_space);
  if (file_type >= 0) H5Tclose(file_type);
  if (file_space >= 0) H5Sclose(file_space);
  return status;
}

/* Reads a sparse X group (csr_matrix or csc_matrix) into CSR. */
static int read_sparse_x(const char *path, hid_t group, int is_csr, cli_matrix *out, char *error,
                         size_t error_size) {
  int64_t shape[2];
  if (read_shape_attribute(group, "shape", shape) != 0 &&
      read_shape_attribute(group, "h5sparse_shape", shape) != 0) {
    cli_io_fail(error, error_size, "'%s': X has no integer 'shape' attribute of two entries", path);
    return 1;
  }
  if (shape[0] < 0 || shape[1] < 0 || shape[0] > MAX_DIMENSION || shape[1] > MAX_DIMENSION) {
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
  if (read_int64_vector(path, group, "indptr", n_outer + 1, &indptr, NULL, error, error_size))
    goto done;
  int64_t nnz = indptr[n_outer];
  if (nnz < 0) {
    cli_io_fail(error, error_size, "'%s': X/indptr ends at a negative offset", path);
    goto done;
  }
  if (read_int64_vector(path, group, "indices", nnz, &indices, NULL, error, error_size)) goto done;
  if (read_value_vector(path, group, "data", nnz, &values, &value_type, error, error_size))
    goto done;
  if (check_indptr(path, "X/indptr", indptr, n_outer, nnz, error, error_size)) goto done;
  if (check_indices(path, "X/indices", indices, nnz, n_inner, error, error_size)) goto done;
  char shortfall[160];
  if (!is_csr && cli_memory_shortfall(16.0 * ((double)n_rows + 1.0) +
                                          (double)nnz * (8.0 + (double)value_size(value_type)),
                                      shortfall, sizeof shortfall)) {
    cli_io_fail(error, error_size, "'%s': converting X (%lld x %lld) from CSC %s", path,
                (long long)n_rows, (long long)n_cols, shortfall);
    goto done;
  }
  if (!is_csr) {
    int64_t *row_indptr, *row_indices;
    void *row_values;
    if (csc_to_csr(n_rows, n_cols, nnz, indptr, indices, values, value_size(value_type),
                   &row_indptr, &row_indices, &row_values) != 0) {
      cli_io_fail(error, error_size, "'%s': out of memory converting X from CSC", path);
      goto done;
    }
    free(indptr);
    free(indices);
    free(values);
    indptr = row_indptr;
    indices = row_indices;
    values = row_values;
  }
  out->n_rows = n_rows;
  out->n_cols = n_cols;
  out->nnz = nnz;
  out->indptr = indptr;
  out->indices = indices;
  out->values = values;
  out->value_type = value_type;
  indptr = indices = NULL;
  values = NULL;
  status = 0;
done:
  free(indptr);
  free(indices);
  free(values);
  return status;
}

int cli_read_h5ad(const char *path, cli_matrix *out, char *error, size_t error_size) {
  cli_h5_setup();
  memset(out, 0, sizeof *out);
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) {
    cli_io_fail(error, error_size, "cannot open '%s' as an HDF5 file", path);
    return 1;
  }
  int status = 1;
  hid_t x = -1;
  char encoding[64];
  char **gene_ids = NULL, **gene_symbols = NULL;
  if (!link_exists(file, "X")) {
    cli_io_fail(error, error_size, "'%s' has no X: not an AnnData .h5ad file", path);
    goto done;
  }
  x = H5Oopen(file, "X", H5P_DEFAULT);
  H5I_type_t kind = x >= 0 ? H5Iget_type(x) : H5I_BADID;
  const char *encoding_name = "encoding-type";
  int encoding_found = read_string_attribute(x, encoding_name, encoding, sizeof encoding);
  if (kind == H5I_GROUP && encoding_found == ATTRIBUTE_ABSENT) {
    encoding_name = "h5sparse_format";
    encoding_found = read_string_attribute(x, encoding_name, encoding, sizeof encoding);
  }
  if (encoding_found == ATTRIBUTE_NOT_A_STRING) {
    cli_io_fail(error, error_size, "'%s': X's %s attribute has the wrong type (not a string)", path,
                encoding_name);
    goto done;
  }
  if (kind == H5I_GROUP) {
    if (encoding_found == ATTRIBUTE_ABSENT) {
      cli_io_fail(error, error_size, "'%s': X is a group without an encoding-type attribute", path);
      goto done;
    }
    int is_csr = strcmp(encoding, "csr_matrix") == 0 || strcmp(encoding, "csr") == 0;
    int is_csc = strcmp(encoding, "csc_matrix") == 0 || strcmp(encoding, "csc") == 0;
    if (!is_csr && !is_csc) {
      cli_io_fail(error, error_size,
                  "'%s': X has encoding-type '%s'; normot reads csr_matrix, csc_matrix or a dense "
                  "array",
                  path, encoding);
      goto done;
    }
    if (read_sparse_x(path, x, is_csr, out, error, error_size)) goto done;
  } else if (kind == H5I_DATASET) {
    if (encoding_found == ATTRIBUTE_READ && strcmp(encoding, "array") != 0) {
      cli_io_fail(error, error_size,
                  "'%s': X has encoding-type '%s'; normot reads csr_matrix, csc_matrix or a dense "
                  "array",
                  path, encoding);
      goto done;
    }
    if (read_dense_x(path, x, out, error, error_size)) goto done;
  } else {
    cli_io_fail(error, error_size, "'%s': X is neither a group nor a dataset", path);
    goto done;
  }

  if (read_dataframe_index(path, file, "obs", out->n_rows, &out->row_names, error, error_size))
    goto fail;
  if (read_dataframe_index(path, file, "var", out->n_cols, &out->col_names, error, error_size))
    goto fail;
  /* scanpy's read_10x_* put the symbols in the index and the ids in a gene_ids column, or (with
   * var_names="gene_ids") the ids in the index and the symbols in gene_symbols; normot writes
   * the same two layouts. Either way, ids become the names and symbols the symbols. */
  if (read_dataframe_column(path, file, "var", "gene_ids", out->n_cols, &gene_ids, error,
                            error_size))
    goto fail;
  if (gene_ids != NULL) {
    gene_symbols = out->col_names;
    out->col_names = gene_ids;
    out->col_symbols = gene_symbols;
    gene_ids = gene_symbols = NULL;
  } else if (read_dataframe_column(path, file, "var", "gene_symbols", out->n_cols,
                                   &out->col_symbols, error, error_size)) {
    goto fail;
  }
  status = 0;
  goto done;
fail:
  cli_matrix_free(out);
  memset(out, 0, sizeof *out);
done:
  if (x >= 0) H5Oclose(x);
  H5Fclose(file);
  return status;
}

/* ---- .h5ad writing --------------------------------------------------------------------------- */

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

/* A 1-D dataset of `file_type` (anndata's "array"), written from values of `memory_type`. */
static int write_vector_as(hid_t location, const char *name, hid_t file_type, hid_t memory_type,
                           int64_t length, const void *data) {
  hsize_t dims[1] = {(hsize_t)length};
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t dataset = -1;
  int status = 1;
  if (space >= 0)
    dataset = H5Dcreate2(location, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (dataset >= 0) {
    status = length > 0 && H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0;
    if (status == 0 && H5Tget_class(memory_type) != H5T_STRING)
      status = write_encoding(dataset, "array", "0.2.0");
    H5Dclose(dataset);
  }
  if (space >= 0) H5Sclose(space);
  return status;
}

static int write_vector(hid_t location, const char *name, hid_t type, int64_t length,
                        const void *data) {
  return write_vector_as(location, name, type, type, length, data);
}

/* Writes `length` strings; NULL `strings` writes "0", "1", ... as anndata names rows. */
static int write_string_array(hid_t location, const char *name, char *const *strings,
                              int64_t length) {
  const char **pointers = allocate((size_t)length, sizeof *pointers);
  char *numbers = NULL;
  int status = 1;
  if (pointers == NULL) {
    cli_h5_failure_note("out of memory");
    return 1;
  }
  if (strings == NULL) {
    numbers = allocate((size_t)length, 24);
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
  hid_t dataset = -1;
  if (type >= 0 && space >= 0)
    dataset = H5Dcreate2(location, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
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

/* X as anndata's csr_matrix: indices and indptr are int32 when every value fits (as scipy
 * makes them), else int64. */
static int write_csr_x(hid_t file, const cli_matrix *matrix) {
  hid_t group = H5Gcreate2(file, "X", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (group < 0) return 1;
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
  if (status == 0)
    status = write_vector(group, "data", native_type_of(matrix->value_type), matrix->nnz,
                          matrix->values);
  int narrow = matrix->n_cols <= INT32_MAX && matrix->nnz <= INT32_MAX;
  if (status == 0 && !narrow) {
    status = write_vector(group, "indices", H5T_NATIVE_INT64, matrix->nnz, matrix->indices) ||
             write_vector(group, "indptr", H5T_NATIVE_INT64, matrix->n_rows + 1, matrix->indptr);
  } else if (status == 0) {
    int64_t longest = matrix->nnz > matrix->n_rows + 1 ? matrix->nnz : matrix->n_rows + 1;
    int32_t *narrowed = allocate((size_t)longest, sizeof *narrowed);
    status = narrowed == NULL;
    if (narrowed == NULL) cli_h5_failure_note("out of memory");
    if (status == 0) {
      for (int64_t i = 0; i < matrix->nnz; i++) narrowed[i] = (int32_t)matrix->indices[i];
      status = write_vector(group, "indices", H5T_NATIVE_INT32, matrix->nnz, narrowed);
    }
    if (status == 0) {
      for (int64_t i = 0; i <= matrix->n_rows; i++) narrowed[i] = (int32_t)matrix->indptr[i];
      status = write_vector(group, "indptr", H5T_NATIVE_INT32, matrix->n_rows + 1, narrowed);
    }
    free(narrowed);
  }
  H5Gclose(group);
  return status;
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
  frame_column size_factors = {output->key_added, NULL, native_type_of(matrix->value_type),
                               output->size_factors};
  return write_dataframe(file, "obs", matrix->row_names, matrix->n_rows, &size_factors,
                         output->size_factors != NULL ? 1 : 0);
}

/* Python's None as anndata writes it: an empty (null dataspace) float32 dataset. */
static int write_none(hid_t location, const char *name) {
  hid_t space = H5Screate(H5S_NULL);
  hid_t dataset = space < 0 ? -1
                            : H5Dcreate2(location, name, H5T_IEEE_F32LE, space, H5P_DEFAULT,
                                         H5P_DEFAULT, H5P_DEFAULT);
  int status = dataset < 0 || write_encoding(dataset, "null", "0.1.0");
  if (dataset >= 0) H5Dclose(dataset);
  if (space >= 0) H5Sclose(space);
  return status;
}

/* uns["log1p"] = {"base": None}, what sc.pp.log1p records for the natural logarithm. Replaces
 * an earlier record, as scanpy does. */
static int write_log1p_record(hid_t uns) {
  if (link_exists(uns, "log1p") && H5Ldelete(uns, "log1p", H5P_DEFAULT) < 0) return 1;
  hid_t group = H5Gcreate2(uns, "log1p", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (group < 0) return 1;
  int status = write_encoding(group, "dict", "0.1.0") || write_none(group, "base");
  H5Gclose(group);
  return status;
}

static int write_uns(hid_t file, int log1p) {
  if (!link_exists(file, "uns") && write_empty_dict(file, "uns") != 0) return 1;
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
  if (status == 0) status = write_csr_x(file, matrix);
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
  if (memory_type >= 0 && points >= 0) buffer = allocate((size_t)points, H5Tget_size(memory_type));
  if (buffer != NULL && (points == 0 || H5Aread(attribute, memory_type, buffer) >= 0)) {
    copy = H5Acreate2(target, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (copy >= 0 && (points == 0 || H5Awrite(copy, memory_type, buffer) >= 0)) result = 0;
    if (points > 0 &&
        (H5Tdetect_class(memory_type, H5T_VLEN) > 0 || H5Tis_variable_str(memory_type) > 0))
      reclaim_strings(memory_type, space, buffer);
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
  size_t size = value_size(matrix->value_type);
  int64_t *next = allocate((size_t)matrix->n_rows, sizeof *next);
  char *values = allocate((size_t)matrix->nnz, size);
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
  if (read_int64_vector(context->source_path, source_x, "indptr", matrix->n_cols + 1, &col_ptr,
                        NULL, context->error, context->error_size) == 0 &&
      read_int64_vector(context->source_path, source_x, "indices", matrix->nnz, &row_index, NULL,
                        context->error, context->error_size) == 0) {
    values = csc_values_of(matrix, col_ptr, row_index);
    if (values == NULL) copy_failed(context, "X (out of memory)");
  }
  free(col_ptr);
  free(row_index);
  return values;
}

/* A sparse X in the source's layout: its attributes and index arrays copied, the data new. */
static int write_sparse_x_like(hid_t source_x, hid_t file, const cli_matrix *matrix,
                               const copy_context *context) {
  char encoding[64];
  if (read_string_attribute(source_x, "encoding-type", encoding, sizeof encoding) != 0)
    read_string_attribute(source_x, "h5sparse_format", encoding, sizeof encoding);
  int is_csc = strcmp(encoding, "csc_matrix") == 0 || strcmp(encoding, "csc") == 0;
  /* A CSR source was read in its entry order: the values are in that order already. */
  void *csc_values = is_csc ? values_in_csc_order(source_x, matrix, context) : NULL;
  if (is_csc && csc_values == NULL) return 1;
  const void *values = is_csc ? csc_values : matrix->values;
  hid_t x = H5Gcreate2(file, "X", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int status = x < 0 || copy_attributes(source_x, x) ||
               H5Ocopy(source_x, "indices", x, "indices", H5P_DEFAULT, H5P_DEFAULT) < 0 ||
               H5Ocopy(source_x, "indptr", x, "indptr", H5P_DEFAULT, H5P_DEFAULT) < 0 ||
               write_vector(x, "data", native_type_of(matrix->value_type), matrix->nnz, values);
  if (x >= 0) H5Gclose(x);
  free(csc_values);
  return status ? copy_failed(context, "X") : 0;
}

/* Rows [first, first + count) of the matrix as a dense row-major block (zeros elsewhere). */
static void fill_dense_rows(const cli_matrix *matrix, int64_t first, int64_t count, char *block) {
  size_t size = value_size(matrix->value_type);
  memset(block, 0, (size_t)count * (size_t)matrix->n_cols * size);
  const char *values = matrix->values;
  for (int64_t r = 0; r < count; r++) {
    char *row = block + (size_t)r * (size_t)matrix->n_cols * size;
    for (int64_t i = matrix->indptr[first + r]; i < matrix->indptr[first + r + 1]; i++)
      memcpy(row + (size_t)matrix->indices[i] * size, values + (size_t)i * size, size);
  }
}

/* A dense X as the source stores it (its attributes copied), written a block of rows at a time. */
static int write_dense_x_like(hid_t source_x, hid_t file, const cli_matrix *matrix,
                              const copy_context *context) {
  size_t size = value_size(matrix->value_type);
  hsize_t dims[2] = {(hsize_t)matrix->n_rows, (hsize_t)matrix->n_cols};
  hid_t type = native_type_of(matrix->value_type);
  hid_t file_space = H5Screate_simple(2, dims, NULL);
  hid_t x = file_space < 0
                ? -1
                : H5Dcreate2(file, "X", type, file_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int64_t rows_per_block =
      matrix->n_cols > 0 ? (int64_t)(((size_t)32 << 20) / (size * (size_t)matrix->n_cols)) : 1;
  if (rows_per_block < 1) rows_per_block = 1;
  char *block = allocate((size_t)rows_per_block * (size_t)matrix->n_cols, size);
  int status = x < 0 || block == NULL || copy_attributes(source_x, x);
  for (int64_t first = 0; status == 0 && first < matrix->n_rows; first += rows_per_block) {
    int64_t count =
        matrix->n_rows - first < rows_per_block ? matrix->n_rows - first : rows_per_block;
    hsize_t start[2] = {(hsize_t)first, 0}, extent[2] = {(hsize_t)count, dims[1]};
    hid_t memory_space = H5Screate_simple(2, extent, NULL);
    fill_dense_rows(matrix, first, count, block);
    status = memory_space < 0 ||
             H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, extent, NULL) < 0 ||
             (dims[1] > 0 && H5Dwrite(x, type, memory_space, file_space, H5P_DEFAULT, block) < 0);
    if (memory_space >= 0) H5Sclose(memory_space);
  }
  free(block);
  if (x >= 0) H5Dclose(x);
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
    char **read = allocate((size_t)points, sizeof *read);
    char **copies = calloc((size_t)(points > 0 ? points : 1), sizeof *copies);
    H5Tset_cset(memory_type, H5Tget_cset(file_type));
    if (read != NULL && copies != NULL &&
        (points == 0 || H5Aread(attribute, memory_type, read) >= 0)) {
      status = 0;
      for (hssize_t i = 0; i < points; i++)
        if ((copies[i] = strdup(read[i] != NULL ? read[i] : "")) == NULL) status = 1;
      if (points > 0) reclaim_strings(memory_type, space, read);
    }
    if (status == 0) {
      *names = copies;
      *count = (int64_t)points;
    } else {
      free_strings(copies, (int64_t)points);
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
  const char **order = allocate((size_t)count + 1, sizeof *order);
  int status = order == NULL;
  if (status == 0 && !listed) {
    for (int64_t i = 0; i < count; i++) order[i] = names[i];
    order[count] = column;
    status =
        H5Adelete(frame, "column-order") < 0 || write_column_order(frame, order, (int)(count + 1));
  }
  free(order);
  free_strings(names, count);
  return status;
}

/* obs[key_added] in an obs copied from the input: the column written (or replaced) and named in
 * column-order. */
static int add_obs_column(hid_t file, const cli_matrix *matrix, const cli_h5ad_output *output,
                          const copy_context *context) {
  if (object_kind(file, "obs") != H5I_GROUP)
    return cli_io_fail(context->error, context->error_size,
                       "cannot add obs['%s']: obs in '%s' is not a dataframe group",
                       output->key_added, context->source_path);
  hid_t obs = H5Gopen2(file, "obs", H5P_DEFAULT);
  if (obs < 0) return copy_failed(context, "obs");
  char index_name[256];
  if (read_string_attribute(obs, "_index", index_name, sizeof index_name) == 0 &&
      strcmp(index_name, output->key_added) == 0) {
    H5Gclose(obs);
    return cli_io_fail(context->error, context->error_size,
                       "cannot add obs['%s']: that is the name of obs's index in '%s'",
                       output->key_added, context->source_path);
  }
  int status =
      (link_exists(obs, output->key_added) && H5Ldelete(obs, output->key_added, H5P_DEFAULT) < 0) ||
      write_vector(obs, output->key_added, native_type_of(matrix->value_type), matrix->n_rows,
                   output->size_factors) ||
      append_column_order(obs, output->key_added);
  H5Gclose(obs);
  return status ? copy_failed(context, "obs") : 0;
}

/* An .h5ad made from an .h5ad input: all of it copied but X, which is written in its layout. */
static int write_copied_h5ad(hid_t file, const cli_matrix *matrix, const cli_h5ad_output *output,
                             const copy_context *context) {
  hid_t source = H5Fopen(output->source_h5ad, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (source < 0)
    return cli_io_fail(context->error, context->error_size, "cannot open '%s' as an HDF5 file",
                       output->source_h5ad);
  hid_t source_root = H5Gopen2(source, "/", H5P_DEFAULT);
  hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
  hsize_t position = 0;
  int status =
      source_root < 0 || root < 0 || copy_attributes(source_root, root) ||
      H5Literate(source, H5_INDEX_NAME, H5_ITER_INC, &position, copy_root_member, &root) < 0;
  if (status) copy_failed(context, "the elements other than X");
  H5I_type_t x_kind = object_kind(source, "X");
  hid_t source_x = status == 0 ? H5Oopen(source, "X", H5P_DEFAULT) : -1;
  if (status == 0 && source_x < 0) status = copy_failed(context, "X");
  if (status == 0)
    status = x_kind == H5I_DATASET ? write_dense_x_like(source_x, file, matrix, context)
                                   : write_sparse_x_like(source_x, file, matrix, context);
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
  const cli_h5ad_output defaults = {NULL, NULL, CLI_VAR_INDEX_SYMBOLS, 0, NULL};
  if (output == NULL) output = &defaults;
  if (matrix == NULL || matrix->n_rows < 0 || matrix->n_cols < 0 || matrix->nnz < 0 ||
      matrix->indptr == NULL ||
      (matrix->nnz > 0 && (matrix->indices == NULL || matrix->values == NULL))) {
    cli_io_fail(error, error_size, "cannot write '%s': the matrix is incomplete", path);
    return 1;
  }
  if (value_size(matrix->value_type) == 0) {
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

#endif /* NORMOT_HAVE_HDF5 */
