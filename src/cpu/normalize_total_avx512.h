/* Row totals of float32 values in AVX-512F (normalize_total_avx512.c), chosen at run time
 * (normot_cpu_use_avx512()) by the fused pass: the same doubles as normot_row_total, from a
 * loop of half the AVX2 loop's instructions. */
#ifndef NORMOT_SRC_CPU_NORMALIZE_TOTAL_AVX512_H
#define NORMOT_SRC_CPU_NORMALIZE_TOTAL_AVX512_H

#include <stdint.h>

#include "normalize_internal.h"

/* The lanes k < remaining of a vector of `width` lanes (16 or 8), as a mask. */
static NORMOT_ALWAYS_INLINE unsigned normot_live_lanes(int64_t remaining, int width) {
  return remaining >= width ? (1u << width) - 1 : (1u << remaining) - 1;
}

/* normot_row_total of a float32 row of n values (output float32). */
double normot_f32_row_total_avx512(const float *v, int64_t n);

/* The same, and the row's log1p table values into *needed for normot_log1p_row_f32_avx512
 * (normalize_log1p_table.h: bit k when the row holds the integer k < 32) from the same read when
 * the row holds counts; else -1 (the kernel then finds them). */
double normot_f32_row_total_and_table_avx512(const float *v, int64_t n, int64_t *needed);

#endif
