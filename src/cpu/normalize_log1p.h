/* log1p of float32 results, computed in float64 and rounded once to float32, in a scalar and an
 * AVX2 (four lanes) form that perform the same IEEE operations in the same order, so both give the
 * same bytes (and so do CSR, CSC and dense, and the baseline and AVX2 kernel sets).
 *
 * Why not the C library's log1pf: it is a scalar call of some 20-60 cycles, about twenty times
 * the cost of dividing and storing the value, so a fused log1p ran at a twentieth of the memory
 * bandwidth. Why this is allowed: the relative error of the float64 computation below is a few
 * 1e-16, far under float32's half ulp (3e-8), so the result is the correctly rounded log1p except
 * within ~1e-8 of a rounding boundary; numpy's and the C library's log1pf are within an ulp of
 * the exact value, so all three agree to an ulp, which is the tolerance the rules give log1p.
 *
 * Method: u = 1 + x rounded, with its rounding error e = (1 + x) - u recovered exactly (two-sum);
 * u = 2^k m with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1) / (m + 1), summed as
 * the odd series 2 (s + s^3/3 + ... + s^19/19) (|s| <= 0.172, so the next term is below 2^-52 of
 * the sum); log1p x = k ln 2 + log m + e / u, with ln 2 split so that k ln2_hi is exact. */
#ifndef NORMOT_SRC_CPU_NORMALIZE_LOG1P_H
#define NORMOT_SRC_CPU_NORMALIZE_LOG1P_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#define NORMOT_LN2_HI 6.93147180369123816490e-01 /* 0x1.62e42fee00000p-1 */
#define NORMOT_LN2_LO 1.90821492927058770002e-10
#define NORMOT_SQRT2 1.41421356237309504880

/* 2 / (2i + 1) for i = 1..9: the series of log m after its first term 2s, in powers of s^2. */
static const double normot_log1p_series[9] = {2.0 / 3.0,  2.0 / 5.0,  2.0 / 7.0,
                                              2.0 / 9.0,  2.0 / 11.0, 2.0 / 13.0,
                                              2.0 / 15.0, 2.0 / 17.0, 2.0 / 19.0};

/* Whether x needs the special answers (NaN, -Inf, +Inf, +-0), left to the C library, which every
 * library gives exactly. */
static inline int normot_log1pf_special(float x) {
  return !(x > -1.0f) || x == INFINITY || x == 0.0f;
}

static inline float normot_log1pf(float x) {
  if (normot_log1pf_special(x)) return log1pf(x);
  const double d = x, u = d + 1.0;
  const double one_part = u - d, x_part = u - one_part;
  const double e = (d - x_part) + (1.0 - one_part); /* (1 + d) - u, exactly */
  uint64_t bits;
  memcpy(&bits, &u, sizeof bits);
  uint64_t mantissa = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
  double m, k = (double)(int64_t)(bits >> 52) - 1023.0;
  memcpy(&m, &mantissa, sizeof m);
  if (m > NORMOT_SQRT2) {
    m = m * 0.5;
    k = k + 1.0;
  }
  const double f = m - 1.0, s = f / (f + 2.0), z = s * s;
  double p = normot_log1p_series[8];
  for (int i = 7; i >= 0; --i) p = p * z + normot_log1p_series[i];
  const double log_m = (s + s) + s * (z * p);
  return (float)(k * NORMOT_LN2_HI + (k * NORMOT_LN2_LO + (log_m + e / u)));
}

#if defined(__AVX2__)
/* normot_log1pf of four floats held as doubles (the special values are fixed by the caller). */
static inline __m128 normot_log1pf_x4(__m128 x) {
  const __m256d d = _mm256_cvtps_pd(x), one = _mm256_set1_pd(1.0);
  const __m256d u = _mm256_add_pd(d, one);
  const __m256d one_part = _mm256_sub_pd(u, d), x_part = _mm256_sub_pd(u, one_part);
  const __m256d e = _mm256_add_pd(_mm256_sub_pd(d, x_part), _mm256_sub_pd(one, one_part));
  const __m256i bits = _mm256_castpd_si256(u);
  const __m256i two52 = _mm256_set1_epi64x(0x4330000000000000ll); /* 2^52 */
  __m256d k =
      _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(bits, 52), two52)),
                    _mm256_set1_pd(4503599627370496.0 + 1023.0));
  __m256d m = _mm256_castsi256_pd(
      _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000FFFFFFFFFFFFFll)),
                      _mm256_set1_epi64x(0x3FF0000000000000ll)));
  const __m256d big = _mm256_cmp_pd(m, _mm256_set1_pd(NORMOT_SQRT2), _CMP_GT_OQ);
  m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
  k = _mm256_add_pd(k, _mm256_and_pd(big, one));
  const __m256d f = _mm256_sub_pd(m, one);
  const __m256d s = _mm256_div_pd(f, _mm256_add_pd(f, _mm256_set1_pd(2.0)));
  const __m256d z = _mm256_mul_pd(s, s);
  __m256d p = _mm256_set1_pd(normot_log1p_series[8]);
  for (int i = 7; i >= 0; --i)
    p = _mm256_add_pd(_mm256_mul_pd(p, z), _mm256_set1_pd(normot_log1p_series[i]));
  const __m256d log_m = _mm256_add_pd(_mm256_add_pd(s, s), _mm256_mul_pd(s, _mm256_mul_pd(z, p)));
  const __m256d tail = _mm256_add_pd(_mm256_mul_pd(k, _mm256_set1_pd(NORMOT_LN2_LO)),
                                     _mm256_add_pd(log_m, _mm256_div_pd(e, u)));
  return _mm256_cvtpd_ps(_mm256_add_pd(_mm256_mul_pd(k, _mm256_set1_pd(NORMOT_LN2_HI)), tail));
}

/* normot_log1pf of eight floats; lanes with special values take the scalar answer. */
static inline __m256 normot_log1pf_x8(__m256 x) {
  __m256 y = _mm256_set_m128(normot_log1pf_x4(_mm256_extractf128_ps(x, 1)),
                             normot_log1pf_x4(_mm256_castps256_ps128(x)));
  const __m256 regular =
      _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-1.0f), _CMP_GT_OQ),
                                  _mm256_cmp_ps(x, _mm256_set1_ps(INFINITY), _CMP_NEQ_UQ)),
                    _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_NEQ_UQ));
  if (_mm256_movemask_ps(regular) != 0xFF) {
    float lanes[8], in[8];
    _mm256_storeu_ps(lanes, y);
    _mm256_storeu_ps(in, x);
    for (int k = 0; k < 8; ++k)
      if (normot_log1pf_special(in[k])) lanes[k] = log1pf(in[k]);
    y = _mm256_loadu_ps(lanes);
  }
  return y;
}
#endif

#endif
