/* The one way the commands print a failure: "normot: <message>" as exactly one line on stderr. */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

/* Writes `text` to stderr with every control character escaped (a newline in a file name is
 * printed as a backslash and an n), so that a message stays one line whatever the paths in it
 * hold. */
static void put_escaped(const char *text) {
  for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; ++c) {
    if (*c == '\n')
      fputs("\\n", stderr);
    else if (*c == '\r')
      fputs("\\r", stderr);
    else if (*c == '\t')
      fputs("\\t", stderr);
    else if (*c < 0x20 || *c == 0x7f)
      fprintf(stderr, "\\x%02x", *c);
    else
      fputc(*c, stderr);
  }
}

/* Prints "normot: <message><suffix>" as one line on stderr. */
static void print_line(const char *message, const char *suffix) {
  fputs("normot: ", stderr);
  put_escaped(message);
  fputs(suffix, stderr);
  fputc('\n', stderr);
}

int cli_error(const char *format, ...) {
  char message[4096];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  print_line(message, "");
  return 1;
}

int cli_usage_error(const char *command, const char *format, ...) {
  char message[4096], suffix[64];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  snprintf(suffix, sizeof suffix, " (see 'normot %s --help')", command);
  print_line(message, suffix);
  return 2;
}
