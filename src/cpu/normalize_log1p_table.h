/* The fused log1p of one row through a table indexed by the stored count (AVX-512F kernels,
 * chosen at run time: normot_cpu_use_avx512()).
 *
 * Within one row every stored value v becomes log1p(v / factor) with the same factor, so equal
 * inputs give equal outputs, and counts are mostly small integers (85% are 1 in the synthetic
 * data). A row gets a table of the results for v = 0, 1, ..., entries - 1 (32 for float32, 16
 * for float64: two vector registers, read with one two-source permute). A first pass over the
 * row (in cache) finds which entries it needs; only those are computed, in one tight loop, and
 * the table is forgotten at the next row, whose factor differs. A value is read from the table
 * only when its bits are exactly those of such an integer (-0.0, NaN, non-integers and larger
 * values are not). Every entry, and every other value, is computed by the scalar path: the
 * same division in the output type as the plain pass, then the library's log1p (through the
 * memo for the other values). So the bytes are those of a fresh libm call, only faster: no
 * division and no lookup per value on the table path. */
#ifndef NORMOT_SRC_CPU_NORMALIZE_LOG1P_TABLE_H
#define NORMOT_SRC_CPU_NORMALIZE_LOG1P_TABLE_H

#include "cpu_features.h"
#include "normalize_internal.h"

enum { NORMOT_LOG1P_TABLE_F32 = 32, NORMOT_LOG1P_TABLE_F64 = 16 };

/* out[j] = normot_log1p_exact of (in[j] / factor, rounded to float32), for j in [0, n); the
 * memo serves the values outside the table. in and out may be the same array. */
void normot_log1p_row_f32_avx512(const float *in, float *out, int64_t n, float factor,
                                 normot_log1p_memo *memo);

/* The same in float64. */
void normot_log1p_row_f64_avx512(const double *in, double *out, int64_t n, double factor,
                                 normot_log1p_memo *memo);

#if defined(NORMOT_HAVE_AVX512_KERNELS)
/* Whether rows of input type `in` and output type `out` go through the row tables: float input
 * of the output type, where the CPU has AVX-512F (checked at run time). */
static inline int normot_log1p_table_applies(normot_value_type in, normot_value_type out) {
  return in == out && (in == NORMOT_FLOAT32 || in == NORMOT_FLOAT64) && normot_cpu_use_avx512();
}

/* The row of n values at element `start` of `in` (X's values) to the same place in `out`:
 * divided by factor (a value of type `type`) and its log1p taken. */
static inline void normot_log1p_table_row(normot_value_type type, const void *in, void *out,
                                          int64_t start, int64_t n, double factor,
                                          normot_log1p_memo *memo) {
  if (type == NORMOT_FLOAT32)
    normot_log1p_row_f32_avx512((const float *)in + start, (float *)out + start, n, (float)factor,
                                memo);
  else
    normot_log1p_row_f64_avx512((const double *)in + start, (double *)out + start, n, factor, memo);
}
#endif

#endif
