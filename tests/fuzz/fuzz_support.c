#define _POSIX_C_SOURCE 200809L
#include "fuzz_support.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "normot/normot.h"

_Noreturn void fuzz_fail(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("contract broken: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  abort();
}

static char scratch_dir[512];

static void remove_scratch_dir(void) {
  if (scratch_dir[0] != '\0') rmdir(scratch_dir);
}

static const char *scratch_parent(void) {
  if (access("/dev/shm", W_OK) == 0) return "/dev/shm";
  const char *tmp = getenv("TMPDIR");
  return tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp";
}

const char *fuzz_scratch_dir(void) {
  if (scratch_dir[0] != '\0') return scratch_dir;
  int length = snprintf(scratch_dir, sizeof scratch_dir, "%s/normot-fuzz-%ld", scratch_parent(),
                        (long)getpid());
  if (length < 0 || (size_t)length >= sizeof scratch_dir) fuzz_fail("scratch path too long");
  if (mkdir(scratch_dir, 0700) != 0) {
    struct stat info;
    if (stat(scratch_dir, &info) != 0 || !S_ISDIR(info.st_mode))
      fuzz_fail("cannot create the scratch directory %s", scratch_dir);
  }
  atexit(remove_scratch_dir);
  return scratch_dir;
}

void fuzz_scratch_path(const char *name, char *out, size_t out_size) {
  int length = snprintf(out, out_size, "%s/%s", fuzz_scratch_dir(), name);
  if (length < 0 || (size_t)length >= out_size) fuzz_fail("scratch path too long");
}

static void write_gzip(const char *path, const uint8_t *data, size_t size) {
  gzFile file = gzopen(path, "wb1");
  if (file == NULL) fuzz_fail("cannot create %s", path);
  size_t done = 0;
  while (done < size) {
    unsigned chunk = size - done > (1u << 30) ? (1u << 30) : (unsigned)(size - done);
    if (gzwrite(file, data + done, chunk) != (int)chunk) fuzz_fail("cannot write %s", path);
    done += chunk;
  }
  if (gzclose(file) != Z_OK) fuzz_fail("cannot close %s", path);
}

void fuzz_write_file(const char *path, const uint8_t *data, size_t size, int gzip) {
  if (gzip) {
    write_gzip(path, data, size);
    return;
  }
  FILE *stream = fopen(path, "wb");
  if (stream == NULL) fuzz_fail("cannot create %s", path);
  if (size > 0 && fwrite(data, 1, size, stream) != size) fuzz_fail("cannot write %s", path);
  if (fclose(stream) != 0) fuzz_fail("cannot close %s", path);
}

void fuzz_remove_file(const char *path) {
  unlink(path);
}

void fuzz_check_error_line(const char *what, const char *message) {
  if (message == NULL || message[0] == '\0') fuzz_fail("%s failed without a message", what);
  if (strchr(message, '\n') != NULL) fuzz_fail("%s: message of several lines: %s", what, message);
}

void fuzz_report_outcome(const char *what, const char *refusal) {
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("NORMOT_FUZZ_VERBOSE") != NULL;
  if (!verbose) return;
  if (refusal == NULL)
    fprintf(stderr, "%s: accepted\n", what);
  else
    fprintf(stderr, "%s: refused: %s\n", what, refusal);
}

void fuzz_check_status(const char *what, int status, const char *message) {
  fuzz_report_outcome(what, status == NORMOT_SUCCESS ? NULL : message);
  if (status == NORMOT_SUCCESS) return;
  if (status == NORMOT_ERROR_INTERNAL) fuzz_fail("%s: internal error: %s", what, message);
  if (strcmp(normot_status_string((normot_status)status), "unknown status") == 0)
    fuzz_fail("%s returned the undocumented status %d", what, status);
  fuzz_check_error_line(what, message);
}

static int decode_threads(uint8_t code) {
  if (code < 250) return code % 3;
  if (code < 252) return -1;
  return code < 254 ? 100000 : INT_MAX;
}

void fuzz_set_threads(normot_context *context, uint8_t code) {
  const int threads = decode_threads(code);
  normot_status status = normot_context_set_threads(context, threads);
  if (threads < 0 && status != NORMOT_ERROR_INVALID_ARGUMENT)
    fuzz_fail("set_threads(%d) returned %d", threads, (int)status);
  if (status != NORMOT_SUCCESS && status != NORMOT_ERROR_INVALID_ARGUMENT)
    fuzz_fail("set_threads(%d) returned %d", threads, (int)status);
}
