/* Matrix Market coordinate files: the reader (plain or gzip, found by magic bytes).
 *
 * The reader gives what scipy gives for `scipy.io.mmread(path).tocsr()`: rows = the file's rows
 * (or its columns with `transpose`), the column indices of each row sorted, duplicate entries
 * summed (in file order), explicit zeros kept. Every size is checked before anything is
 * allocated: the announced entry count must fit in the bytes the file can hold, and the arrays
 * must fit in this machine's memory, so a lying header never triggers a huge allocation. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io_internal.h"

/* ---- line reader over zlib (which reads uncompressed files transparently) -------------------- */

enum { READ_CHUNK = 1 << 20, MAX_LINE = 1 << 26 };

typedef struct line_reader {
  gzFile file;
  const char *path;
  char *chunk; /* READ_CHUNK + 1 bytes */
  size_t chunk_length;
  size_t chunk_position;
  int at_end;
  char *long_line; /* a line that spans chunks is assembled here */
  size_t long_line_capacity;
  int64_t line_number;
  uint64_t bytes_consumed; /* decompressed bytes handed out as lines so far */
  uint64_t bytes_read;     /* decompressed bytes read into chunks so far */
} line_reader;

static int reader_fill(line_reader *reader, char *error, size_t error_size) {
  int got = gzread(reader->file, reader->chunk, READ_CHUNK);
  if (got < 0) {
    int code = 0;
    const char *message = gzerror(reader->file, &code);
    return cli_io_fail(error, error_size, "%s: read error: %s", reader->path,
                       code == Z_ERRNO ? strerror(errno) : message);
  }
  if (got == 0) {
    /* zlib reports a gzip stream cut short only here, as an error on a read at the end. */
    int code = 0;
    const char *message = gzerror(reader->file, &code);
    if (code != Z_OK && code != Z_STREAM_END)
      return cli_io_fail(error, error_size, "%s: corrupt or truncated gzip data (%s)", reader->path,
                         message);
    reader->at_end = 1;
  }
  /* Text never holds a NUL byte; checked once per chunk rather than once per line. */
  const char *nul = got > 0 ? memchr(reader->chunk, '\0', (size_t)got) : NULL;
  if (nul != NULL)
    return cli_io_fail(error, error_size, "%s: binary data (a NUL byte) at byte %llu", reader->path,
                       (unsigned long long)(reader->bytes_read + (uint64_t)(nul - reader->chunk)));
  reader->bytes_read += (uint64_t)got;
  reader->chunk_length = (size_t)got;
  reader->chunk_position = 0;
  return 0;
}

/* Sets *line to the next line without its end-of-line characters, NUL-terminated, or NULL at
 * the end of the file. Returns 0, or -1 with a message. */
static int reader_next_line(line_reader *reader, char **line, size_t *length, char *error,
                            size_t error_size) {
  size_t assembled = 0;
  int assembling = 0;
  for (;;) {
    if (reader->chunk_position >= reader->chunk_length) {
      if (!reader->at_end && reader_fill(reader, error, error_size) != 0) return -1;
      if (reader->at_end) {
        if (!assembling) {
          *line = NULL;
          *length = 0;
          return 0;
        }
        break; /* the last line has no newline */
      }
    }
    char *start = reader->chunk + reader->chunk_position;
    size_t available = reader->chunk_length - reader->chunk_position;
    char *newline = memchr(start, '\n', available);
    size_t piece = newline != NULL ? (size_t)(newline - start) : available;
    if (!assembling && newline != NULL) {
      /* The common case: the whole line is inside the chunk. */
      *newline = '\0';
      reader->chunk_position += piece + 1;
      reader->bytes_consumed += piece + 1;
      *line = start;
      *length = piece;
      goto got_line;
    }
    if (assembled + piece + 1 > MAX_LINE)
      return cli_io_fail(error, error_size, "%s: line %lld is longer than %d bytes", reader->path,
                         (long long)reader->line_number + 1, MAX_LINE);
    if (assembled + piece + 1 > reader->long_line_capacity) {
      size_t capacity = (assembled + piece + 1) * 2;
      char *grown = realloc(reader->long_line, capacity);
      if (grown == NULL)
        return cli_io_fail(error, error_size, "out of memory reading %s", reader->path);
      reader->long_line = grown;
      reader->long_line_capacity = capacity;
    }
    memcpy(reader->long_line + assembled, start, piece);
    assembled += piece;
    assembling = 1;
    reader->chunk_position += piece + (newline != NULL ? 1 : 0);
    reader->bytes_consumed += piece + (newline != NULL ? 1 : 0);
    if (newline != NULL) break;
  }
  reader->long_line[assembled] = '\0';
  *line = reader->long_line;
  *length = assembled;
got_line:
  reader->line_number++;
  if (*length > 0 && (*line)[*length - 1] == '\r') (*line)[--*length] = '\0';
  return 0;
}

/* ---- token parsing --------------------------------------------------------------------------- */

static const char *skip_blanks(const char *cursor) {
  while (*cursor == ' ' || *cursor == '\t') ++cursor;
  return cursor;
}

static int is_token_end(char c) {
  return c == '\0' || c == ' ' || c == '\t';
}

typedef enum token_result {
  TOKEN_OK = 0,
  TOKEN_MISSING,
  TOKEN_NOT_INTEGER,
  TOKEN_OVERFLOW
} token_result;

/* A whole decimal integer with an optional sign; *cursor moves past it. */
static token_result parse_int64_token(const char **cursor, int64_t *value) {
  const char *p = skip_blanks(*cursor);
  if (*p == '\0') return TOKEN_MISSING;
  int negative = 0;
  if (*p == '+' || *p == '-') negative = *p++ == '-';
  if (!isdigit((unsigned char)*p)) return TOKEN_NOT_INTEGER;
  uint64_t magnitude = 0;
  int overflow = 0;
  /* 18 digits always fit in 64 bits: check for overflow only beyond them. */
  int digits = 0;
  for (; digits < 18 && (unsigned)(*p - '0') < 10; ++p, ++digits)
    magnitude = magnitude * 10 + (unsigned)(*p - '0');
  for (; (unsigned)(*p - '0') < 10; ++p) {
    unsigned digit = (unsigned)(*p - '0');
    if (magnitude > (UINT64_MAX - digit) / 10)
      overflow = 1;
    else
      magnitude = magnitude * 10 + digit;
  }
  if (!is_token_end(*p)) return TOKEN_NOT_INTEGER;
  *cursor = p;
  uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  if (overflow || magnitude > limit) return TOKEN_OVERFLOW;
  *value = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
  return TOKEN_OK;
}

/* A finite decimal floating-point number (hexadecimal floats are refused). */
static token_result parse_double_token(const char **cursor, double *value, int *nonfinite) {
  const char *p = skip_blanks(*cursor);
  *nonfinite = 0;
  if (*p == '\0') return TOKEN_MISSING;
  const char *token_end = p;
  while (!is_token_end(*token_end)) ++token_end;
  for (const char *c = p; c < token_end; ++c)
    if (*c == 'x' || *c == 'X') return TOKEN_NOT_INTEGER;
  char *end = NULL;
  errno = 0;
  double parsed = strtod(p, &end);
  if (end != token_end || end == p) return TOKEN_NOT_INTEGER;
  if (!isfinite(parsed)) *nonfinite = 1;
  *value = parsed;
  *cursor = end;
  return TOKEN_OK;
}

static int at_line_end(const char *cursor) {
  return *skip_blanks(cursor) == '\0';
}

static int is_blank_or_comment(const char *line) {
  const char *p = skip_blanks(line);
  return *p == '\0' || *p == '%';
}

/* ---- header ---------------------------------------------------------------------------------- */

typedef enum mtx_field { FIELD_INTEGER, FIELD_REAL, FIELD_PATTERN } mtx_field;

static int parse_banner(const char *path, const char *line, mtx_field *field, char *error,
                        size_t error_size) {
  char words[5][32];
  int count = 0;
  const char *p = line;
  while (count < 5) {
    p = skip_blanks(p);
    if (*p == '\0') break;
    size_t n = 0;
    while (!is_token_end(p[n])) ++n;
    if (n >= sizeof words[0]) n = sizeof words[0] - 1;
    memcpy(words[count], p, n);
    words[count][n] = '\0';
    while (!is_token_end(*p)) ++p;
    ++count;
  }
  if (count == 0 || strcasecmp(words[0], "%%MatrixMarket") != 0)
    return cli_io_fail(
        error, error_size,
        "%s: not a Matrix Market file (the first line must start with %%%%MatrixMarket)", path);
  if (count < 5 || !at_line_end(p))
    return cli_io_fail(error, error_size,
                       "%s: bad Matrix Market header (expected '%%%%MatrixMarket matrix coordinate "
                       "<field> general')",
                       path);
  if (strcasecmp(words[1], "matrix") != 0)
    return cli_io_fail(error, error_size,
                       "%s: Matrix Market object '%s' is not supported (only 'matrix')", path,
                       words[1]);
  if (strcasecmp(words[2], "array") == 0)
    return cli_io_fail(
        error, error_size,
        "%s: dense 'array' Matrix Market files are not supported (only 'coordinate')", path);
  if (strcasecmp(words[2], "coordinate") != 0)
    return cli_io_fail(error, error_size, "%s: unknown Matrix Market format '%s'", path, words[2]);
  if (strcasecmp(words[3], "integer") == 0)
    *field = FIELD_INTEGER;
  else if (strcasecmp(words[3], "real") == 0 || strcasecmp(words[3], "double") == 0)
    *field = FIELD_REAL;
  else if (strcasecmp(words[3], "pattern") == 0)
    *field = FIELD_PATTERN;
  else
    return cli_io_fail(
        error, error_size,
        "%s: Matrix Market field '%s' is not supported (only integer, real, pattern)", path,
        words[3]);
  if (strcasecmp(words[4], "general") != 0)
    return cli_io_fail(error, error_size,
                       "%s: '%s' Matrix Market files are not supported (only 'general')", path,
                       words[4]);
  return 0;
}

/* What the banner and the size line say, and how the caller wants the file read. */
typedef struct mtx_header {
  mtx_field field;
  int transpose;           /* the file is genes x cells: rows become columns */
  int64_t rows, cols, nnz; /* as the file declares them */
} mtx_header;

/* Rows and columns without entries cost memory (an index slot and a name each) but no bytes of
 * the file, so a few bytes can declare gigabytes of them that still fit a large machine's memory.
 * Rows plus columns may be at most 2^22 plus 16 per entry: beyond that, most of millions of
 * cells or genes would be empty, which no count matrix has, and the file is taken as damaged. */
enum { MTX_FREE_AXIS_SLOTS = 1 << 22, MTX_AXIS_SLOTS_PER_ENTRY = 16 };

static int mtx_shape_is_implausible(const int64_t sizes[3]) {
  double slots = (double)sizes[0] + (double)sizes[1];
  return slots > (double)MTX_FREE_AXIS_SLOTS + (double)MTX_AXIS_SLOTS_PER_ENTRY * (double)sizes[2];
}

/* Refuses a declared shape that would not fit the memory, or is implausible (see above). */
static int check_declared_footprint(const char *path, const int64_t sizes[3], int transpose,
                                    char *error, size_t error_size) {
  /* Memory: the entries as read (row, column, value: 24 bytes) and the CSR arrays (16 bytes per
   * entry, 8 per row), and what normalizing them takes on top (8 bytes per entry for the
   * normalized values, 24 per row for the totals and size factors); per column, up to 32 bytes
   * of names and annotations (a 10x directory's gene ids, symbols and types, one pointer each,
   * and a count for the transposition). */
  uint64_t csr_rows = (uint64_t)(transpose ? sizes[1] : sizes[0]);
  uint64_t csr_cols = (uint64_t)(transpose ? sizes[0] : sizes[1]);
  double needed =
      32.0 * ((double)csr_rows + 1.0) + 32.0 * ((double)csr_cols + 1.0) + 48.0 * (double)sizes[2];
  char shortfall[160];
  if (cli_memory_shortfall(needed, shortfall, sizeof shortfall))
    return cli_io_fail(error, error_size, "%s: a %lld x %lld matrix with %lld entries %s", path,
                       (long long)sizes[0], (long long)sizes[1], (long long)sizes[2], shortfall);
  if (mtx_shape_is_implausible(sizes))
    return cli_io_fail(error, error_size,
                       "%s: a %lld x %lld matrix with %lld entries is implausible: more rows and "
                       "columns than %d plus %d per entry (it would take %.0f MB to read)",
                       path, (long long)sizes[0], (long long)sizes[1], (long long)sizes[2],
                       MTX_FREE_AXIS_SLOTS, MTX_AXIS_SLOTS_PER_ENTRY, needed / 1e6);
  return 0;
}

/* The size line: "rows cols entries", checked against the file and the machine; fills the
 * sizes of `header` (whose field and transpose are set). */
static int parse_size_line(line_reader *reader, const char *line, mtx_header *header, char *error,
                           size_t error_size) {
  const mtx_field field = header->field;
  const int transpose = header->transpose;
  const char *path = reader->path;
  const char *p = line;
  int64_t sizes[3];
  static const char *const names[3] = {"row count", "column count", "entry count"};
  for (int i = 0; i < 3; ++i) {
    token_result result = parse_int64_token(&p, &sizes[i]);
    if (result == TOKEN_MISSING)
      return cli_io_fail(error, error_size,
                         "%s: line %lld: the size line must hold rows, columns and entries", path,
                         (long long)reader->line_number);
    if (result == TOKEN_OVERFLOW)
      return cli_io_fail(error, error_size, "%s: line %lld: %s does not fit in 64 bits", path,
                         (long long)reader->line_number, names[i]);
    if (result != TOKEN_OK)
      return cli_io_fail(error, error_size, "%s: line %lld: %s is not an integer", path,
                         (long long)reader->line_number, names[i]);
    if (sizes[i] < 0)
      return cli_io_fail(error, error_size, "%s: line %lld: negative %s %lld", path,
                         (long long)reader->line_number, names[i], (long long)sizes[i]);
  }
  if (!at_line_end(p))
    return cli_io_fail(error, error_size,
                       "%s: line %lld: the size line has more than three numbers (is this a "
                       "coordinate file?)",
                       path, (long long)reader->line_number);
  int64_t cells = 0;
  if (__builtin_mul_overflow(sizes[0], sizes[1], &cells))
    return cli_io_fail(error, error_size, "%s: %lld x %lld matrix: rows x columns overflow 64 bits",
                       path, (long long)sizes[0], (long long)sizes[1]);
  if (sizes[2] > 0 && cells == 0)
    return cli_io_fail(error, error_size,
                       "%s: %lld entries announced for an empty %lld x %lld matrix", path,
                       (long long)sizes[2], (long long)sizes[0], (long long)sizes[1]);

  /* Each entry takes at least "i j\n" (pattern) or "i j v\n" bytes. A gzip stream inflates at
   * most about 1032:1, which bounds the text a compressed file can hold. */
  struct stat info;
  if (stat(path, &info) == 0 && S_ISREG(info.st_mode)) {
    uint64_t file_bytes = (uint64_t)info.st_size;
    uint64_t text_bytes = file_bytes;
    if (!gzdirect(reader->file))
      text_bytes =
          file_bytes > (UINT64_MAX - 4096u) / 1032u ? UINT64_MAX : file_bytes * 1032u + 4096u;
    uint64_t remaining =
        text_bytes > reader->bytes_consumed ? text_bytes - reader->bytes_consumed : 0;
    uint64_t min_entry_bytes = field == FIELD_PATTERN ? 4 : 6;
    uint64_t max_entries = (remaining + 1) / min_entry_bytes;
    if ((uint64_t)sizes[2] > max_entries)
      return cli_io_fail(
          error, error_size,
          "%s: %lld entries announced, but the file can hold at most %llu (truncated "
          "file or corrupt size line)",
          path, (long long)sizes[2], (unsigned long long)max_entries);
  }

  if (check_declared_footprint(path, sizes, transpose, error, error_size) != 0) return -1;
  header->rows = sizes[0];
  header->cols = sizes[1];
  header->nnz = sizes[2];
  return 0;
}

/* ---- CSR assembly ---------------------------------------------------------------------------- */

/* Values are carried as 8-byte words (int64 for integer/pattern files, double for real). */
typedef union value_word {
  int64_t integer;
  double real;
} value_word;

/* Stable merge sort of (column, value) pairs by column, using scratch space of the same size. */
static void sort_row(int64_t *columns, value_word *values, int64_t length, int64_t *column_scratch,
                     value_word *value_scratch) {
  for (int64_t width = 1; width < length; width *= 2) {
    for (int64_t left = 0; left < length; left += 2 * width) {
      int64_t middle = left + width < length ? left + width : length;
      int64_t right = left + 2 * width < length ? left + 2 * width : length;
      int64_t i = left, j = middle, out = left;
      while (i < middle && j < right) {
        if (columns[j] < columns[i]) {
          column_scratch[out] = columns[j];
          value_scratch[out++] = values[j++];
        } else {
          column_scratch[out] = columns[i];
          value_scratch[out++] = values[i++];
        }
      }
      while (i < middle) {
        column_scratch[out] = columns[i];
        value_scratch[out++] = values[i++];
      }
      while (j < right) {
        column_scratch[out] = columns[j];
        value_scratch[out++] = values[j++];
      }
    }
    memcpy(columns, column_scratch, (size_t)length * sizeof *columns);
    memcpy(values, value_scratch, (size_t)length * sizeof *values);
  }
}

static int row_is_sorted(const int64_t *columns, int64_t length) {
  for (int64_t i = 1; i < length; ++i)
    if (columns[i] < columns[i - 1]) return 0;
  return 1;
}

/* Turns the entries (already placed row by row in file order) into canonical CSR: columns
 * sorted within rows, duplicates summed. Compacts in place and fixes indptr and *nnz. */
static int canonicalize_rows(const char *path, cli_matrix *matrix, value_word *values,
                             mtx_field field, char *error, size_t error_size) {
  const int64_t n_rows = matrix->n_rows;
  int64_t *indptr = matrix->indptr, *columns = matrix->indices;
  int64_t longest = 0;
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t length = indptr[r + 1] - indptr[r];
    if (length > longest && !row_is_sorted(columns + indptr[r], length)) longest = length;
  }
  int64_t *column_scratch = NULL;
  value_word *value_scratch = NULL;
  if (longest > 1) {
    column_scratch = malloc((size_t)longest * sizeof *column_scratch);
    value_scratch = malloc((size_t)longest * sizeof *value_scratch);
    if (column_scratch == NULL || value_scratch == NULL) {
      free(column_scratch);
      free(value_scratch);
      return cli_io_fail(error, error_size, "out of memory sorting the entries of %s", path);
    }
  }
  int64_t out = 0;
  int64_t row_start = 0;
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t begin = row_start, end = indptr[r + 1];
    row_start = end;
    int64_t length = end - begin;
    if (length > 1 && !row_is_sorted(columns + begin, length))
      sort_row(columns + begin, values + begin, length, column_scratch, value_scratch);
    indptr[r] = out;
    for (int64_t i = begin; i < end; ++i) {
      if (out > indptr[r] && columns[out - 1] == columns[i]) {
        if (field == FIELD_REAL) {
          values[out - 1].real += values[i].real;
          if (!isfinite(values[out - 1].real)) {
            free(column_scratch);
            free(value_scratch);
            return cli_io_fail(
                error, error_size,
                "%s: duplicate entries at (%lld, %lld) sum to a value beyond double range", path,
                (long long)r + 1, (long long)columns[i] + 1);
          }
        } else if (__builtin_add_overflow(values[out - 1].integer, values[i].integer,
                                          &values[out - 1].integer)) {
          free(column_scratch);
          free(value_scratch);
          return cli_io_fail(error, error_size,
                             "%s: duplicate entries at (%lld, %lld) sum beyond 64-bit integers",
                             path, (long long)r + 1, (long long)columns[i] + 1);
        }
        continue;
      }
      columns[out] = columns[i];
      values[out++] = values[i];
    }
  }
  indptr[n_rows] = out;
  matrix->nnz = out;
  free(column_scratch);
  free(value_scratch);
  return 0;
}

/* Converts the 8-byte value words into the final value array. */
static int finish_values(cli_matrix *matrix, value_word *words, mtx_field field, char *error,
                         size_t error_size) {
  int64_t nnz = matrix->nnz;
  size_t count = nnz > 0 ? (size_t)nnz : 1;
  if (field == FIELD_REAL) {
    double *values = malloc(count * sizeof *values);
    if (values == NULL) return cli_io_fail(error, error_size, "out of memory");
    for (int64_t i = 0; i < nnz; ++i) values[i] = words[i].real;
    matrix->values = values;
    matrix->value_type = NORMOT_FLOAT64;
    return 0;
  }
  int fits_int32 = 1;
  for (int64_t i = 0; i < nnz && fits_int32; ++i)
    fits_int32 = words[i].integer >= INT32_MIN && words[i].integer <= INT32_MAX;
  if (fits_int32) {
    int32_t *values = malloc(count * sizeof *values);
    if (values == NULL) return cli_io_fail(error, error_size, "out of memory");
    for (int64_t i = 0; i < nnz; ++i) values[i] = (int32_t)words[i].integer;
    matrix->values = values;
    matrix->value_type = NORMOT_INT32;
  } else {
    int64_t *values = malloc(count * sizeof *values);
    if (values == NULL) return cli_io_fail(error, error_size, "out of memory");
    for (int64_t i = 0; i < nnz; ++i) values[i] = words[i].integer;
    matrix->values = values;
    matrix->value_type = NORMOT_INT64;
  }
  return 0;
}

/* ---- reader ---------------------------------------------------------------------------------- */

typedef struct entry_lists {
  int64_t *rows; /* CSR row of each entry (0-based, after any transpose) */
  int64_t *cols;
  value_word *values;
} entry_lists;

static void free_entries(entry_lists *entries) {
  free(entries->rows);
  free(entries->cols);
  free(entries->values);
  memset(entries, 0, sizeof *entries);
}

/* One entry line as the file writes it: 1-based row and column, and the value. */
typedef struct mtx_entry {
  int64_t index[2];
  value_word value;
} mtx_entry;

/* The row and column of an entry line, each within 1..the declared size; *cursor moves past. */
static int parse_indices(const line_reader *reader, const mtx_header *header, const char **cursor,
                         mtx_entry *entry, char *error, size_t error_size) {
  const char *path = reader->path;
  const long long line_number = (long long)reader->line_number;
  const int64_t limits[2] = {header->rows, header->cols};
  static const char *const what[2] = {"row", "column"};
  for (int k = 0; k < 2; ++k) {
    token_result result = parse_int64_token(cursor, &entry->index[k]);
    if (result == TOKEN_MISSING)
      return cli_io_fail(error, error_size, "%s: line %lld: missing %s index", path, line_number,
                         what[k]);
    if (result == TOKEN_NOT_INTEGER)
      return cli_io_fail(error, error_size, "%s: line %lld: %s index is not an integer", path,
                         line_number, what[k]);
    if (result == TOKEN_OVERFLOW)
      return cli_io_fail(error, error_size, "%s: line %lld: %s index beyond 64 bits", path,
                         line_number, what[k]);
    if (entry->index[k] < 1 || entry->index[k] > limits[k])
      return cli_io_fail(error, error_size, "%s: line %lld: %s index %lld out of range 1..%lld",
                         path, line_number, what[k], (long long)entry->index[k],
                         (long long)limits[k]);
  }
  return 0;
}

/* The value of an entry line (1 in a pattern file), then the end of the line. */
static int parse_value(const line_reader *reader, mtx_field field, const char *p, value_word *value,
                       char *error, size_t error_size) {
  const char *path = reader->path;
  const long long line_number = (long long)reader->line_number;
  if (field == FIELD_PATTERN) {
    value->integer = 1;
  } else if (field == FIELD_INTEGER) {
    token_result result = parse_int64_token(&p, &value->integer);
    if (result == TOKEN_MISSING)
      return cli_io_fail(error, error_size, "%s: line %lld: missing value", path, line_number);
    if (result == TOKEN_OVERFLOW)
      return cli_io_fail(error, error_size, "%s: line %lld: integer value does not fit in 64 bits",
                         path, line_number);
    if (result != TOKEN_OK)
      return cli_io_fail(error, error_size, "%s: line %lld: value is not an integer (integer file)",
                         path, line_number);
  } else {
    int nonfinite = 0;
    token_result result = parse_double_token(&p, &value->real, &nonfinite);
    if (result == TOKEN_MISSING)
      return cli_io_fail(error, error_size, "%s: line %lld: missing value", path, line_number);
    if (result != TOKEN_OK)
      return cli_io_fail(error, error_size, "%s: line %lld: value is not a number", path,
                         line_number);
    if (nonfinite)
      return cli_io_fail(error, error_size,
                         "%s: line %lld: value is NaN, infinite or beyond double range", path,
                         line_number);
  }
  if (!at_line_end(p))
    return cli_io_fail(error, error_size, "%s: line %lld: too many fields for a %s entry", path,
                       line_number, field == FIELD_PATTERN ? "pattern" : "valued");
  return 0;
}

static int read_entries(line_reader *reader, const mtx_header *header, entry_lists *entries,
                        char *error, size_t error_size) {
  const char *path = reader->path;
  const int64_t nnz = header->nnz;
  const int transpose = header->transpose;
  size_t count = nnz > 0 ? (size_t)nnz : 1;
  entries->rows = malloc(count * sizeof *entries->rows);
  entries->cols = malloc(count * sizeof *entries->cols);
  entries->values = malloc(count * sizeof *entries->values);
  if (entries->rows == NULL || entries->cols == NULL || entries->values == NULL)
    return cli_io_fail(error, error_size, "%s: out of memory for %lld entries", path,
                       (long long)nnz);
  int64_t read = 0;
  for (;;) {
    char *line = NULL;
    size_t length = 0;
    if (reader_next_line(reader, &line, &length, error, error_size) != 0) return -1;
    if (line == NULL) break;
    if (is_blank_or_comment(line)) continue;
    if (read == nnz)
      return cli_io_fail(error, error_size, "%s: line %lld: more entries than the %lld announced",
                         path, (long long)reader->line_number, (long long)nnz);
    const char *p = line;
    mtx_entry entry;
    if (parse_indices(reader, header, &p, &entry, error, error_size) != 0 ||
        parse_value(reader, header->field, p, &entry.value, error, error_size) != 0)
      return -1;
    entries->rows[read] = (transpose ? entry.index[1] : entry.index[0]) - 1;
    entries->cols[read] = (transpose ? entry.index[0] : entry.index[1]) - 1;
    entries->values[read] = entry.value;
    ++read;
  }
  if (read < nnz)
    return cli_io_fail(error, error_size,
                       "%s: the file ends after %lld of the %lld entries announced", path,
                       (long long)read, (long long)nnz);
  return 0;
}

/* Places the entries row by row (stable: file order within a row) into `matrix`. */
static int build_csr(const char *path, entry_lists *entries, mtx_field field, cli_matrix *matrix,
                     char *error, size_t error_size) {
  int64_t n_rows = matrix->n_rows, nnz = matrix->nnz;
  matrix->indptr = calloc((size_t)n_rows + 1, sizeof *matrix->indptr);
  matrix->indices = malloc((nnz > 0 ? (size_t)nnz : 1) * sizeof *matrix->indices);
  value_word *words = malloc((nnz > 0 ? (size_t)nnz : 1) * sizeof *words);
  if (matrix->indptr == NULL || matrix->indices == NULL || words == NULL) {
    free(words);
    return cli_io_fail(error, error_size, "%s: out of memory building the matrix", path);
  }
  int64_t *indptr = matrix->indptr;
  for (int64_t i = 0; i < nnz; ++i) indptr[entries->rows[i] + 1]++;
  for (int64_t r = 0; r < n_rows; ++r) indptr[r + 1] += indptr[r];
  /* indptr[r] is used as the next free slot of row r, then shifted back. */
  for (int64_t i = 0; i < nnz; ++i) {
    int64_t slot = indptr[entries->rows[i]]++;
    matrix->indices[slot] = entries->cols[i];
    words[slot] = entries->values[i];
  }
  for (int64_t r = n_rows; r > 0; --r) indptr[r] = indptr[r - 1];
  indptr[0] = 0;
  free_entries(entries);
  int status = canonicalize_rows(path, matrix, words, field, error, error_size);
  if (status == 0) status = finish_values(matrix, words, field, error, error_size);
  free(words);
  return status;
}

int cli_read_mtx(const char *path, int transpose, cli_matrix *out, char *error, size_t error_size) {
  memset(out, 0, sizeof *out);
  line_reader reader;
  memset(&reader, 0, sizeof reader);
  reader.path = path;
  struct stat info;
  if (stat(path, &info) != 0)
    return cli_io_fail(error, error_size, "%s: %s", path, strerror(errno));
  if (S_ISDIR(info.st_mode)) return cli_io_fail(error, error_size, "%s: is a directory", path);
  reader.file = gzopen(path, "rb");
  if (reader.file == NULL)
    return cli_io_fail(error, error_size, "%s: %s", path,
                       errno != 0 ? strerror(errno) : "cannot open");
  gzbuffer(reader.file, 1 << 18);
  reader.chunk = malloc(READ_CHUNK + 1);
  if (reader.chunk == NULL) {
    gzclose(reader.file);
    return cli_io_fail(error, error_size, "out of memory");
  }

  int status = 0;
  entry_lists entries = {0};
  char *line = NULL;
  size_t length = 0;
  mtx_header header = {.field = FIELD_REAL, .transpose = transpose};

  status = reader_next_line(&reader, &line, &length, error, error_size);
  if (status == 0 && line == NULL) status = cli_io_fail(error, error_size, "%s: empty file", path);
  if (status == 0) status = parse_banner(path, line, &header.field, error, error_size);
  while (status == 0) {
    status = reader_next_line(&reader, &line, &length, error, error_size);
    if (status != 0) break;
    if (line == NULL) {
      status = cli_io_fail(error, error_size, "%s: the file ends before the size line", path);
      break;
    }
    if (!is_blank_or_comment(line)) break;
  }
  if (status == 0) status = parse_size_line(&reader, line, &header, error, error_size);
  if (status == 0) status = read_entries(&reader, &header, &entries, error, error_size);
  if (status == 0) {
    out->n_rows = transpose ? header.cols : header.rows;
    out->n_cols = transpose ? header.rows : header.cols;
    out->nnz = header.nnz;
    status = build_csr(path, &entries, header.field, out, error, error_size);
  }
  free_entries(&entries);
  free(reader.chunk);
  free(reader.long_line);
  gzclose(reader.file);
  if (status != 0) cli_matrix_free(out);
  return status;
}
