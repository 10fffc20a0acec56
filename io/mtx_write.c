/* Matrix Market writer: coordinate real/integer general, values printed round-trip exact, formatted
 * in parallel blocks and written in order; gzip when the name ends in .gz. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io_internal.h"

/* Output goes through a buffer to a stdio stream (plain) or a gzFile (path ending in .gz). */
typedef struct text_sink {
  FILE *stream;
  gzFile gz;
  char *buffer;
  size_t used;
  int failed;
} text_sink;

enum { SINK_BUFFER = 1 << 20, SINK_MARGIN = 128 };

static void sink_flush(text_sink *sink) {
  if (sink->used == 0 || sink->failed) {
    sink->used = 0;
    return;
  }
  if (sink->gz != NULL) {
    if (gzwrite(sink->gz, sink->buffer, (unsigned)sink->used) != (int)sink->used) sink->failed = 1;
  } else if (fwrite(sink->buffer, 1, sink->used, sink->stream) != sink->used) {
    sink->failed = 1;
  }
  sink->used = 0;
}

/* Room for one more formatted entry. */
static char *sink_reserve(text_sink *sink) {
  if (sink->used + SINK_MARGIN > SINK_BUFFER) sink_flush(sink);
  return sink->buffer + sink->used;
}

static size_t format_int64(char *out, int64_t value) {
  char digits[24];
  size_t n = 0;
  uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
  do {
    digits[n++] = (char)('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  size_t length = 0;
  if (value < 0) out[length++] = '-';
  while (n > 0) out[length++] = digits[--n];
  return length;
}

/* One entry "row col value\n" (1-based). At most 20 + 1 + 20 + 1 + 24 + 1 characters. */
static size_t format_entry(char *out, const cli_matrix *matrix, int64_t row, int64_t i) {
  size_t n = format_int64(out, row + 1);
  out[n++] = ' ';
  n += format_int64(out + n, matrix->indices[i] + 1);
  out[n++] = ' ';
  switch (matrix->value_type) {
    case NORMOT_FLOAT32:
      /* 9 significant digits round-trip every float32, 17 every float64. */
      n += (size_t)snprintf(out + n, SINK_MARGIN - n, "%.9g",
                            (double)((const float *)matrix->values)[i]);
      break;
    case NORMOT_FLOAT64:
      n += (size_t)snprintf(out + n, SINK_MARGIN - n, "%.17g", ((const double *)matrix->values)[i]);
      break;
    case NORMOT_INT32: n += format_int64(out + n, ((const int32_t *)matrix->values)[i]); break;
    case NORMOT_INT64: n += format_int64(out + n, ((const int64_t *)matrix->values)[i]); break;
    case NORMOT_UINT16: n += format_int64(out + n, ((const uint16_t *)matrix->values)[i]); break;
    case NORMOT_UINT32: n += format_int64(out + n, ((const uint32_t *)matrix->values)[i]); break;
  }
  out[n++] = '\n';
  return n;
}

/* The row holding entry i: the last row r with indptr[r] <= i (skipping empty rows). */
static int64_t row_of_entry(const int64_t *indptr, int64_t n_rows, int64_t i) {
  int64_t low = 0, high = n_rows; /* indptr[low] <= i < indptr[high] */
  while (high - low > 1) {
    int64_t middle = low + (high - low) / 2;
    if (indptr[middle] <= i)
      low = middle;
    else
      high = middle;
  }
  return low;
}

/* Formatting floats dominates writing, so blocks of entries are formatted in parallel, one
 * buffer per block, and written out in order. The buffers of one round take at most
 * FORMAT_BUFFER_BYTES whatever the thread count: more threads get smaller blocks, down to
 * MIN_BLOCK_ENTRIES, and never more threads than processors (formatting waits on nothing). */
enum { MAX_BLOCK_ENTRIES = 1 << 16, MIN_BLOCK_ENTRIES = 1 << 12, FORMAT_BUFFER_BYTES = 128 << 20 };

static int io_threads = 0; /* 0: OpenMP's default (omp_get_max_threads()) */

void cli_set_io_threads(int threads) {
  io_threads = threads > 0 ? threads : 0;
}

typedef struct format_plan {
  int blocks;            /* per round, one thread each */
  int64_t block_entries; /* entries per block */
} format_plan;

static format_plan plan_formatting(void) {
  int threads = io_threads > 0 ? io_threads : omp_get_max_threads();
  int processors = omp_get_num_procs();
  if (threads > processors) threads = processors;
  if (threads < 1) threads = 1;
  int64_t entries = (int64_t)FORMAT_BUFFER_BYTES / ((int64_t)threads * SINK_MARGIN);
  if (entries > MAX_BLOCK_ENTRIES) entries = MAX_BLOCK_ENTRIES;
  if (entries < MIN_BLOCK_ENTRIES) entries = MIN_BLOCK_ENTRIES;
  int64_t most_blocks = (int64_t)FORMAT_BUFFER_BYTES / (entries * SINK_MARGIN);
  format_plan plan = {threads < most_blocks ? threads : (int)most_blocks, entries};
  return plan;
}

size_t cli_mtx_format_buffer_bytes(void) {
  format_plan plan = plan_formatting();
  return (size_t)plan.blocks * (size_t)plan.block_entries * SINK_MARGIN;
}

static int write_body(text_sink *sink, const cli_matrix *matrix) {
  const char *field = (matrix->value_type == NORMOT_FLOAT32 || matrix->value_type == NORMOT_FLOAT64)
                          ? "real"
                          : "integer";
  char *out = sink_reserve(sink);
  sink->used +=
      (size_t)snprintf(out, SINK_MARGIN, "%%%%MatrixMarket matrix coordinate %s general\n", field);
  out = sink_reserve(sink);
  sink->used +=
      (size_t)snprintf(out, SINK_MARGIN, "%% written by normot %s\n", normot_version_string());
  out = sink_reserve(sink);
  sink->used += (size_t)snprintf(out, SINK_MARGIN, "%lld %lld %lld\n", (long long)matrix->n_rows,
                                 (long long)matrix->n_cols, (long long)matrix->nnz);
  sink_flush(sink);
  if (sink->failed) return -1;

  const format_plan plan = plan_formatting();
  const int blocks_per_round = plan.blocks;
  const int64_t block_entries = plan.block_entries;
  char *buffers = malloc(cli_mtx_format_buffer_bytes());
  size_t *lengths = malloc((size_t)blocks_per_round * sizeof *lengths);
  if (buffers == NULL || lengths == NULL) {
    free(buffers);
    free(lengths);
    return -1;
  }
  const int64_t nnz = matrix->nnz;
  for (int64_t round = 0; round < nnz && !sink->failed;
       round += (int64_t)blocks_per_round * block_entries) {
#pragma omp parallel for schedule(static, 1) num_threads(blocks_per_round)
    for (int block = 0; block < blocks_per_round; ++block) {
      int64_t begin = round + (int64_t)block * block_entries;
      int64_t end = begin + block_entries < nnz ? begin + block_entries : nnz;
      char *text = buffers + (size_t)block * (size_t)block_entries * SINK_MARGIN;
      size_t length = 0;
      if (begin < end) {
        int64_t row = row_of_entry(matrix->indptr, matrix->n_rows, begin);
        for (int64_t i = begin; i < end; ++i) {
          while (matrix->indptr[row + 1] <= i) ++row;
          length += format_entry(text + length, matrix, row, i);
        }
      }
      lengths[block] = length;
    }
    for (int block = 0; block < blocks_per_round && !sink->failed; ++block) {
      const char *text = buffers + (size_t)block * (size_t)block_entries * SINK_MARGIN;
      if (lengths[block] == 0) continue;
      if (sink->gz != NULL) {
        if (gzwrite(sink->gz, text, (unsigned)lengths[block]) != (int)lengths[block])
          sink->failed = 1;
      } else if (fwrite(text, 1, lengths[block], sink->stream) != lengths[block]) {
        sink->failed = 1;
      }
    }
  }
  free(buffers);
  free(lengths);
  return sink->failed ? -1 : 0;
}

static int check_matrix_for_writing(const char *path, const cli_matrix *matrix, char *error,
                                    size_t error_size) {
  if (matrix->n_rows < 0 || matrix->n_cols < 0 || matrix->nnz < 0 || matrix->indptr == NULL ||
      (matrix->nnz > 0 && (matrix->indices == NULL || matrix->values == NULL)))
    return cli_io_fail(error, error_size, "%s: nothing valid to write", path);
  if ((unsigned)matrix->value_type > NORMOT_UINT32)
    return cli_io_fail(error, error_size, "%s: unknown value type", path);
  if (matrix->indptr[0] != 0 || matrix->indptr[matrix->n_rows] != matrix->nnz)
    return cli_io_fail(error, error_size, "%s: inconsistent row offsets", path);
  for (int64_t r = 0; r < matrix->n_rows; ++r)
    if (matrix->indptr[r + 1] < matrix->indptr[r])
      return cli_io_fail(error, error_size, "%s: inconsistent row offsets", path);
  for (int64_t i = 0; i < matrix->nnz; ++i)
    if (matrix->indices[i] < 0 || matrix->indices[i] >= matrix->n_cols)
      return cli_io_fail(error, error_size, "%s: column index out of range", path);
  return 0;
}

int cli_write_mtx(const char *path, const cli_matrix *matrix, char *error, size_t error_size) {
  if (check_matrix_for_writing(path, matrix, error, error_size) != 0) return -1;
  text_sink sink;
  memset(&sink, 0, sizeof sink);
  sink.buffer = malloc(SINK_BUFFER);
  if (sink.buffer == NULL) return cli_io_fail(error, error_size, "out of memory");
  int status = 0;
  if (cli_ends_with(path, ".gz")) {
    char *temp = cli_atomic_temp_name(path);
    if (temp == NULL) {
      free(sink.buffer);
      return cli_io_fail(error, error_size, "%s: %s", path, strerror(errno));
    }
    /* x: O_EXCL, never clobber. Level 1: the text is still ~4x smaller, and level 6 would make
     * compression the slowest step of a run by far. */
    sink.gz = gzopen(temp, "wbx1");
    if (sink.gz == NULL) {
      status = cli_io_fail(error, error_size, "cannot create a file beside %s: %s", path,
                           errno != 0 ? strerror(errno) : "gzopen failed");
      cli_atomic_discard_path(temp);
    } else {
      int body = write_body(&sink, matrix);
      int closed = gzclose(sink.gz);
      if (body != 0 || closed != Z_OK) {
        status = cli_io_fail(error, error_size, "cannot write %s: %s", path,
                             errno != 0 ? strerror(errno) : "write error");
        cli_atomic_discard_path(temp);
      } else if (cli_atomic_commit_path(temp, path) != 0) {
        status = cli_io_fail(error, error_size, "cannot rename onto %s: %s", path, strerror(errno));
        free(temp);
      } else {
        free(temp);
      }
    }
  } else {
    cli_atomic_file file;
    if (cli_atomic_open(&file, path) != 0) {
      status = cli_io_fail(error, error_size, "cannot create a file beside %s: %s", path,
                           strerror(errno));
    } else {
      sink.stream = file.stream;
      if (write_body(&sink, matrix) != 0) {
        status = cli_io_fail(error, error_size, "cannot write %s: %s", path, strerror(errno));
        cli_atomic_abort(&file);
      } else if (cli_atomic_commit(&file) != 0) {
        status = cli_io_fail(error, error_size, "cannot write %s: %s", path, strerror(errno));
      }
    }
  }
  free(sink.buffer);
  return status;
}
