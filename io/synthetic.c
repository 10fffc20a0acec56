/* Seeded synthetic data (see synthetic.h for the model). The file name ends in _io.c so that
 * the build puts it in the normot_io library, which the CLI, the tests and the benchmarks link. */
#include "synthetic.h"

#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- random numbers -------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void synth_rng_seed(synth_rng *rng, uint64_t seed, uint64_t stream) {
  /* Mixing the stream through one splitmix64 step first keeps neighbouring streams (row c and
   * row c + 1) from starting on overlapping splitmix64 sequences. */
  uint64_t mixer = stream;
  uint64_t x = seed ^ splitmix64(&mixer);
  for (int i = 0; i < 4; ++i) rng->state[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t synth_rng_next(synth_rng *rng) {
  uint64_t *s = rng->state;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double synth_rng_uniform(synth_rng *rng) {
  return (double)(synth_rng_next(rng) >> 11) * 0x1.0p-53;
}

double synth_rng_uniform_positive(synth_rng *rng) {
  return (double)((synth_rng_next(rng) >> 11) + 1) * 0x1.0p-53;
}

double synth_rng_normal(synth_rng *rng) {
  double radius = sqrt(-2.0 * log(synth_rng_uniform_positive(rng)));
  return radius * cos(6.283185307179586 * synth_rng_uniform(rng));
}

/* ---- count matrices -------------------------------------------------------------------------- */

void synth_counts_params_init(synth_counts_params *params) {
  if (params == NULL) return;
  params->n_cells = 2000;
  params->n_genes = 2000;
  params->density = 0.05;
  params->library_log_sd = 0.6;
  params->zipf_exponent = 1.0;
  params->zipf_offset = 10.0;
  params->seed = 42;
  params->value_type = NORMOT_FLOAT32;
  params->index_type = NORMOT_INDEX_INT32;
  params->n_threads = 0;
}

static void set_error(char *error, size_t error_size, const char *format, ...) {
  if (error == NULL || error_size == 0) return;
  va_list args;
  va_start(args, format);
  vsnprintf(error, error_size, format, args);
  va_end(args);
}

/* The two streams of cell c: one decides which genes are detected, the other their counts, so
 * the counting pass needs only the first. */
static uint64_t detection_stream(int64_t cell) {
  return 2 * (uint64_t)cell;
}
static uint64_t count_stream(int64_t cell) {
  return 2 * (uint64_t)cell + 1;
}

/* Expected density for a given scale, over a fixed sample of library sizes. */
static double expected_density(const double *popularity, int64_t n_genes, const double *libraries,
                               int n_libraries, double scale) {
  double detected = 0.0;
  for (int i = 0; i < n_libraries; ++i) {
    double mean_total = scale * libraries[i];
    for (int64_t g = 0; g < n_genes; ++g) detected += -expm1(-mean_total * popularity[g]);
  }
  return detected / ((double)n_libraries * (double)n_genes);
}

/* The standard normal quantile, by bisection on the CDF 0.5 * erfc(-z / sqrt 2). */
static double normal_quantile(double probability) {
  double low = -40.0, high = 40.0;
  for (int iteration = 0; iteration < 100; ++iteration) {
    double middle = 0.5 * (low + high);
    if (0.5 * erfc(-middle * 0.7071067811865476) < probability)
      low = middle;
    else
      high = middle;
  }
  return 0.5 * (low + high);
}

/* Solves expected_density(scale) = density by bisection on log(scale). */
static double solve_scale(const synth_counts_params *params, const double *popularity) {
  enum { MAX_LIBRARIES = 16 };
  double libraries[MAX_LIBRARIES];
  int64_t budget = (int64_t)1000000 / (params->n_genes > 0 ? params->n_genes : 1);
  int n_libraries = budget < 4 ? 4 : (budget > MAX_LIBRARIES ? MAX_LIBRARIES : (int)budget);
  /* Library sizes at evenly spaced quantiles of the log-normal: no sampling noise. */
  for (int i = 0; i < n_libraries; ++i)
    libraries[i] =
        exp(params->library_log_sd * normal_quantile(((double)i + 0.5) / (double)n_libraries));

  double low = 1e-6, high = 1.0;
  while (expected_density(popularity, params->n_genes, libraries, n_libraries, high) <
             params->density &&
         high < 1e300)
    high *= 16.0;
  while (expected_density(popularity, params->n_genes, libraries, n_libraries, low) >
             params->density &&
         low > 1e-300)
    low /= 16.0;
  for (int iteration = 0; iteration < 48; ++iteration) {
    double middle = sqrt(low * high);
    if (expected_density(popularity, params->n_genes, libraries, n_libraries, middle) <
        params->density)
      low = middle;
    else
      high = middle;
  }
  return sqrt(low * high);
}

/* Walks the genes detected in one cell. Popularity decreases with the gene index, so the
 * detection probability at the current gene bounds every later one: a geometric jump with that
 * bound, then an acceptance test (thinning), costs O(detected genes) rather than O(n_genes).
 * Calls `visit` (if any) on each detected gene; returns how many there were. */
typedef struct row_walk {
  synth_rng rng;
  double mean_total; /* scale * library size */
} row_walk;

static void row_walk_start(row_walk *walk, const synth_counts_params *params, double scale,
                           int64_t cell) {
  synth_rng_seed(&walk->rng, params->seed, detection_stream(cell));
  walk->mean_total = scale * exp(params->library_log_sd * synth_rng_normal(&walk->rng));
}

/* Next detected gene at or after `from`, or n_genes when there is none. */
static int64_t row_walk_next(row_walk *walk, const double *popularity, int64_t n_genes,
                             int64_t from) {
  int64_t g = from;
  while (g < n_genes) {
    /* With detection probability 1 - exp(-rate) at every gene, the gap to the next detection
     * is geometric: floor(E / rate) with E ~ Exp(1). A gap of 0 detects gene g itself. */
    double rate = walk->mean_total * popularity[g];
    if (!(rate > 0.0)) return n_genes;
    double jump = floor(-log(synth_rng_uniform_positive(&walk->rng)) / rate);
    if (jump == 0.0) return g;
    if (jump >= (double)(n_genes - g)) return n_genes;
    g += (int64_t)jump;
    double bound = -expm1(-rate);
    double probability = -expm1(-walk->mean_total * popularity[g]);
    if (synth_rng_uniform(&walk->rng) * bound < probability) return g;
    ++g;
  }
  return n_genes;
}

/* A Poisson count with mean `mean`, conditioned on being >= 1. Inversion for small means; a
 * rounded normal beyond 30, where the distribution is close to one. */
static double truncated_poisson(synth_rng *rng, double mean) {
  if (mean >= 30.0) {
    double k = floor(mean + sqrt(mean) * synth_rng_normal(rng) + 0.5);
    return k < 1.0 ? 1.0 : k;
  }
  double p_zero = exp(-mean);
  double u = synth_rng_uniform(rng) * (1.0 - p_zero);
  double probability = p_zero * mean;
  double cumulative = probability;
  double k = 1.0;
  while (u > cumulative && k < 1000.0) {
    k += 1.0;
    probability *= mean / k;
    cumulative += probability;
  }
  return k;
}

static void store_value(void *values, normot_value_type type, int64_t at, double value) {
  switch (type) {
    case NORMOT_FLOAT32: ((float *)values)[at] = (float)value; break;
    case NORMOT_FLOAT64: ((double *)values)[at] = value; break;
    case NORMOT_INT32: ((int32_t *)values)[at] = (int32_t)value; break;
    case NORMOT_INT64: ((int64_t *)values)[at] = (int64_t)value; break;
    case NORMOT_UINT16:
      ((uint16_t *)values)[at] = (uint16_t)(value > 65535.0 ? 65535.0 : value);
      break;
    case NORMOT_UINT32: ((uint32_t *)values)[at] = (uint32_t)value; break;
  }
}

static void store_index(void *array, normot_index_type type, int64_t at, int64_t value) {
  if (type == NORMOT_INDEX_INT64)
    ((int64_t *)array)[at] = value;
  else
    ((int32_t *)array)[at] = (int32_t)value;
}

static int check_counts_params(const synth_counts_params *params, char *error, size_t error_size) {
  if (params->n_cells < 0 || params->n_genes < 0) {
    set_error(error, error_size, "synthetic counts: negative size");
    return 1;
  }
  if (!(params->density > 0.0 && params->density < 1.0) || !(params->library_log_sd >= 0.0) ||
      !(params->zipf_exponent >= 0.0) || !(params->zipf_offset >= 0.0) ||
      !isfinite(params->library_log_sd) || !isfinite(params->zipf_exponent) ||
      !isfinite(params->zipf_offset)) {
    set_error(error, error_size,
              "synthetic counts: density must lie in (0, 1); sd, exponent, offset finite >= 0");
    return 1;
  }
  if (normot_value_size(params->value_type) == 0 || normot_index_size(params->index_type) == 0) {
    set_error(error, error_size, "synthetic counts: unknown value or index type");
    return 1;
  }
  if (params->index_type == NORMOT_INDEX_INT32 && params->n_genes > INT32_MAX) {
    set_error(error, error_size, "synthetic counts: %lld genes do not fit INT32 indices",
              (long long)params->n_genes);
    return 1;
  }
  return 0;
}

/* Each gene's share of the counts: the normalized Zipf popularity. */
static void gene_popularity(const synth_counts_params *params, double *popularity) {
  double popularity_sum = 0.0;
  for (int64_t g = 0; g < params->n_genes; ++g) {
    popularity[g] = pow((double)g + 1.0 + params->zipf_offset, -params->zipf_exponent);
    popularity_sum += popularity[g];
  }
  for (int64_t g = 0; g < params->n_genes; ++g) popularity[g] /= popularity_sum;
}

static int counts_threads(const synth_counts_params *params) {
  return params->n_threads > 0 ? params->n_threads : omp_get_max_threads();
}

/* Pass 1: how many genes each cell detects, as out->indptr. Returns the entry count. */
static int64_t count_row_entries(const synth_counts_params *params, const double *popularity,
                                 double scale, int64_t *row_counts, synth_csr *out) {
  const int64_t n_cells = params->n_cells, n_genes = params->n_genes;
#pragma omp parallel for schedule(dynamic, 256) num_threads(counts_threads(params))
  for (int64_t c = 0; c < n_cells; ++c) {
    row_walk walk;
    row_walk_start(&walk, params, scale, c);
    int64_t count = 0;
    for (int64_t g = row_walk_next(&walk, popularity, n_genes, 0); g < n_genes;
         g = row_walk_next(&walk, popularity, n_genes, g + 1))
      ++count;
    row_counts[c] = count;
  }
  int64_t nnz = 0;
  for (int64_t c = 0; c < n_cells; ++c) {
    store_index(out->indptr, params->index_type, c, nnz);
    nnz += row_counts[c];
  }
  store_index(out->indptr, params->index_type, n_cells, nnz);
  return nnz;
}

/* Pass 2: walk each cell again from its start (same stream, same genes) and draw counts. */
static void draw_row_entries(const synth_counts_params *params, const double *popularity,
                             double scale, synth_csr *out) {
  const int64_t n_cells = params->n_cells, n_genes = params->n_genes;
#pragma omp parallel for schedule(dynamic, 256) num_threads(counts_threads(params))
  for (int64_t c = 0; c < n_cells; ++c) {
    row_walk walk;
    row_walk_start(&walk, params, scale, c);
    synth_rng counts;
    synth_rng_seed(&counts, params->seed, count_stream(c));
    int64_t at = params->index_type == NORMOT_INDEX_INT64 ? ((const int64_t *)out->indptr)[c]
                                                          : ((const int32_t *)out->indptr)[c];
    for (int64_t g = row_walk_next(&walk, popularity, n_genes, 0); g < n_genes;
         g = row_walk_next(&walk, popularity, n_genes, g + 1), ++at) {
      store_index(out->indices, params->index_type, at, g);
      store_value(out->values, params->value_type, at,
                  truncated_poisson(&counts, walk.mean_total * popularity[g]));
    }
  }
}

/* Passes 1 and 2 into `out` (indptr allocated), with the entry arrays allocated in between. */
static int generate_rows(const synth_counts_params *params, const double *popularity,
                         int64_t *row_counts, synth_csr *out, char *error, size_t error_size) {
  const double scale = params->n_genes > 0 ? solve_scale(params, popularity) : 1.0;
  const int64_t nnz = count_row_entries(params, popularity, scale, row_counts, out);
  if (params->index_type == NORMOT_INDEX_INT32 && nnz > INT32_MAX) {
    set_error(error, error_size,
              "synthetic counts: %lld stored entries do not fit INT32 indices; use INT64",
              (long long)nnz);
    return 1;
  }
  out->indices = malloc((size_t)(nnz > 0 ? nnz : 1) * normot_index_size(params->index_type));
  out->values = malloc((size_t)(nnz > 0 ? nnz : 1) * normot_value_size(params->value_type));
  if (out->indices == NULL || out->values == NULL) {
    set_error(error, error_size, "synthetic counts: out of memory for %lld entries",
              (long long)nnz);
    return 1;
  }
  draw_row_entries(params, popularity, scale, out);
  out->nnz = nnz;
  return 0;
}

int synth_counts_generate(const synth_counts_params *params, synth_csr *out, char *error,
                          size_t error_size) {
  if (out == NULL || params == NULL) {
    set_error(error, error_size, "synthetic counts: NULL argument");
    return 1;
  }
  memset(out, 0, sizeof *out);
  if (check_counts_params(params, error, error_size) != 0) return 1;
  const int64_t n_cells = params->n_cells, n_genes = params->n_genes;
  double *popularity = malloc((size_t)(n_genes > 0 ? n_genes : 1) * sizeof(double));
  int64_t *row_counts = malloc((size_t)(n_cells > 0 ? n_cells : 1) * sizeof(int64_t));
  out->indptr = malloc((size_t)(n_cells + 1) * normot_index_size(params->index_type));
  int status = 0;
  if (popularity == NULL || row_counts == NULL || out->indptr == NULL) {
    set_error(error, error_size, "synthetic counts: out of memory");
    status = 1;
  } else {
    gene_popularity(params, popularity);
    status = generate_rows(params, popularity, row_counts, out, error, error_size);
  }
  free(popularity);
  free(row_counts);
  if (status != 0) {
    synth_csr_free(out);
    return 1;
  }
  out->n_rows = n_cells;
  out->n_cols = n_genes;
  out->index_type = params->index_type;
  out->value_type = params->value_type;
  return 0;
}

void synth_csr_free(synth_csr *matrix) {
  if (matrix == NULL) return;
  free(matrix->indptr);
  free(matrix->indices);
  free(matrix->values);
  memset(matrix, 0, sizeof *matrix);
}

normot_matrix synth_csr_view(const synth_csr *matrix) {
  return normot_matrix_csr(matrix->n_rows, matrix->n_cols, matrix->nnz, matrix->indptr,
                           matrix->indices, matrix->index_type, matrix->values, matrix->value_type);
}

/* ---- EMD inputs ------------------------------------------------------------------------------ */

void synth_uniform(uint64_t seed, uint64_t stream, int64_t count, double low, double high,
                   double *out) {
  synth_rng rng;
  synth_rng_seed(&rng, seed, stream);
  for (int64_t i = 0; i < count; ++i) out[i] = low + (high - low) * synth_rng_uniform(&rng);
}

void synth_point_clouds(uint64_t seed, uint64_t stream, int64_t k, int64_t n, int64_t dim,
                        double *out) {
  for (int64_t i = 0; i < k; ++i)
    synth_uniform(seed, stream + (uint64_t)i, n * dim, 0.0, 1.0, out + i * n * dim);
}

void synth_histograms(uint64_t seed, uint64_t stream, int64_t k, int64_t n, double *out) {
  for (int64_t i = 0; i < k; ++i) {
    double *h = out + i * n;
    synth_uniform(seed, stream + (uint64_t)i, n, 0.05, 1.0, h);
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) sum += h[j];
    for (int64_t j = 0; j < n; ++j) h[j] /= sum;
  }
}

void synth_sqeuclidean_cost(const double *x, int64_t n, const double *y, int64_t m, int64_t dim,
                            double *out) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double distance = 0.0;
      for (int64_t d = 0; d < dim; ++d) {
        double delta = x[i * dim + d] - y[j * dim + d];
        distance += delta * delta;
      }
      out[i * m + j] = distance;
    }
}
