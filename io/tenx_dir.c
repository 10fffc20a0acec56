/* Cell Ranger's matrix directory: the matrix through the Matrix Market reader (transposed),
 * the gene and barcode lists through zlib, which reads plain and gzip files alike. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "normot_io.h"

static int is_regular_file(const char *path) {
  struct stat info;
  return stat(path, &info) == 0 && S_ISREG(info.st_mode);
}

/* Joins dir and name into `out`; returns 1 if that names a regular file. */
static int find_file(const char *dir, const char *name, char *out, size_t out_size) {
  snprintf(out, out_size, "%s/%s", dir, name);
  return is_regular_file(out);
}

/* The first of `names` present in dir, written to `out`; 0 if none is. */
static int find_first(const char *dir, const char *const *names, char *out, size_t out_size) {
  for (size_t i = 0; names[i] != NULL; i++)
    if (find_file(dir, names[i], out, out_size)) return 1;
  return 0;
}

static const char *const matrix_names[] = {"matrix.mtx.gz", "matrix.mtx", NULL};
static const char *const feature_names[] = {"features.tsv.gz", "features.tsv", "genes.tsv.gz",
                                            "genes.tsv", NULL};
static const char *const barcode_names[] = {"barcodes.tsv.gz", "barcodes.tsv", NULL};

int cli_is_10x_file_name(const char *name) {
  const char *const *lists[] = {matrix_names, feature_names, barcode_names};
  for (size_t list = 0; list < sizeof lists / sizeof lists[0]; list++)
    for (size_t i = 0; lists[list][i] != NULL; i++)
      if (strcmp(name, lists[list][i]) == 0) return 1;
  return 0;
}

int cli_is_10x_dir(const char *dir) {
  struct stat info;
  char path[4096];
  if (stat(dir, &info) != 0 || !S_ISDIR(info.st_mode)) return 0;
  return find_first(dir, matrix_names, path, sizeof path);
}

/* One tab-separated table read line by line. */
typedef struct table_reader {
  gzFile stream;
  char *line;
  size_t capacity;
} table_reader;

/* Reads the next line (without its end of line) into reader->line. Returns 1 for a line, 0 at
 * the end, -1 on a read error or a truncated/corrupt gzip stream. */
static int read_line(table_reader *reader) {
  size_t length = 0;
  for (;;) {
    if (reader->capacity - length < 2) {
      size_t grown = reader->capacity == 0 ? 256 : 2 * reader->capacity;
      char *line = realloc(reader->line, grown);
      if (line == NULL) return -1;
      reader->line = line;
      reader->capacity = grown;
    }
    if (gzgets(reader->stream, reader->line + length, (int)(reader->capacity - length)) == NULL) {
      int code = Z_OK;
      gzerror(reader->stream, &code);
      if (code != Z_OK && code != Z_STREAM_END) return -1;
      if (length == 0) return 0;
      break; /* a last line without its newline */
    }
    length += strlen(reader->line + length);
    if (length > 0 && reader->line[length - 1] == '\n') break;
  }
  while (length > 0 && (reader->line[length - 1] == '\n' || reader->line[length - 1] == '\r'))
    reader->line[--length] = '\0';
  return 1;
}

/* Reads up to three tab-separated columns of a .tsv[.gz] file into columns[0..2] (a NULL
 * pointer: that column is not wanted). A missing second column repeats the first (v2 genes.tsv
 * with one column); a missing third is "". The count of lines must equal `expected`. */
static int read_tsv_columns(const char *path, int64_t expected, char ***columns[3],
                            const char *what, char *error, size_t error_size) {
  table_reader reader = {gzopen(path, "rb"), NULL, 0};
  if (reader.stream == NULL) {
    cli_io_fail(error, error_size, "cannot open '%s': %s", path, strerror(errno));
    return 1;
  }
  int status = 1;
  int64_t count = 0;
  char **lists[3] = {NULL, NULL, NULL};
  for (int k = 0; k < 3; k++) {
    if (columns[k] == NULL) continue;
    lists[k] = calloc((size_t)(expected > 0 ? expected : 1), sizeof *lists[k]);
    if (lists[k] == NULL) {
      cli_io_fail(error, error_size, "out of memory reading '%s'", path);
      goto done;
    }
  }
  for (;;) {
    int got = read_line(&reader);
    if (got < 0) {
      int code = Z_OK;
      const char *message = gzerror(reader.stream, &code);
      /* zlib puts the path in front of its message; it is already in ours. */
      size_t path_length = strlen(path);
      if (strncmp(message, path, path_length) == 0 && strncmp(message + path_length, ": ", 2) == 0)
        message += path_length + 2;
      cli_io_fail(error, error_size, "cannot read '%s': %s", path,
                  code == Z_ERRNO ? strerror(errno) : message);
      goto done;
    }
    if (got == 0) break;
    if (reader.line[0] == '\0') continue; /* a blank last line */
    if (count == expected) {
      cli_io_fail(error, error_size, "'%s' has more than %lld lines, one per matrix %s", path,
                  (long long)expected, what);
      goto done;
    }
    const char *fields[3] = {reader.line, NULL, ""};
    char *tab = strchr(reader.line, '\t');
    if (tab != NULL) {
      *tab = '\0';
      fields[1] = tab + 1;
      tab = strchr(tab + 1, '\t');
      if (tab != NULL) {
        *tab = '\0';
        fields[2] = tab + 1;
        tab = strchr(tab + 1, '\t');
        if (tab != NULL) *tab = '\0';
      }
    }
    if (fields[1] == NULL) fields[1] = fields[0];
    int failed = 0;
    for (int k = 0; k < 3; k++)
      if (lists[k] != NULL && (lists[k][count] = strdup(fields[k])) == NULL) failed = 1;
    count++;
    if (failed) {
      cli_io_fail(error, error_size, "out of memory reading '%s'", path);
      goto done;
    }
  }
  if (count != expected) {
    cli_io_fail(error, error_size, "'%s' has %lld lines but the matrix has %lld %ss", path,
                (long long)count, (long long)expected, what);
    goto done;
  }
  for (int k = 0; k < 3; k++) {
    if (columns[k] == NULL) continue;
    *columns[k] = lists[k];
    lists[k] = NULL;
  }
  status = 0;
done:
  for (int k = 0; k < 3; k++) {
    if (lists[k] == NULL) continue;
    for (int64_t i = 0; i < count; i++) free(lists[k][i]);
    free(lists[k]);
  }
  free(reader.line);
  gzclose(reader.stream);
  return status;
}

int cli_read_10x_dir(const char *dir, cli_matrix *out, char *error, size_t error_size) {
  memset(out, 0, sizeof *out);
  char matrix_path[4096], features_path[4096], barcodes_path[4096];
  if (!find_first(dir, matrix_names, matrix_path, sizeof matrix_path)) {
    cli_io_fail(error, error_size, "'%s' is not a 10x directory: no matrix.mtx.gz or matrix.mtx",
                dir);
    return 1;
  }
  if (!find_first(dir, feature_names, features_path, sizeof features_path)) {
    cli_io_fail(error, error_size,
                "'%s' is not a 10x directory: no features.tsv.gz, features.tsv or genes.tsv", dir);
    return 1;
  }
  if (!find_first(dir, barcode_names, barcodes_path, sizeof barcodes_path)) {
    cli_io_fail(error, error_size, "'%s' is not a 10x directory: no barcodes.tsv[.gz]", dir);
    return 1;
  }
  /* The file is genes x cells; transposed on read it is cells x genes. */
  if (cli_read_mtx(matrix_path, 1, out, error, error_size) != 0) return 1;
  char **feature_types = NULL;
  int64_t n_features = out->n_cols;
  char ***feature_columns[3] = {&out->col_names, &out->col_symbols, &feature_types};
  char ***barcode_columns[3] = {&out->row_names, NULL, NULL};
  int failed =
      read_tsv_columns(features_path, out->n_cols, feature_columns, "gene", error, error_size) ||
      read_tsv_columns(barcodes_path, out->n_rows, barcode_columns, "cell", error, error_size);
  /* features.tsv (Cell Ranger 3+) has a feature type column, which scanpy keeps in var;
   * genes.tsv (Cell Ranger 2) has none. */
  int out_of_memory = 0;
  if (!failed && strncmp(features_path + strlen(dir), "/features.tsv", 13) == 0) {
    out_of_memory = cli_matrix_add_annotation(out, "feature_types", feature_types);
    feature_types = NULL;
  }
  char **types = out->n_annotations > 0 ? out->annotations[0].values : feature_types;
  if (!failed && !out_of_memory)
    out_of_memory = cli_keep_gene_expression(out, types) != 0 || cli_sort_row_entries(out) != 0;
  if (out_of_memory) {
    cli_io_fail(error, error_size, "out of memory reading '%s'", dir);
    failed = 1;
  }
  if (feature_types != NULL) {
    for (int64_t c = 0; c < n_features; c++) free(feature_types[c]);
    free(feature_types);
  }
  if (failed) {
    cli_matrix_free(out);
    memset(out, 0, sizeof *out);
    return 1;
  }
  return 0;
}
