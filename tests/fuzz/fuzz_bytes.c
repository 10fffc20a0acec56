#include "fuzz_bytes.h"

#include <float.h>
#include <math.h>
#include <string.h>

uint8_t fuzz_take_byte(fuzz_bytes *bytes) {
  return bytes->used < bytes->size ? bytes->data[bytes->used++] : 0;
}

uint64_t fuzz_take_u64(fuzz_bytes *bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= (uint64_t)fuzz_take_byte(bytes) << (8 * i);
  return value;
}

static double special_number(uint8_t which) {
  const double specials[8] = {NAN, INFINITY, -INFINITY, DBL_MAX, -DBL_MAX, FLT_MAX, 1e-45, 1e300};
  return specials[which & 7];
}

/* Tags: 0..127 the integer itself; 128..223 sixteenths 0 .. 5.9375; 224..231 -1 .. -8;
 * 232..239 special values; 240..247 raw float64 (8 more bytes); 248..255 raw float32 (4). */
double fuzz_take_number(fuzz_bytes *bytes, int64_t *raw_bits) {
  const uint8_t tag = fuzz_take_byte(bytes);
  double value;
  if (tag < 128) {
    value = tag;
  } else if (tag < 224) {
    value = (tag - 128) / 16.0;
  } else if (tag < 232) {
    value = -(double)(tag - 223);
  } else if (tag < 240) {
    value = special_number(tag);
  } else if (tag < 248) {
    uint64_t bits = fuzz_take_u64(bytes);
    memcpy(&value, &bits, sizeof value);
    if (raw_bits != NULL) *raw_bits = (int64_t)bits;
    return value;
  } else {
    uint32_t bits = (uint32_t)fuzz_take_u64(bytes);
    float single;
    memcpy(&single, &bits, sizeof single);
    if (raw_bits != NULL) *raw_bits = (int32_t)bits;
    return single;
  }
  if (raw_bits != NULL) *raw_bits = isfinite(value) && fabs(value) < 9e18 ? (int64_t)value : 0;
  return value;
}

static float to_float(double value) {
  if (isfinite(value) && fabs(value) > FLT_MAX) return value > 0 ? FLT_MAX : -FLT_MAX;
  return (float)value;
}

void fuzz_store_value(void *array, int64_t i, normot_value_type type, fuzz_bytes *bytes) {
  int64_t integer = 0;
  const double value = fuzz_take_number(bytes, &integer);
  switch (type) {
    case NORMOT_FLOAT32: ((float *)array)[i] = to_float(value); return;
    case NORMOT_FLOAT64: ((double *)array)[i] = value; return;
    case NORMOT_INT32: ((int32_t *)array)[i] = (int32_t)(uint32_t)integer; return;
    case NORMOT_INT64: ((int64_t *)array)[i] = integer; return;
    case NORMOT_UINT16: ((uint16_t *)array)[i] = (uint16_t)integer; return;
    case NORMOT_UINT32: ((uint32_t *)array)[i] = (uint32_t)integer; return;
  }
  memcpy((char *)array + (size_t)i * 8, &integer, 8);
}

double fuzz_load_value(const void *array, int64_t i, normot_value_type type) {
  switch (type) {
    case NORMOT_FLOAT32: return ((const float *)array)[i];
    case NORMOT_FLOAT64: return ((const double *)array)[i];
    case NORMOT_INT32: return ((const int32_t *)array)[i];
    case NORMOT_INT64: return (double)((const int64_t *)array)[i];
    case NORMOT_UINT16: return ((const uint16_t *)array)[i];
    case NORMOT_UINT32: return ((const uint32_t *)array)[i];
  }
  return 0;
}

size_t fuzz_type_size(normot_value_type type) {
  switch (type) {
    case NORMOT_FLOAT32:
    case NORMOT_INT32:
    case NORMOT_UINT32: return 4;
    case NORMOT_UINT16: return 2;
    case NORMOT_FLOAT64:
    case NORMOT_INT64: return 8;
  }
  return 8;
}
