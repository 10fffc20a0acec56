/* Private to io/: small helpers the readers and writers share. Not for the commands, the tests
 * or the benchmarks (they use normot_io.h). */
#ifndef NORMOT_IO_INTERNAL_H
#define NORMOT_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "normot_io.h"

/* malloc of count * size bytes that never returns NULL for a zero size, so that NULL always
 * means failure; NULL too when the product overflows. */
void *cli_io_allocate(size_t count, size_t size);

/* Frees `count` strings and the array that holds them. NULL: no-op. */
void cli_free_strings(char **strings, int64_t count);

#endif
