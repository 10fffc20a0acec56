/* The AVX-512F row kernels of normalize_log1p_table.h. Compiled on its own with -mavx512f (and
 * no contraction) and called only where normot_cpu_use_avx512() says so. */
#include <immintrin.h>
#include <string.h>

#include "normalize_log1p_table.h"
#include "normalize_total_avx512.h"

/* The scalar path of one value: the plain pass's division, then the memo. */
static NORMOT_ALWAYS_INLINE float f32_result(float v, float factor, normot_log1p_memo *memo) {
  return (float)normot_log1p_memo_get(memo, NORMOT_FLOAT32, (double)(v / factor));
}
static NORMOT_ALWAYS_INLINE double f64_result(double v, double factor, normot_log1p_memo *memo) {
  return normot_log1p_memo_get(memo, NORMOT_FLOAT64, v / factor);
}

/* The lanes of x (those in `live`) whose bits are exactly those of an integer k below `size`,
 * with k in *k. NaN, infinities and values beyond int32 convert to INT32_MIN, which fails the
 * bound; -0.0 converts to 0, whose bits differ. */
static NORMOT_ALWAYS_INLINE __mmask16 f32_tabled(__m512 x, __mmask16 live, __m512i *k) {
  *k = _mm512_cvttps_epi32(x);
  const __m512i back = _mm512_castps_si512(_mm512_cvtepi32_ps(*k));
  return _mm512_mask_cmplt_epu32_mask(live, *k, _mm512_set1_epi32(NORMOT_LOG1P_TABLE_F32)) &
         _mm512_cmpeq_epi32_mask(back, _mm512_castps_si512(x));
}

/* The same for float64; the sign extension keeps INT32_MIN out of the table's range. */
static NORMOT_ALWAYS_INLINE __mmask8 f64_tabled(__m512d x, __mmask8 live, __m512i *k) {
  const __m256i k32 = _mm512_cvttpd_epi32(x);
  *k = _mm512_cvtepi32_epi64(k32);
  const __m512i back = _mm512_castpd_si512(_mm512_cvtepi32_pd(k32));
  return _mm512_mask_cmplt_epu64_mask(live, *k, _mm512_set1_epi64(NORMOT_LOG1P_TABLE_F64)) &
         _mm512_cmpeq_epi64_mask(back, _mm512_castpd_si512(x));
}

/* One row on its way through the table: its values, the table's entries in two registers, and
 * what the scalar path and the prefetch need. */
typedef struct f32_row {
  const float *in;
  float *out;
  __m512 lo, hi; /* entries 0-15 and 16-31 */
  float factor;
  normot_log1p_row_hints hints;
  normot_log1p_memo *memo;
} f32_row;

typedef struct f64_row {
  const double *in;
  double *out;
  __m512d lo, hi; /* entries 0-7 and 8-15 */
  double factor;
  normot_log1p_row_hints hints;
  normot_log1p_memo *memo;
} f64_row;

/* Whether every step of a row of n values prefetches: when asked to and when every address is
 * within the values (a row near the end of them prefetches nothing: one test per row, not per
 * step). */
static NORMOT_ALWAYS_INLINE int prefetches_whole_row(normot_log1p_row_hints hints, int64_t n) {
  return hints.ahead != 0 && n + hints.ahead <= hints.readable;
}

/* The values j + (lanes in `live`) of a row, from the table or by the scalar path, after a
 * prefetch of the line `hints.ahead` values on, if asked (a vector is one line): spread over the
 * row's steps, so that the loads in flight never stall the kernel, as a burst of prefetches at
 * the row's start did. The caller passes all lanes and the prefetch choice as constants for
 * every full vector, so that only the row's last vector pays for a mask. */
static NORMOT_ALWAYS_INLINE void f32_table_step(const f32_row *row, int64_t j, __mmask16 live,
                                                int prefetch) {
  if (prefetch) _mm_prefetch((const char *)(row->in + j + row->hints.ahead), _MM_HINT_T1);
  __m512i k;
  const __mmask16 tabled = f32_tabled(_mm512_maskz_loadu_ps(live, row->in + j), live, &k);
  _mm512_mask_storeu_ps(row->out + j, tabled, _mm512_permutex2var_ps(row->lo, k, row->hi));
  if (__builtin_expect(tabled == live, 1)) return;
  for (unsigned other = live & ~tabled; other != 0; other &= other - 1) {
    const int64_t at = j + __builtin_ctz(other);
    row->out[at] = f32_result(row->in[at], row->factor, row->memo);
  }
}

static NORMOT_ALWAYS_INLINE void f64_table_step(const f64_row *row, int64_t j, __mmask8 live,
                                                int prefetch) {
  if (prefetch) _mm_prefetch((const char *)(row->in + j + row->hints.ahead), _MM_HINT_T1);
  __m512i k;
  const __mmask8 tabled = f64_tabled(_mm512_maskz_loadu_pd(live, row->in + j), live, &k);
  _mm512_mask_storeu_pd(row->out + j, tabled, _mm512_permutex2var_pd(row->lo, k, row->hi));
  if (__builtin_expect(tabled == live, 1)) return;
  for (unsigned other = live & ~tabled; other != 0; other &= other - 1) {
    const int64_t at = j + __builtin_ctz(other);
    row->out[at] = f64_result(row->in[at], row->factor, row->memo);
  }
}

/* Bit k set for every integer k < 32 that the row holds as a table value. */
static NORMOT_ALWAYS_INLINE uint32_t f32_needed(const float *in, int64_t n) {
  const __m512i one = _mm512_set1_epi32(1);
  __m512i need = _mm512_setzero_si512();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 live = (__mmask16)normot_live_lanes(n - j, 16);
    __m512i k;
    const __mmask16 tabled = f32_tabled(_mm512_maskz_loadu_ps(live, in + j), live, &k);
    need = _mm512_mask_or_epi32(need, tabled, need, _mm512_sllv_epi32(one, k));
  }
  return (uint32_t)_mm512_reduce_or_epi32(need);
}

static NORMOT_ALWAYS_INLINE uint32_t f64_needed(const double *in, int64_t n) {
  const __m512i one = _mm512_set1_epi64(1);
  __m512i need = _mm512_setzero_si512();
  for (int64_t j = 0; j < n; j += 8) {
    const __mmask8 live = (__mmask8)normot_live_lanes(n - j, 8);
    __m512i k;
    const __mmask8 tabled = f64_tabled(_mm512_maskz_loadu_pd(live, in + j), live, &k);
    need = _mm512_mask_or_epi64(need, tabled, need, _mm512_sllv_epi64(one, k));
  }
  return (uint32_t)_mm512_reduce_or_epi64(need);
}

/* The table memo keeps for a factor of these bits (a slot that held another factor's is
 * emptied first), with the entries it already holds in *have; the needed ones are marked as
 * held, since the caller computes them next. NULL (and *have 0) without row tables, or when the
 * row needs no entry. Fibonacci hashing, as the memo's. */
static NORMOT_ALWAYS_INLINE normot_log1p_row_entries *kept_table(normot_log1p_memo *memo,
                                                                 uint64_t bits, uint32_t needed,
                                                                 uint32_t *have) {
  normot_log1p_row_tables *tables = memo->row_tables;
  *have = 0;
  if (tables == NULL || needed == 0) return NULL;
  const uint64_t slot = (bits * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - NORMOT_LOG1P_ROW_TABLE_BITS);
  if (tables->factor_bits[slot] != bits) {
    tables->factor_bits[slot] = bits;
    tables->have[slot] = 0;
  }
  *have = tables->have[slot];
  tables->have[slot] |= needed;
  return &tables->entries[slot];
}

/* Two passes over the row, which is in cache: first the set of table values it holds, whose
 * entries are then computed in one tight loop (independent library calls that overlap, and no
 * branch per vector on whether an entry is there yet), all but those an earlier row of the same
 * factor computed (the memo's row tables); then every value, from the table or by the scalar
 * path. Entries the row does not need are never loaded. */
void normot_log1p_row_f32_avx512(const float *in, float *out, int64_t n, float factor,
                                 normot_log1p_row_hints hints, normot_log1p_memo *memo) {
  const uint32_t needed = hints.needed >= 0 ? (uint32_t)hints.needed : f32_needed(in, n);
  uint32_t factor_bits, have;
  memcpy(&factor_bits, &factor, sizeof factor_bits);
  normot_log1p_row_entries *kept = kept_table(memo, factor_bits, needed, &have);
  float own[NORMOT_LOG1P_TABLE_F32];
  float *entries = kept != NULL ? kept->f32 : own;
  for (uint32_t bits = needed & ~have; bits != 0; bits &= bits - 1) {
    const int k = __builtin_ctz(bits);
    entries[k] =
        (float)normot_log1p_exact(NORMOT_FLOAT32, (double)((float)k / factor), memo->log_divisor);
  }
  const f32_row row = {in,
                       out,
                       _mm512_maskz_loadu_ps((__mmask16)needed, entries),
                       _mm512_maskz_loadu_ps((__mmask16)(needed >> 16), entries + 16),
                       factor,
                       hints,
                       memo};
  const int prefetch = prefetches_whole_row(hints, n);
  int64_t j = 0;
  if (prefetch)
    for (; j + 16 <= n; j += 16) f32_table_step(&row, j, 0xFFFF, 1);
  else
    for (; j + 16 <= n; j += 16) f32_table_step(&row, j, 0xFFFF, 0);
  if (j < n) f32_table_step(&row, j, (__mmask16)normot_live_lanes(n - j, 16), prefetch);
}

void normot_log1p_row_f64_avx512(const double *in, double *out, int64_t n, double factor,
                                 normot_log1p_row_hints hints, normot_log1p_memo *memo) {
  const uint32_t needed = hints.needed >= 0 ? (uint32_t)hints.needed : f64_needed(in, n);
  uint64_t factor_bits;
  uint32_t have;
  memcpy(&factor_bits, &factor, sizeof factor_bits);
  normot_log1p_row_entries *kept = kept_table(memo, factor_bits, needed, &have);
  double own[NORMOT_LOG1P_TABLE_F64];
  double *entries = kept != NULL ? kept->f64 : own;
  for (uint32_t bits = needed & ~have; bits != 0; bits &= bits - 1) {
    const int k = __builtin_ctz(bits);
    entries[k] = normot_log1p_exact(NORMOT_FLOAT64, (double)k / factor, memo->log_divisor);
  }
  const f64_row row = {in,
                       out,
                       _mm512_maskz_loadu_pd((__mmask8)needed, entries),
                       _mm512_maskz_loadu_pd((__mmask8)(needed >> 8), entries + 8),
                       factor,
                       hints,
                       memo};
  const int prefetch = prefetches_whole_row(hints, n);
  int64_t j = 0;
  if (prefetch)
    for (; j + 8 <= n; j += 8) f64_table_step(&row, j, 0xFF, 1);
  else
    for (; j + 8 <= n; j += 8) f64_table_step(&row, j, 0xFF, 0);
  if (j < n) f64_table_step(&row, j, (__mmask8)normot_live_lanes(n - j, 8), prefetch);
}
