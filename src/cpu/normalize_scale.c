/* Pass 2 of normalize_total on the CPU (divide every value by its cell's size factor, then the
 * optional log1p), and the single fused pass used when the target is known and nothing needs
 * checking before the first write. Every output element depends only on its own value and its
 * cell's size factor, so any split among threads gives the same bytes.
 *
 * CSR and dense rows are taken in blocks of about the same number of values
 * (normalize_blocks.h). The fused pass works on groups of whole rows that fit in cache: first
 * every row's total and size factor (one scalar division per row, outside any value loop), then
 * the group's values are scaled as one segment. On AVX2, float32 CSR segments are scaled eight
 * values at a time across row boundaries (a lane takes the factor of the row it lies in), so a
 * short row costs no scalar tail and no loop set-up of its own. */
#include "normalize_blocks.h"
#include "normalize_csc.h"
#include "normalize_internal.h"
#include "normalize_log1p_table.h"
#include "normalize_total_avx512.h"

/* Values [start, end) divided by factor, then their log1p through memo unless it is NULL. */
static NORMOT_ALWAYS_INLINE void scale_range(const normalize_job *job, int64_t start, int64_t end,
                                             double factor, normot_types t,
                                             normot_log1p_memo *memo) {
  const void *values = job->X->values;
  /* Two loops so that the common no-log1p case has no branch inside. */
  if (memo != NULL)
    for (int64_t j = start; j < end; ++j)
      normot_scale_store(job->out_values, t.out, j, normot_load_as_output(values, t.in, t.out, j),
                         factor, memo);
  else
    for (int64_t j = start; j < end; ++j)
      normot_scale_store(job->out_values, t.out, j, normot_load_as_output(values, t.in, t.out, j),
                         factor, NULL);
}

/* storage initialised for the job's log1p, with row tables where they apply, or NULL when the
 * job applies none. One per thread for the whole pass: what it keeps is valid for the call. */
static normot_log1p_memo *thread_memo(const normalize_job *job, normot_log1p_memo *storage) {
  if (!job->log1p) return NULL;
  normot_log1p_memo_init(storage, job->out_type, job->log_base_divisor);
  normot_log1p_memo_add_tables(storage, job->in_type, job->out_type);
  return storage;
}

static void thread_memo_done(normot_log1p_memo *memo) {
  if (memo != NULL) normot_log1p_memo_drop_tables(memo);
}

enum { CACHE_LINE_BYTES = 64, PREFETCH_MIN_BYTES = 8192 };

/* How many values ahead of the one being scaled the fused pass prefetches. The pass reads each
 * group twice: once to add its rows up (from memory) and once to scale them (from cache). While
 * a group is scaled nothing asks memory for the next groups, and the hardware prefetcher waits
 * with it, so each cache line scaled asks for the line one group further on, which the next
 * group's sums will read: NORMOT_GROUP_VALUES values (8 KiB of float32, 16 KiB of float64), at
 * least 8 KiB for narrower types, and a whole row for a dense row longer than a group (it is a
 * group of its own). The AVX2 CSR segments ask for the lines into L1: a group and the next are
 * 16 to 32 KiB, within L1, so the sums read them without an L2 round trip.
 * Measured (bench/RESULTS.md), alternating builds on the quiet machine, target_sum, 200k x 20k
 * (long rows), three rounds, 1 / 2 threads: 8192-value groups prefetched into L2 0.64-0.68 /
 * 0.64-0.68 of the copy (float32) and 0.63-0.66 / 0.63-0.67 (float64); 2048-value groups into L1
 * 0.74-0.78 / 0.68-0.82 and 0.65-0.78 / 0.67-0.81. On 1M x 2k (short rows, which the per-row
 * work bounds, not memory) both within the noise (0.46-0.54). Earlier (one group of 8192 ahead
 * against 32 KiB, and a dense row ahead): float64 0.53-0.57 -> 0.63-0.71, dense float32 on
 * 20k-gene rows 0.29-0.51 -> 0.45-0.65. */
static NORMOT_ALWAYS_INLINE int64_t prefetch_distance(const normot_matrix *X,
                                                      normot_value_type in) {
  const int64_t at_least = PREFETCH_MIN_BYTES / normot_value_bytes(in);
  int64_t distance = NORMOT_GROUP_VALUES > at_least ? NORMOT_GROUP_VALUES : at_least;
  if (X->layout == NORMOT_LAYOUT_DENSE && X->n_cols > distance) distance = X->n_cols;
  return distance;
}

/* How many values X's value array holds (CSR or dense), the bound of every prefetch. */
static NORMOT_ALWAYS_INLINE int64_t stored_values(const normot_matrix *X) {
  return X->layout == NORMOT_LAYOUT_CSR ? X->nnz : (X->n_rows - 1) * X->ld + X->n_cols;
}

/* The address `distance` values after value j, clamped to the last value. */
static NORMOT_ALWAYS_INLINE const char *prefetch_target(const normot_matrix *X,
                                                        normot_value_type in, int64_t j,
                                                        int64_t distance) {
  const int64_t value_bytes = normot_value_bytes(in);
  const int64_t n_values = stored_values(X);
  const int64_t ahead = j + distance;
  return (const char *)X->values + (ahead < n_values ? ahead : n_values - 1) * value_bytes;
}

/* scale_range for the fused pass, with the prefetching above. */
static NORMOT_ALWAYS_INLINE void scale_range_prefetching(const normalize_job *job, int64_t start,
                                                         int64_t end, double factor, normot_types t,
                                                         normot_log1p_memo *memo) {
  if (memo != NULL) { /* computing log1p hides the memory latency anyway */
    scale_range(job, start, end, factor, t, memo);
    return;
  }
  const normot_value_type in = t.in, out = t.out;
  const int64_t per_line = CACHE_LINE_BYTES / normot_value_bytes(in);
  const void *values = job->X->values;
  const int64_t distance = prefetch_distance(job->X, in);
  int64_t j = start;
  for (; j + per_line <= end; j += per_line) {
#if defined(__GNUC__)
    /* Into L2: this path also serves dense rows, a whole row ahead, more than L1 holds. */
    __builtin_prefetch(prefetch_target(job->X, in, j, distance), 0, 2);
#endif
    for (int64_t k = j; k < j + per_line; ++k)
      normot_scale_store(job->out_values, out, k, normot_load_as_output(values, in, out, k), factor,
                         NULL);
  }
  for (; j < end; ++j)
    normot_scale_store(job->out_values, out, j, normot_load_as_output(values, in, out, j), factor,
                       NULL);
}

#if defined(__AVX2__)
/* Whether the scaling writes its results with non-temporal stores: for an output of its own
 * (not in place) too large to stay in the last-level cache anyway. An ordinary store first reads
 * the line it writes (for ownership), a third stream besides the values read and the results
 * written; the copy it is compared with streams its stores. */
enum { STREAM_OUTPUT_BYTES = 64 << 20 };
static int streams_output(const normalize_job *job, normot_value_type out) {
  const normot_matrix *X = job->X;
  return X->layout == NORMOT_LAYOUT_CSR && job->out_values != X->values &&
         (uintptr_t)job->out_values % (uintptr_t)normot_value_bytes(out) == 0 &&
         X->nnz > STREAM_OUTPUT_BYTES / normot_value_bytes(out);
}

/* Float32 CSR values [g.v0, g.v1) divided by their rows' factors (factors[r - g.r0], zeros
 * already replaced), eight lanes at a time across row boundaries: each row that starts inside a
 * vector blends its factor into the lanes from its start on. The same IEEE division per value as
 * the scalar loop, so the same bytes. With `stream`, the first values up to a 32-byte boundary
 * of the output are done one by one, and the vectors are stored non-temporally. */
static NORMOT_ALWAYS_INLINE void scale_segment_f32(const normalize_job *job, row_range g,
                                                   const double *factors, normot_index_type idx,
                                                   int prefetch, int stream) {
  const normot_matrix *X = job->X;
  const float *in = X->values;
  float *out = job->out_values;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int64_t ahead = prefetch_distance(X, NORMOT_FLOAT32);
  int64_t r = g.r0, next = normot_load_index(X->indptr, idx, r + 1);
  int64_t j = g.v0;
  for (; stream && j < g.v1 && (uintptr_t)(out + j) % 32 != 0; ++j) {
    while (next <= j) next = normot_load_index(X->indptr, idx, ++r + 1);
    out[j] = in[j] / (float)factors[r - g.r0];
  }
  __m256 current = _mm256_set1_ps((float)factors[r - g.r0]);
  for (; j + 8 <= g.v1; j += 8) {
    __m256 f = current;
    while (next < j + 8 && r + 1 < g.r1) { /* row r + 1 starts at lane next - j */
      ++r;
      current = _mm256_set1_ps((float)factors[r - g.r0]);
      __m256i before = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(next - j)), lane);
      f = _mm256_blendv_ps(current, f, _mm256_castsi256_ps(before));
      next = normot_load_index(X->indptr, idx, r + 1);
    }
    if (prefetch && (j & 15) < 8)
      _mm_prefetch(in + (j + ahead < X->nnz ? j + ahead : 0), _MM_HINT_T0);
    const __m256 result = _mm256_div_ps(_mm256_loadu_ps(in + j), f);
    if (stream)
      _mm256_stream_ps(out + j, result);
    else
      _mm256_storeu_ps(out + j, result);
  }
  for (; j < g.v1; ++j) {
    while (next <= j) next = normot_load_index(X->indptr, idx, ++r + 1);
    out[j] = in[j] / (float)factors[r - g.r0];
  }
  if (stream) _mm_sfence(); /* the streamed lines are ordered before whatever follows */
}

/* The same for float64 values, four lanes at a time. */
static NORMOT_ALWAYS_INLINE void scale_segment_f64(const normalize_job *job, row_range g,
                                                   const double *factors, normot_index_type idx,
                                                   int prefetch, int stream) {
  const normot_matrix *X = job->X;
  const double *in = X->values;
  double *out = job->out_values;
  const __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
  const int64_t ahead = prefetch_distance(X, NORMOT_FLOAT64);
  int64_t r = g.r0, next = normot_load_index(X->indptr, idx, r + 1);
  int64_t j = g.v0;
  for (; stream && j < g.v1 && (uintptr_t)(out + j) % 32 != 0; ++j) {
    while (next <= j) next = normot_load_index(X->indptr, idx, ++r + 1);
    out[j] = in[j] / factors[r - g.r0];
  }
  __m256d current = _mm256_set1_pd(factors[r - g.r0]);
  for (; j + 4 <= g.v1; j += 4) {
    __m256d f = current;
    while (next < j + 4 && r + 1 < g.r1) { /* row r + 1 starts at lane next - j */
      ++r;
      current = _mm256_set1_pd(factors[r - g.r0]);
      __m256i before = _mm256_cmpgt_epi64(_mm256_set1_epi64x(next - j), lane);
      f = _mm256_blendv_pd(current, f, _mm256_castsi256_pd(before));
      next = normot_load_index(X->indptr, idx, r + 1);
    }
    if (prefetch && (j & 7) < 4)
      _mm_prefetch(in + (j + ahead < X->nnz ? j + ahead : 0), _MM_HINT_T0);
    const __m256d result = _mm256_div_pd(_mm256_loadu_pd(in + j), f);
    if (stream)
      _mm256_stream_pd(out + j, result);
    else
      _mm256_storeu_pd(out + j, result);
  }
  for (; j < g.v1; ++j) {
    while (next <= j) next = normot_load_index(X->indptr, idx, ++r + 1);
    out[j] = in[j] / factors[r - g.r0];
  }
  if (stream) _mm_sfence();
}

/* log1p (and the division by log(base)) of results [start, end) of type out, in cache. */
static NORMOT_ALWAYS_INLINE void log1p_range(const normalize_job *job, normot_log1p_memo *memo,
                                             normot_value_type out, int64_t start, int64_t end) {
  void *values = job->out_values;
  for (int64_t j = start; j < end; ++j)
    normot_store_as_output(
        values, out, j,
        normot_log1p_memo_get(memo, out, normot_load_as_output(values, out, out, j)));
}
#endif

/* What the first read of a group found out about its rows, indexed by r - g.r0. */
typedef struct group_facts {
  const double *factors; /* size factors, zeros already replaced by 1 */
  const int64_t *needed; /* log1p table values (normot_f32_row_total_and_table_avx512), or NULL */
} group_facts;

#if defined(NORMOT_HAVE_AVX512_KERNELS)
/* The rows of g, divided by their factors and their log1p taken, one row table each (each row
 * finds its own table values where facts->needed is NULL). With the fused pass's prefetching,
 * done by the row kernel one line per step: with the table a row costs a few ns per value, no
 * longer enough to hide the memory latency that the memo's path hid. */
static NORMOT_ALWAYS_INLINE void log1p_table_group(const normalize_job *job, row_range g,
                                                   const group_facts *facts, normot_types t,
                                                   int prefetch, normot_log1p_memo *memo) {
  const normot_matrix *X = job->X;
  const int64_t n_values = stored_values(X);
  normot_log1p_row_hints hints = NORMOT_LOG1P_NO_HINTS;
  if (prefetch) hints.ahead = prefetch_distance(X, t.in);
  for (int64_t r = g.r0; r < g.r1; ++r) {
    const int64_t start = normot_row_start(X, t.idx, r), n = normot_row_end(X, t.idx, r) - start;
    hints.needed = facts->needed != NULL ? facts->needed[r - g.r0] : -1;
    hints.readable = n_values - start;
    normot_log1p_table_row(t.out, X->values, job->out_values, start, n, facts->factors[r - g.r0],
                           hints, memo);
  }
}
#endif

/* The rows of g divided by their factors, then their log1p through memo unless it is NULL. */
static NORMOT_ALWAYS_INLINE void scale_group(const normalize_job *job, row_range g,
                                             const group_facts *facts, normot_types t, int prefetch,
                                             normot_log1p_memo *memo) {
  const normot_matrix *X = job->X;
  const double *factors = facts->factors;
#if defined(NORMOT_HAVE_AVX512_KERNELS)
  if (memo != NULL && normot_log1p_table_applies(t.in, t.out)) {
    log1p_table_group(job, g, facts, t, prefetch, memo);
    return;
  }
#endif
#if defined(__AVX2__)
  /* The log1p pass reads the results back: they stay in cache for it. */
  const int stream = memo == NULL && streams_output(job, t.out);
  if (t.in == NORMOT_FLOAT32 && t.out == NORMOT_FLOAT32 && X->layout == NORMOT_LAYOUT_CSR) {
    if (stream)
      scale_segment_f32(job, g, factors, t.idx, prefetch, 1);
    else
      scale_segment_f32(job, g, factors, t.idx, prefetch && memo == NULL, 0);
    if (memo != NULL) log1p_range(job, memo, NORMOT_FLOAT32, g.v0, g.v1);
    return;
  }
  if (t.in == NORMOT_FLOAT64 && t.out == NORMOT_FLOAT64 && X->layout == NORMOT_LAYOUT_CSR) {
    if (stream)
      scale_segment_f64(job, g, factors, t.idx, prefetch, 1);
    else
      scale_segment_f64(job, g, factors, t.idx, prefetch && memo == NULL, 0);
    if (memo != NULL) log1p_range(job, memo, NORMOT_FLOAT64, g.v0, g.v1);
    return;
  }
#endif
  for (int64_t r = g.r0; r < g.r1; ++r) {
    int64_t start = normot_row_start(X, t.idx, r), end = normot_row_end(X, t.idx, r);
    if (prefetch)
      scale_range_prefetching(job, start, end, factors[r - g.r0], t, memo);
    else
      scale_range(job, start, end, factors[r - g.r0], t, memo);
  }
}

/* The totals and size factors of g's rows into factors[] (zeros replaced by 1), and the caller's
 * totals / size factors arrays; returns how many factors were 0. Float32 rows are added up by
 * the AVX-512 loop where the CPU has it (the same doubles); with needed not NULL (float32 rows
 * on the log1p table path) that loop also finds each row's table values, into needed[]. */
static NORMOT_ALWAYS_INLINE int64_t group_factors(const normalize_job *job, double target,
                                                  row_range g, normot_types t, double *factors,
                                                  int64_t *needed) {
  const normot_matrix *X = job->X;
  int64_t zero_cells = 0;
#if defined(NORMOT_HAVE_AVX512_KERNELS)
  const int use512 = normot_cpu_use_avx512();
#endif
  for (int64_t r = g.r0; r < g.r1; ++r) {
    const int64_t start = normot_row_start(X, t.idx, r), end = normot_row_end(X, t.idx, r);
    double sum;
#if defined(NORMOT_HAVE_AVX512_KERNELS)
    if (needed != NULL)
      sum = normot_f32_row_total_and_table_avx512((const float *)X->values + start, end - start,
                                                  &needed[r - g.r0]);
    else if (use512 && t.in == NORMOT_FLOAT32 && t.out == NORMOT_FLOAT32)
      sum = normot_f32_row_total_avx512((const float *)X->values + start, end - start);
    else
#endif
      sum = normot_row_total(X->values, t.in, t.out, start, end);
    double total = normot_round_to(t.out, sum);
    double factor = normot_size_factor(t.out, total, target);
    if (job->out_totals != NULL) normot_store_as_output(job->out_totals, t.out, r, total);
    /* Reported before the replacement, as Scanpy's key_added column is. */
    if (job->out_size_factors != NULL)
      normot_store_as_output(job->out_size_factors, t.out, r, factor);
    zero_cells += factor == 0.0;
    factors[r - g.r0] = factor == 0.0 ? 1.0 : factor;
  }
  return zero_cells;
}

/* Sum, size factor and scaling of each group of rows while it is in cache. */
static NORMOT_ALWAYS_INLINE int64_t fused_block(const normalize_job *job, double target,
                                                row_range block, normot_types t,
                                                normot_log1p_memo *memo) {
  int64_t zero_cells = 0;
  double factors[NORMOT_GROUP_ROWS];
  int64_t needed_store[NORMOT_GROUP_ROWS];
  int64_t *needed = NULL;
#if defined(NORMOT_HAVE_AVX512_KERNELS)
  if (memo != NULL && t.in == NORMOT_FLOAT32 && normot_log1p_table_applies(t.in, t.out))
    needed = needed_store;
#endif
  for (int64_t r = block.r0; r < block.r1;) {
    row_range g = normot_next_group(job->X, t.idx, r, block.r1);
    zero_cells += group_factors(job, target, g, t, factors, needed);
    scale_group(job, g, &(const group_facts){factors, needed}, t, 1, memo);
    r = g.r1;
  }
  return zero_cells;
}

#define DISPATCH()                                                                  \
  do {                                                                              \
    switch (normot_job_combo(job)) { NORMOT_FOR_EACH_COMBO(CASE) default : break; } \
  } while (0)

/* Pass 2 of a two-pass call: every factor is known, and each block is scaled as one segment. On
 * CSR scaled in place it prefetches as the fused pass does (the hardware prefetcher alone left
 * it at 0.83 of a copy's speed; measured in bench/RESULTS.md); a dense row ahead (into L2) and
 * an output of its own measured no better or slower. */
static void scale_block(const normalize_job *job, row_range block, normot_log1p_memo *memo) {
  if (block.r0 == block.r1) return;
  const int prefetch =
      job->X->layout == NORMOT_LAYOUT_CSR && job->out_values == (const void *)job->X->values;
#define CASE(IN, IDX, OUT)                                                            \
  case NORMOT_COMBO(IN, IDX, OUT):                                                    \
    scale_group(job, block, &(const group_facts){job->size_factors + block.r0, NULL}, \
                (normot_types){IN, IDX, OUT}, prefetch, memo);                        \
    break;
  DISPATCH();
#undef CASE
}

static int64_t fused_chunk(const normalize_job *job, double target, row_range block,
                           normot_log1p_memo *memo) {
  int64_t zero_cells = 0;
#define CASE(IN, IDX, OUT)                                                            \
  case NORMOT_COMBO(IN, IDX, OUT):                                                    \
    zero_cells = fused_block(job, target, block, (normot_types){IN, IDX, OUT}, memo); \
    break;
  DISPATCH();
#undef CASE
  return zero_cells;
}

static void normalize_scale(const normalize_job *job) {
  const normot_matrix *X = job->X;
  if (X->layout == NORMOT_LAYOUT_CSC) { /* normalize_csc.c */
#if defined(NORMOT_KERNELS_AVX2)
    normot_cpu_csc_scale_avx2(job);
#else
    normot_cpu_csc_scale(job);
#endif
    return;
  }
  const int64_t n_blocks = normot_block_count(X);
#pragma omp parallel num_threads(job->n_threads)
  {
    normot_log1p_memo storage;
    normot_log1p_memo *memo = thread_memo(job, &storage);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) scale_block(job, normot_block_rows(X, b), memo);
    thread_memo_done(memo);
  }
}

static int64_t normalize_fused(const normalize_job *job, double target) {
  const int64_t n_blocks = normot_block_count(job->X);
  int64_t zero_cells = 0;
#pragma omp parallel num_threads(job->n_threads) reduction(+ : zero_cells)
  {
    normot_log1p_memo storage;
    normot_log1p_memo *memo = thread_memo(job, &storage);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
      row_range block = normot_block_rows(job->X, b);
      if (block.r0 < block.r1) zero_cells += fused_chunk(job, target, block, memo);
    }
    thread_memo_done(memo);
  }
  return zero_cells;
}

#if defined(NORMOT_KERNELS_AVX2)
void normot_cpu_normalize_scale_avx2(const normalize_job *job) {
  normalize_scale(job);
}
int64_t normot_cpu_normalize_fused_avx2(const normalize_job *job, double target) {
  return normalize_fused(job, target);
}
#else
void normot_cpu_normalize_scale(const normalize_job *job) {
  normalize_scale(job);
}
int64_t normot_cpu_normalize_fused(const normalize_job *job, double target) {
  return normalize_fused(job, target);
}
#endif
