/* The one way every reader and writer reports a failure: a one-line reason in a caller's
 * buffer. */
#ifndef NORMOT_CLI_IO_ERROR_H
#define NORMOT_CLI_IO_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Formats the reason into error (when error is not NULL and error_size > 0). Returns -1, so
 * that a reader can `return cli_io_fail(error, error_size, "...", ...);`. */
int cli_io_fail(char *error, size_t error_size, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif
