/* log1p_parts: what the fused log1p's AVX-512 row table costs, part by part, in ns per stored
 * value, on the rows of the seeded synthetic counts (io/synthetic.h) that bench_normalize uses.
 * The rows of one group (about 8192 values, as the fused pass takes them) are timed while they
 * are in cache, so the figures are the compute that log1p adds to the plain pass (whose own
 * time is memory and the row sums: bench_normalize). One thread.
 *   table   normot_log1p_row_f32_avx512 on every row (all of it: steps, fills, library calls)
 *   calls   one division and one log1pf per distinct small count (< 32) of each row, from a
 *           list made beforehand: what the table must compute, the least any scheme that
 *           returns the library's bytes does
 *   memo    the path without AVX-512: per value the division and normot_log1p_memo_get
 *   divide  per value the division alone, row by row
 * Usage: log1p_parts [CELLSxGENES ...] (default 100000x2000 20000x20000: bench_normalize's
 * --quick shapes). Needs a CPU with AVX-512F. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cpu/cpu_features.h"
#include "cpu/normalize_log1p_table.h"
#include "synthetic.h"

enum { GROUP_VALUES = 8192, ROUNDS = 5, PARTS = 4 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The rows [0, rows) of the group: values, their row starts and factors. */
typedef struct group {
  const float *in;
  float *out;
  const int32_t *start; /* rows + 1 */
  const float *factor;
  int64_t rows;
  /* the group's distinct small counts, row by row, and each one's factor: what "calls" times */
  const float *call_value, *call_factor;
  int64_t calls;
} group;

/* Lists the distinct small counts of each row of g into value[] and factor[]; returns how many. */
static int64_t list_calls(const group *g, float *value, float *factor) {
  int64_t n = 0;
  for (int64_t r = 0; r < g->rows; ++r) {
    uint32_t seen = 0;
    for (int32_t j = g->start[r]; j < g->start[r + 1]; ++j) {
      const float v = g->in[j];
      if (v >= 0.0f && v < 32.0f && (float)(int)v == v && !(seen >> (int)v & 1u)) {
        seen |= 1u << (int)v;
        value[n] = v, factor[n++] = g->factor[r];
      }
    }
  }
  return n;
}

static float run_table(const group *g, normot_log1p_memo *memo) {
  for (int64_t r = 0; r < g->rows; ++r)
    normot_log1p_row_f32_avx512(g->in + g->start[r], g->out + g->start[r],
                                g->start[r + 1] - g->start[r], g->factor[r], NORMOT_LOG1P_NO_HINTS,
                                memo);
  return g->out[0];
}

static float run_calls(const group *g, normot_log1p_memo *memo) {
  float sink = 0.0f;
  for (int64_t k = 0; k < g->calls; ++k)
    sink += (float)normot_log1p_exact(
        NORMOT_FLOAT32, (double)(g->call_value[k] / g->call_factor[k]), memo->log_divisor);
  return sink;
}

static float run_memo(const group *g, normot_log1p_memo *memo) {
  for (int64_t r = 0; r < g->rows; ++r)
    for (int32_t j = g->start[r]; j < g->start[r + 1]; ++j)
      g->out[j] =
          (float)normot_log1p_memo_get(memo, NORMOT_FLOAT32, (double)(g->in[j] / g->factor[r]));
  return g->out[0];
}

static float run_divide(const group *g, normot_log1p_memo *memo) {
  for (int64_t r = 0; r < g->rows; ++r)
    for (int32_t j = g->start[r]; j < g->start[r + 1]; ++j) g->out[j] = g->in[j] / g->factor[r];
  (void)memo;
  return g->out[0];
}

typedef float (*part_fn)(const group *g, normot_log1p_memo *memo);

/* The groups of the first twentieth of the matrix, each timed once right after an untimed pass
 * that brings it into cache (so that no branch history of the part carries over from a pass on
 * the same rows: the first pass over a row is the one that counts); ROUNDS rounds, a group's
 * fastest. Returns the sum of those times, in seconds, and in *values how many values they
 * cover. */
static double time_part(const synth_csr *m, part_fn part, float *out, float *factor,
                        int64_t *values) {
  const int32_t *indptr = m->indptr;
  normot_log1p_memo memo;
  normot_log1p_memo_init(&memo, NORMOT_FLOAT32, 0.0);
  static double best[1 << 16];
  volatile float sink = 0.0f;
  int64_t r0 = 0;
  int n_groups = 0;
  for (int round = 0; round < ROUNDS; ++round) {
    n_groups = 0;
    for (r0 = 0; r0 < m->n_rows && r0 <= m->n_rows / 20 && n_groups < (1 << 16); ++n_groups) {
      int64_t r1 = r0 + 1;
      while (r1 < m->n_rows && indptr[r1 + 1] - indptr[r0] <= GROUP_VALUES) ++r1;
      float call_value[GROUP_VALUES + 32], call_factor[GROUP_VALUES + 32];
      group g = {(const float *)m->values,
                 out,
                 indptr + r0,
                 factor + r0,
                 r1 - r0,
                 call_value,
                 call_factor,
                 0};
      g.calls = list_calls(&g, call_value, call_factor);
      sink += run_divide(&g, &memo);
      double t0 = now();
      sink += part(&g, &memo);
      double t = now() - t0;
      best[n_groups] = round == 0 || t < best[n_groups] ? t : best[n_groups];
      r0 = r1;
    }
    *values = indptr[r0] - indptr[0];
  }
  double total = 0.0;
  for (int k = 0; k < n_groups; ++k) total += best[k];
  (void)sink;
  return total;
}

static int run_shape(int64_t cells, int64_t genes) {
  synth_counts_params p;
  synth_counts_params_init(&p);
  p.n_cells = cells;
  p.n_genes = genes;
  synth_csr m;
  char error[256];
  if (synth_counts_generate(&p, &m, error, sizeof error) != 0) {
    fprintf(stderr, "log1p_parts: %s\n", error);
    return 1;
  }
  const int32_t *indptr = m.indptr;
  const float *values = m.values;
  float *out = malloc((size_t)m.nnz * sizeof *out), *factor = malloc((size_t)cells * 4);
  for (int64_t r = 0; r < cells; ++r) {
    double sum = 0.0;
    for (int32_t j = indptr[r]; j < indptr[r + 1]; ++j) sum += values[j];
    factor[r] = sum > 0.0 ? (float)sum / 1e4f : 1.0f;
  }
  const char *names[PARTS] = {"table", "calls", "memo", "divide"};
  const part_fn parts[PARTS] = {run_table, run_calls, run_memo, run_divide};
  double seconds[PARTS];
  int64_t values_timed = 1;
  for (int k = 0; k < PARTS; ++k) seconds[k] = time_part(&m, parts[k], out, factor, &values_timed);
  printf("%lld x %lld (%.0f values per cell):", (long long)cells, (long long)genes,
         (double)m.nnz / (double)cells);
  for (int k = 0; k < PARTS; ++k)
    printf(" %s %.2f", names[k], 1e9 * seconds[k] / (double)values_timed);
  printf(" ns/value\n");
  free(out);
  free(factor);
  synth_csr_free(&m);
  return 0;
}

int main(int argc, char **argv) {
  if (!normot_cpu_use_avx512()) {
    fprintf(stderr, "log1p_parts: needs AVX-512F\n");
    return 1;
  }
  if (argc < 2) return run_shape(100000, 2000) || run_shape(20000, 20000);
  for (int i = 1; i < argc; ++i) {
    long long cells = 0, genes = 0;
    if (sscanf(argv[i], "%lldx%lld", &cells, &genes) != 2 || run_shape(cells, genes)) return 1;
  }
  return 0;
}
