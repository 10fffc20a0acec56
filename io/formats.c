/* Picks the reader or writer of a matrix file by what the path is: a directory (10x), .h5 (10x),
 * .h5ad (AnnData), .mtx / .mtx.gz (Matrix Market). A name with another ending is sniffed: Matrix
 * Market text or gzip data is read as Matrix Market. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "normot_io.h"

typedef enum sniffed_kind { SNIFF_UNKNOWN, SNIFF_MTX_OR_GZIP, SNIFF_HDF5 } sniffed_kind;

static sniffed_kind sniff(const char *path) {
  unsigned char head[16] = {0};
  FILE *stream = fopen(path, "rb");
  if (stream == NULL) return SNIFF_UNKNOWN;
  size_t got = fread(head, 1, sizeof head, stream);
  fclose(stream);
  if (got >= 2 && head[0] == 0x1f && head[1] == 0x8b) return SNIFF_MTX_OR_GZIP;
  if (got >= 14 && strncasecmp((const char *)head, "%%MatrixMarket", 14) == 0)
    return SNIFF_MTX_OR_GZIP;
  if (got >= 8 && memcmp(head, "\x89HDF\r\n\x1a\n", 8) == 0) return SNIFF_HDF5;
  return SNIFF_UNKNOWN;
}

cli_input_kind cli_input_kind_of(const char *path) {
  struct stat info;
  if (stat(path, &info) == 0 && S_ISDIR(info.st_mode)) return CLI_INPUT_10X_DIR;
  if (cli_ends_with_ignoring_case(path, ".h5ad")) return CLI_INPUT_H5AD;
  if (cli_ends_with_ignoring_case(path, ".h5")) return CLI_INPUT_10X_H5;
  return CLI_INPUT_OTHER;
}

int cli_read_matrix(const char *path, int transpose, cli_matrix *out, char *error,
                    size_t error_size) {
  memset(out, 0, sizeof *out);
  struct stat info;
  if (stat(path, &info) != 0)
    return cli_io_fail(error, error_size, "%s: %s", path, strerror(errno));
  int status;
  int transposed_on_read = 0;
  if (S_ISDIR(info.st_mode)) {
    if (!cli_is_10x_dir(path))
      return cli_io_fail(error, error_size, "%s: a directory without matrix.mtx or matrix.mtx.gz",
                         path);
    status = cli_read_10x_dir(path, out, error, error_size);
  } else if (cli_ends_with_ignoring_case(path, ".h5ad")) {
    status = cli_read_h5ad(path, out, error, error_size);
  } else if (cli_ends_with_ignoring_case(path, ".h5")) {
    status = cli_read_10x_h5(path, out, error, error_size);
  } else if (cli_ends_with_ignoring_case(path, ".mtx") ||
             cli_ends_with_ignoring_case(path, ".mtx.gz")) {
    status = cli_read_mtx(path, transpose, out, error, error_size);
    transposed_on_read = 1;
  } else {
    switch (sniff(path)) {
      case SNIFF_MTX_OR_GZIP:
        status = cli_read_mtx(path, transpose, out, error, error_size);
        transposed_on_read = 1;
        break;
      case SNIFF_HDF5:
        return cli_io_fail(
            error, error_size,
            "%s: an HDF5 file: name it .h5 (10x) or .h5ad (AnnData) so that it can be "
            "read as one",
            path);
      default:
        return cli_io_fail(
            error, error_size,
            "%s: unknown input format (expected a 10x directory, .h5, .h5ad, .mtx or "
            ".mtx.gz)",
            path);
    }
  }
  if (status != 0) {
    cli_matrix_free(out);
    return status;
  }
  if (transpose && !transposed_on_read && cli_transpose_matrix(out, error, error_size) != 0) {
    cli_matrix_free(out);
    return -1;
  }
  return 0;
}

int cli_check_output_path(const char *path, char *error, size_t error_size) {
  if (path == NULL || path[0] == '\0') return cli_io_fail(error, error_size, "empty output path");
  if (cli_ends_with_ignoring_case(path, ".mtx") || cli_ends_with_ignoring_case(path, ".mtx.gz"))
    return 0;
  if (cli_ends_with_ignoring_case(path, ".h5ad")) {
    if (!cli_hdf5_available())
      return cli_io_fail(error, error_size,
                         "%s: .h5ad output needs HDF5, not compiled into this build", path);
    return 0;
  }
  return cli_io_fail(error, error_size, "%s: unknown output format (use .mtx, .mtx.gz or .h5ad)",
                     path);
}

int cli_write_matrix(const char *path, const cli_matrix *matrix, const struct cli_h5ad_output *h5ad,
                     char *error, size_t error_size) {
  if (cli_check_output_path(path, error, error_size) != 0) return -1;
  if (cli_ends_with_ignoring_case(path, ".h5ad"))
    return cli_write_h5ad(path, matrix, h5ad, error, error_size);
  return cli_write_mtx(path, matrix, error, error_size);
}
