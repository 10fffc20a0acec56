/* Whether the memory a call writes overlaps memory it reads or other memory it writes. A result
 * written over an input would change what the rest of the call reads, so both entry points
 * refuse such calls before anything is written (in-place normalization excepted: see
 * normot_normalize_total). Only pointers and sizes are looked at, never the data. */
#ifndef NORMOT_SRC_VALIDATE_OVERLAP_H
#define NORMOT_SRC_VALIDATE_OVERLAP_H

#include <stdint.h>

#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An array of a call: `bytes` bytes from `start`. A NULL start or 0 bytes is never an overlap. */
typedef struct normot_byte_range {
  const void *start;
  int64_t bytes;
  const char *name; /* as the caller spells it, e.g. "result->plan" */
} normot_byte_range;

/* Checks each of `outputs` against every input and every other output. On the first overlap
 * found, records "<output> overlaps <other>: ..." and returns NORMOT_ERROR_INVALID_ARGUMENT. */
normot_status normot_check_overlaps(normot_context *context, const normot_byte_range *inputs,
                                    int n_inputs, const normot_byte_range *outputs, int n_outputs);

#ifdef __cplusplus
}
#endif

#endif
