/* The AVX-512F row totals of normalize_total_avx512.h. Compiled on its own with -mavx512f (and
 * no contraction) and called only where normot_cpu_use_avx512() says so. */
#include "normalize_total_avx512.h"

#include <immintrin.h>

#include "normalize_internal.h"

/* normot_f32_count_total (normalize_internal.h) in 16 lanes, and with `needed` not NULL the
 * row's table values from the same conversions: the sum is exact, hence the same double in any
 * order, under the same test (every value a non-negative integer, every lane's sum below 2^24),
 * with about half the instructions of the AVX2 loop. */
static NORMOT_ALWAYS_INLINE double f32_count_total(const float *v, int64_t n, int *exact,
                                                   uint32_t *needed) {
  const __m512i one = _mm512_set1_epi32(1);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;
  __m512i bits = _mm512_setzero_si512(), need = bits;
  __mmask16 integral = 0xFFFF;
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    const __m512 x0 = _mm512_loadu_ps(v + j), x1 = _mm512_loadu_ps(v + j + 16);
    const __m512i k0 = _mm512_cvttps_epi32(x0), k1 = _mm512_cvttps_epi32(x1);
    integral &= _mm512_cmp_ps_mask(_mm512_cvtepi32_ps(k0), x0, _CMP_EQ_OQ) &
                _mm512_cmp_ps_mask(_mm512_cvtepi32_ps(k1), x1, _CMP_EQ_OQ);
    s0 = _mm512_add_ps(s0, x0);
    s1 = _mm512_add_ps(s1, x1);
    bits = _mm512_or_si512(bits, _mm512_or_si512(_mm512_castps_si512(x0), _mm512_castps_si512(x1)));
    if (needed != NULL)
      need = _mm512_or_si512(
          need, _mm512_or_si512(_mm512_sllv_epi32(one, k0), _mm512_sllv_epi32(one, k1)));
  }
  for (; j < n; j += 16) { /* the masked lanes load as 0.0, an exact integer that adds nothing */
    const __mmask16 live = (__mmask16)normot_live_lanes(n - j, 16);
    const __m512 x = _mm512_maskz_loadu_ps(live, v + j);
    const __m512i k = _mm512_cvttps_epi32(x);
    integral &= _mm512_cmp_ps_mask(_mm512_cvtepi32_ps(k), x, _CMP_EQ_OQ);
    s0 = _mm512_add_ps(s0, x);
    bits = _mm512_or_si512(bits, _mm512_castps_si512(x));
    if (needed != NULL) need = _mm512_mask_or_epi32(need, live, need, _mm512_sllv_epi32(one, k));
  }
  const __m512 s = _mm512_add_ps(s0, s1);
  *exact = integral == 0xFFFF && _mm512_test_epi32_mask(bits, _mm512_set1_epi32(INT32_MIN)) == 0 &&
           _mm512_cmp_ps_mask(s, _mm512_set1_ps(0x1p24f), _CMP_GE_OQ) == 0;
  if (needed != NULL) *needed = (uint32_t)_mm512_reduce_or_epi32(need);
  const __m512d wide = _mm512_add_pd(
      _mm512_cvtps_pd(_mm512_castps512_ps256(s)),
      _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1))));
  return _mm512_reduce_add_pd(wide);
}

double normot_f32_row_total_and_table_avx512(const float *v, int64_t n, int64_t *needed) {
  if (n < NORMOT_EXACT_ROW_LIMIT) {
    int exact;
    uint32_t entries;
    const double sum = f32_count_total(v, n, &exact, &entries);
    if (exact) {
      *needed = entries;
      return sum;
    }
  }
  *needed = -1;
  return normot_row_total(v, NORMOT_FLOAT32, NORMOT_FLOAT32, 0, n);
}

double normot_f32_row_total_avx512(const float *v, int64_t n) {
  if (n < NORMOT_EXACT_ROW_LIMIT) {
    int exact;
    const double sum = f32_count_total(v, n, &exact, NULL);
    if (exact) return sum;
  }
  return normot_row_total(v, NORMOT_FLOAT32, NORMOT_FLOAT32, 0, n);
}
