/* Turns the fuzzer's bytes into the arguments of an API call. Reading past the end gives
 * zeros, so every input decodes to some call. Numbers are tagged so that the interesting ones
 * are a byte or two away: small integers, fractions, a few negatives, special values (NaN,
 * infinities, DBL_MAX, FLT_MAX, the smallest float) and raw float64 / float32 bit patterns. */
#ifndef NORMOT_FUZZ_BYTES_H
#define NORMOT_FUZZ_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "normot/normot.h"

typedef struct fuzz_bytes {
  const uint8_t *data;
  size_t size;
  size_t used;
} fuzz_bytes;

uint8_t fuzz_take_byte(fuzz_bytes *bytes);
uint64_t fuzz_take_u64(fuzz_bytes *bytes);

/* A tagged number (see fuzz_bytes.c for the tags). *raw_bits, when not NULL, receives the raw
 * bit pattern of a raw number, else the number truncated to an integer. */
double fuzz_take_number(fuzz_bytes *bytes, int64_t *raw_bits);

/* Element i of an array of `type` set from a tagged number: floats as they are (a float64
 * beyond float32's range becomes +-FLT_MAX), integers truncated or from the raw bits. */
void fuzz_store_value(void *array, int64_t i, normot_value_type type, fuzz_bytes *bytes);

/* Element i of an array of `type` (FLOAT32, FLOAT64 or an integer type) as a double. */
double fuzz_load_value(const void *array, int64_t i, normot_value_type type);

/* Bytes per element of `type`; 8 for an unknown type, so that buffers stay large enough. */
size_t fuzz_type_size(normot_value_type type);

#endif
