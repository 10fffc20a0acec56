/* bench_emd: batched exact EMD (normot_emd) timings, one JSON line per case and thread count.
 *
 * Without input files it runs built-in seeded cases (issue 3's list, minus DOTmark, which
 * compare_pot.py reads from ../shared/data):
 *   seed        k = 1000 problems, n = m = 100, uniform weights, squared Euclidean costs
 *               between random 2-D point clouds
 *   nonuniform  k = 100, n = m = 500, random non-uniform weights, same kind of costs
 *   single      one problem, n = m = 1000, random non-uniform weights
 *   grid        k = 100 pairs of generated 28 x 28 images (many zero pixels) on one shared
 *               squared Euclidean grid cost (n = m = 784)
 * --quick divides every k by 10 (the single problem stays).
 *
 * With --cost or --x/--y it times one case read from .npy files (as compare_pot.py writes them):
 *   cost (k, n, m) or shared (n, m); a (k, n) or shared (n) or absent (uniform); b likewise;
 *   or point clouds x (k, n, d), y (k, m, d) with --metric. --k K gives k when every array is
 *   shared. --out-cost C.npy writes the k costs (float64) of the first thread count's last run.
 *
 * Seconds are the median over --repeats calls (after one warm-up call) of one normot_emd call
 * on the whole batch; seconds_per_problem divides by k.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "normot/normot.h"
#include "normot_io.h"
#include "synthetic.h"

typedef struct options {
  int quick;
  int repeats;
  int thread_counts[BENCH_MAX_THREAD_COUNTS];
  int n_thread_counts;
  normot_backend backend;
  normot_emd_solver solver;
  const char *cases;
  const char *name;
  const char *cost_path, *x_path, *y_path, *a_path, *b_path, *out_cost_path;
  normot_metric metric;
  int64_t k;
  uint64_t seed;
} options;

/* A batch and the arrays it owns (all float64). */
typedef struct batch {
  char name[128];
  normot_emd_problem problem;
  double *a, *b, *cost, *x, *y;
} emd_batch;

static void batch_free(emd_batch *batch) {
  free(batch->a);
  free(batch->b);
  free(batch->cost);
  free(batch->x);
  free(batch->y);
  memset(batch, 0, sizeof *batch);
}

static void usage(FILE *stream) {
  fprintf(stream,
          "usage: bench_emd [--quick] [--cases seed,nonuniform,single,grid] [--repeats R]\n"
          "                 [--threads LIST] [--backend cpu|cuda|auto]\n"
          "                 [--solver auto|simplex|assignment|auction|multiscale] [--seed S]\n"
          "       bench_emd --name NAME (--cost M.npy | --x X.npy --y Y.npy [--metric "
          "sqeuclidean|euclidean])\n"
          "                 [--a A.npy] [--b B.npy] [--k K] [--out-cost C.npy] [...]\n");
}

static int parse_options(int argc, char **argv, options *opt) {
  memset(opt, 0, sizeof *opt);
  opt->repeats = 5;
  opt->n_thread_counts = bench_parse_threads("1,all", opt->thread_counts);
  opt->backend = NORMOT_BACKEND_CPU;
  opt->solver = NORMOT_EMD_SOLVER_AUTO;
  opt->cases = "seed,nonuniform,single,grid";
  opt->name = "file";
  opt->metric = NORMOT_METRIC_SQEUCLIDEAN;
  opt->seed = 42;
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    int takes_value = 1;
    if (strcmp(arg, "--quick") == 0) {
      opt->quick = 1;
      takes_value = 0;
    } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      usage(stdout);
      exit(0);
    } else if (value == NULL) {
      fprintf(stderr, "bench_emd: %s needs a value (or is unknown)\n", arg);
      return 1;
    } else if (strcmp(arg, "--repeats") == 0) {
      opt->repeats = atoi(value);
    } else if (strcmp(arg, "--threads") == 0) {
      opt->n_thread_counts = bench_parse_threads(value, opt->thread_counts);
    } else if (strcmp(arg, "--cases") == 0) {
      opt->cases = value;
    } else if (strcmp(arg, "--name") == 0) {
      opt->name = value;
    } else if (strcmp(arg, "--cost") == 0) {
      opt->cost_path = value;
    } else if (strcmp(arg, "--x") == 0) {
      opt->x_path = value;
    } else if (strcmp(arg, "--y") == 0) {
      opt->y_path = value;
    } else if (strcmp(arg, "--a") == 0) {
      opt->a_path = value;
    } else if (strcmp(arg, "--b") == 0) {
      opt->b_path = value;
    } else if (strcmp(arg, "--out-cost") == 0) {
      opt->out_cost_path = value;
    } else if (strcmp(arg, "--k") == 0) {
      opt->k = strtoll(value, NULL, 10);
    } else if (strcmp(arg, "--seed") == 0) {
      opt->seed = strtoull(value, NULL, 10);
    } else if (strcmp(arg, "--metric") == 0) {
      if (strcmp(value, "sqeuclidean") == 0)
        opt->metric = NORMOT_METRIC_SQEUCLIDEAN;
      else if (strcmp(value, "euclidean") == 0)
        opt->metric = NORMOT_METRIC_EUCLIDEAN;
      else
        return fprintf(stderr, "bench_emd: unknown metric '%s'\n", value), 1;
    } else if (strcmp(arg, "--backend") == 0) {
      if (strcmp(value, "cpu") == 0)
        opt->backend = NORMOT_BACKEND_CPU;
      else if (strcmp(value, "cuda") == 0)
        opt->backend = NORMOT_BACKEND_CUDA;
      else if (strcmp(value, "auto") == 0)
        opt->backend = NORMOT_BACKEND_AUTO;
      else
        return fprintf(stderr, "bench_emd: unknown backend '%s'\n", value), 1;
    } else if (strcmp(arg, "--solver") == 0) {
      if (strcmp(value, "auto") == 0)
        opt->solver = NORMOT_EMD_SOLVER_AUTO;
      else if (strcmp(value, "simplex") == 0)
        opt->solver = NORMOT_EMD_SOLVER_NETWORK_SIMPLEX;
      else if (strcmp(value, "assignment") == 0)
        opt->solver = NORMOT_EMD_SOLVER_ASSIGNMENT;
      else if (strcmp(value, "auction") == 0)
        opt->solver = NORMOT_EMD_SOLVER_AUCTION;
      else if (strcmp(value, "multiscale") == 0)
        opt->solver = NORMOT_EMD_SOLVER_MULTISCALE;
      else
        return fprintf(stderr, "bench_emd: unknown solver '%s'\n", value), 1;
    } else {
      fprintf(stderr, "bench_emd: unknown option '%s'\n", arg);
      usage(stderr);
      return 1;
    }
    i += takes_value;
  }
  if (opt->n_thread_counts < 1 || opt->repeats < 1) {
    fprintf(stderr, "bench_emd: bad --threads or --repeats\n");
    return 1;
  }
  return 0;
}

static const char *solver_name(normot_emd_solver solver) {
  switch (solver) {
    case NORMOT_EMD_SOLVER_AUTO: return "auto";
    case NORMOT_EMD_SOLVER_NETWORK_SIMPLEX: return "simplex";
    case NORMOT_EMD_SOLVER_ASSIGNMENT: return "assignment";
    case NORMOT_EMD_SOLVER_AUCTION: return "auction";
    case NORMOT_EMD_SOLVER_MULTISCALE: return "multiscale";
  }
  return "?";
}

/* ---- built-in cases -------------------------------------------------------------------------- */

static int allocation_failed(emd_batch *batch) {
  fprintf(stderr, "bench_emd: out of memory for case %s\n", batch->name);
  batch_free(batch);
  return 1;
}

/* k problems of n x n with squared Euclidean costs between random 2-D clouds; uniform weights
 * or random histograms. Costs are stored (k, n, n) so that every solver reads the same input
 * a POT loop would. */
static int make_cloud_case(emd_batch *batch, const char *name, int64_t k, int64_t n, int uniform,
                           uint64_t seed) {
  memset(batch, 0, sizeof *batch);
  snprintf(batch->name, sizeof batch->name, "%s", name);
  double *x = malloc((size_t)(k * n * 2) * sizeof(double));
  double *y = malloc((size_t)(k * n * 2) * sizeof(double));
  batch->cost = malloc((size_t)(k * n * n) * sizeof(double));
  if (!uniform) {
    batch->a = malloc((size_t)(k * n) * sizeof(double));
    batch->b = malloc((size_t)(k * n) * sizeof(double));
  }
  if (x == NULL || y == NULL || batch->cost == NULL ||
      (!uniform && (batch->a == NULL || batch->b == NULL))) {
    free(x);
    free(y);
    return allocation_failed(batch);
  }
  synth_point_clouds(seed, 0, k, n, 2, x);
  synth_point_clouds(seed, (uint64_t)k, k, n, 2, y);
  for (int64_t i = 0; i < k; ++i)
    synth_sqeuclidean_cost(x + i * n * 2, n, y + i * n * 2, n, 2, batch->cost + i * n * n);
  free(x);
  free(y);
  if (!uniform) {
    synth_histograms(seed, 2 * (uint64_t)k, k, n, batch->a);
    synth_histograms(seed, 3 * (uint64_t)k, k, n, batch->b);
  }
  normot_emd_problem *p = &batch->problem;
  p->k = k;
  p->n = p->m = n;
  p->value_type = NORMOT_FLOAT64;
  p->memory = NORMOT_MEMORY_HOST;
  p->a = batch->a;
  p->b = batch->b;
  p->cost = batch->cost;
  return 0;
}

/* One generated side x side image: a few Gaussian blobs, thresholded so that most pixels are
 * zero (like handwritten digits or clothes on a black background), normalized to sum 1. */
static void generated_image(uint64_t seed, uint64_t stream, int side, double *image) {
  synth_rng rng;
  synth_rng_seed(&rng, seed, stream);
  int blobs = 2 + (int)(synth_rng_uniform(&rng) * 3.0);
  double cx[4], cy[4], width[4];
  for (int b = 0; b < blobs; ++b) {
    cx[b] = side * (0.25 + 0.5 * synth_rng_uniform(&rng));
    cy[b] = side * (0.25 + 0.5 * synth_rng_uniform(&rng));
    width[b] = side * (0.06 + 0.1 * synth_rng_uniform(&rng));
  }
  double sum = 0.0;
  for (int r = 0; r < side; ++r)
    for (int c = 0; c < side; ++c) {
      double intensity = 0.0;
      for (int b = 0; b < blobs; ++b) {
        double dx = (c - cx[b]) / width[b], dy = (r - cy[b]) / width[b];
        intensity += exp(-0.5 * (dx * dx + dy * dy));
      }
      /* 8-bit grey levels, with the faint halo cut to 0. */
      double level = floor(255.0 * (intensity > 1.0 ? 1.0 : intensity));
      image[r * side + c] = level < 25.0 ? 0.0 : level;
      sum += image[r * side + c];
    }
  for (int i = 0; i < side * side; ++i) image[i] /= sum;
}

static int make_grid_case(emd_batch *batch, const char *name, int64_t k, int side, uint64_t seed) {
  memset(batch, 0, sizeof *batch);
  snprintf(batch->name, sizeof batch->name, "%s", name);
  const int64_t n = (int64_t)side * side;
  batch->a = malloc((size_t)(k * n) * sizeof(double));
  batch->b = malloc((size_t)(k * n) * sizeof(double));
  batch->cost = malloc((size_t)(n * n) * sizeof(double));
  if (batch->a == NULL || batch->b == NULL || batch->cost == NULL) return allocation_failed(batch);
  for (int64_t i = 0; i < k; ++i) {
    generated_image(seed, 2 * (uint64_t)i, side, batch->a + i * n);
    generated_image(seed, 2 * (uint64_t)i + 1, side, batch->b + i * n);
  }
  for (int64_t p = 0; p < n; ++p)
    for (int64_t q = 0; q < n; ++q) {
      double dr = (double)(p / side - q / side), dc = (double)(p % side - q % side);
      batch->cost[p * n + q] = dr * dr + dc * dc;
    }
  normot_emd_problem *p = &batch->problem;
  p->k = k;
  p->n = p->m = n;
  p->value_type = NORMOT_FLOAT64;
  p->memory = NORMOT_MEMORY_HOST;
  p->a = batch->a;
  p->b = batch->b;
  p->cost = batch->cost;
  p->cost_shared = 1;
  return 0;
}

/* ---- a case read from .npy files ------------------------------------------------------------- */

/* Reads a float array as float64 (float32 is widened). Returns NULL after printing why. */
static double *read_doubles(const char *path, cli_array *shape) {
  char error[512];
  if (cli_npy_read(path, shape, error, sizeof error) != 0) {
    fprintf(stderr, "bench_emd: %s: %s\n", path, error);
    return NULL;
  }
  int64_t count = cli_array_size(shape);
  double *values = malloc((size_t)(count > 0 ? count : 1) * sizeof(double));
  if (values != NULL) {
    if (shape->type == NORMOT_FLOAT64)
      memcpy(values, shape->data, (size_t)count * sizeof(double));
    else if (shape->type == NORMOT_FLOAT32)
      for (int64_t i = 0; i < count; ++i) values[i] = ((const float *)shape->data)[i];
    else {
      fprintf(stderr, "bench_emd: %s: not a float32/float64 array\n", path);
      free(values);
      values = NULL;
    }
  }
  free(shape->data);
  shape->data = NULL;
  return values;
}

static int make_file_case(emd_batch *batch, const options *opt) {
  memset(batch, 0, sizeof *batch);
  snprintf(batch->name, sizeof batch->name, "%s", opt->name);
  normot_emd_problem *p = &batch->problem;
  p->value_type = NORMOT_FLOAT64;
  p->memory = NORMOT_MEMORY_HOST;
  int64_t k = opt->k;
  cli_array shape;
  if (opt->cost_path != NULL) {
    if ((batch->cost = read_doubles(opt->cost_path, &shape)) == NULL) goto fail;
    if (shape.ndim == 3) {
      k = shape.shape[0];
      p->n = shape.shape[1];
      p->m = shape.shape[2];
    } else if (shape.ndim == 2) {
      p->cost_shared = 1;
      p->n = shape.shape[0];
      p->m = shape.shape[1];
    } else {
      fprintf(stderr, "bench_emd: the cost must be (k, n, m) or (n, m)\n");
      goto fail;
    }
    p->cost = batch->cost;
  } else if (opt->x_path != NULL && opt->y_path != NULL) {
    cli_array y_shape;
    if ((batch->x = read_doubles(opt->x_path, &shape)) == NULL) goto fail;
    if ((batch->y = read_doubles(opt->y_path, &y_shape)) == NULL) goto fail;
    if (shape.ndim != 3 || y_shape.ndim != 3 || shape.shape[0] != y_shape.shape[0] ||
        shape.shape[2] != y_shape.shape[2]) {
      fprintf(stderr, "bench_emd: x and y must be (k, n, d) and (k, m, d)\n");
      goto fail;
    }
    k = shape.shape[0];
    p->n = shape.shape[1];
    p->m = y_shape.shape[1];
    p->dim = shape.shape[2];
    p->x = batch->x;
    p->y = batch->y;
    p->metric = opt->metric;
  } else {
    fprintf(stderr, "bench_emd: give --cost, or --x and --y\n");
    goto fail;
  }
  const char *paths[2] = {opt->a_path, opt->b_path};
  for (int side = 0; side < 2; ++side) {
    if (paths[side] == NULL) continue;
    double *weights = read_doubles(paths[side], &shape);
    if (weights == NULL) goto fail;
    int shared = shape.ndim == 1;
    int64_t expected = side == 0 ? p->n : p->m;
    if (shape.shape[shape.ndim - 1] != expected || shape.ndim > 2) {
      fprintf(stderr, "bench_emd: %s has the wrong shape\n", paths[side]);
      free(weights);
      goto fail;
    }
    if (!shared) k = shape.shape[0];
    if (side == 0) {
      batch->a = weights;
      p->a = weights;
      p->a_shared = shared;
    } else {
      batch->b = weights;
      p->b = weights;
      p->b_shared = shared;
    }
  }
  if (k <= 0) {
    fprintf(stderr, "bench_emd: every array is shared: give --k\n");
    goto fail;
  }
  p->k = k;
  return 0;
fail:
  batch_free(batch);
  return 1;
}

/* ---- timing ---------------------------------------------------------------------------------- */

/* Times the batch at one thread count and prints its JSON line. `costs` receives the k costs. */
static int run_batch(normot_context *context, const options *opt, const emd_batch *batch,
                     int threads, double *costs, int32_t *status) {
  const normot_emd_problem *p = &batch->problem;
  normot_emd_params params;
  normot_emd_params_init(&params);
  params.solver = opt->solver;
  normot_emd_result result = {0};
  result.cost = costs;
  result.status = status;
  int64_t *iterations = malloc((size_t)p->k * sizeof(int64_t));
  double *seconds = malloc((size_t)opt->repeats * sizeof(double));
  result.iterations = iterations;

  normot_status call = normot_context_set_threads(context, threads);
  for (int r = -1; r < opt->repeats && call == NORMOT_SUCCESS; ++r) {
    double start = bench_now();
    call = normot_emd(context, p, &params, &result);
    if (r >= 0) seconds[r] = bench_now() - start;
  }

  printf("{\"bench\": \"emd\", \"name\": ");
  bench_print_json_string(stdout, batch->name);
  printf(
      ", \"k\": %lld, \"n\": %lld, \"m\": %lld, \"input\": \"%s\", \"a\": \"%s\", "
      "\"b\": \"%s\", \"backend\": \"%s\", \"solver\": \"%s\", \"threads\": %d, "
      "\"repeats\": %d",
      (long long)p->k, (long long)p->n, (long long)p->m,
      p->cost == NULL ? "point_clouds" : (p->cost_shared ? "shared_cost" : "cost_per_problem"),
      p->a == NULL ? "uniform" : (p->a_shared ? "shared" : "per_problem"),
      p->b == NULL ? "uniform" : (p->b_shared ? "shared" : "per_problem"),
      normot_backend_name(normot_context_backend(context)), solver_name(opt->solver), threads,
      opt->repeats);
  int failed = call != NORMOT_SUCCESS;
  if (failed) {
    printf(", \"error\": \"%s\", \"message\": ", normot_status_string(call));
    bench_print_json_string(stdout, normot_context_last_error(context));
    printf("}\n");
  } else {
    int64_t optimal = 0, total_iterations = 0;
    double cost_sum = 0.0;
    for (int64_t i = 0; i < p->k; ++i) {
      optimal += status[i] == NORMOT_EMD_OPTIMAL;
      total_iterations += iterations[i];
      cost_sum += costs[i];
    }
    double median = bench_median(seconds, opt->repeats);
    printf(
        ", \"seconds\": %.6f, \"seconds_min\": %.6f, \"seconds_per_problem\": %.9f, "
        "\"problems_optimal\": %lld, \"mean_iterations\": %.1f, \"cost_sum\": %.17g, "
        "\"cost_fingerprint\": \"%016llx\"}\n",
        median, seconds[0], median / (double)p->k, (long long)optimal,
        (double)total_iterations / (double)p->k, cost_sum,
        (unsigned long long)bench_fingerprint(costs, (size_t)p->k * sizeof(double)));
  }
  fflush(stdout);
  free(iterations);
  free(seconds);
  return failed;
}

static int run_all_thread_counts(normot_context *context, const options *opt,
                                 const emd_batch *batch, const char *out_cost_path) {
  const int64_t k = batch->problem.k;
  double *costs = malloc((size_t)k * sizeof(double));
  double *first_costs = malloc((size_t)k * sizeof(double));
  int32_t *status = malloc((size_t)k * sizeof(int32_t));
  if (costs == NULL || first_costs == NULL || status == NULL) {
    free(costs);
    free(first_costs);
    free(status);
    fprintf(stderr, "bench_emd: out of memory\n");
    return 1;
  }
  int failed = 0;
  for (int t = 0; t < opt->n_thread_counts && !failed; ++t) {
    failed |= run_batch(context, opt, batch, opt->thread_counts[t], costs, status);
    if (failed) break;
    if (t == 0) {
      memcpy(first_costs, costs, (size_t)k * sizeof(double));
      if (out_cost_path != NULL) {
        char error[512];
        cli_array array = {0};
        array.ndim = 1;
        array.shape[0] = k;
        array.type = NORMOT_FLOAT64;
        array.data = costs;
        if (cli_npy_write(out_cost_path, &array, error, sizeof error) != 0) {
          fprintf(stderr, "bench_emd: %s: %s\n", out_cost_path, error);
          failed = 1;
        }
      }
    } else if (memcmp(first_costs, costs, (size_t)k * sizeof(double)) != 0) {
      fprintf(stderr, "bench_emd: %s: costs differ between %d and %d threads\n", batch->name,
              opt->thread_counts[0], opt->thread_counts[t]);
    }
  }
  free(costs);
  free(first_costs);
  free(status);
  return failed;
}

static int case_selected(const options *opt, const char *name) {
  return strstr(opt->cases, name) != NULL;
}

int main(int argc, char **argv) {
  options opt;
  if (parse_options(argc, argv, &opt) != 0) return 2;
  normot_context *context = NULL;
  normot_status status = normot_context_create(&context, opt.backend, 0);
  if (status != NORMOT_SUCCESS) {
    fprintf(stderr, "bench_emd: cannot create a %s context: %s\n", normot_backend_name(opt.backend),
            normot_status_string(status));
    return 1;
  }

  int failed = 0;
  emd_batch batch;
  if (opt.cost_path != NULL || opt.x_path != NULL) {
    failed = make_file_case(&batch, &opt) != 0;
    if (!failed) {
      failed = run_all_thread_counts(context, &opt, &batch, opt.out_cost_path);
      batch_free(&batch);
    }
  } else {
    const int64_t divide = opt.quick ? 10 : 1;
    if (case_selected(&opt, "seed") &&
        make_cloud_case(&batch, "seed_n100_uniform", 1000 / divide, 100, 1, opt.seed) == 0) {
      failed |= run_all_thread_counts(context, &opt, &batch, NULL);
      batch_free(&batch);
    }
    if (case_selected(&opt, "nonuniform") &&
        make_cloud_case(&batch, "nonuniform_n500", 100 / divide, 500, 0, opt.seed) == 0) {
      failed |= run_all_thread_counts(context, &opt, &batch, NULL);
      batch_free(&batch);
    }
    if (case_selected(&opt, "single") &&
        make_cloud_case(&batch, "single_n1000", 1, 1000, 0, opt.seed) == 0) {
      failed |= run_all_thread_counts(context, &opt, &batch, NULL);
      batch_free(&batch);
    }
    if (case_selected(&opt, "grid") &&
        make_grid_case(&batch, "grid28_shared_cost", 100 / divide, 28, opt.seed) == 0) {
      failed |= run_all_thread_counts(context, &opt, &batch, NULL);
      batch_free(&batch);
    }
  }
  normot_context_destroy(context);
  return failed ? 1 : 0;
}
