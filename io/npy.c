/* NumPy .npy files: a magic string, a version, a Python dict literal as header, raw C-order data.
 * The header is parsed by a small strict parser (a dict with exactly the keys descr,
 * fortran_order and shape) rather than by pattern matching, so that garbage is refused with a
 * reason instead of being half-understood. Sizes are checked against the file before anything
 * is allocated. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "normot_io.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy reader and writer assume a little-endian host"
#endif

enum { MAX_HEADER_BYTES = 1 << 20 };

static const char *type_descr(normot_value_type type) {
  switch (type) {
    case NORMOT_FLOAT32: return "<f4";
    case NORMOT_FLOAT64: return "<f8";
    case NORMOT_INT32: return "<i4";
    case NORMOT_INT64: return "<i8";
    default: return NULL;
  }
}

int64_t cli_array_size(const cli_array *array) {
  int64_t size = 1;
  for (int d = 0; d < array->ndim; ++d) {
    if (__builtin_mul_overflow(size, array->shape[d], &size)) return -1;
  }
  return size;
}

void cli_array_free(cli_array *array) {
  if (array == NULL) return;
  free(array->data);
  memset(array, 0, sizeof *array);
}

/* ---- header parser --------------------------------------------------------------------------- */

typedef struct header_parser {
  const char *p;
  const char *end;
} header_parser;

static void skip_space(header_parser *parser) {
  while (parser->p < parser->end &&
         (*parser->p == ' ' || *parser->p == '\t' || *parser->p == '\n' || *parser->p == '\r'))
    ++parser->p;
}

static int accept_char(header_parser *parser, char c) {
  skip_space(parser);
  if (parser->p < parser->end && *parser->p == c) {
    ++parser->p;
    return 1;
  }
  return 0;
}

/* A quoted Python string without escapes, copied into out (truncated to out_size - 1). */
static int parse_string(header_parser *parser, char *out, size_t out_size) {
  skip_space(parser);
  if (parser->p >= parser->end || (*parser->p != '\'' && *parser->p != '"')) return -1;
  char quote = *parser->p++;
  size_t length = 0;
  while (parser->p < parser->end && *parser->p != quote) {
    if (*parser->p == '\\' || *parser->p == '\n') return -1;
    if (length + 1 < out_size) out[length++] = *parser->p;
    ++parser->p;
  }
  if (parser->p >= parser->end) return -1;
  ++parser->p;
  out[length] = '\0';
  return 0;
}

static int parse_bool(header_parser *parser, int *value) {
  skip_space(parser);
  size_t left = (size_t)(parser->end - parser->p);
  if (left >= 4 && memcmp(parser->p, "True", 4) == 0) {
    parser->p += 4;
    *value = 1;
    return 0;
  }
  if (left >= 5 && memcmp(parser->p, "False", 5) == 0) {
    parser->p += 5;
    *value = 0;
    return 0;
  }
  return -1;
}

/* "(3, 4)", "(3,)", "()": up to CLI_NPY_MAX_DIMS non-negative integers. Returns 0, -1 on bad
 * syntax, -2 on too many dimensions, -3 on a dimension that overflows 64 bits. */
static int parse_shape(header_parser *parser, int64_t *shape, int *ndim) {
  if (!accept_char(parser, '(')) return -1;
  *ndim = 0;
  for (;;) {
    if (accept_char(parser, ')')) return 0;
    skip_space(parser);
    if (parser->p >= parser->end || *parser->p < '0' || *parser->p > '9') return -1;
    int64_t value = 0;
    while (parser->p < parser->end && *parser->p >= '0' && *parser->p <= '9') {
      if (__builtin_mul_overflow(value, 10, &value) ||
          __builtin_add_overflow(value, *parser->p - '0', &value))
        return -3;
      ++parser->p;
    }
    if (parser->p < parser->end && *parser->p == 'L') ++parser->p; /* Python 2 longs */
    if (*ndim == CLI_NPY_MAX_DIMS) return -2;
    shape[(*ndim)++] = value;
    if (accept_char(parser, ',')) continue;
    if (accept_char(parser, ')')) {
      /* A one-element tuple needs its comma: "(3)" is an int, not a shape. */
      return *ndim == 1 ? -1 : 0;
    }
    return -1;
  }
}

/* The array type of a dtype string: little-endian float32, float64, int32 or int64. */
static int type_of_descr(const char *path, const char *descr, normot_value_type *type, char *error,
                         size_t error_size) {
  if (strcmp(descr, "<f4") == 0)
    *type = NORMOT_FLOAT32;
  else if (strcmp(descr, "<f8") == 0)
    *type = NORMOT_FLOAT64;
  else if (strcmp(descr, "<i4") == 0)
    *type = NORMOT_INT32;
  else if (strcmp(descr, "<i8") == 0)
    *type = NORMOT_INT64;
  else if (descr[0] == '>')
    return cli_io_fail(error, error_size, "%s: big-endian dtype '%s' is not supported", path,
                       descr);
  else
    return cli_io_fail(error, error_size,
                       "%s: dtype '%s' is not supported (use float32, float64, int32 or int64)",
                       path, descr);
  return 0;
}

/* The header dict, its text in [parser.p, parser.end): descr, fortran_order and shape. */
static int parse_header(const char *path, header_parser parser, cli_array *out, int *fortran_order,
                        char *error, size_t error_size) {
  int have_descr = 0, have_order = 0, have_shape = 0;
  char descr[64] = {0};
  if (!accept_char(&parser, '{'))
    return cli_io_fail(error, error_size, "%s: bad .npy header (not a dict)", path);
  for (;;) {
    if (accept_char(&parser, '}')) break;
    char key[32];
    if (parse_string(&parser, key, sizeof key) != 0 || !accept_char(&parser, ':'))
      return cli_io_fail(error, error_size, "%s: bad .npy header (expected 'key': value)", path);
    if (strcmp(key, "descr") == 0 && !have_descr) {
      if (parse_string(&parser, descr, sizeof descr) != 0)
        return cli_io_fail(error, error_size,
                           "%s: unsupported .npy dtype (structured or not a string); use float32, "
                           "float64, int32 or int64",
                           path);
      have_descr = 1;
    } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
      if (parse_bool(&parser, fortran_order) != 0)
        return cli_io_fail(error, error_size,
                           "%s: bad .npy header (fortran_order is not True/False)", path);
      have_order = 1;
    } else if (strcmp(key, "shape") == 0 && !have_shape) {
      int result = parse_shape(&parser, out->shape, &out->ndim);
      if (result == -2)
        return cli_io_fail(error, error_size, "%s: more than %d dimensions", path,
                           CLI_NPY_MAX_DIMS);
      if (result == -3)
        return cli_io_fail(error, error_size, "%s: a dimension in the shape overflows 64 bits",
                           path);
      if (result != 0) return cli_io_fail(error, error_size, "%s: bad .npy header (shape)", path);
      have_shape = 1;
    } else {
      return cli_io_fail(error, error_size, "%s: bad .npy header (unexpected or repeated key '%s')",
                         path, key);
    }
    if (accept_char(&parser, ',')) continue;
    if (accept_char(&parser, '}')) break;
    return cli_io_fail(error, error_size, "%s: bad .npy header (expected ',' or '}')", path);
  }
  skip_space(&parser);
  if (parser.p != parser.end)
    return cli_io_fail(error, error_size, "%s: bad .npy header (text after the dict)", path);
  if (!have_descr || !have_order || !have_shape)
    return cli_io_fail(error, error_size,
                       "%s: bad .npy header (descr, fortran_order or shape missing)", path);
  return type_of_descr(path, descr, &out->type, error, error_size);
}

/* ---- reader ---------------------------------------------------------------------------------- */

static uint32_t read_le(const unsigned char *bytes, int count) {
  uint32_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

int cli_npy_read(const char *path, cli_array *out, char *error, size_t error_size) {
  memset(out, 0, sizeof *out);
  FILE *stream = fopen(path, "rb");
  if (stream == NULL) return cli_io_fail(error, error_size, "%s: %s", path, strerror(errno));
  struct stat info;
  if (fstat(fileno(stream), &info) != 0 || !S_ISREG(info.st_mode)) {
    fclose(stream);
    return cli_io_fail(error, error_size, "%s: not a regular file", path);
  }
  uint64_t file_size = (uint64_t)info.st_size;
  int status = 0;
  char *header = NULL;
  unsigned char prefix[12];
  int fortran_order = 0;
  uint64_t header_offset = 0, header_length = 0;

  if (fread(prefix, 1, 8, stream) != 8 || memcmp(prefix, "\x93NUMPY", 6) != 0) {
    status = cli_io_fail(error, error_size, "%s: not a .npy file (no \\x93NUMPY magic)", path);
  } else if (prefix[6] == 1 && prefix[7] == 0) {
    if (fread(prefix + 8, 1, 2, stream) != 2)
      status = cli_io_fail(error, error_size, "%s: truncated .npy header", path);
    header_offset = 10;
    header_length = read_le(prefix + 8, 2);
  } else if ((prefix[6] == 2 || prefix[6] == 3) && prefix[7] == 0) {
    if (fread(prefix + 8, 1, 4, stream) != 4)
      status = cli_io_fail(error, error_size, "%s: truncated .npy header", path);
    header_offset = 12;
    header_length = read_le(prefix + 8, 4);
  } else {
    status = cli_io_fail(error, error_size, "%s: unsupported .npy format version %d.%d", path,
                         prefix[6], prefix[7]);
  }
  if (status == 0 && header_length > MAX_HEADER_BYTES)
    status = cli_io_fail(error, error_size, "%s: .npy header of %llu bytes is implausibly long",
                         path, (unsigned long long)header_length);
  if (status == 0 && header_offset + header_length > file_size)
    status = cli_io_fail(error, error_size, "%s: truncated .npy header", path);
  if (status == 0) {
    header = malloc((size_t)header_length + 1);
    if (header == NULL)
      status = cli_io_fail(error, error_size, "out of memory");
    else if (fread(header, 1, (size_t)header_length, stream) != (size_t)header_length)
      status = cli_io_fail(error, error_size, "%s: truncated .npy header", path);
  }
  if (status == 0)
    status = parse_header(path, (header_parser){header, header + header_length}, out,
                          &fortran_order, error, error_size);
  int64_t count = 0;
  if (status == 0) {
    count = cli_array_size(out);
    if (fortran_order && out->ndim > 1) /* for 0-d and 1-d arrays both orders are one layout */
      status = cli_io_fail(error, error_size,
                           "%s: Fortran-order arrays are not supported (save it in C "
                           "order: np.ascontiguousarray)",
                           path);
    else if (count < 0 || (uint64_t)count > UINT64_MAX / 8)
      status =
          cli_io_fail(error, error_size, "%s: the shape's element count overflows 64 bits", path);
  }
  if (status == 0) {
    uint64_t data_bytes = (uint64_t)count * normot_value_size(out->type);
    uint64_t data_offset = header_offset + header_length;
    if (data_bytes > file_size - data_offset) {
      status = cli_io_fail(
          error, error_size,
          "%s: truncated .npy data (the shape needs %llu bytes, the file holds %llu)", path,
          (unsigned long long)data_bytes, (unsigned long long)(file_size - data_offset));
    } else {
      out->data = malloc(data_bytes > 0 ? (size_t)data_bytes : 1);
      if (out->data == NULL)
        status = cli_io_fail(error, error_size, "out of memory for %s", path);
      else if (data_bytes > 0 && fread(out->data, 1, (size_t)data_bytes, stream) != data_bytes)
        status = cli_io_fail(error, error_size, "%s: read error or truncated data", path);
    }
  }
  free(header);
  fclose(stream);
  if (status != 0) cli_array_free(out);
  return status;
}

/* ---- writer ---------------------------------------------------------------------------------- */

static int write_array(FILE *stream, const cli_array *array) {
  char dict[256];
  int used = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                      type_descr(array->type));
  for (int d = 0; d < array->ndim; ++d)
    used += snprintf(dict + used, sizeof dict - (size_t)used, "%s%lld", d > 0 ? ", " : "",
                     (long long)array->shape[d]);
  used += snprintf(dict + used, sizeof dict - (size_t)used, "%s), }", array->ndim == 1 ? "," : "");
  /* Pad with spaces and a final newline so that the data starts on a 64-byte boundary. */
  size_t prefix = 10;
  size_t total = prefix + (size_t)used + 1;
  size_t padded = (total + 63) / 64 * 64;
  size_t header_length = padded - prefix;
  unsigned char start[10] = {0x93,
                             'N',
                             'U',
                             'M',
                             'P',
                             'Y',
                             1,
                             0,
                             (unsigned char)(header_length & 0xff),
                             (unsigned char)(header_length >> 8)};
  char header[320];
  memcpy(header, dict, (size_t)used);
  memset(header + used, ' ', header_length - (size_t)used - 1);
  header[header_length - 1] = '\n';
  if (fwrite(start, 1, sizeof start, stream) != sizeof start) return -1;
  if (fwrite(header, 1, header_length, stream) != header_length) return -1;
  size_t bytes = (size_t)cli_array_size(array) * normot_value_size(array->type);
  if (bytes > 0 && fwrite(array->data, 1, bytes, stream) != bytes) return -1;
  return 0;
}

static int check_array_for_writing(const char *path, const cli_array *array, char *error,
                                   size_t error_size) {
  if (type_descr(array->type) == NULL)
    return cli_io_fail(error, error_size, "%s: unsupported array type", path);
  if (array->ndim < 0 || array->ndim > CLI_NPY_MAX_DIMS)
    return cli_io_fail(error, error_size, "%s: bad number of dimensions", path);
  for (int d = 0; d < array->ndim; ++d)
    if (array->shape[d] < 0) return cli_io_fail(error, error_size, "%s: negative dimension", path);
  int64_t count = cli_array_size(array);
  if (count < 0 || (uint64_t)count > SIZE_MAX / 8)
    return cli_io_fail(error, error_size, "%s: array too large", path);
  if (count > 0 && array->data == NULL) return cli_io_fail(error, error_size, "%s: no data", path);
  return 0;
}

int cli_npy_write_staged(const char *temp_path, const char *final_path, const cli_array *array,
                         char *error, size_t error_size) {
  if (check_array_for_writing(final_path, array, error, error_size) != 0) return -1;
  int fd = open(temp_path, O_WRONLY | O_CREAT | O_EXCL, 0666);
  if (fd < 0)
    return cli_io_fail(error, error_size, "cannot create a file beside %s: %s", final_path,
                       strerror(errno));
  FILE *stream = fdopen(fd, "wb");
  if (stream == NULL) {
    int saved = errno;
    close(fd);
    unlink(temp_path);
    return cli_io_fail(error, error_size, "cannot write %s: %s", final_path, strerror(saved));
  }
  int failed = write_array(stream, array) != 0 || fflush(stream) != 0;
  int saved = errno;
  if (fclose(stream) != 0 && !failed) {
    failed = 1;
    saved = errno;
  }
  if (failed) {
    unlink(temp_path);
    return cli_io_fail(error, error_size, "cannot write %s: %s", final_path, strerror(saved));
  }
  return 0;
}

int cli_npy_write(const char *path, const cli_array *array, char *error, size_t error_size) {
  if (check_array_for_writing(path, array, error, error_size) != 0) return -1;
  cli_atomic_file file;
  if (cli_atomic_open(&file, path) != 0)
    return cli_io_fail(error, error_size, "cannot create a file beside %s: %s", path,
                       strerror(errno));
  if (write_array(file.stream, array) != 0) {
    int saved = errno;
    cli_atomic_abort(&file);
    return cli_io_fail(error, error_size, "cannot write %s: %s", path, strerror(saved));
  }
  if (cli_atomic_commit(&file) != 0)
    return cli_io_fail(error, error_size, "cannot write %s: %s", path, strerror(errno));
  return 0;
}
