/* An .h5ad's X read a block at a time (normot_io.h, "X in blocks"): rows of a csr_matrix or a
 * dense X, columns of a csc_matrix, never the whole matrix. The checks are the whole-matrix
 * reader's (h5ad_read.c), with its messages: sizes against the file, indptr, indices in range. */
#include <stdlib.h>
#include <string.h>

#include "hdf5_internal.h"

struct cli_x_stream {
  const char *path;
  cli_h5_source source; /* the path, and where the last failure's message went */
  cli_x_layout shape;
  hid_t file, x, data, indices; /* indices: -1 for a dense X */
  int64_t *indptr;              /* sparse: n_outer + 1 offsets, checked */
  int64_t *block_start;         /* n_blocks + 1 rows (CSR, dense) or columns (CSC) */
  int skip_indices;             /* CSR: blocks read without their indices */
  int64_t *block_indptr, *block_indices;
  char *block_values, *dense_rows; /* dense_rows: a dense X's rows as stored */
};

static void close_ids(cli_x_stream *s) {
  if (s->indices >= 0) H5Dclose(s->indices);
  if (s->data >= 0) H5Dclose(s->data);
  if (s->x >= 0) H5Oclose(s->x);
  if (s->file >= 0) H5Fclose(s->file);
}

void cli_x_stream_close(cli_x_stream *stream) {
  if (stream == NULL) return;
  close_ids(stream);
  free(stream->indptr);
  free(stream->block_start);
  free(stream->block_indptr);
  free(stream->block_indices);
  free(stream->block_values);
  free(stream->dense_rows);
  free(stream);
}

const cli_x_layout *cli_x_stream_layout(const cli_x_stream *stream) {
  return &stream->shape;
}

static size_t value_bytes(const cli_x_stream *s) {
  return normot_value_size(s->shape.value_type);
}

/* The sparse group's layout, shape and offsets (checked as the whole-matrix reader checks them),
 * and its data and indices opened. */
static int open_sparse(cli_x_stream *s, int is_csr, char *error, size_t error_size) {
  int64_t shape[2];
  if (cli_h5_read_shape_attribute(s->x, "shape", shape) != 0 &&
      cli_h5_read_shape_attribute(s->x, "h5sparse_shape", shape) != 0)
    return cli_io_fail(error, error_size, "'%s': X has no integer 'shape' attribute of two entries",
                       s->path);
  if (shape[0] < 0 || shape[1] < 0 || shape[0] > CLI_H5_MAX_DIMENSION ||
      shape[1] > CLI_H5_MAX_DIMENSION)
    return cli_io_fail(error, error_size, "'%s': X has an impossible shape (%lld, %lld)", s->path,
                       (long long)shape[0], (long long)shape[1]);
  s->shape.layout = is_csr ? NORMOT_LAYOUT_CSR : NORMOT_LAYOUT_CSC;
  s->shape.n_rows = shape[0];
  s->shape.n_cols = shape[1];
  int64_t n_outer = is_csr ? shape[0] : shape[1], length = 0;
  if (cli_h5_read_int64_vector(&s->source, s->x, "indptr", n_outer + 1, &s->indptr, NULL)) return 1;
  s->shape.nnz = s->indptr[n_outer];
  if (s->shape.nnz < 0)
    return cli_io_fail(error, error_size, "'%s': X/indptr ends at a negative offset", s->path);
  const char *names[2] = {"indices", "data"};
  for (int i = 0; i < 2; i++) {
    hid_t dataset = cli_h5_open_vector(&s->source, s->x, names[i], &length);
    if (dataset < 0) return 1;
    *(i == 0 ? &s->indices : &s->data) = dataset;
    if (length != s->shape.nnz)
      return cli_io_fail(error, error_size,
                         "'%s': the dataset '%s' has %lld entries, expected %lld", s->path,
                         names[i], (long long)length, (long long)s->shape.nnz);
  }
  if (cli_h5_dataset_class(s->indices) != H5T_INTEGER)
    return cli_io_fail(error, error_size, "'%s': the dataset 'indices' should hold integers",
                       s->path);
  return cli_h5_check_indptr(&s->source, "X/indptr", s->indptr, n_outer, s->shape.nnz);
}

static int open_dense(cli_x_stream *s, char *error, size_t error_size) {
  hid_t space = H5Dget_space(s->x);
  hsize_t dims[2] = {0, 0};
  int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
  if (rank == 2) H5Sget_simple_extent_dims(space, dims, NULL);
  if (space >= 0) H5Sclose(space);
  if (rank != 2)
    return cli_io_fail(error, error_size, "'%s': a dense X must be 2-dimensional", s->path);
  if (dims[0] > (hsize_t)CLI_H5_MAX_DIMENSION || dims[1] > (hsize_t)CLI_H5_MAX_DIMENSION)
    return cli_io_fail(error, error_size, "'%s': X has an impossible shape (%llu, %llu)", s->path,
                       (unsigned long long)dims[0], (unsigned long long)dims[1]);
  s->shape.layout = NORMOT_LAYOUT_DENSE;
  s->shape.n_rows = (int64_t)dims[0];
  s->shape.n_cols = (int64_t)dims[1];
  s->data = s->x;
  s->x = -1;
  return 0;
}

/* Opens X as the whole-matrix reader does, by its encoding. */
static int open_x(cli_x_stream *s, char *error, size_t error_size) {
  if (!cli_h5_link_exists(s->file, "X"))
    return cli_io_fail(error, error_size, "'%s' has no X: not an AnnData .h5ad file", s->path);
  s->x = H5Oopen(s->file, "X", H5P_DEFAULT);
  H5I_type_t kind = s->x >= 0 ? H5Iget_type(s->x) : H5I_BADID;
  char encoding[64] = "";
  if (kind == H5I_DATASET) return open_dense(s, error, error_size);
  if (kind != H5I_GROUP)
    return cli_io_fail(error, error_size, "'%s': X is neither a group nor a dataset", s->path);
  if (cli_h5_read_string_attribute(s->x, "encoding-type", encoding, sizeof encoding) != 0)
    cli_h5_read_string_attribute(s->x, "h5sparse_format", encoding, sizeof encoding);
  int is_csr = strcmp(encoding, "csr_matrix") == 0 || strcmp(encoding, "csr") == 0;
  int is_csc = strcmp(encoding, "csc_matrix") == 0 || strcmp(encoding, "csc") == 0;
  if (!is_csr && !is_csc)
    return cli_io_fail(error, error_size,
                       "'%s': X has encoding-type '%s'; normot reads csr_matrix, csc_matrix or a "
                       "dense array",
                       s->path, encoding);
  return open_sparse(s, is_csr, error, error_size);
}

/* The stored value type, kept for integers, or the float type asked for. */
static int settle_value_type(cli_x_stream *s, int float_type, char *error, size_t error_size) {
  hid_t type = H5Dget_type(s->data);
  int status = type < 0 || cli_h5_value_type_for(type, &s->shape.value_type) != 0;
  if (type >= 0) H5Tclose(type);
  if (status) return cli_io_fail(error, error_size, "'%s': X should hold numbers", s->path);
  int is_float = s->shape.value_type == NORMOT_FLOAT32 || s->shape.value_type == NORMOT_FLOAT64;
  if (is_float && float_type >= 0) s->shape.value_type = (normot_value_type)float_type;
  return 0;
}

static int64_t major_entries(const cli_x_stream *s, int64_t m0, int64_t m1) {
  if (s->shape.layout == NORMOT_LAYOUT_DENSE) return (m1 - m0) * s->shape.n_cols;
  return s->indptr[m1] - s->indptr[m0];
}

/* Where the block that starts at major m ends: as many whole rows (columns) as fit in
 * max_entries values, at least one. */
static int64_t block_end(const cli_x_stream *s, int64_t m, int64_t n_major, int64_t max_entries) {
  int64_t end = m + 1;
  while (end < n_major && major_entries(s, m, end + 1) <= max_entries) end++;
  return end;
}

/* Cuts X into blocks (cli_x_stream_plan) and allocates the block arrays for the largest. */
static int plan_blocks(cli_x_stream *s, int64_t max_entries, char *error, size_t error_size) {
  int dense = s->shape.layout == NORMOT_LAYOUT_DENSE;
  int64_t n_major = s->shape.layout == NORMOT_LAYOUT_CSC ? s->shape.n_cols : s->shape.n_rows;
  int64_t count = 0, longest = 0, widest = 0;
  for (int64_t m = 0; m < n_major; count++) m = block_end(s, m, n_major, max_entries);
  s->block_start = cli_io_allocate((size_t)count + 1, sizeof *s->block_start);
  if (s->block_start == NULL) return cli_io_fail(error, error_size, "out of memory");
  s->block_start[0] = 0;
  for (int64_t b = 0; b < count; b++) {
    int64_t m = s->block_start[b], end = block_end(s, m, n_major, max_entries);
    s->block_start[b + 1] = end;
    longest = major_entries(s, m, end) > longest ? major_entries(s, m, end) : longest;
    widest = end - m > widest ? end - m : widest;
  }
  s->shape.n_blocks = count;
  s->shape.max_block_entries = longest;
  s->block_indptr = cli_io_allocate((size_t)widest + 1, sizeof *s->block_indptr);
  s->block_indices = cli_io_allocate((size_t)longest, sizeof *s->block_indices);
  s->block_values = cli_io_allocate((size_t)longest, value_bytes(s));
  if (dense) s->dense_rows = cli_io_allocate((size_t)longest, value_bytes(s));
  if (s->block_indptr == NULL || s->block_indices == NULL || s->block_values == NULL ||
      (dense && s->dense_rows == NULL))
    return cli_io_fail(error, error_size, "'%s': out of memory for a block of %lld values", s->path,
                       (long long)longest);
  return 0;
}

int cli_x_stream_open(const cli_x_stream_request *request, cli_x_stream **out, char *error,
                      size_t error_size) {
  cli_h5_setup();
  *out = NULL;
  cli_x_stream *s = calloc(1, sizeof *s);
  if (s == NULL) return cli_io_fail(error, error_size, "out of memory");
  s->path = request->path;
  s->source.path = request->path;
  s->source.error = error;
  s->source.error_size = error_size;
  s->x = s->data = s->indices = -1;
  s->file = cli_h5_open_input(request->path, error, error_size);
  int status = s->file < 0 ? 1 : open_x(s, error, error_size);
  if (status == 0) status = settle_value_type(s, request->float_type, error, error_size);
  if (status == 0 && s->shape.layout != NORMOT_LAYOUT_DENSE)
    status =
        cli_h5_check_declared_size(&s->source, s->data, "data", (uint64_t)s->shape.nnz, 0.0) ||
        cli_h5_check_declared_size(&s->source, s->indices, "indices", (uint64_t)s->shape.nnz, 0.0);
  if (status == 0 && s->shape.layout == NORMOT_LAYOUT_DENSE)
    status = cli_h5_check_declared_size(&s->source, s->data, "X",
                                        (uint64_t)s->shape.n_rows * (uint64_t)s->shape.n_cols, 0.0);
  if (status != 0) {
    cli_x_stream_close(s);
    return 1;
  }
  *out = s;
  return 0;
}

/* Reads `count` values from `first` on of a 1-D dataset (or rows of a dense X) into `buffer`. */
static int read_range(hid_t dataset, hid_t memory_type, int rank, const hsize_t first[2],
                      const hsize_t count[2], void *buffer) {
  hid_t file_space = H5Dget_space(dataset);
  hid_t memory_space = H5Screate_simple(rank, count, NULL);
  int status = file_space < 0 || memory_space < 0 ||
               H5Sselect_hyperslab(file_space, H5S_SELECT_SET, first, NULL, count, NULL) < 0 ||
               H5Dread(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, buffer) < 0;
  if (memory_space >= 0) H5Sclose(memory_space);
  if (file_space >= 0) H5Sclose(file_space);
  return status;
}

/* Keeps the non-zero values of the dense rows read, as CSR (as the whole-matrix reader does). */
static void dense_to_rows(cli_x_stream *s, int64_t n_rows) {
  size_t size = value_bytes(s);
  int64_t nnz = 0;
  s->block_indptr[0] = 0;
  for (int64_t r = 0; r < n_rows; r++) {
    for (int64_t c = 0; c < s->shape.n_cols; c++) {
      const char *value = s->dense_rows + ((size_t)r * (size_t)s->shape.n_cols + (size_t)c) * size;
      if (cli_h5_value_is_zero(value, s->shape.value_type)) continue;
      s->block_indices[nnz] = c;
      memcpy(s->block_values + (size_t)nnz * size, value, size);
      nnz++;
    }
    s->block_indptr[r + 1] = nnz;
  }
}

static int read_sparse_block(cli_x_stream *s, int64_t m0, int64_t m1, char *error,
                             size_t error_size) {
  int64_t first = s->indptr[m0], count = s->indptr[m1] - first;
  for (int64_t m = m0; m <= m1; m++) s->block_indptr[m - m0] = s->indptr[m] - first;
  hsize_t start[2] = {(hsize_t)first, 0}, extent[2] = {(hsize_t)count, 0};
  int skip = s->skip_indices && s->shape.layout == NORMOT_LAYOUT_CSR;
  if (count > 0 &&
      ((!skip && read_range(s->indices, H5T_NATIVE_INT64, 1, start, extent, s->block_indices)) ||
       read_range(s->data, cli_h5_native_type_of(s->shape.value_type), 1, start, extent,
                  s->block_values)))
    return cli_io_fail(error, error_size, "'%s': cannot read X's entries %lld to %lld", s->path,
                       (long long)first, (long long)(first + count));
  int64_t bound = s->shape.layout == NORMOT_LAYOUT_CSR ? s->shape.n_cols : s->shape.n_rows;
  for (int64_t i = 0; !skip && i < count; i++)
    if (s->block_indices[i] < 0 || s->block_indices[i] >= bound)
      return cli_io_fail(error, error_size,
                         "'%s': X/indices[%lld] = %lld is out of range [0, %lld)", s->path,
                         (long long)(first + i), (long long)s->block_indices[i], (long long)bound);
  return 0;
}

int cli_x_stream_plan(cli_x_stream *stream, int64_t max_entries, char *error, size_t error_size) {
  return plan_blocks(stream, max_entries > 0 ? max_entries : 1, error, error_size);
}

void cli_x_stream_skip_indices(cli_x_stream *stream, int skip) {
  stream->skip_indices = skip;
}

int cli_x_stream_read(cli_x_stream *stream, int64_t index, cli_x_block *block, char *error,
                      size_t error_size) {
  cli_x_stream *s = stream;
  int64_t m0 = s->block_start[index], m1 = s->block_start[index + 1];
  const cli_x_layout *shape = &s->shape;
  memset(block, 0, sizeof *block);
  block->first = m0;
  if (shape->layout == NORMOT_LAYOUT_DENSE) {
    hsize_t start[2] = {(hsize_t)m0, 0}, extent[2] = {(hsize_t)(m1 - m0), (hsize_t)shape->n_cols};
    if (shape->n_cols > 0 && read_range(s->data, cli_h5_native_type_of(shape->value_type), 2, start,
                                        extent, s->dense_rows))
      return cli_io_fail(error, error_size, "'%s': cannot read the dense X", s->path);
    dense_to_rows(s, m1 - m0);
  } else if (read_sparse_block(s, m0, m1, error, error_size)) {
    return 1;
  }
  block->first_entry = shape->layout == NORMOT_LAYOUT_DENSE ? 0 : s->indptr[m0];
  int64_t nnz = s->block_indptr[m1 - m0];
  block->X = shape->layout == NORMOT_LAYOUT_CSC
                 ? normot_matrix_csc(shape->n_rows, m1 - m0, nnz, s->block_indptr, s->block_indices,
                                     NORMOT_INDEX_INT64, s->block_values, shape->value_type)
                 : normot_matrix_csr(m1 - m0, shape->n_cols, nnz, s->block_indptr, s->block_indices,
                                     NORMOT_INDEX_INT64, s->block_values, shape->value_type);
  return 0;
}
