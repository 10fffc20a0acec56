/* Seeded synthetic data for `normot demo`, the benchmarks and tests.
 *
 * Every random number comes from xoshiro256** (Blackman & Vigna, 2018) whose 256-bit state is
 * filled by splitmix64 from (seed, stream). Each matrix row (and each EMD problem) draws from its
 * own stream, so the data are a pure function of the parameters: the same bytes for any thread
 * count, on any machine (only IEEE double arithmetic and the C library's exp/log are used; the
 * counts are integers, so they do not depend on the last bits of log/exp in practice).
 */
#ifndef NORMOT_IO_SYNTHETIC_H
#define NORMOT_IO_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>

#include "normot/normot.h"

/* ---- random numbers -------------------------------------------------------------------------- */

typedef struct synth_rng {
  uint64_t state[4];
} synth_rng;

/* Seeds an independent stream: splitmix64 over seed ^ (stream * golden ratio constant). */
void synth_rng_seed(synth_rng *rng, uint64_t seed, uint64_t stream);
uint64_t synth_rng_next(synth_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double synth_rng_uniform(synth_rng *rng);
/* Uniform in (0, 1]: safe to take the log of. */
double synth_rng_uniform_positive(synth_rng *rng);
/* Standard normal (Box–Muller, one value per call). */
double synth_rng_normal(synth_rng *rng);

/* ---- count matrices -------------------------------------------------------------------------- */

/* Model: cell c has a library size L_c = exp(N(0, library_log_sd^2)) (log-normal, median 1) and
 * gene g a popularity p_g proportional to 1 / (g + 1 + zipf_offset)^zipf_exponent (gene 0 is the
 * most popular). The count X[c,g] is Poisson with mean scale * L_c * p_g, where `scale` is
 * solved for so that the expected fraction of non-zero entries is `density`. Only non-zero
 * counts are stored; column indices are ascending within a row. */
typedef struct synth_counts_params {
  int64_t n_cells;
  int64_t n_genes;
  double density;               /* expected nnz / (n_cells * n_genes); default 0.05 */
  double library_log_sd;        /* sd of log library size; default 0.6 */
  double zipf_exponent;         /* gene popularity skew; default 1.0 */
  double zipf_offset;           /* flattens the head of the popularity curve; default 10 */
  uint64_t seed;                /* default 42 */
  normot_value_type value_type; /* any normot value type; default FLOAT32 */
  normot_index_type index_type; /* type of indptr and indices; default INT32 */
  int n_threads;                /* OpenMP threads; 0 (default) = OpenMP's default. The data
                                   do not depend on it. */
} synth_counts_params;

void synth_counts_params_init(synth_counts_params *params);

/* An owning CSR matrix (rows = cells). indptr/indices are of index_type, values of value_type. */
typedef struct synth_csr {
  int64_t n_rows, n_cols, nnz;
  normot_index_type index_type;
  normot_value_type value_type;
  void *indptr;  /* n_rows + 1 */
  void *indices; /* nnz */
  void *values;  /* nnz */
} synth_csr;

/* Generates the matrix with OpenMP (the result does not depend on the thread count).
 * Returns 0, or non-zero with a one-line reason in `error` (bad parameters; nnz too large for
 * INT32 indices; out of memory). On failure *out is zeroed. */
int synth_counts_generate(const synth_counts_params *params, synth_csr *out, char *error,
                          size_t error_size);
void synth_csr_free(synth_csr *matrix);
/* A host view of the matrix for normot_normalize_total. */
normot_matrix synth_csr_view(const synth_csr *matrix);

/* ---- EMD inputs ------------------------------------------------------------------------------ */

/* count values uniform in [low, high) from stream `stream`. */
void synth_uniform(uint64_t seed, uint64_t stream, int64_t count, double low, double high,
                   double *out);
/* k point clouds of n points in [0, 1)^dim: out is (k, n, dim); cloud i uses stream
 * stream + i, so a batch is the same whatever k is cut into. */
void synth_point_clouds(uint64_t seed, uint64_t stream, int64_t k, int64_t n, int64_t dim,
                        double *out);
/* k random histograms of n bins, each entry uniform in [0.05, 1) before normalizing to sum 1:
 * out is (k, n); histogram i uses stream stream + i. */
void synth_histograms(uint64_t seed, uint64_t stream, int64_t k, int64_t n, double *out);
/* The squared Euclidean cost between the points of two clouds: out is (n, m). */
void synth_sqeuclidean_cost(const double *x, int64_t n, const double *y, int64_t m, int64_t dim,
                            double *out);

#endif
