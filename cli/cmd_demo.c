/* normot demo: both kernels on realistic data in a few seconds, with a short readable summary.
 *
 * 1. Data: a seeded synthetic count matrix built in memory (log-normal library sizes, Zipf gene
 *    popularity, ~5% non-zero), or the user's file with --data.
 * 2. normalize_total + log1p (scanpy's usual first two steps), out of place, timed.
 * 3. Cell groups: k-means in a 2-D random projection of the log-normalized data, then one EMD
 *    per pair of groups between their cells' point clouds (a batch, point-cloud mode).
 * 4. The seed case of the batched solver: 1000 problems of 100 x 100 uniform squared-Euclidean
 *    2-D clouds, with problems per second.
 * The summary goes to stdout; progress lines to stderr only when it is a terminal. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "normot_io.h"
#include "progress.h"
#include "synthetic.h"

static const char command_name[] = "demo";

static void print_help(FILE *stream) {
  fputs(
      "usage: normot demo [--data PATH] [options]\n"
      "\n"
      "Runs both kernels on a realistic dataset and prints what they did and how fast:\n"
      "normalize_total + log1p of a count matrix (exactly as scanpy), EMDs between groups of\n"
      "cells, and a batch of 1000 EMD problems of 100 x 100 points.\n"
      "\n"
      "options:\n"
      "  --data PATH              your data instead of the built-in synthetic matrix: a 10x\n"
      "                           directory, a 10x .h5, an AnnData .h5ad or a .mtx[.gz]\n"
      "  --cells N, --genes N     size of the synthetic matrix (default 20000 x 2000)\n"
      "  --density F              its expected fraction of non-zeros (default 0.05)\n"
      "  --groups K               cell groups compared by EMD (default 8)\n"
      "  --problems K             problems in the EMD batch (default 1000)\n"
      "  --points N               points per cloud in the EMD batch (default 100)\n"
      "  --seed S                 seed of every random choice (default 42)\n"
      "  --backend auto|cpu|cuda  default auto: CUDA if available, else CPU\n"
      "  --threads N              CPU threads (default 0: as OpenMP, OMP_NUM_THREADS)\n"
      "  --quiet                  no progress lines on stderr\n",
      stream);
}

typedef struct demo_options {
  const char *data_path;
  long long cells, genes, groups, problems, points, seed;
  double density;
  normot_backend backend;
  int threads;
} demo_options;

static int parse_count(const char *option, const char *value, long long low, long long high,
                       long long *out) {
  if (value == NULL || cli_parse_int64(value, out) != 0 || *out < low || *out > high)
    return cli_usage_error(command_name, "%s must be an integer in [%lld, %lld]", option, low,
                           high);
  return -1;
}

/* Returns -1 when the options are fine, else the exit code. */
static int parse_options(int argc, char **argv, demo_options *options) {
  memset(options, 0, sizeof *options);
  options->cells = 20000;
  options->genes = 2000;
  options->density = 0.05;
  options->groups = 8;
  options->problems = 1000;
  options->points = 100;
  options->seed = 42;
  options->backend = NORMOT_BACKEND_AUTO;
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    const char *value = NULL;
    int taken, code = -1;
    long long threads = 0;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      print_help(stdout);
      return 0;
    }
    if (strcmp(arg, "--quiet") == 0) {
      cli_progress_set_quiet(1);
    } else if ((taken = cli_take_value(argc, argv, &i, "--data", &value)) != 0) {
      if (taken < 0) return cli_usage_error(command_name, "--data needs a path");
      options->data_path = value;
    } else if ((taken = cli_take_value(argc, argv, &i, "--cells", &value)) != 0) {
      code = parse_count("--cells", value, 1, 100000000, &options->cells);
    } else if ((taken = cli_take_value(argc, argv, &i, "--genes", &value)) != 0) {
      code = parse_count("--genes", value, 1, 10000000, &options->genes);
    } else if ((taken = cli_take_value(argc, argv, &i, "--groups", &value)) != 0) {
      code = parse_count("--groups", value, 2, 64, &options->groups);
    } else if ((taken = cli_take_value(argc, argv, &i, "--problems", &value)) != 0) {
      code = parse_count("--problems", value, 1, 10000000, &options->problems);
    } else if ((taken = cli_take_value(argc, argv, &i, "--points", &value)) != 0) {
      code = parse_count("--points", value, 1, 10000, &options->points);
    } else if ((taken = cli_take_value(argc, argv, &i, "--seed", &value)) != 0) {
      code = parse_count("--seed", value, 0, INT64_MAX, &options->seed);
    } else if ((taken = cli_take_value(argc, argv, &i, "--density", &value)) != 0) {
      if (taken < 0 || cli_parse_double(value, &options->density) != 0 ||
          !(options->density > 0 && options->density <= 1))
        return cli_usage_error(command_name, "--density must be a number in (0, 1]");
    } else if ((taken = cli_take_value(argc, argv, &i, "--backend", &value)) != 0) {
      if (taken < 0 || cli_parse_backend(value, &options->backend) != 0)
        return cli_usage_error(command_name, "--backend must be auto, cpu or cuda");
    } else if ((taken = cli_take_value(argc, argv, &i, "--threads", &value)) != 0) {
      code = parse_count("--threads", value, 0, NORMOT_MAX_THREADS, &threads);
      options->threads = (int)threads;
    } else {
      return cli_usage_error(command_name, "unknown argument '%s'", arg);
    }
    if (code >= 0) return code;
  }
  return -1;
}

/* ---- small helpers ----------------------------------------------------------------------------
 */

static int64_t index_at(const void *array, normot_index_type type, int64_t i) {
  return type == NORMOT_INDEX_INT32 ? (int64_t)((const int32_t *)array)[i]
                                    : ((const int64_t *)array)[i];
}

static double float_at(const void *array, normot_value_type type, int64_t i) {
  return type == NORMOT_FLOAT32 ? (double)((const float *)array)[i] : ((const double *)array)[i];
}

static int compare_doubles(const void *left, const void *right) {
  double a = *(const double *)left, b = *(const double *)right;
  return (a > b) - (a < b);
}

/* "1.23 ms", "4.56 s": a duration in the unit that reads best. */
static const char *format_seconds(double seconds, char *text, size_t size) {
  if (seconds < 1e-3)
    snprintf(text, size, "%.1f us", seconds * 1e6);
  else if (seconds < 1.0)
    snprintf(text, size, "%.2f ms", seconds * 1e3);
  else
    snprintf(text, size, "%.2f s", seconds);
  return text;
}

/* ---- the pieces of the demo ----------------------------------------------------------------- */

/* The input: either owned by the synthetic generator or by a file reader, seen as one view. */
typedef struct demo_data {
  synth_csr synthetic;
  cli_matrix file;
  normot_matrix view;
  char description[512];
} demo_data;

static int load_data(const demo_options *options, demo_data *data) {
  memset(data, 0, sizeof *data);
  char error[1024] = "";
  cli_progress progress;
  if (options->data_path != NULL) {
    cli_progress_begin(&progress, "reading", 0);
    int failed = cli_read_matrix(options->data_path, 0, &data->file, error, sizeof error);
    cli_progress_end(&progress);
    if (failed) return cli_error("%s", error);
    cli_matrix *m = &data->file;
    data->view = normot_matrix_csr(m->n_rows, m->n_cols, m->nnz, m->indptr, m->indices,
                                   NORMOT_INDEX_INT64, m->values, m->value_type);
    snprintf(data->description, sizeof data->description, "%s", options->data_path);
  } else {
    synth_counts_params params;
    synth_counts_params_init(&params);
    params.n_cells = options->cells;
    params.n_genes = options->genes;
    params.density = options->density;
    params.seed = (uint64_t)options->seed;
    params.value_type = NORMOT_FLOAT32; /* counts as AnnData usually holds them */
    /* int64 offsets only when the matrix needs them. */
    params.index_type = (double)options->cells * (double)options->genes * options->density > 2e9
                            ? NORMOT_INDEX_INT64
                            : NORMOT_INDEX_INT32;
    cli_progress_begin(&progress, "generating", 0);
    int failed = synth_counts_generate(&params, &data->synthetic, error, sizeof error);
    cli_progress_end(&progress);
    if (failed) return cli_error("demo: %s", error);
    data->view = synth_csr_view(&data->synthetic);
    snprintf(data->description, sizeof data->description,
             "synthetic counts (seed %lld: log-normal library sizes, Zipf genes)", options->seed);
  }
  return 0;
}

static void free_data(demo_data *data) {
  synth_csr_free(&data->synthetic);
  cli_matrix_free(&data->file);
}

typedef struct normalize_summary {
  void *values; /* the normalized, log1p values (nnz, of value_type) */
  normot_value_type value_type;
  double seconds; /* median of the timed runs */
  double gigabytes_per_second;
  double target;
  int64_t zero_cells;
  double size_factor_min, size_factor_max;
  int runs;
} normalize_summary;

static int run_normalize(normot_context *context, const normot_matrix *X,
                         normalize_summary *summary) {
  memset(summary, 0, sizeof *summary);
  normot_value_type out_type = X->value_type == NORMOT_FLOAT64 ? NORMOT_FLOAT64 : NORMOT_FLOAT32;
  size_t out_size = normot_value_size(out_type);
  summary->value_type = out_type;
  summary->values = malloc((size_t)(X->nnz > 0 ? X->nnz : 1) * out_size);
  void *size_factors = malloc((size_t)(X->n_rows > 0 ? X->n_rows : 1) * out_size);
  if (summary->values == NULL || size_factors == NULL) {
    free(size_factors);
    return cli_error("demo: out of memory for the normalized values");
  }
  normot_normalize_params params;
  normot_normalize_params_init(&params);
  params.log1p = 1;
  normot_normalize_output output;
  memset(&output, 0, sizeof output);
  output.values = summary->values;
  output.value_type = out_type;
  output.size_factors = size_factors;

  /* One warm-up run, then timed runs until 5 runs or about a second. */
  enum { MAX_RUNS = 5 };
  double times[MAX_RUNS];
  int runs = 0;
  double spent = 0.0;
  cli_progress progress;
  cli_progress_begin(&progress, "normalizing", MAX_RUNS + 1);
  for (int attempt = 0; attempt <= MAX_RUNS; ++attempt) {
    double start = cli_seconds();
    normot_status status = normot_normalize_total(context, X, &params, &output);
    double seconds = cli_seconds() - start;
    if (status != NORMOT_SUCCESS) {
      cli_progress_end(&progress);
      free(size_factors);
      return cli_error("normalize_total failed: %s", normot_context_last_error(context));
    }
    cli_progress_update(&progress, attempt + 1);
    if (attempt == 0) continue;
    times[runs++] = seconds;
    spent += seconds;
    if (spent > 1.0) break;
  }
  cli_progress_end(&progress);
  qsort(times, (size_t)runs, sizeof times[0], compare_doubles);
  summary->runs = runs;
  summary->seconds = times[runs / 2];
  /* As bench_normalize counts a median-target pass: the values read twice (totals, then
   * scaling) and written once, plus the row offsets. */
  size_t in_size = normot_value_size(X->value_type);
  size_t index_size = X->index_type == NORMOT_INDEX_INT32 ? 4 : 8;
  double bytes = 2.0 * (double)X->nnz * (double)in_size + (double)X->nnz * (double)out_size +
                 (double)(X->n_rows + 1) * (double)index_size;
  summary->gigabytes_per_second = summary->seconds > 0 ? bytes / summary->seconds * 1e-9 : 0.0;
  summary->target = output.target;
  summary->zero_cells = output.n_zero_cells;
  summary->size_factor_min = INFINITY;
  summary->size_factor_max = -INFINITY;
  for (int64_t c = 0; c < X->n_rows; ++c) {
    double factor = float_at(size_factors, out_type, c);
    if (factor < summary->size_factor_min) summary->size_factor_min = factor;
    if (factor > summary->size_factor_max) summary->size_factor_max = factor;
  }
  free(size_factors);
  return 0;
}

/* 2-D coordinates of each cell: its log-normalized profile projected on two seeded random
 * directions, scaled to unit variance per axis. */
static int project_cells(const normot_matrix *X, const normalize_summary *normalized, uint64_t seed,
                         double *coordinates) {
  int64_t n_cells = X->n_rows, n_genes = X->n_cols;
  double *directions = malloc((size_t)(2 * n_genes) * sizeof *directions);
  if (directions == NULL) return 1;
  synth_uniform(seed, 1001, n_genes, -1.0, 1.0, directions);
  synth_uniform(seed, 1002, n_genes, -1.0, 1.0, directions + n_genes);
  for (int64_t c = 0; c < n_cells; ++c) {
    double x = 0.0, y = 0.0;
    for (int64_t i = index_at(X->indptr, X->index_type, c);
         i < index_at(X->indptr, X->index_type, c + 1); ++i) {
      int64_t g = index_at(X->indices, X->index_type, i);
      double value = float_at(normalized->values, normalized->value_type, i);
      x += value * directions[g];
      y += value * directions[n_genes + g];
    }
    coordinates[2 * c] = x;
    coordinates[2 * c + 1] = y;
  }
  free(directions);
  for (int axis = 0; axis < 2; ++axis) {
    double mean = 0.0, square = 0.0;
    for (int64_t c = 0; c < n_cells; ++c) mean += coordinates[2 * c + axis];
    mean /= (double)n_cells;
    for (int64_t c = 0; c < n_cells; ++c) {
      double d = coordinates[2 * c + axis] - mean;
      square += d * d;
    }
    double scale = square > 0 ? sqrt((double)n_cells / square) : 1.0;
    for (int64_t c = 0; c < n_cells; ++c)
      coordinates[2 * c + axis] = (coordinates[2 * c + axis] - mean) * scale;
  }
  return 0;
}

/* Lloyd's k-means in 2-D, started from cells evenly spaced along the first axis. Deterministic.
 * Fills label[c] in [0, k) and returns the cluster sizes in `sizes`. */
static int kmeans_2d(const double *points, int64_t n, int k, int *label, int64_t *sizes) {
  double *sorted = malloc((size_t)n * sizeof *sorted);
  double centers[2 * 64], sums[2 * 64];
  if (sorted == NULL) return 1;
  for (int64_t c = 0; c < n; ++c) sorted[c] = points[2 * c];
  qsort(sorted, (size_t)n, sizeof *sorted, compare_doubles);
  for (int64_t j = 0; j < k; ++j) {
    centers[2 * j] = sorted[(int64_t)(((double)j + 0.5) * (double)n / k)];
    centers[2 * j + 1] = 0.0;
  }
  free(sorted);
  for (int iteration = 0; iteration < 25; ++iteration) {
    int changed = 0;
    memset(sums, 0, sizeof sums);
    memset(sizes, 0, (size_t)k * sizeof *sizes);
    for (int64_t c = 0; c < n; ++c) {
      int64_t best = 0;
      double best_distance = INFINITY;
      for (int64_t j = 0; j < k; ++j) {
        double dx = points[2 * c] - centers[2 * j], dy = points[2 * c + 1] - centers[2 * j + 1];
        double distance = dx * dx + dy * dy;
        if (distance < best_distance) best_distance = distance, best = j;
      }
      if (iteration == 0 || label[c] != (int)best) changed = 1;
      label[c] = (int)best;
      sizes[best]++;
      sums[2 * best] += points[2 * c];
      sums[2 * best + 1] += points[2 * c + 1];
    }
    for (int64_t j = 0; j < k; ++j) {
      if (sizes[j] == 0) continue; /* an empty group keeps its center */
      centers[2 * j] = sums[2 * j] / (double)sizes[j];
      centers[2 * j + 1] = sums[2 * j + 1] / (double)sizes[j];
    }
    if (!changed) break;
  }
  return 0;
}

/* Solves `problem` in chunks so that a progress line can move; the results are the same as one
 * call, because every problem is solved independently. */
static normot_status solve_batch(normot_context *context, const normot_emd_problem *problem,
                                 const normot_emd_result *results, const char *label) {
  normot_emd_params params;
  normot_emd_params_init(&params);
  cli_progress progress;
  cli_progress_begin(&progress, label, problem->k);
  int64_t chunk = progress.enabled ? (problem->k + 19) / 20 : problem->k;
  if (chunk < 1) chunk = 1;
  size_t point_bytes = (size_t)problem->dim * normot_value_size(problem->value_type);
  for (int64_t first = 0; first < problem->k; first += chunk) {
    normot_emd_problem part = *problem;
    part.k = problem->k - first < chunk ? problem->k - first : chunk;
    part.x = (const char *)problem->x + (size_t)(first * problem->n) * point_bytes;
    part.y = (const char *)problem->y + (size_t)(first * problem->m) * point_bytes;
    normot_emd_result result;
    memset(&result, 0, sizeof result);
    result.cost = results->cost + first;
    result.status = results->status + first;
    normot_status code = normot_emd(context, &part, &params, &result);
    if (code != NORMOT_SUCCESS) {
      cli_progress_end(&progress);
      return code;
    }
    cli_progress_update(&progress, first + part.k);
  }
  cli_progress_end(&progress);
  return NORMOT_SUCCESS;
}

/* solve_batch, timed; 0, or 1 after printing the failure. */
static int timed_solve(normot_context *context, const normot_emd_problem *problem,
                       const normot_emd_result *results, const char *label, double *seconds) {
  double start = cli_seconds();
  normot_status code = solve_batch(context, problem, results, label);
  *seconds = cli_seconds() - start;
  if (code != NORMOT_SUCCESS)
    return cli_error("emd failed: %s", normot_context_last_error(context));
  return 0;
}

static int64_t count_optimal(const int32_t *status, int64_t k) {
  int64_t optimal = 0;
  for (int64_t i = 0; i < k; ++i) optimal += status[i] == NORMOT_EMD_OPTIMAL;
  return optimal;
}

/* k problems of n x n 2-D point clouds (float64, squared Euclidean) in x and y. */
static normot_emd_problem cloud_problem(int64_t k, int64_t n, const double *x, const double *y) {
  normot_emd_problem problem;
  memset(&problem, 0, sizeof problem);
  problem.k = k;
  problem.n = n;
  problem.m = n;
  problem.value_type = NORMOT_FLOAT64;
  problem.memory = NORMOT_MEMORY_HOST;
  problem.x = x;
  problem.y = y;
  problem.dim = 2;
  problem.metric = NORMOT_METRIC_SQEUCLIDEAN;
  return problem;
}

/* The cells of k groups, `labels` and `sizes` as kmeans_2d made them. */
typedef struct cell_groups {
  const double *coordinates; /* n_cells 2-D points */
  int64_t n_cells;
  const int *label;
  const int64_t *sizes;
  int k;
} cell_groups;

/* Each group's cloud of n cells in `clouds` (k x n x 2): its cells in order, n of them at even
 * strides. Returns 0, or 1 when out of memory. */
static int sample_group_clouds(const cell_groups *groups, int64_t n, double *clouds) {
  int64_t *seen = calloc((size_t)groups->k, sizeof *seen);
  if (seen == NULL) return 1;
  for (int64_t c = 0; c < groups->n_cells; ++c) {
    const int j = groups->label[c];
    const int64_t size = groups->sizes[j], rank = seen[j]++;
    /* Sample slot t takes member floor(t * size / n): distinct members, since size >= n. */
    int64_t slot = (rank * n + size - 1) / size;
    if (slot >= n || slot * size / n != rank) continue;
    clouds[(j * n + slot) * 2] = groups->coordinates[2 * c];
    clouds[(j * n + slot) * 2 + 1] = groups->coordinates[2 * c + 1];
  }
  free(seen);
  return 0;
}

/* Every pair of group clouds (i < j, in order) as problem p: x the cloud of i, y that of j. */
static void pair_clouds(const double *clouds, int k, int64_t n, double *x, double *y) {
  int64_t p = 0;
  const size_t bytes = (size_t)(n * 2) * sizeof *x;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = i + 1; j < k; ++j, ++p) {
      memcpy(x + p * n * 2, clouds + i * n * 2, bytes);
      memcpy(y + p * n * 2, clouds + j * n * 2, bytes);
    }
}

/* The closest and the farthest pair of groups by their EMD. */
static void print_group_extremes(const double *cost, int k) {
  int closest[2] = {0, 1}, farthest[2] = {0, 1};
  double low = INFINITY, high = -INFINITY;
  int64_t p = 0;
  for (int i = 0; i < k; ++i) {
    for (int j = i + 1; j < k; ++j, ++p) {
      if (cost[p] < low) low = cost[p], closest[0] = i, closest[1] = j;
      if (cost[p] > high) high = cost[p], farthest[0] = i, farthest[1] = j;
    }
  }
  printf("            closest groups %d-%d: %.4g, farthest %d-%d: %.4g\n", closest[0], closest[1],
         low, farthest[0], farthest[1], high);
}

/* Solves the EMD of every pair of groups' clouds of n cells and prints its lines. */
static int solve_group_pairs(normot_context *context, const cell_groups *groups, int64_t n) {
  const int64_t pairs = (int64_t)groups->k * (groups->k - 1) / 2;
  double *clouds = malloc((size_t)(groups->k * n * 2) * sizeof *clouds);
  double *x = malloc((size_t)(pairs * n * 2) * sizeof *x);
  double *y = malloc((size_t)(pairs * n * 2) * sizeof *y);
  double *cost = malloc((size_t)pairs * sizeof *cost);
  int32_t *status = malloc((size_t)pairs * sizeof *status);
  int result = 0;
  if (clouds == NULL || x == NULL || y == NULL || cost == NULL || status == NULL ||
      sample_group_clouds(groups, n, clouds) != 0) {
    result = cli_error("demo: out of memory for the group clouds");
    goto done;
  }
  pair_clouds(clouds, groups->k, n, x, y);
  const normot_emd_problem problem = cloud_problem(pairs, n, x, y);
  const normot_emd_result results = {.cost = cost, .status = status};
  double seconds = 0.0;
  result = timed_solve(context, &problem, &results, "solving group EMDs", &seconds);
  if (result != 0) goto done;
  char when[32];
  printf("group EMD   %lld %s of %lld x %lld clouds in %s (%.0f problems/s), %lld optimal\n",
         (long long)pairs, pairs == 1 ? "pair" : "pairs", (long long)n, (long long)n,
         format_seconds(seconds, when, sizeof when), (double)pairs / seconds,
         (long long)count_optimal(status, pairs));
  print_group_extremes(cost, groups->k);
done:
  free(clouds);
  free(x);
  free(y);
  free(cost);
  free(status);
  return result;
}

/* EMD between every pair of cell groups: their cells' 2-D clouds, n cells sampled evenly from
 * each group. Prints its lines of the summary. */
static int run_group_emd(normot_context *context, const double *coordinates, int64_t n_cells,
                         int k_groups, int64_t max_points) {
  int *label = malloc((size_t)(n_cells > 0 ? n_cells : 1) * sizeof *label);
  int64_t sizes[64];
  if (label == NULL || kmeans_2d(coordinates, n_cells, k_groups, label, sizes) != 0) {
    free(label);
    return cli_error("demo: out of memory grouping the cells");
  }
  int64_t smallest = n_cells;
  for (int j = 0; j < k_groups; ++j)
    if (sizes[j] < smallest) smallest = sizes[j];
  printf("groups      %d k-means groups of cells in a 2-D random projection, sizes", k_groups);
  for (int j = 0; j < k_groups; ++j) printf(" %lld", (long long)sizes[j]);
  printf("\n");
  int64_t n = smallest < max_points ? smallest : max_points;
  int result = 0;
  if (n < 1) {
    printf("group EMD   skipped: a group is empty\n");
  } else {
    const cell_groups groups = {coordinates, n_cells, label, sizes, k_groups};
    result = solve_group_pairs(context, &groups, n);
  }
  free(label);
  return result;
}

/* The seed case: k problems of n x n uniform squared-Euclidean clouds in [0, 1)^2. */
static int run_emd_batch(normot_context *context, int64_t k, int64_t n, uint64_t seed) {
  double *x = malloc((size_t)(k * n * 2) * sizeof *x);
  double *y = malloc((size_t)(k * n * 2) * sizeof *y);
  double *cost = malloc((size_t)k * sizeof *cost);
  int32_t *status = malloc((size_t)k * sizeof *status);
  int result = 0;
  if (x == NULL || y == NULL || cost == NULL || status == NULL) {
    result = cli_error("demo: out of memory for %lld EMD problems", (long long)k);
    goto done;
  }
  synth_point_clouds(seed, 2001, k, n, 2, x);
  synth_point_clouds(seed, 1u << 30, k, n, 2, y);
  const normot_emd_problem problem = cloud_problem(k, n, x, y);
  const normot_emd_result results = {.cost = cost, .status = status};
  double seconds = 0.0;
  result = timed_solve(context, &problem, &results, "solving the EMD batch", &seconds);
  if (result != 0) goto done;
  double sum = 0.0, low = INFINITY, high = -INFINITY;
  for (int64_t i = 0; i < k; ++i) {
    sum += cost[i];
    if (cost[i] < low) low = cost[i];
    if (cost[i] > high) high = cost[i];
  }
  char when[32];
  printf("EMD batch   %lld problems of %lld x %lld uniform 2-D clouds, squared Euclidean\n",
         (long long)k, (long long)n, (long long)n);
  printf("            %s (%.0f problems/s), %lld optimal; cost mean %.4g, min %.4g, max %.4g\n",
         format_seconds(seconds, when, sizeof when), (double)k / seconds,
         (long long)count_optimal(status, k), sum / (double)k, low, high);
done:
  free(x);
  free(y);
  free(cost);
  free(status);
  return result;
}

int normot_cmd_demo(int argc, char **argv) {
  demo_options options;
  int code = parse_options(argc, argv, &options);
  if (code >= 0) return code;
  double start = cli_seconds();
  normot_context *context = cli_context(options.backend, options.threads);
  if (context == NULL) return 1;
  demo_data data;
  if (load_data(&options, &data) != 0) {
    normot_context_destroy(context);
    return 1;
  }
  double load_seconds = cli_seconds() - start;
  const normot_matrix *X = &data.view;
  normalize_summary normalized;
  double *coordinates = NULL;
  int result = run_normalize(context, X, &normalized);
  if (result != 0) goto done;

  char when[32];
  printf("normot %s demo on the %s backend, %d CPU threads\n", normot_version_string(),
         normot_backend_name(normot_context_backend(context)), normot_context_threads(context));
  printf("data        %s, %s in %s\n", data.description,
         options.data_path != NULL ? "read" : "made",
         format_seconds(load_seconds, when, sizeof when));
  printf("            %lld cells x %lld genes, %lld non-zeros (%.2f%%)\n", (long long)X->n_rows,
         (long long)X->n_cols, (long long)X->nnz,
         X->n_rows > 0 && X->n_cols > 0
             ? 100.0 * (double)X->nnz / ((double)X->n_rows * (double)X->n_cols)
             : 0.0);
  printf("normalize   normalize_total + log1p as scanpy: %s per run (median of %d), %.3g GB/s\n",
         format_seconds(normalized.seconds, when, sizeof when), normalized.runs,
         normalized.gigabytes_per_second);
  printf("            median target %.6g, size factors %.3g to %.3g, %lld all-zero cells\n",
         normalized.target, normalized.size_factor_min, normalized.size_factor_max,
         (long long)normalized.zero_cells);
  fflush(stdout);

  /* At least about 50 cells per group, so that small inputs still give two groups. */
  int groups = (int)options.groups;
  if (X->n_rows / 50 < groups) groups = X->n_rows / 50 > 2 ? (int)(X->n_rows / 50) : 2;
  if (X->n_rows >= groups) {
    coordinates = malloc((size_t)(2 * X->n_rows) * sizeof *coordinates);
    if (coordinates == NULL ||
        project_cells(X, &normalized, (uint64_t)options.seed, coordinates) != 0) {
      result = cli_error("demo: out of memory projecting the cells");
      goto done;
    }
    result = run_group_emd(context, coordinates, X->n_rows, groups, options.points);
    if (result != 0) goto done;
  } else {
    printf("group EMD   skipped: fewer than two cells\n");
  }
  fflush(stdout);
  result = run_emd_batch(context, options.problems, options.points, (uint64_t)options.seed);
  if (result != 0) goto done;
  printf("total       %s\n", format_seconds(cli_seconds() - start, when, sizeof when));
done:
  free(coordinates);
  free(normalized.values);
  free_data(&data);
  normot_context_destroy(context);
  return result;
}
