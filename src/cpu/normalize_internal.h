/* Shared by the CPU normalize_total files: the job description every pass reads, the value
 * conversion rules, and the type dispatch that turns the generic row kernels into one
 * specialised loop per (input type, index type, output type). */
#ifndef NORMOT_SRC_CPU_NORMALIZE_INTERNAL_H
#define NORMOT_SRC_CPU_NORMALIZE_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../validate_matrix.h"

#if defined(__GNUC__)
#define NORMOT_ALWAYS_INLINE inline __attribute__((always_inline))
/* A helper kept out of line (and not reported when a file includes it without calling it). */
#define NORMOT_OUT_OF_LINE __attribute__((noinline, unused))
#else
#define NORMOT_ALWAYS_INLINE inline
#define NORMOT_OUT_OF_LINE
#endif

/* Rows handed to one kernel call: the type dispatch happens once per chunk, not per row. */
enum { NORMOT_ROW_CHUNK = 256 };

/* Exclusion where flags per gene would cost more than the matrix (CSR with more genes than
 * stored entries, or no rows at all): each stored entry is flagged when it exceeds its row's
 * threshold, then the genes of flagged entries are collected, sorted and made unique. Its
 * memory is O(nnz) whatever n_cols is. */
typedef struct sparse_exclusion {
  unsigned char *entry_flags; /* nnz */
  int64_t *genes;             /* the excluded genes, sorted, `count` of them (capacity nnz) */
  int64_t count;
} sparse_exclusion;

/* The (input, index, output) types a specialised kernel is compiled for: passed by value as
 * constants through always-inline functions, so each combination gets its own loop. */
typedef struct normot_types {
  normot_value_type in;
  normot_index_type idx;
  normot_value_type out;
} normot_types;

/* What every pass needs to know. `sums` holds per row the total rounded to the output type
 * (stored as a double, which holds a float32 exactly); `size_factors` likewise. */
typedef struct normalize_job {
  const normot_matrix *X;
  normot_value_type in_type;
  normot_value_type out_type;
  normot_index_type index_type; /* INT32 for dense, where it is unused */
  int check_values;             /* float input and params->check_values */
  int exclude;                  /* exclude_highly_expressed */
  double max_fraction;
  int log1p;
  double log_base_divisor; /* log(log_base), or 0 for the natural log */
  void *out_values;        /* where the normalized values go (== X->values in place) */
  double *sums;            /* n_rows */
  double *size_factors;    /* n_rows */
  /* n_rows each when the results are checked (else NULL): each row's smallest and largest
   * value in the output type, +Inf and -Inf for a row without stored values */
  double *row_low, *row_high;
  unsigned char *excluded;           /* n_cols flags, when exclude and not `sparse_excluded` */
  sparse_exclusion *sparse_excluded; /* instead of `excluded` when that would be too large */
  void *out_totals;                  /* the caller's optional arrays, of out_type */
  void *out_size_factors;
  int n_threads;
  const struct normalize_kernels *kernels;
  struct csc_blocking *csc; /* CSC only: the row blocks (normalize_csc.h) */
} normalize_job;

/* normot_value_size of a valid type, a constant once inlined (the library's own function is in
 * another file, so every use would be a call). */
static NORMOT_ALWAYS_INLINE int64_t normot_value_bytes(normot_value_type type) {
  switch (type) {
    case NORMOT_UINT16: return 2;
    case NORMOT_FLOAT64:
    case NORMOT_INT64: return 8;
    default: return 4;
  }
}

/* A value converted to the output type first, as Scanpy casts integer counts to float32 before
 * summing; returned as the double holding that output-type value exactly. */
static NORMOT_ALWAYS_INLINE double normot_load_as_output(const void *values, normot_value_type in,
                                                         normot_value_type out, int64_t j) {
  switch (in) {
    case NORMOT_FLOAT32: return ((const float *)values)[j];
    case NORMOT_FLOAT64: return ((const double *)values)[j];
    case NORMOT_INT32: {
      int32_t v = ((const int32_t *)values)[j];
      return out == NORMOT_FLOAT32 ? (double)(float)v : (double)v;
    }
    case NORMOT_INT64: {
      int64_t v = ((const int64_t *)values)[j];
      return out == NORMOT_FLOAT32 ? (double)(float)v : (double)v;
    }
    case NORMOT_UINT16: return (double)((const uint16_t *)values)[j];
    case NORMOT_UINT32: {
      uint32_t v = ((const uint32_t *)values)[j];
      return out == NORMOT_FLOAT32 ? (double)(float)v : (double)v;
    }
  }
  return 0.0;
}

/* The float64 total of values [start, end) added one by one in the stored order, as Scanpy's
 * kernel adds them. One dependent chain of additions: a few cycles per value. */
static NORMOT_ALWAYS_INLINE double normot_sequential_total(const void *values, normot_value_type in,
                                                           normot_value_type out, int64_t start,
                                                           int64_t end) {
  double sum = 0.0;
  for (int64_t j = start; j < end; ++j) sum += normot_load_as_output(values, in, out, j);
  return sum;
}

/* Integers of magnitude below 2^22 (float) or 2^31 (double). Adding 1.5 * 2^23 (2^52) moves a
 * value into the binade where the spacing is 1, so subtracting it back is exact only for an
 * integer. NaN and infinities fail both comparisons. */
static NORMOT_ALWAYS_INLINE int normot_is_small_integer_f32(float x) {
  return (fabsf(x) < 0x1p22f) & ((x + 0x1.8p23f) - 0x1.8p23f == x);
}
static NORMOT_ALWAYS_INLINE int normot_is_small_integer_f64(double x) {
  return (fabs(x) < 0x1p31) & ((x + 0x1.8p52) - 0x1.8p52 == x);
}

enum { NORMOT_TOTAL_LANES = 16, NORMOT_EXACT_ROW_LIMIT = 1 << 22 };

/* The float64 sum of float32 values [j, end) added in independent lanes (no fixed order), and in
 * *exact whether each of them is an integer of magnitude <= 2^31: converting to int32 and back
 * returns x only for such a value (NaN, infinities and larger values convert to INT32_MIN). Only
 * then is the order irrelevant (see normot_row_total). Written with intrinsics because the
 * compiler turns the portable test into scalar branches. The AVX2 version reads the last partial
 * vector with a masked load (the masked lanes are 0, an exact integer), so a short row costs a
 * few vector steps and no scalar tail, and reduces its lanes as a tree. */
#if defined(__AVX2__)
/* All ones in the lanes k < remaining (of 8). */
static NORMOT_ALWAYS_INLINE __m256i normot_lanes_below(int64_t remaining) {
  int n = remaining < 8 ? (int)remaining : 8;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static NORMOT_ALWAYS_INLINE __m256 normot_f32_is_int32(__m256 x) {
  return _mm256_cmp_ps(_mm256_cvtepi32_ps(_mm256_cvttps_epi32(x)), x, _CMP_EQ_OQ);
}
static NORMOT_ALWAYS_INLINE double normot_f32_lane_total(const float *v, int64_t j, int64_t end,
                                                         int *exact) {
  __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
  __m256 ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  for (; j + 16 <= end; j += 16) {
    __m256 x0 = _mm256_loadu_ps(v + j), x1 = _mm256_loadu_ps(v + j + 8);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(x0)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(x0, 1)));
    s2 = _mm256_add_pd(s2, _mm256_cvtps_pd(_mm256_castps256_ps128(x1)));
    s3 = _mm256_add_pd(s3, _mm256_cvtps_pd(_mm256_extractf128_ps(x1, 1)));
    ok = _mm256_and_ps(ok, _mm256_and_ps(normot_f32_is_int32(x0), normot_f32_is_int32(x1)));
  }
  for (; j < end; j += 8) {
    __m256 x = _mm256_maskload_ps(v + j, normot_lanes_below(end - j));
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
    ok = _mm256_and_ps(ok, normot_f32_is_int32(x));
  }
  *exact = _mm256_movemask_ps(ok) == 0xFF;
  __m256d s = _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3));
  __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}
/* The smallest lane of lo and the largest of hi, into *low and *high (lo and hi started from
 * them). */
static NORMOT_ALWAYS_INLINE void normot_f32_fold_range(__m256 lo, __m256 hi, float *low,
                                                       float *high) {
  __m128 l = _mm_min_ps(_mm256_castps256_ps128(lo), _mm256_extractf128_ps(lo, 1));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(hi), _mm256_extractf128_ps(hi, 1));
  l = _mm_min_ps(l, _mm_movehl_ps(l, l));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  l = _mm_min_ss(l, _mm_shuffle_ps(l, l, 1));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  *low = _mm_cvtss_f32(l);
  *high = _mm_cvtss_f32(h);
}
/* The sum of float32 values [j, end) added in float32 lanes, and in *exact whether that sum is
 * the exact one: when every value is a non-negative integer (sign bits clear, the int32 round trip
 * above) and every lane ends below 2^24. Non-negative addends make every partial sum of a lane at
 * most its final value, and a float32 holds every integer below 2^24, so no addition rounded.
 * Counts pass this test; it costs about half the instructions of the float64 lanes, which is
 * what kept the fused pass's reads behind memory (docs/normalize_semantics.md). With `low` and
 * `high` not NULL it also folds the smallest and largest value into them, from the same read
 * (what pass 1 of a checked call needs: normot_row_total_and_range); the masked lanes of the
 * last vector are left out of both. */
static NORMOT_ALWAYS_INLINE double normot_f32_count_total(const float *v, int64_t j, int64_t end,
                                                          int *exact, float *low, float *high) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, bits = s0;
  __m256 ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  __m256 lo = _mm256_set1_ps(low != NULL ? *low : 0.0f),
         hi = _mm256_set1_ps(high != NULL ? *high : 0.0f);
  for (; j + 32 <= end; j += 32) {
    __m256 x0 = _mm256_loadu_ps(v + j), x1 = _mm256_loadu_ps(v + j + 8);
    __m256 x2 = _mm256_loadu_ps(v + j + 16), x3 = _mm256_loadu_ps(v + j + 24);
    s0 = _mm256_add_ps(s0, x0);
    s1 = _mm256_add_ps(s1, x1);
    s2 = _mm256_add_ps(s2, x2);
    s3 = _mm256_add_ps(s3, x3);
    ok = _mm256_and_ps(
        ok, _mm256_and_ps(_mm256_and_ps(normot_f32_is_int32(x0), normot_f32_is_int32(x1)),
                          _mm256_and_ps(normot_f32_is_int32(x2), normot_f32_is_int32(x3))));
    bits = _mm256_or_ps(bits, _mm256_or_ps(_mm256_or_ps(x0, x1), _mm256_or_ps(x2, x3)));
    if (low != NULL) {
      lo = _mm256_min_ps(lo, _mm256_min_ps(_mm256_min_ps(x0, x1), _mm256_min_ps(x2, x3)));
      hi = _mm256_max_ps(hi, _mm256_max_ps(_mm256_max_ps(x0, x1), _mm256_max_ps(x2, x3)));
    }
  }
  for (; j < end; j += 8) {
    const __m256i lanes = normot_lanes_below(end - j);
    __m256 x = _mm256_maskload_ps(v + j, lanes);
    s0 = _mm256_add_ps(s0, x);
    ok = _mm256_and_ps(ok, normot_f32_is_int32(x));
    bits = _mm256_or_ps(bits, x);
    if (low != NULL) {
      lo = _mm256_min_ps(lo, _mm256_blendv_ps(lo, x, _mm256_castsi256_ps(lanes)));
      hi = _mm256_max_ps(hi, _mm256_blendv_ps(hi, x, _mm256_castsi256_ps(lanes)));
    }
  }
  if (low != NULL) normot_f32_fold_range(lo, hi, low, high);
  /* Every lane of s below 2^24 bounds the lanes added into it (all non-negative). */
  __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m256 large = _mm256_cmp_ps(s, _mm256_set1_ps(0x1p24f), _CMP_GE_OQ);
  *exact = _mm256_movemask_ps(ok) == 0xFF && _mm256_movemask_ps(bits) == 0 &&
           _mm256_movemask_ps(large) == 0;
  __m256d d = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(s)),
                            _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)));
  __m128d h = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}
/* The same for float64 values; the test converts to int32 and back as above. */
static NORMOT_ALWAYS_INLINE double normot_f64_lane_total(const double *v, int64_t j, int64_t end,
                                                         int *exact) {
  __m256d s0 = _mm256_setzero_pd(), s1 = s0;
  __m128i ok = _mm_set1_epi32(-1);
  for (; j + 8 <= end; j += 8) {
    __m256d x0 = _mm256_loadu_pd(v + j), x1 = _mm256_loadu_pd(v + j + 4);
    s0 = _mm256_add_pd(s0, x0);
    s1 = _mm256_add_pd(s1, x1);
    __m256d e0 = _mm256_cmp_pd(_mm256_cvtepi32_pd(_mm256_cvttpd_epi32(x0)), x0, _CMP_EQ_OQ);
    __m256d e1 = _mm256_cmp_pd(_mm256_cvtepi32_pd(_mm256_cvttpd_epi32(x1)), x1, _CMP_EQ_OQ);
    ok = _mm_and_si128(ok, _mm256_castsi256_si128(_mm256_castpd_si256(_mm256_and_pd(e0, e1))));
    ok = _mm_and_si128(ok, _mm256_extracti128_si256(_mm256_castpd_si256(_mm256_and_pd(e0, e1)), 1));
  }
  for (; j < end; j += 4) {
    int64_t n = end - j < 4 ? end - j : 4;
    __m256i mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
    __m256d x = _mm256_maskload_pd(v + j, mask);
    s0 = _mm256_add_pd(s0, x);
    __m256d e = _mm256_cmp_pd(_mm256_cvtepi32_pd(_mm256_cvttpd_epi32(x)), x, _CMP_EQ_OQ);
    ok = _mm_and_si128(ok, _mm256_castsi256_si128(_mm256_castpd_si256(e)));
    ok = _mm_and_si128(ok, _mm256_extracti128_si256(_mm256_castpd_si256(e), 1));
  }
  *exact = _mm_movemask_epi8(ok) == 0xFFFF;
  __m256d s = _mm256_add_pd(s0, s1);
  __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}
#elif defined(__SSE2__)
static NORMOT_ALWAYS_INLINE double normot_f32_lane_total(const float *v, int64_t j, int64_t end,
                                                         int *exact) {
  __m128d s0 = _mm_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
  __m128 ok = _mm_castsi128_ps(_mm_set1_epi32(-1));
  for (; j + 8 <= end; j += 8) {
    __m128 x0 = _mm_loadu_ps(v + j), x1 = _mm_loadu_ps(v + j + 4);
    s0 = _mm_add_pd(s0, _mm_cvtps_pd(x0));
    s1 = _mm_add_pd(s1, _mm_cvtps_pd(_mm_movehl_ps(x0, x0)));
    s2 = _mm_add_pd(s2, _mm_cvtps_pd(x1));
    s3 = _mm_add_pd(s3, _mm_cvtps_pd(_mm_movehl_ps(x1, x1)));
    ok = _mm_and_ps(ok, _mm_cmpeq_ps(_mm_cvtepi32_ps(_mm_cvttps_epi32(x0)), x0));
    ok = _mm_and_ps(ok, _mm_cmpeq_ps(_mm_cvtepi32_ps(_mm_cvttps_epi32(x1)), x1));
  }
  int all = _mm_movemask_ps(ok) == 0xF;
  __m128d s = _mm_add_pd(_mm_add_pd(s0, s1), _mm_add_pd(s2, s3));
  double sum = _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  for (; j < end; ++j) {
    all &= normot_is_small_integer_f64(v[j]);
    sum += v[j];
  }
  *exact = all;
  return sum;
}
#else
static NORMOT_ALWAYS_INLINE double normot_f32_lane_total(const float *v, int64_t j, int64_t end,
                                                         int *exact) {
  double lane[NORMOT_TOTAL_LANES] = {0};
  int ok = 1;
  for (; j + NORMOT_TOTAL_LANES <= end; j += NORMOT_TOTAL_LANES)
    for (int k = 0; k < NORMOT_TOTAL_LANES; ++k) {
      lane[k] += (double)v[j + k];
      ok &= normot_is_small_integer_f32(v[j + k]);
    }
  double sum = 0.0;
  for (int k = 0; k < NORMOT_TOTAL_LANES; ++k) sum += lane[k];
  for (; j < end; ++j) {
    ok &= normot_is_small_integer_f64(v[j]);
    sum += v[j];
  }
  *exact = ok;
  return sum;
}
#endif

/* The same for values of any other type (converted to the output type first). */
static NORMOT_ALWAYS_INLINE double normot_lane_total(const void *values, normot_value_type in,
                                                     normot_value_type out, int64_t j, int64_t end,
                                                     int *all_exact) {
  double lane[NORMOT_TOTAL_LANES] = {0};
  int exact[NORMOT_TOTAL_LANES];
  for (int k = 0; k < NORMOT_TOTAL_LANES; ++k) exact[k] = 1;
  for (; j + NORMOT_TOTAL_LANES <= end; j += NORMOT_TOTAL_LANES)
    for (int k = 0; k < NORMOT_TOTAL_LANES; ++k) {
      double x = normot_load_as_output(values, in, out, j + k);
      lane[k] += x;
      exact[k] &= normot_is_small_integer_f64(x);
    }
  int ok = 1;
  double sum = 0.0;
  for (int k = 0; k < NORMOT_TOTAL_LANES; ++k) ok &= exact[k], sum += lane[k];
  for (; j < end; ++j) {
    double x = normot_load_as_output(values, in, out, j);
    ok &= normot_is_small_integer_f64(x);
    sum += x;
  }
  *all_exact = ok;
  return sum;
}

/* The same double as normot_sequential_total, fast on counts. When every value of the row is an
 * integer below 2^31 and the row has fewer than 2^22 entries, every partial sum in any order is
 * an integer below 2^53, which a double holds exactly: the order of the additions cannot change
 * the result. The row is then added in independent lanes, with the test folded into the same
 * loop; a row that fails the test (non-integer data) is added again in the stored order while it
 * is still in cache. With `low` and `high` not NULL (both +Inf and -Inf on entry), a float32 row
 * of counts also gets its smallest and largest value there from the same read (AVX2 only); any
 * other row leaves them as they were. */
static NORMOT_ALWAYS_INLINE double normot_row_total_ranging(const void *values,
                                                            normot_value_type in,
                                                            normot_value_type out, int64_t start,
                                                            int64_t end, float *low, float *high) {
  if (end - start >= NORMOT_EXACT_ROW_LIMIT)
    return normot_sequential_total(values, in, out, start, end);
  int all_exact = 1;
  double sum;
#if defined(__AVX2__)
  if (in == NORMOT_FLOAT32) { /* counts first; any other float32 row is read again from cache */
    sum = normot_f32_count_total(values, start, end, &all_exact, low, high);
    if (!all_exact && low != NULL) *low = INFINITY, *high = -INFINITY; /* not a count row */
    if (!all_exact) sum = normot_f32_lane_total(values, start, end, &all_exact);
  } else if (in == NORMOT_FLOAT64) {
    sum = normot_f64_lane_total(values, start, end, &all_exact);
  } else {
    sum = normot_lane_total(values, in, out, start, end, &all_exact);
  }
#else
  if (in == NORMOT_FLOAT32)
    sum = normot_f32_lane_total(values, start, end, &all_exact);
  else
    sum = normot_lane_total(values, in, out, start, end, &all_exact);
#endif
  return all_exact ? sum : normot_sequential_total(values, in, out, start, end);
}
static NORMOT_ALWAYS_INLINE double normot_row_total(const void *values, normot_value_type in,
                                                    normot_value_type out, int64_t start,
                                                    int64_t end) {
  return normot_row_total_ranging(values, in, out, start, end, NULL, NULL);
}

/* A float64 sum rounded to the output type. */
static NORMOT_ALWAYS_INLINE double normot_round_to(normot_value_type out, double x) {
  return out == NORMOT_FLOAT32 ? (double)(float)x : x;
}

static NORMOT_ALWAYS_INLINE void normot_store_as_output(void *array, normot_value_type out,
                                                        int64_t i, double value) {
  if (out == NORMOT_FLOAT32)
    ((float *)array)[i] = (float)value;
  else
    ((double *)array)[i] = value;
}

/* log1p of y (a value of type out, held exactly by the double), then divided by log_divisor
 * unless that is 0, in the arithmetic of out; returned as the double holding the result. In
 * float32 the division by log(base) is done in float64 before rounding, as numpy's
 * np.divide(float32, float64 scalar, out=float32) does. */
static NORMOT_ALWAYS_INLINE double normot_log1p_exact(normot_value_type out, double y,
                                                      double log_divisor) {
  if (out == NORMOT_FLOAT32) {
    float r = log1pf((float)y);
    return log_divisor != 0.0 ? (float)((double)r / log_divisor) : r;
  }
  double r = log1p(y);
  return log_divisor != 0.0 ? r / log_divisor : r;
}

/* value / size_factor as one division in the output type, then the optional log1p
 * (normot_log1p_exact); returned as the double holding that output-type value exactly. */
static NORMOT_ALWAYS_INLINE double normot_scaled_value(normot_value_type out, double value,
                                                       double factor, int apply_log1p,
                                                       double log_divisor) {
  double y = out == NORMOT_FLOAT32 ? (double)((float)value / (float)factor) : value / factor;
  return apply_log1p ? normot_log1p_exact(out, y, log_divisor) : y;
}

/* A memo of normot_log1p_exact, one per thread (on the stack of the loop that scales). The libm
 * log1p costs 15-20 ns per value, ten times a value's share of the memory traffic, but
 * normalized counts repeat: within a cell every count c becomes the same c / factor, and counts
 * are mostly small. The result is a pure function of the input's bits (the divisor is fixed per
 * memo), so a memo keyed by the exact bits returns the very bytes a fresh call would, for any
 * data; it only changes the speed (docs/normalize_semantics.md). Keys are the raw bits, so -0.0
 * and +0.0 (or two NaN payloads) are distinct keys. Two-way sets, the last used entry first, so
 * that two frequent values of a cell that hash alike do not evict each other on every use. */
enum { NORMOT_LOG1P_MEMO_BITS = 8, NORMOT_LOG1P_MEMO_SETS = 1 << NORMOT_LOG1P_MEMO_BITS };

typedef struct normot_log1p_entry {
  uint64_t key; /* the input's bits in the output type, zero-extended for float32 */
  double result;
} normot_log1p_entry;

struct normot_log1p_row_tables; /* normalize_log1p_table.h */

typedef struct normot_log1p_memo {
  normot_log1p_entry sets[NORMOT_LOG1P_MEMO_SETS][2];
  normot_value_type out;
  double log_divisor;
  /* The row tables of the thread's earlier rows, by factor (normalize_log1p_table.h), or NULL:
   * set by whoever owns the memo for the whole call. */
  struct normot_log1p_row_tables *row_tables;
} normot_log1p_memo;

static NORMOT_ALWAYS_INLINE uint64_t normot_value_bits(normot_value_type out, double y) {
  if (out == NORMOT_FLOAT32) {
    float f = (float)y;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
  }
  uint64_t bits;
  memcpy(&bits, &y, sizeof bits);
  return bits;
}

/* Every entry holds +0.0, a key valid in both types, with its true result (-0.0 for a base
 * below 1), so the zeros of dense rows are hits in any set. */
static inline void normot_log1p_memo_init(normot_log1p_memo *memo, normot_value_type out,
                                          double log_divisor) {
  memo->out = out;
  memo->log_divisor = log_divisor;
  memo->row_tables = NULL;
  const normot_log1p_entry zero = {normot_value_bits(out, 0.0),
                                   normot_log1p_exact(out, 0.0, log_divisor)};
  for (int s = 0; s < NORMOT_LOG1P_MEMO_SETS; ++s) memo->sets[s][0] = memo->sets[s][1] = zero;
}

/* A miss in the first entry of `set`: the second entry (moved first), or a fresh result that
 * takes the first entry and pushes the first to the second. Kept out of line so that the hit
 * path of the loops stays small. */
static NORMOT_OUT_OF_LINE double normot_log1p_memo_miss(normot_log1p_memo *memo,
                                                        normot_log1p_entry *set, uint64_t key,
                                                        double y) {
  normot_log1p_entry first = set[0];
  if (set[1].key == key) {
    set[0] = set[1];
    set[1] = first;
    return set[0].result;
  }
  set[1] = first;
  set[0].key = key;
  set[0].result = normot_log1p_exact(memo->out, y, memo->log_divisor);
  return set[0].result;
}

/* normot_log1p_exact(out, y, log_divisor) of the memo, bit for bit. `out` is the memo's type,
 * passed again as a constant so that the bits are read without a branch. */
static NORMOT_ALWAYS_INLINE double normot_log1p_memo_get(normot_log1p_memo *memo,
                                                         normot_value_type out, double y) {
  const uint64_t key = normot_value_bits(out, y);
  /* Fibonacci hashing: the top bits of the product depend on every bit of the key, so integer
   * counts (whose low mantissa bits are all 0) spread as well as scaled ones. */
  normot_log1p_entry *set =
      memo->sets[(key * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - NORMOT_LOG1P_MEMO_BITS)];
  if (set[0].key == key) return set[0].result;
  return normot_log1p_memo_miss(memo, set, key, y);
}

/* value / factor (and its log1p when memo is not NULL), stored at out_values[j]. */
static NORMOT_ALWAYS_INLINE void normot_scale_store(void *out_values, normot_value_type out,
                                                    int64_t j, double value, double factor,
                                                    normot_log1p_memo *memo) {
  double y = normot_scaled_value(out, value, factor, 0, 0.0);
  if (memo != NULL) y = normot_log1p_memo_get(memo, out, y);
  normot_store_as_output(out_values, out, j, y);
}

/* The smallest and largest of float values [j, end), folded into *low and *high; the values
 * are finite (checked before). Written with intrinsics: compilers leave a floating-point
 * minimum unvectorized, and this runs on every row that is checked. */
#if defined(__AVX2__)
/* The AVX2 version reads the last partial vector with a masked load, the masked lanes replaced
 * by the running extremes, and reduces its lanes as a tree: no scalar tail on short rows. */
static NORMOT_ALWAYS_INLINE void normot_f32_range(const float *v, int64_t j, int64_t end,
                                                  float *low, float *high) {
  __m256 lo = _mm256_set1_ps(*low), hi = _mm256_set1_ps(*high);
  for (; j + 8 <= end; j += 8) {
    __m256 x = _mm256_loadu_ps(v + j);
    lo = _mm256_min_ps(lo, x);
    hi = _mm256_max_ps(hi, x);
  }
  if (j < end) {
    __m256i mask = normot_lanes_below(end - j);
    __m256 x = _mm256_maskload_ps(v + j, mask);
    lo = _mm256_min_ps(lo, _mm256_blendv_ps(lo, x, _mm256_castsi256_ps(mask)));
    hi = _mm256_max_ps(hi, _mm256_blendv_ps(hi, x, _mm256_castsi256_ps(mask)));
  }
  normot_f32_fold_range(lo, hi, low, high);
}
static NORMOT_ALWAYS_INLINE void normot_f64_range(const double *v, int64_t j, int64_t end,
                                                  double *low, double *high) {
  __m256d lo = _mm256_set1_pd(*low), hi = _mm256_set1_pd(*high);
  for (; j + 4 <= end; j += 4) {
    __m256d x = _mm256_loadu_pd(v + j);
    lo = _mm256_min_pd(lo, x);
    hi = _mm256_max_pd(hi, x);
  }
  double lanes_lo[4], lanes_hi[4];
  _mm256_storeu_pd(lanes_lo, lo);
  _mm256_storeu_pd(lanes_hi, hi);
  for (int k = 0; k < 4; ++k) {
    *low = lanes_lo[k] < *low ? lanes_lo[k] : *low;
    *high = lanes_hi[k] > *high ? lanes_hi[k] : *high;
  }
  for (; j < end; ++j) {
    *low = v[j] < *low ? v[j] : *low;
    *high = v[j] > *high ? v[j] : *high;
  }
}
#elif defined(__SSE2__)
static NORMOT_ALWAYS_INLINE void normot_f32_range(const float *v, int64_t j, int64_t end,
                                                  float *low, float *high) {
  __m128 lo = _mm_set1_ps(*low), hi = _mm_set1_ps(*high);
  for (; j + 4 <= end; j += 4) {
    __m128 x = _mm_loadu_ps(v + j);
    lo = _mm_min_ps(lo, x);
    hi = _mm_max_ps(hi, x);
  }
  float lanes_lo[4], lanes_hi[4];
  _mm_storeu_ps(lanes_lo, lo);
  _mm_storeu_ps(lanes_hi, hi);
  for (int k = 0; k < 4; ++k) {
    *low = lanes_lo[k] < *low ? lanes_lo[k] : *low;
    *high = lanes_hi[k] > *high ? lanes_hi[k] : *high;
  }
  for (; j < end; ++j) {
    *low = v[j] < *low ? v[j] : *low;
    *high = v[j] > *high ? v[j] : *high;
  }
}
static NORMOT_ALWAYS_INLINE void normot_f64_range(const double *v, int64_t j, int64_t end,
                                                  double *low, double *high) {
  __m128d lo = _mm_set1_pd(*low), hi = _mm_set1_pd(*high);
  for (; j + 2 <= end; j += 2) {
    __m128d x = _mm_loadu_pd(v + j);
    lo = _mm_min_pd(lo, x);
    hi = _mm_max_pd(hi, x);
  }
  double lanes_lo[2], lanes_hi[2];
  _mm_storeu_pd(lanes_lo, lo);
  _mm_storeu_pd(lanes_hi, hi);
  for (int k = 0; k < 2; ++k) {
    *low = lanes_lo[k] < *low ? lanes_lo[k] : *low;
    *high = lanes_hi[k] > *high ? lanes_hi[k] : *high;
  }
  for (; j < end; ++j) {
    *low = v[j] < *low ? v[j] : *low;
    *high = v[j] > *high ? v[j] : *high;
  }
}
#else
static NORMOT_ALWAYS_INLINE void normot_f32_range(const float *v, int64_t j, int64_t end,
                                                  float *low, float *high) {
  for (; j < end; ++j) {
    *low = v[j] < *low ? v[j] : *low;
    *high = v[j] > *high ? v[j] : *high;
  }
}
static NORMOT_ALWAYS_INLINE void normot_f64_range(const double *v, int64_t j, int64_t end,
                                                  double *low, double *high) {
  for (; j < end; ++j) {
    *low = v[j] < *low ? v[j] : *low;
    *high = v[j] > *high ? v[j] : *high;
  }
}
#endif

/* The smallest and largest of integer values [start, end), converted to the output type
 * afterwards (the conversion is monotone). Integer minima vectorize as written. */
#define NORMOT_INTEGER_RANGE(TYPE)                                          \
  do {                                                                      \
    const TYPE *v = values;                                                 \
    TYPE lo = v[start], hi = v[start];                                      \
    for (int64_t j = start + 1; j < end; ++j) {                             \
      lo = v[j] < lo ? v[j] : lo;                                           \
      hi = v[j] > hi ? v[j] : hi;                                           \
    }                                                                       \
    double lo_out = out == NORMOT_FLOAT32 ? (double)(float)lo : (double)lo; \
    double hi_out = out == NORMOT_FLOAT32 ? (double)(float)hi : (double)hi; \
    *low = lo_out < *low ? lo_out : *low;                                   \
    *high = hi_out > *high ? hi_out : *high;                                \
  } while (0)

/* The smallest and largest of values [start, end) in the output type, folded into *low and
 * *high. Every scaled value of a row lies between the scaled smallest and largest (division by
 * one factor, log1p and rounding are all monotone), so these two decide whether a row's results
 * are finite. */
static NORMOT_ALWAYS_INLINE void normot_value_range(const void *values, normot_types t,
                                                    int64_t start, int64_t end, double *low,
                                                    double *high) {
  const normot_value_type out = t.out;
  if (start >= end) return;
  switch (t.in) {
    case NORMOT_FLOAT32: {
      float lo = (float)*low, hi = (float)*high; /* +-Inf or values of a float32 row */
      normot_f32_range(values, start, end, &lo, &hi);
      *low = lo;
      *high = hi;
      return;
    }
    case NORMOT_FLOAT64: normot_f64_range(values, start, end, low, high); return;
    case NORMOT_INT32: NORMOT_INTEGER_RANGE(int32_t); return;
    case NORMOT_INT64: NORMOT_INTEGER_RANGE(int64_t); return;
    case NORMOT_UINT16: NORMOT_INTEGER_RANGE(uint16_t); return;
    case NORMOT_UINT32: NORMOT_INTEGER_RANGE(uint32_t); return;
  }
}

/* normot_row_total of values [start, end), and their smallest and largest value in the output
 * type into *low and *high (+Inf and -Inf for an empty range), as normot_value_range gives them.
 * A float32 row of counts gets all three from one read (with AVX2): min and max are exact in any
 * order, and counts carry no -0.0 (the count test rejects any sign bit). Any other row is read
 * again from cache for its range. */
static NORMOT_ALWAYS_INLINE double normot_row_total_and_range(const void *values, normot_types t,
                                                              int64_t start, int64_t end,
                                                              double *low, double *high) {
  float lo = INFINITY, hi = -INFINITY;
  const double sum = normot_row_total_ranging(values, t.in, t.out, start, end, &lo, &hi);
  if (lo <= hi) { /* a row of counts: its range came with its total */
    *low = lo;
    *high = hi;
  } else {
    *low = INFINITY;
    *high = -INFINITY;
    normot_value_range(values, t, start, end, low, high);
  }
  return sum;
}

/* One code per supported (input, index, output) combination. */
#define NORMOT_COMBO(in, idx, out) ((int)(in)*4 + (int)(idx)*2 + ((out) == NORMOT_FLOAT64))

/* Expands CASE(IN, IDX, OUT) for every supported combination. */
#define NORMOT_FOR_EACH_INDEX(CASE, IN, OUT) \
  CASE(IN, NORMOT_INDEX_INT32, OUT) CASE(IN, NORMOT_INDEX_INT64, OUT)
#define NORMOT_FOR_EACH_COMBO(CASE)                           \
  NORMOT_FOR_EACH_INDEX(CASE, NORMOT_FLOAT32, NORMOT_FLOAT32) \
  NORMOT_FOR_EACH_INDEX(CASE, NORMOT_FLOAT64, NORMOT_FLOAT64) \
  NORMOT_FOR_EACH_INDEX(CASE, NORMOT_INT32, NORMOT_FLOAT32)   \
  NORMOT_FOR_EACH_INDEX(CASE, NORMOT_INT32, NORMOT_FLOAT64)   \
  NORMOT_FOR_EACH_INDEX(CASE, NORMOT_INT64, NORMOT_FLOAT32)   \
  NORMOT_FOR_EACH_INDEX(CASE, NORMOT_INT64, NORMOT_FLOAT64)   \
  NORMOT_FOR_EACH_INDEX(CASE, NORMOT_UINT16, NORMOT_FLOAT32)  \
  NORMOT_FOR_EACH_INDEX(CASE, NORMOT_UINT16, NORMOT_FLOAT64)  \
  NORMOT_FOR_EACH_INDEX(CASE, NORMOT_UINT32, NORMOT_FLOAT32)  \
  NORMOT_FOR_EACH_INDEX(CASE, NORMOT_UINT32, NORMOT_FLOAT64)

static inline int normot_job_combo(const normalize_job *job) {
  return NORMOT_COMBO(job->in_type, job->index_type, job->out_type);
}

/* The passes over the values. normalize_totals.c and normalize_scale.c are compiled twice on
 * x86-64: for the baseline instruction set, and with AVX2 where the compiler offers it (CMake
 * defines NORMOT_KERNELS_AVX2 there, and the files then define the _avx2 names below).
 * normalize_kernels.c picks one set at run time; both give the same bytes (IEEE operations only,
 * no contraction into FMA). */

/* Whether exclusion keeps its flags per stored entry (sparse_exclusion) rather than per gene:
 * when n_cols bytes would exceed what the matrix itself holds. */
static inline int normot_exclusion_is_sparse(const normot_matrix *X) {
  if (X->layout == NORMOT_LAYOUT_CSR) return X->n_cols > X->nnz;
  return X->layout == NORMOT_LAYOUT_DENSE && X->n_rows == 0;
}

/* Pass 1: checks the contents (indptr, indices where read, finiteness when asked) and fills
 * job->sums; with exclusion also job->excluded and then the recomputed sums. Writes nothing
 * the caller can see. The first problem in the matrix is stored in *problem. */
void normot_cpu_normalize_totals(const normalize_job *job, normot_matrix_problem *problem);
void normot_cpu_normalize_totals_avx2(const normalize_job *job, normot_matrix_problem *problem);

/* Checks indptr alone (for the fused pass, which reads no value twice). */
void normot_cpu_check_indptr(const normalize_job *job, normot_matrix_problem *problem);
void normot_cpu_check_indptr_avx2(const normalize_job *job, normot_matrix_problem *problem);

/* Pass 2: writes job->out_values from X's values and job->size_factors. */
void normot_cpu_normalize_scale(const normalize_job *job);
void normot_cpu_normalize_scale_avx2(const normalize_job *job);

/* The single fused pass (CSR or dense, target known, no value check, no exclusion): per row,
 * the total, the size factor and the scaling. Fills job->out_totals and job->out_size_factors
 * when they are not NULL and returns the number of cells whose size factor was 0. */
int64_t normot_cpu_normalize_fused(const normalize_job *job, double target);
int64_t normot_cpu_normalize_fused_avx2(const normalize_job *job, double target);

typedef struct normalize_kernels {
  void (*totals)(const normalize_job *job, normot_matrix_problem *problem);
  void (*check_indptr)(const normalize_job *job, normot_matrix_problem *problem);
  void (*scale)(const normalize_job *job);
  int64_t (*fused)(const normalize_job *job, double target);
} normalize_kernels;

/* The AVX2 set where normot_cpu_use_avx2() says so, else the baseline set. */
const normalize_kernels *normot_cpu_normalize_kernels(void);

/* The size factor of a total, in the output type; 0 (all-zero cell) is reported as 0 and the
 * caller replaces it by 1. */
static inline double normot_size_factor(normot_value_type out, double total, double target) {
  if (out == NORMOT_FLOAT32) return (double)((float)total / (float)target);
  return total / target;
}

/* Median of the n values in `scratch` (reordered), numpy semantics, in the output type. */
double normot_cpu_median(double *scratch, int64_t n, normot_value_type out);

#endif
