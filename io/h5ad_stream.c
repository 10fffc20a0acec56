/* An .h5ad's X read a block at a time (normot_io.h, "X in blocks"): rows of a csr_matrix or a
 * dense X, columns of a csc_matrix, never the whole matrix; or a 10x .h5's matrix, its cells as
 * rows, without the features other than gene expression, as cli_read_10x_h5 keeps them. The
 * checks are the whole-matrix readers' (h5ad_read.c, tenx_h5_read.c), with their messages:
 * sizes against the file, indptr, indices in range. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdf5_internal.h"

struct cli_x_stream {
  const char *path;
  cli_h5_source source; /* the path, and where the last failure's message went */
  cli_x_layout shape;
  hid_t file, x, data, indices; /* indices: -1 for a dense X */
  const char *prefix;           /* of the dataset names in messages: "X/", or "" in a 10x .h5 */
  int64_t *indptr;              /* sparse: n_outer + 1 offsets, checked */
  int64_t file_cols;            /* a CSR X's columns in the file (before a 10x .h5's filter) */
  int64_t *new_index;           /* 10x .h5 with several feature types: each column's new index,
                                 * -1 for the ones dropped; else NULL */
  int64_t *kept_offsets;        /* with new_index: n_rows + 1 offsets of the kept entries, known
                                 * up to the last row read in order */
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
  free(stream->new_index);
  free(stream->kept_offsets);
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

/* The offsets of the n_outer rows (columns), checked as the whole-matrix readers check them,
 * and the data and indices opened. */
static int open_entries(cli_x_stream *s, int64_t n_outer, char *error, size_t error_size) {
  int64_t length = 0;
  if (cli_h5_read_int64_vector(&s->source, s->x, "indptr", n_outer + 1, &s->indptr, NULL)) return 1;
  s->shape.nnz = s->indptr[n_outer];
  if (s->shape.nnz < 0)
    return cli_io_fail(error, error_size, "'%s': %sindptr ends at a negative offset", s->path,
                       s->prefix);
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
  char name[16];
  snprintf(name, sizeof name, "%sindptr", s->prefix);
  return cli_h5_check_indptr(&s->source, name, s->indptr, n_outer, s->shape.nnz);
}

/* The sparse group's layout and shape, and its entries opened. */
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
  s->shape.n_cols = s->file_cols = shape[1];
  return open_entries(s, is_csr ? shape[0] : shape[1], error, error_size);
}

/* A 10x .h5's matrix (genes x cells by columns: cells x genes by rows) with its names read into
 * `names`, and the rule of cli_read_10x_h5 for several feature types: only gene expression. */
static int open_tenx(cli_x_stream *s, cli_matrix *names, char *error, size_t error_size) {
  s->x = cli_tenx_h5_open_matrix(&s->source, s->file, names);
  if (s->x < 0) return 1;
  s->shape.layout = NORMOT_LAYOUT_CSR;
  s->shape.n_rows = names->n_rows;
  s->shape.n_cols = s->file_cols = names->n_cols;
  if (open_entries(s, names->n_rows, error, error_size) != 0) return 1;
  char **types = cli_matrix_annotation(names, "feature_types");
  if (cli_gene_expression_index(types, names->n_cols, &s->new_index) != 0)
    return cli_io_fail(error, error_size, "'%s': out of memory", s->path);
  if (s->new_index == NULL) return 0;
  cli_keep_named_columns(names, s->new_index);
  s->shape.n_cols = names->n_cols;
  s->kept_offsets = cli_io_allocate((size_t)names->n_rows + 1, sizeof *s->kept_offsets);
  if (s->kept_offsets == NULL)
    return cli_io_fail(error, error_size, "'%s': out of memory", s->path);
  s->kept_offsets[0] = 0;
  return 0;
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
  s->prefix = request->tenx_names != NULL ? "" : "X/";
  s->file = cli_h5_open_input(request->path, error, error_size);
  int status = 1;
  if (s->file >= 0)
    status = request->tenx_names != NULL ? open_tenx(s, request->tenx_names, error, error_size)
                                         : open_x(s, error, error_size);
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

/* Drops the entries of the features other than gene expression from rows [m0, m1) just read,
 * renumbering the genes kept, and records where each row's kept entries start. */
static void keep_expression(cli_x_stream *s, int64_t m0, int64_t m1) {
  size_t size = value_bytes(s);
  int64_t write = 0, row_start = 0;
  for (int64_t m = m0; m < m1; m++) {
    int64_t row_end = s->block_indptr[m - m0 + 1];
    for (int64_t i = row_start; i < row_end; i++) {
      int64_t column = s->new_index[s->block_indices[i]];
      if (column < 0) continue;
      s->block_indices[write] = column;
      memmove(s->block_values + (size_t)write * size, s->block_values + (size_t)i * size, size);
      write++;
    }
    row_start = row_end;
    s->block_indptr[m - m0 + 1] = write;
    s->kept_offsets[m + 1] = s->kept_offsets[m0] + write;
  }
}

static int read_sparse_block(cli_x_stream *s, int64_t m0, int64_t m1, char *error,
                             size_t error_size) {
  int64_t first = s->indptr[m0], count = s->indptr[m1] - first;
  for (int64_t m = m0; m <= m1; m++) s->block_indptr[m - m0] = s->indptr[m] - first;
  cli_h5_range range = {1, {(hsize_t)first, 0}, {(hsize_t)count, 0}};
  int skip = s->skip_indices && s->shape.layout == NORMOT_LAYOUT_CSR && s->new_index == NULL;
  if (count > 0 &&
      ((!skip && cli_h5_read_range(s->indices, H5T_NATIVE_INT64, &range, s->block_indices)) ||
       cli_h5_read_range(s->data, cli_h5_native_type_of(s->shape.value_type), &range,
                         s->block_values)))
    return cli_io_fail(error, error_size, "'%s': cannot read %s entries %lld to %lld", s->path,
                       s->prefix[0] != '\0' ? "X's" : "the matrix's", (long long)first,
                       (long long)(first + count));
  int64_t bound = s->shape.layout == NORMOT_LAYOUT_CSR ? s->file_cols : s->shape.n_rows;
  for (int64_t i = 0; !skip && i < count; i++)
    if (s->block_indices[i] < 0 || s->block_indices[i] >= bound)
      return cli_io_fail(
          error, error_size, "'%s': %sindices[%lld] = %lld is out of range [0, %lld)", s->path,
          s->prefix, (long long)(first + i), (long long)s->block_indices[i], (long long)bound);
  if (s->new_index != NULL) keep_expression(s, m0, m1);
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
    cli_h5_range range = {2, {(hsize_t)m0, 0}, {(hsize_t)(m1 - m0), (hsize_t)shape->n_cols}};
    if (shape->n_cols > 0 &&
        cli_h5_read_range(s->data, cli_h5_native_type_of(shape->value_type), &range, s->dense_rows))
      return cli_io_fail(error, error_size, "'%s': cannot read the dense X", s->path);
    dense_to_rows(s, m1 - m0);
  } else if (read_sparse_block(s, m0, m1, error, error_size)) {
    return 1;
  }
  block->first_entry = shape->layout == NORMOT_LAYOUT_DENSE ? 0
                       : s->kept_offsets != NULL            ? s->kept_offsets[m0]
                                                            : s->indptr[m0];
  int64_t nnz = s->block_indptr[m1 - m0];
  block->X = shape->layout == NORMOT_LAYOUT_CSC
                 ? normot_matrix_csc(shape->n_rows, m1 - m0, nnz, s->block_indptr, s->block_indices,
                                     NORMOT_INDEX_INT64, s->block_values, shape->value_type)
                 : normot_matrix_csr(m1 - m0, shape->n_cols, nnz, s->block_indptr, s->block_indices,
                                     NORMOT_INDEX_INT64, s->block_values, shape->value_type);
  return 0;
}

const int64_t *cli_x_stream_offsets(const cli_x_stream *stream) {
  return stream->kept_offsets != NULL ? stream->kept_offsets : stream->indptr;
}
