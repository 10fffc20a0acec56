/* The AVX-512F row kernels of normalize_log1p_table.h. Compiled on its own with -mavx512f (and
 * no contraction) and called only where normot_cpu_use_avx512() says so. */
#include <immintrin.h>

#include "normalize_log1p_table.h"

/* A row's table: entries [0, 16) in lo and [16, 32) in hi for float32 ([0, 8) and [8, 16) for
 * float64); bit k of `filled` says whether entry k holds its result yet. Passed by pointer to
 * always-inline steps only, so that it lives in registers. */
typedef struct f32_table {
  __m512 lo, hi;
  uint32_t filled;
} f32_table;

typedef struct f64_table {
  __m512d lo, hi;
  uint32_t filled;
} f64_table;

/* The scalar path of one value: the plain pass's division, then the memo. */
static NORMOT_ALWAYS_INLINE float f32_result(float v, float factor, normot_log1p_memo *memo) {
  return (float)normot_log1p_memo_get(memo, NORMOT_FLOAT32, (double)(v / factor));
}
static NORMOT_ALWAYS_INLINE double f64_result(double v, double factor, normot_log1p_memo *memo) {
  return normot_log1p_memo_get(memo, NORMOT_FLOAT64, v / factor);
}

/* The same for a table entry, without the memo: the factor differs from row to row, so an
 * entry's scaled value practically never recurs in a later row, and the memo would only pay
 * a hash and an eviction for it. */
static NORMOT_ALWAYS_INLINE float f32_entry(float v, float factor, const normot_log1p_memo *memo) {
  return (float)normot_log1p_exact(NORMOT_FLOAT32, (double)(v / factor), memo->log_divisor);
}
static NORMOT_ALWAYS_INLINE double f64_entry(double v, double factor,
                                             const normot_log1p_memo *memo) {
  return normot_log1p_exact(NORMOT_FLOAT64, v / factor, memo->log_divisor);
}

/* Fills the entries that the lanes in `todo` (exact integers below the table size whose entry is
 * empty) need; k holds the lanes' integers. Lanes with the same integer share one computation. */
static NORMOT_ALWAYS_INLINE void f32_fill(f32_table *t, __m512 x, __m512i k, __mmask16 todo,
                                          float factor, const normot_log1p_memo *memo) {
  float lanes[16];
  _mm512_storeu_ps(lanes, x);
  while (todo != 0) {
    const int lane = __builtin_ctz(todo);
    const int entry = (int)lanes[lane];
    const __m512 r = _mm512_set1_ps(f32_entry(lanes[lane], factor, memo));
    if (entry < 16)
      t->lo = _mm512_mask_mov_ps(t->lo, (__mmask16)(1u << entry), r);
    else
      t->hi = _mm512_mask_mov_ps(t->hi, (__mmask16)(1u << (entry - 16)), r);
    t->filled |= 1u << entry;
    todo &= (__mmask16)~_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(entry));
  }
}

static NORMOT_ALWAYS_INLINE void f64_fill(f64_table *t, __m512d x, __m512i k, __mmask8 todo,
                                          double factor, const normot_log1p_memo *memo) {
  double lanes[8];
  _mm512_storeu_pd(lanes, x);
  while (todo != 0) {
    const int lane = __builtin_ctz(todo);
    const int entry = (int)lanes[lane];
    const __m512d r = _mm512_set1_pd(f64_entry(lanes[lane], factor, memo));
    if (entry < 8)
      t->lo = _mm512_mask_mov_pd(t->lo, (__mmask8)(1u << entry), r);
    else
      t->hi = _mm512_mask_mov_pd(t->hi, (__mmask8)(1u << (entry - 8)), r);
    t->filled |= 1u << entry;
    todo &= (__mmask8)~_mm512_cmpeq_epi64_mask(k, _mm512_set1_epi64(entry));
  }
}

/* The 16 values at in[0..15] (those in `live`) to out: table lanes from the table (filled first
 * where empty), the others by the scalar path. in and out may be the same array. */
static NORMOT_ALWAYS_INLINE void f32_step(f32_table *t, const float *in, float *out,
                                          __mmask16 live, float factor, normot_log1p_memo *memo) {
  const __m512 x = _mm512_maskz_loadu_ps(live, in);
  /* NaN, infinities and values beyond int32 convert to INT32_MIN, which fails the bound. */
  const __m512i k = _mm512_cvttps_epi32(x);
  const __m512i back = _mm512_castps_si512(_mm512_cvtepi32_ps(k));
  const __mmask16 tabled =
      _mm512_mask_cmplt_epu32_mask(live, k, _mm512_set1_epi32(NORMOT_LOG1P_TABLE_F32)) &
      _mm512_cmpeq_epi32_mask(back, _mm512_castps_si512(x));
  const __m512i have = _mm512_srlv_epi32(_mm512_set1_epi32((int)t->filled), k);
  const __mmask16 empty = _mm512_mask_testn_epi32_mask(tabled, have, _mm512_set1_epi32(1));
  if (__builtin_expect(empty != 0, 0)) f32_fill(t, x, k, empty, factor, memo);
  _mm512_mask_storeu_ps(out, tabled, _mm512_permutex2var_ps(t->lo, k, t->hi));
  for (unsigned other = live & ~tabled; __builtin_expect(other != 0, 0); other &= other - 1) {
    const int at = __builtin_ctz(other);
    out[at] = f32_result(in[at], factor, memo);
  }
}

/* The same for 8 float64 values; the sign extension keeps INT32_MIN out of the table's range. */
static NORMOT_ALWAYS_INLINE void f64_step(f64_table *t, const double *in, double *out,
                                          __mmask8 live, double factor, normot_log1p_memo *memo) {
  const __m512d x = _mm512_maskz_loadu_pd(live, in);
  const __m256i k32 = _mm512_cvttpd_epi32(x);
  const __m512i k = _mm512_cvtepi32_epi64(k32);
  const __m512i back = _mm512_castpd_si512(_mm512_cvtepi32_pd(k32));
  const __mmask8 tabled =
      _mm512_mask_cmplt_epu64_mask(live, k, _mm512_set1_epi64(NORMOT_LOG1P_TABLE_F64)) &
      _mm512_cmpeq_epi64_mask(back, _mm512_castpd_si512(x));
  const __m512i have = _mm512_srlv_epi64(_mm512_set1_epi64(t->filled), k);
  const __mmask8 empty = _mm512_mask_testn_epi64_mask(tabled, have, _mm512_set1_epi64(1));
  if (__builtin_expect(empty != 0, 0)) f64_fill(t, x, k, empty, factor, memo);
  _mm512_mask_storeu_pd(out, tabled, _mm512_permutex2var_pd(t->lo, k, t->hi));
  for (unsigned other = live & ~tabled; __builtin_expect(other != 0, 0); other &= other - 1) {
    const int at = __builtin_ctz(other);
    out[at] = f64_result(in[at], factor, memo);
  }
}

void normot_log1p_row_f32_avx512(const float *in, float *out, int64_t n, float factor,
                                 normot_log1p_memo *memo) {
  f32_table t = {_mm512_setzero_ps(), _mm512_setzero_ps(), 0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) f32_step(&t, in + j, out + j, 0xFFFF, factor, memo);
  if (j < n) f32_step(&t, in + j, out + j, (__mmask16)((1u << (n - j)) - 1), factor, memo);
}

void normot_log1p_row_f64_avx512(const double *in, double *out, int64_t n, double factor,
                                 normot_log1p_memo *memo) {
  f64_table t = {_mm512_setzero_pd(), _mm512_setzero_pd(), 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) f64_step(&t, in + j, out + j, 0xFF, factor, memo);
  if (j < n) f64_step(&t, in + j, out + j, (__mmask8)((1u << (n - j)) - 1), factor, memo);
}
