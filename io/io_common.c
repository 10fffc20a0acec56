/* What every reader and writer shares: the one-line failure and the test on a name's ending. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io_internal.h"

int cli_io_fail(char *error, size_t error_size, const char *format, ...) {
  if (error != NULL && error_size > 0) {
    va_list args;
    va_start(args, format);
    vsnprintf(error, error_size, format, args);
    va_end(args);
  }
  return -1;
}

static const char *ending(const char *text, const char *suffix) {
  size_t text_length = strlen(text), suffix_length = strlen(suffix);
  return text_length >= suffix_length ? text + text_length - suffix_length : NULL;
}

int cli_ends_with(const char *text, const char *suffix) {
  const char *end = ending(text, suffix);
  return end != NULL && strcmp(end, suffix) == 0;
}

int cli_ends_with_ignoring_case(const char *text, const char *suffix) {
  const char *end = ending(text, suffix);
  return end != NULL && strcasecmp(end, suffix) == 0;
}

void *cli_io_allocate(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return NULL;
  size_t bytes = count * size;
  return malloc(bytes == 0 ? 1 : bytes);
}
