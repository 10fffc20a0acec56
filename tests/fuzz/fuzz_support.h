/* What every fuzz target shares: reporting a broken contract (an abort, so that libFuzzer
 * records the input as a crash), a private scratch directory for readers that need a path, and
 * the checks of statuses and error messages. */
#ifndef NORMOT_FUZZ_SUPPORT_H
#define NORMOT_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "normot/normot.h"

/* Prints "contract broken: <reason>" to stderr and aborts. */
_Noreturn void fuzz_fail(const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* A directory of this process's own, on /dev/shm when it is writable (no disk traffic), else
 * under $TMPDIR or /tmp; created on first use and removed at exit. Never NULL (fails instead). */
const char *fuzz_scratch_dir(void);

/* "<scratch dir>/<name>" into out (fails if it does not fit). */
void fuzz_scratch_path(const char *name, char *out, size_t out_size);

/* Writes size bytes to path, as they are or gzip-compressed. Fails on any write error. */
void fuzz_write_file(const char *path, const uint8_t *data, size_t size, int gzip);

/* Removes a scratch file (a missing one is fine). */
void fuzz_remove_file(const char *path);

/* A failure's message must be one non-empty line. */
void fuzz_check_error_line(const char *what, const char *message);

/* A status the API documents (normot.h), not NORMOT_ERROR_INTERNAL; a failure's message is
 * one line. */
void fuzz_check_status(const char *what, int status, const char *message);

/* With NORMOT_FUZZ_VERBOSE set in the environment, prints "<what>: accepted" or
 * "<what>: refused: <message>" to stderr (to see which paths the seeds reach). */
void fuzz_report_outcome(const char *what, const char *refusal);

/* Sets the context's thread count from a fuzzed byte: mostly 0, 1 or 2; sometimes -1 (which
 * must be refused), 100000 or INT_MAX (which may be refused above a documented bound). */
void fuzz_set_threads(normot_context *context, uint8_t code);

#endif
