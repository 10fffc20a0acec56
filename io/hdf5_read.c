/* HDF5 helpers for the 10x .h5 and .h5ad readers and the .h5ad writer: reading 1-D datasets and
 * attributes, and checking sparse index arrays.
 *
 * Every dataset's stored type is asked of the file and converted by HDF5 into the memory type
 * wanted here (Cell Ranger stores int32 data with int64 indices; anndata int32 indices with
 * float32 data; others differ again). HDF5's own error printing is switched off: each failure
 * becomes one sentence in `error`, naming the file and the dataset. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdf5_internal.h"

int cli_hdf5_available(void) {
  return 1;
}

hid_t cli_h5_native_type_of(normot_value_type type) {
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

hid_t cli_h5_open_input(const char *path, char *error, size_t error_size) {
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) cli_io_fail(error, error_size, "cannot open '%s' as an HDF5 file", path);
  return file;
}

int cli_h5_link_exists(hid_t location, const char *name) {
  return H5Lexists(location, name, H5P_DEFAULT) > 0;
}

/* H5I_GROUP, H5I_DATASET, or H5I_BADID when `name` is absent (portable across HDF5 1.10-1.14,
 * whose H5Oget_info signatures differ). */
H5I_type_t cli_h5_object_kind(hid_t location, const char *name) {
  if (!cli_h5_link_exists(location, name)) return H5I_BADID;
  hid_t object = H5Oopen(location, name, H5P_DEFAULT);
  if (object < 0) return H5I_BADID;
  H5I_type_t kind = H5Iget_type(object);
  H5Oclose(object);
  return kind;
}

/* Frees what HDF5 allocated for variable-length strings read into `buffer`. */
void cli_h5_reclaim_strings(hid_t memory_type, hid_t space, void *buffer) {
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(memory_type, space, H5P_DEFAULT, buffer);
#else
  H5Dvlen_reclaim(memory_type, space, H5P_DEFAULT, buffer);
#endif
}

/* ---- reading datasets ------------------------------------------------------------------------ */

/* Opens a 1-D dataset and returns its length (or -1 with the error set). */
hid_t cli_h5_open_vector(const cli_h5_source *src, hid_t location, const char *name,
                         int64_t *length) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
  if (!cli_h5_link_exists(location, name)) {
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

H5T_class_t cli_h5_dataset_class(hid_t dataset) {
  hid_t type = H5Dget_type(dataset);
  if (type < 0) return H5T_NO_CLASS;
  H5T_class_t type_class = H5Tget_class(type);
  H5Tclose(type);
  return type_class;
}

/* Reads a 1-D integer dataset into int64. expected < 0: any length. */
int cli_h5_read_int64_vector(const cli_h5_source *src, hid_t location, const char *name,
                             int64_t expected, int64_t **out, int64_t *out_length) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
  int64_t length = 0;
  hid_t dataset = cli_h5_open_vector(src, location, name, &length);
  if (dataset < 0) return 1;
  int status = 1;
  int64_t *values = NULL;
  if (cli_h5_dataset_class(dataset) != H5T_INTEGER) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' should hold integers", path, name);
  } else if (expected >= 0 && length != expected) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' has %lld entries, expected %lld", path,
                name, (long long)length, (long long)expected);
  } else if (cli_h5_check_declared_size(src, dataset, name, (uint64_t)length,
                                        8.0 * (double)length) != 0) {
    /* the reason is in error */
  } else if ((values = cli_io_allocate((size_t)length, sizeof *values)) == NULL) {
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
int cli_h5_value_type_for(hid_t file_type, normot_value_type *value_type) {
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
int cli_h5_read_value_vector(const cli_h5_source *src, hid_t location, const char *name,
                             int64_t expected, void **out, normot_value_type *out_type) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
  int64_t length = 0;
  hid_t dataset = cli_h5_open_vector(src, location, name, &length);
  if (dataset < 0) return 1;
  int status = 1;
  void *values = NULL;
  normot_value_type value_type = NORMOT_FLOAT64;
  hid_t file_type = H5Dget_type(dataset);
  if (file_type < 0 || cli_h5_value_type_for(file_type, &value_type) != 0) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' should hold numbers", path, name);
  } else if (length != expected) {
    cli_io_fail(error, error_size, "'%s': the dataset '%s' has %lld entries, expected %lld", path,
                name, (long long)length, (long long)expected);
  } else if (cli_h5_check_declared_size(src, dataset, name, (uint64_t)length,
                                        (double)length * (double)normot_value_size(value_type)) !=
             0) {
    /* the reason is in error */
  } else if ((values = cli_io_allocate((size_t)length, normot_value_size(value_type))) == NULL) {
    cli_io_fail(error, error_size, "'%s': out of memory reading '%s'", path, name);
  } else if (length > 0 && H5Dread(dataset, cli_h5_native_type_of(value_type), H5S_ALL, H5S_ALL,
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
int cli_h5_read_string_vector(const cli_h5_source *src, hid_t location, const char *name,
                              int64_t expected, char ***out) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
  int64_t length = 0;
  hid_t dataset = cli_h5_open_vector(src, location, name, &length);
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
  /* A pointer, a copy of the text and HDF5's buffer: at least 24 bytes per string, and the
   * declared width of each fixed-length string on top (a corrupt width asks gigabytes). */
  double per_string = 24.0;
  if (H5Tis_variable_str(file_type) <= 0) per_string += (double)H5Tget_size(file_type);
  if (cli_h5_check_declared_size(src, dataset, name, (uint64_t)length,
                                 per_string * (double)length) != 0)
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
    if (length > 0) cli_h5_reclaim_strings(memory_type, space, variable_buffer);
  } else {
    size_t size = H5Tget_size(file_type);
    H5Tset_size(memory_type, size);
    H5Tset_strpad(memory_type, H5T_STR_NULLPAD);
    fixed_buffer = cli_io_allocate((size_t)length, size);
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
  cli_free_strings(strings, length);
  free(fixed_buffer);
  free(variable_buffer);
  if (space >= 0) H5Sclose(space);
  if (memory_type >= 0) H5Tclose(memory_type);
  if (file_type >= 0) H5Tclose(file_type);
  H5Dclose(dataset);
  return status;
}

/* Reads a string attribute (fixed or variable length, scalar) into `text`. Returns
 * CLI_H5_ATTRIBUTE_READ, CLI_H5_ATTRIBUTE_ABSENT, or CLI_H5_ATTRIBUTE_NOT_A_STRING (another type,
 * or unreadable). */
int cli_h5_read_string_attribute(hid_t object, const char *name, char *text, size_t text_size) {
  text[0] = '\0';
  if (H5Aexists(object, name) <= 0) return CLI_H5_ATTRIBUTE_ABSENT;
  hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
  if (attribute < 0) return CLI_H5_ATTRIBUTE_NOT_A_STRING;
  int status = CLI_H5_ATTRIBUTE_NOT_A_STRING;
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
        cli_h5_reclaim_strings(memory_type, space, &value);
        status = 0;
      }
    } else {
      size_t size = H5Tget_size(file_type);
      char *buffer = cli_io_allocate(size, 1);
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
int cli_h5_read_shape_attribute(hid_t object, const char *name, int64_t shape[2]) {
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
int cli_h5_check_indptr(const cli_h5_source *src, const char *name, const int64_t *indptr,
                        int64_t n_outer, int64_t nnz) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
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

int cli_h5_check_indices(const cli_h5_source *src, const char *name, const int64_t *indices,
                         int64_t nnz, int64_t bound) {
  const char *path = src->path;
  char *error = src->error;
  size_t error_size = src->error_size;
  for (int64_t i = 0; i < nnz; i++) {
    if (indices[i] < 0 || indices[i] >= bound) {
      cli_io_fail(error, error_size, "'%s': %s[%lld] = %lld is out of range [0, %lld)", path, name,
                  (long long)i, (long long)indices[i], (long long)bound);
      return 1;
    }
  }
  return 0;
}
