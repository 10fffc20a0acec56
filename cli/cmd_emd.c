/* normot emd: a batch of exact earth mover's distance problems from .npy arrays. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "normot_io.h"
#include "progress.h"

static void print_help(FILE *stream) {
  fputs(
      "usage: normot emd (--cost M.npy | --x X.npy --y Y.npy [--metric sqeuclidean|euclidean])\n"
      "                  [--a A.npy] [--b B.npy] --out-cost C.npy [--out-plan P.npy]\n"
      "                  [--out-u U.npy] [--out-v V.npy] [--out-status S.npy] [options]\n"
      "\n"
      "Solves k exact optimal transport problems min <G, M> s.t. G 1 = a, G^T 1 = b, G >= 0\n"
      "(POT's ot.emd / ot.emd2 for each problem). Inputs are .npy arrays (C order,\n"
      "float32 or float64; mixed inputs are computed in float64):\n"
      "  --cost M.npy   (n, m): one cost shared by every problem, or (k, n, m)\n"
      "  --x X.npy, --y Y.npy   point clouds (n, d) and (m, d) for one problem, or (k, n, d)\n"
      "                 and (k, m, d); costs are computed on the fly with --metric\n"
      "                 (default sqeuclidean)\n"
      "  --a A.npy      (n) shared by every problem, or (k, n); default uniform 1/n\n"
      "  --b B.npy      (m) or (k, m); default uniform 1/m\n"
      "The batch size k comes from whichever input has it; all that have it must agree.\n"
      "\n"
      "outputs (float64 unless said; always with the batch axis first, also for k = 1):\n"
      "  --out-cost C.npy     (k) optimal costs <G, M> (required)\n"
      "  --out-plan P.npy     (k, n, m) optimal plans\n"
      "  --out-u U.npy        (k, n) and --out-v V.npy (k, m): dual potentials, centred\n"
      "                       as POT's center_ot_dual\n"
      "  --out-status S.npy   (k) int32: 1 optimal, 3 iteration limit reached, 0 infeasible\n"
      "\n"
      "A sparse cost (one problem; pairs that are not edges are forbidden), as the arrays of a\n"
      "scipy.sparse CSR matrix (indptr, indices, data) and its number of columns:\n"
      "  --cost-indptr P.npy --cost-indices I.npy --cost-data D.npy --cost-cols M\n"
      "                 int32 or int64 indptr (n + 1) and indices (nnz), float data (nnz);\n"
      "                 --a/--b are (n) and (m); --out-cost/-u/-v/-status keep their\n"
      "                 batch axis of 1; the plan's positive entries, sorted by row then\n"
      "                 column, go to --out-plan-rows R.npy and --out-plan-cols C.npy\n"
      "                 (int64) and --out-plan-values V.npy (float64). Status 0 (infeasible)\n"
      "                 when the edges cannot carry the marginals.\n"
      "\n"
      "options:\n"
      "  --max-iter N               pivot limit per problem (default 0: no limit)\n"
      "  --no-marginal-check        accept sum(a) != sum(b): b is rescaled to sum(a), as POT\n"
      "  --backend auto|cpu|cuda    default auto: CUDA if available, else CPU\n"
      "  --threads N                CPU threads (default 0: as OpenMP, OMP_NUM_THREADS)\n"
      "  --quiet                    no summary on stderr\n"
      "\n"
      "Exit status: 0 on success (a problem that stopped at --max-iter is reported on\n"
      "stderr and in --out-status), 1 on bad input or failure, 2 on bad usage. Outputs are\n"
      "written under temporary names and renamed together at the end: on failure none is\n"
      "left behind.\n",
      stream);
}

enum {
  OUT_COST,
  OUT_PLAN,
  OUT_U,
  OUT_V,
  OUT_STATUS,
  OUT_PLAN_ROWS,
  OUT_PLAN_COLS,
  OUT_PLAN_VALUES,
  OUT_COUNT
};
static const char *const output_options[OUT_COUNT] = {
    "--out-cost",   "--out-plan",      "--out-u",         "--out-v",
    "--out-status", "--out-plan-rows", "--out-plan-cols", "--out-plan-values"};
enum { IN_COST, IN_X, IN_Y, IN_A, IN_B, IN_INDPTR, IN_INDICES, IN_DATA, IN_COUNT };
static const char *const input_options[IN_COUNT] = {
    "--cost", "--x", "--y", "--a", "--b", "--cost-indptr", "--cost-indices", "--cost-data"};

typedef struct emd_options {
  const char *inputs[IN_COUNT];
  const char *outputs[OUT_COUNT];
  normot_metric metric;
  int have_metric;
  normot_emd_params params;
  cli_run_options run;
  long long cost_cols; /* --cost-cols; -1 when not given */
} emd_options;

static const char command[] = "emd";

/* The options that go with a sparse cost, and only with it. -1 when they are consistent. */
static int check_sparse_options(const emd_options *options, int sparse_mode) {
  const char *const *in = options->inputs;
  const char *const *out = options->outputs;
  if (!sparse_mode) {
    if (options->cost_cols >= 0)
      return cli_usage_error(command, "--cost-cols goes with a sparse cost (--cost-indptr)");
    for (int k = OUT_PLAN_ROWS; k <= OUT_PLAN_VALUES; ++k)
      if (out[k] != NULL)
        return cli_usage_error(command, "%s goes with a sparse cost (--cost-indptr)",
                               output_options[k]);
    return -1;
  }
  if (in[IN_INDPTR] == NULL || in[IN_INDICES] == NULL || in[IN_DATA] == NULL ||
      options->cost_cols < 0)
    return cli_usage_error(command,
                           "a sparse cost needs --cost-indptr, --cost-indices, --cost-data and "
                           "--cost-cols");
  if (out[OUT_PLAN] != NULL)
    return cli_usage_error(command,
                           "--out-plan is dense; with a sparse cost use --out-plan-rows, "
                           "--out-plan-cols and --out-plan-values");
  if (options->have_metric)
    return cli_usage_error(command, "--metric applies to --x/--y point clouds only");
  return -1;
}

/* The input and output paths. Returns 1 when it took argv[*i], 0 for another argument, 2 on bad
 * usage (printed). */
static int take_path_option(int argc, char **argv, int *i, emd_options *options) {
  const char *value = NULL;
  int taken;
  for (int k = 0; k < IN_COUNT; ++k) {
    if ((taken = cli_take_value(argc, argv, i, input_options[k], &value)) != 0) {
      if (taken < 0) return cli_usage_error(command, "%s needs a path", input_options[k]);
      options->inputs[k] = value;
      return 1;
    }
  }
  for (int k = 0; k < OUT_COUNT; ++k) {
    if ((taken = cli_take_value(argc, argv, i, output_options[k], &value)) != 0) {
      if (taken < 0) return cli_usage_error(command, "%s needs a path", output_options[k]);
      if (!cli_ends_with(value, ".npy"))
        return cli_usage_error(command, "%s writes a .npy file; '%s' is not one", output_options[k],
                               value);
      options->outputs[k] = value;
      return 1;
    }
  }
  return 0;
}

/* --metric, --max-iter and --cost-cols. Returns as take_path_option does. */
static int take_solver_option(int argc, char **argv, int *i, emd_options *options) {
  const char *value = NULL;
  int taken;
  if ((taken = cli_take_value(argc, argv, i, "--metric", &value)) != 0) {
    if (taken >= 0 && strcmp(value, "sqeuclidean") == 0)
      options->metric = NORMOT_METRIC_SQEUCLIDEAN;
    else if (taken >= 0 && strcmp(value, "euclidean") == 0)
      options->metric = NORMOT_METRIC_EUCLIDEAN;
    else
      return cli_usage_error(command, "--metric must be sqeuclidean or euclidean");
    options->have_metric = 1;
  } else if ((taken = cli_take_value(argc, argv, i, "--max-iter", &value)) != 0) {
    long long max_iter = 0;
    if (taken < 0 || cli_parse_int64(value, &max_iter) != 0 || max_iter < 0)
      return cli_usage_error(command, "--max-iter must be an integer >= 0");
    options->params.max_iter = max_iter;
  } else if ((taken = cli_take_value(argc, argv, i, "--cost-cols", &value)) != 0) {
    if (taken < 0 || cli_parse_int64(value, &options->cost_cols) != 0 || options->cost_cols < 1)
      return cli_usage_error(command, "--cost-cols must be an integer >= 1");
  } else {
    return 0;
  }
  return 1;
}

/* No output may name another output's file, nor replace an input. */
static int check_output_files(const emd_options *options) {
  const char *const *in = options->inputs;
  for (int k = 0; k < OUT_COUNT; ++k) {
    if (options->outputs[k] == NULL) continue;
    for (int j = k + 1; j < OUT_COUNT; ++j)
      if (options->outputs[j] != NULL && cli_same_file(options->outputs[k], options->outputs[j]))
        return cli_usage_error(command, "%s and %s name the same file", output_options[k],
                               output_options[j]);
    for (int j = 0; j < IN_COUNT; ++j)
      if (in[j] != NULL && cli_output_replaces_input(options->outputs[k], in[j]))
        return cli_usage_error(command, "%s would overwrite the input %s", output_options[k],
                               input_options[j]);
  }
  return -1;
}

/* The checks that need every option: -1 when they fit together, else 2 (bad usage). */
static int check_options(const emd_options *options) {
  const char *const *in = options->inputs;
  int cost_mode = in[IN_COST] != NULL;
  int cloud_mode = in[IN_X] != NULL || in[IN_Y] != NULL;
  int sparse_mode = in[IN_INDPTR] != NULL || in[IN_INDICES] != NULL || in[IN_DATA] != NULL;
  if (cost_mode + cloud_mode + sparse_mode > 1)
    return cli_usage_error(command,
                           "give one of --cost, --x and --y, or --cost-indptr/-indices/-data");
  if (!cost_mode && !cloud_mode && !sparse_mode)
    return cli_usage_error(command, "give --cost or --x and --y");
  int usage = check_sparse_options(options, sparse_mode);
  if (usage >= 0) return usage;
  if (cloud_mode && (in[IN_X] == NULL || in[IN_Y] == NULL))
    return cli_usage_error(command, "--x and --y go together");
  if (cost_mode && options->have_metric)
    return cli_usage_error(command, "--metric applies to --x/--y point clouds only");
  if (options->outputs[OUT_COST] == NULL) return cli_usage_error(command, "--out-cost is required");
  return check_output_files(options);
}

static int parse_options(int argc, char **argv, emd_options *options) {
  memset(options, 0, sizeof *options);
  normot_emd_params_init(&options->params);
  options->run.backend = NORMOT_BACKEND_AUTO;
  options->metric = NORMOT_METRIC_SQEUCLIDEAN;
  options->cost_cols = -1;
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      print_help(stdout);
      return 0;
    }
    if (strcmp(arg, "--quiet") == 0) {
      cli_progress_set_quiet(1);
      continue;
    }
    if (strcmp(arg, "--no-marginal-check") == 0) {
      options->params.check_marginals = 0;
      continue;
    }
    int taken = take_path_option(argc, argv, &i, options);
    if (taken == 0) taken = take_solver_option(argc, argv, &i, options);
    if (taken == 0) taken = cli_take_run_option(argc, argv, &i, command, &options->run);
    if (taken == 2) return 2;
    if (taken == 1) continue;
    if (arg[0] == '-') return cli_usage_error(command, "unknown option '%s'", arg);
    return cli_usage_error(command, "unexpected argument '%s'", arg);
  }
  return check_options(options);
}

/* ---- shapes ---------------------------------------------------------------------------------- */

typedef struct batch_shape {
  int64_t k, n, m, dim;
  int k_known;
  const char *k_source;
} batch_shape;

static void format_shape(const cli_array *array, char *out, size_t size) {
  int used = snprintf(out, size, "(");
  for (int d = 0; d < array->ndim; ++d)
    used += snprintf(out + used, size - (size_t)used, "%s%lld", d > 0 ? ", " : "",
                     (long long)array->shape[d]);
  snprintf(out + used, size - (size_t)used, "%s)", array->ndim == 1 ? "," : "");
}

/* Records that `source` says the batch holds k problems; 1 on a contradiction (printed). */
static int agree_on_k(batch_shape *shape, int64_t k, const char *source) {
  if (!shape->k_known) {
    shape->k = k;
    shape->k_known = 1;
    shape->k_source = source;
    return 0;
  }
  if (shape->k != k)
    return cli_error("%s has %lld problems but %s has %lld", source, (long long)k, shape->k_source,
                     (long long)shape->k);
  return 0;
}

/* Sets n, m (and dim) from the cost or the point clouds; k where they carry it. */
static int shape_from_costs(const emd_options *options, const cli_array *arrays,
                            batch_shape *shape) {
  char text[128];
  if (options->inputs[IN_COST] != NULL) {
    const cli_array *cost = &arrays[IN_COST];
    if (cost->ndim == 2) {
      shape->n = cost->shape[0];
      shape->m = cost->shape[1];
    } else if (cost->ndim == 3) {
      shape->n = cost->shape[1];
      shape->m = cost->shape[2];
      if (agree_on_k(shape, cost->shape[0], "--cost") != 0) return 1;
    } else {
      format_shape(cost, text, sizeof text);
      return cli_error("--cost %s: shape %s, expected (n, m) or (k, n, m)",
                       options->inputs[IN_COST], text);
    }
    return 0;
  }
  const cli_array *x = &arrays[IN_X], *y = &arrays[IN_Y];
  if ((x->ndim != 2 && x->ndim != 3) || y->ndim != x->ndim) {
    char x_text[128];
    format_shape(x, x_text, sizeof x_text);
    format_shape(y, text, sizeof text);
    return cli_error(
        "--x has shape %s and --y %s: expected (n, d) and (m, d), or (k, n, d) and "
        "(k, m, d)",
        x_text, text);
  }
  int batched = x->ndim == 3;
  shape->n = x->shape[batched];
  shape->m = y->shape[batched];
  shape->dim = x->shape[batched + 1];
  if (y->shape[batched + 1] != shape->dim)
    return cli_error("--x points have %lld coordinates but --y points have %lld",
                     (long long)shape->dim, (long long)y->shape[batched + 1]);
  if (shape->dim < 1) return cli_error("--x and --y points have no coordinates (d = 0)");
  if (batched) {
    if (agree_on_k(shape, x->shape[0], "--x") != 0) return 1;
    if (agree_on_k(shape, y->shape[0], "--y") != 0) return 1;
  } else if (agree_on_k(shape, 1, "--x (one point cloud)") != 0) {
    return 1;
  }
  return 0;
}

/* The weight vector `which` (IN_A or IN_B): (size) shared, or (k, size). Sets *shared. */
static int check_weights(const emd_options *options, const cli_array *arrays, int which,
                         batch_shape *shape, int *shared) {
  const cli_array *weights = &arrays[which];
  const char *option = input_options[which], *path = options->inputs[which];
  const int64_t size = which == IN_A ? shape->n : shape->m;
  const char *size_name = which == IN_A ? "n" : "m";
  char text[128];
  format_shape(weights, text, sizeof text);
  if (weights->ndim == 1 && weights->shape[0] == size) {
    *shared = 1;
    return 0;
  }
  if (weights->ndim == 2 && weights->shape[1] == size) {
    *shared = 0;
    return agree_on_k(shape, weights->shape[0], option);
  }
  return cli_error("%s %s: shape %s does not match %s = %lld (expected (%s,) or (k, %s))", option,
                   path, text, size_name, (long long)size, size_name, size_name);
}

/* ---- type unification ------------------------------------------------------------------------ */

static int promote_to_float64(cli_array *array) {
  if (array->type == NORMOT_FLOAT64) return 0;
  int64_t count = cli_array_size(array);
  double *converted = malloc((count > 0 ? (size_t)count : 1) * sizeof *converted);
  if (converted == NULL) return cli_error("out of memory converting an input to float64");
  const float *from = array->data;
  for (int64_t i = 0; i < count; ++i) converted[i] = from[i];
  free(array->data);
  array->data = converted;
  array->type = NORMOT_FLOAT64;
  return 0;
}

/* ---- outputs --------------------------------------------------------------------------------- */

/* Writes every requested output under a temporary name, then renames them all. Returns 0, or
 * 1 after printing a failure (and removing whatever it had written). */
static int write_outputs(const emd_options *options, cli_array *outputs) {
  char *temps[OUT_COUNT] = {NULL};
  char error[1024];
  int exit_code = 0;
  for (int k = 0; k < OUT_COUNT && exit_code == 0; ++k) {
    if (options->outputs[k] == NULL) continue;
    temps[k] = cli_atomic_temp_name(options->outputs[k]);
    if (temps[k] == NULL)
      exit_code = cli_error("out of memory");
    else if (cli_npy_write_staged(temps[k], options->outputs[k], &outputs[k], error,
                                  sizeof error) != 0)
      exit_code = cli_error("%s", error);
  }
  int committed[OUT_COUNT] = {0};
  for (int k = 0; k < OUT_COUNT && exit_code == 0; ++k) {
    if (temps[k] == NULL) continue;
    if (cli_atomic_commit_path(temps[k], options->outputs[k]) != 0) {
      exit_code = cli_error("cannot rename the finished file onto %s: %s", options->outputs[k],
                            strerror(errno));
    } else {
      committed[k] = 1;
    }
    free(temps[k]);
    temps[k] = NULL;
  }
  for (int k = 0; k < OUT_COUNT; ++k) {
    cli_atomic_discard_path(temps[k]);
    if (exit_code != 0 && committed[k]) remove(options->outputs[k]);
  }
  return exit_code;
}

/* ---- the command ----------------------------------------------------------------------------- */

/* indptr and indices are integers; every other input is float. */
static int dtype_allowed(int input, normot_value_type type) {
  if (input == IN_INDPTR || input == IN_INDICES)
    return type == NORMOT_INT32 || type == NORMOT_INT64;
  return type == NORMOT_FLOAT32 || type == NORMOT_FLOAT64;
}

static const char *dtype_name(normot_value_type type) {
  switch (type) {
    case NORMOT_FLOAT32: return "float32";
    case NORMOT_FLOAT64: return "float64";
    case NORMOT_INT32: return "int32";
    default: return "int64";
  }
}

/* What a solve reports for the summary line. */
typedef struct run_summary {
  int64_t k, n, m;
  double seconds;
  normot_context *context;
} run_summary;

/* Runs normot_emd (or normot_emd_sparse) with the context of the options; 0 or 1 (printed). */
static int report_status(normot_status status, const run_summary *summary) {
  if (status == NORMOT_ERROR_UNBALANCED)
    return cli_error("%s (on the command line: --no-marginal-check)",
                     normot_context_last_error(summary->context));
  if (status != NORMOT_SUCCESS) return cli_error("%s", normot_context_last_error(summary->context));
  return 0;
}

/* One problem on a sparse cost (--cost-indptr/-indices/-data, --cost-cols). */
static int run_sparse(const emd_options *options, cli_array *arrays, cli_array *outputs,
                      run_summary *summary) {
  const cli_array *indptr = &arrays[IN_INDPTR], *indices = &arrays[IN_INDICES];
  cli_array *data = &arrays[IN_DATA];
  if (indptr->ndim != 1 || indptr->shape[0] < 2)
    return cli_error("--cost-indptr %s: expected a vector of n + 1 >= 2 offsets",
                     options->inputs[IN_INDPTR]);
  if (indices->ndim != 1 || data->ndim != 1 || indices->shape[0] != data->shape[0])
    return cli_error("--cost-indices and --cost-data must be vectors of the same length (nnz)");
  if (indices->type != indptr->type)
    return cli_error("--cost-indptr and --cost-indices must have the same dtype");
  const int64_t n = indptr->shape[0] - 1, m = options->cost_cols, nnz = data->shape[0];
  normot_value_type type = data->type;
  for (int k = IN_A; k <= IN_B; ++k)
    if (options->inputs[k] != NULL && arrays[k].type == NORMOT_FLOAT64) type = NORMOT_FLOAT64;
  for (int k = IN_A; k <= IN_DATA; ++k) {
    if (k == IN_INDPTR || k == IN_INDICES || options->inputs[k] == NULL) continue;
    if (type == NORMOT_FLOAT64 && promote_to_float64(&arrays[k]) != 0) return 1;
  }
  const int64_t sizes[2] = {n, m};
  for (int k = IN_A; k <= IN_B; ++k)
    if (options->inputs[k] != NULL &&
        (arrays[k].ndim != 1 || arrays[k].shape[0] != sizes[k - IN_A]))
      return cli_error("%s %s: expected a vector of %lld weights", input_options[k],
                       options->inputs[k], (long long)sizes[k - IN_A]);
  const struct {
    int which;
    int ndim;
    int64_t shape[2];
    normot_value_type type;
  } layout[] = {
      {OUT_COST, 1, {1, 0}, NORMOT_FLOAT64},
      {OUT_U, 2, {1, n}, NORMOT_FLOAT64},
      {OUT_V, 2, {1, m}, NORMOT_FLOAT64},
      {OUT_STATUS, 1, {1, 0}, NORMOT_INT32},
      {OUT_PLAN_ROWS, 1, {n + m - 1, 0}, NORMOT_INT64},
      {OUT_PLAN_COLS, 1, {n + m - 1, 0}, NORMOT_INT64},
      {OUT_PLAN_VALUES, 1, {n + m - 1, 0}, NORMOT_FLOAT64},
  };
  for (size_t j = 0; j < sizeof layout / sizeof layout[0]; ++j) {
    cli_array *out = &outputs[layout[j].which];
    out->ndim = layout[j].ndim;
    out->type = layout[j].type;
    for (int d = 0; d < out->ndim; ++d) out->shape[d] = layout[j].shape[d];
    out->data = calloc((size_t)cli_array_size(out), out->type == NORMOT_INT32 ? 4 : 8);
    if (out->data == NULL) return cli_error("out of memory for the outputs");
  }
  summary->context = cli_context(options->run.backend, options->run.threads);
  if (summary->context == NULL) return 1;
  normot_emd_sparse_problem problem = {
      n,
      m,
      nnz,
      type,
      arrays[IN_A].data,
      arrays[IN_B].data,
      indptr->data,
      indices->data,
      indptr->type == NORMOT_INT32 ? NORMOT_INDEX_INT32 : NORMOT_INDEX_INT64,
      data->data,
      NORMOT_MEMORY_HOST};
  int64_t count = 0;
  normot_emd_result result;
  memset(&result, 0, sizeof result);
  result.cost = outputs[OUT_COST].data;
  result.u = outputs[OUT_U].data, result.v = outputs[OUT_V].data;
  result.status = outputs[OUT_STATUS].data;
  result.sparse_row = outputs[OUT_PLAN_ROWS].data, result.sparse_col = outputs[OUT_PLAN_COLS].data;
  result.sparse_value = outputs[OUT_PLAN_VALUES].data, result.sparse_count = &count;
  double start = cli_seconds();
  int exit_code = report_status(
      normot_emd_sparse(summary->context, &problem, &options->params, &result), summary);
  summary->k = 1, summary->n = n, summary->m = m, summary->seconds = cli_seconds() - start;
  /* The plan files hold exactly its positive entries. */
  for (int k = OUT_PLAN_ROWS; k <= OUT_PLAN_VALUES; ++k) outputs[k].shape[0] = count;
  return exit_code;
}

/* A batch of dense costs or point clouds, as the arrays describe it. */
typedef struct dense_batch {
  batch_shape shape;
  int a_shared, b_shared;
  normot_value_type type;
} dense_batch;

/* The batch's shape from the costs or clouds and the weights, and that it has something to
 * solve. Returns 0, or 1 (printed). */
static int dense_shape(const emd_options *options, const cli_array *arrays, dense_batch *batch) {
  batch_shape *shape = &batch->shape;
  int exit_code = shape_from_costs(options, arrays, shape);
  if (exit_code == 0 && options->inputs[IN_A] != NULL)
    exit_code = check_weights(options, arrays, IN_A, shape, &batch->a_shared);
  if (exit_code == 0 && options->inputs[IN_B] != NULL)
    exit_code = check_weights(options, arrays, IN_B, shape, &batch->b_shared);
  if (exit_code != 0) return exit_code;
  if (!shape->k_known) shape->k = 1;
  if ((shape->n == 0 || shape->m == 0) && shape->k > 0)
    return cli_error("empty problems (n = %lld, m = %lld): nothing to transport",
                     (long long)shape->n, (long long)shape->m);
  /* A single point cloud cannot serve a batch: its problems would all be the same one. */
  if (options->inputs[IN_X] != NULL && arrays[IN_X].ndim == 2 && shape->k != 1)
    return cli_error("--x and --y hold one problem's points but %s has %lld problems",
                     shape->k_source, (long long)shape->k);
  return 0;
}

/* One value type for the whole problem: float32 only if every input is float32. */
static int unify_types(const emd_options *options, cli_array *arrays, dense_batch *batch) {
  batch->type = NORMOT_FLOAT32;
  for (int k = 0; k < IN_COUNT; ++k)
    if (options->inputs[k] != NULL && arrays[k].type == NORMOT_FLOAT64)
      batch->type = NORMOT_FLOAT64;
  for (int k = 0; k < IN_COUNT && batch->type == NORMOT_FLOAT64; ++k)
    if (options->inputs[k] != NULL && promote_to_float64(&arrays[k]) != 0) return 1;
  return 0;
}

/* The output arrays of a dense batch; sizes checked for overflow and against the machine's
 * memory before allocating. Returns 0, or 1 (printed). */
static int allocate_dense_outputs(const emd_options *options, const batch_shape *shape,
                                  cli_array *outputs) {
  const int64_t k = shape->k, n = shape->n, m = shape->m;
  int64_t plan_count = 0;
  if (options->outputs[OUT_PLAN] != NULL && (__builtin_mul_overflow(k, n, &plan_count) ||
                                             __builtin_mul_overflow(plan_count, m, &plan_count) ||
                                             (uint64_t)plan_count > SIZE_MAX / sizeof(double)))
    return cli_error("the plans (%lld x %lld x %lld) are too large to hold", (long long)k,
                     (long long)n, (long long)m);
  /* calloc of more than the machine holds may "succeed" and only fail when the solver touches
   * the pages: refuse up front instead. */
  double output_bytes = 8.0 * ((double)plan_count + (double)k * (double)(n + m + 2));
  long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  double memory = pages > 0 && page_size > 0 ? (double)pages * (double)page_size : 1e300;
  if (output_bytes > memory)
    return cli_error(
        "the outputs asked for need %.1f GiB, more than the %.1f GiB of "
        "memory here (leave out --out-plan?)",
        output_bytes / 1073741824.0, memory / 1073741824.0);
  const struct {
    int ndim;
    int64_t shape[3];
    normot_value_type type;
  } layout[OUT_STATUS + 1] = {
      [OUT_COST] = {1, {k, 0, 0}, NORMOT_FLOAT64}, [OUT_PLAN] = {3, {k, n, m}, NORMOT_FLOAT64},
      [OUT_U] = {2, {k, n, 0}, NORMOT_FLOAT64},    [OUT_V] = {2, {k, m, 0}, NORMOT_FLOAT64},
      [OUT_STATUS] = {1, {k, 0, 0}, NORMOT_INT32},
  };
  for (int j = 0; j <= OUT_STATUS; ++j) {
    /* Status is always computed, for the summary; cost is required anyway. */
    if (options->outputs[j] == NULL && j != OUT_STATUS) continue;
    cli_array *out = &outputs[j];
    out->ndim = layout[j].ndim;
    out->type = layout[j].type;
    for (int d = 0; d < out->ndim; ++d) out->shape[d] = layout[j].shape[d];
    int64_t count = cli_array_size(out);
    out->data = calloc(count > 0 ? (size_t)count : 1, out->type == NORMOT_INT32 ? 4 : 8);
    if (out->data == NULL)
      return cli_error("out of memory for the %s output (%lld values)", output_options[j] + 6,
                       (long long)count);
  }
  return 0;
}

/* normot_emd on the batch, into the output arrays. Returns 0, or 1 (printed). */
static int solve_dense(const emd_options *options, const cli_array *arrays,
                       const dense_batch *batch, cli_array *outputs, run_summary *summary) {
  normot_emd_problem problem;
  memset(&problem, 0, sizeof problem);
  problem.k = batch->shape.k;
  problem.n = batch->shape.n;
  problem.m = batch->shape.m;
  problem.value_type = batch->type;
  problem.memory = NORMOT_MEMORY_HOST;
  problem.a = arrays[IN_A].data;
  problem.a_shared = batch->a_shared;
  problem.b = arrays[IN_B].data;
  problem.b_shared = batch->b_shared;
  if (options->inputs[IN_COST] != NULL) {
    problem.cost = arrays[IN_COST].data;
    problem.cost_shared = arrays[IN_COST].ndim == 2;
  } else {
    problem.x = arrays[IN_X].data;
    problem.y = arrays[IN_Y].data;
    problem.dim = batch->shape.dim;
    problem.metric = options->metric;
  }
  normot_emd_result result;
  memset(&result, 0, sizeof result);
  result.cost = outputs[OUT_COST].data;
  result.plan = outputs[OUT_PLAN].data;
  result.u = outputs[OUT_U].data;
  result.v = outputs[OUT_V].data;
  result.status = outputs[OUT_STATUS].data;
  double start = cli_seconds();
  normot_status status = normot_emd(summary->context, &problem, &options->params, &result);
  summary->seconds = cli_seconds() - start;
  return report_status(status, summary);
}

/* The batch of dense costs or point clouds. */
static int run_dense(const emd_options *options, cli_array *arrays, cli_array *outputs,
                     run_summary *summary) {
  dense_batch batch = {0};
  int exit_code = dense_shape(options, arrays, &batch);
  if (exit_code == 0) exit_code = unify_types(options, arrays, &batch);
  if (exit_code == 0) exit_code = allocate_dense_outputs(options, &batch.shape, outputs);
  if (exit_code == 0) {
    summary->context = cli_context(options->run.backend, options->run.threads);
    if (summary->context == NULL) exit_code = 1;
  }
  summary->seconds = 0;
  if (exit_code == 0) exit_code = solve_dense(options, arrays, &batch, outputs, summary);
  summary->k = batch.shape.k, summary->n = batch.shape.n, summary->m = batch.shape.m;
  return exit_code;
}

int normot_cmd_emd(int argc, char **argv) {
  emd_options options;
  int usage = parse_options(argc, argv, &options);
  if (usage >= 0) return usage;

  cli_array arrays[IN_COUNT];
  cli_array outputs[OUT_COUNT];
  memset(arrays, 0, sizeof arrays);
  memset(outputs, 0, sizeof outputs);
  char error[1024];
  int exit_code = 0;

  for (int k = 0; k < IN_COUNT && exit_code == 0; ++k) {
    if (options.inputs[k] == NULL) continue;
    if (cli_npy_read(options.inputs[k], &arrays[k], error, sizeof error) != 0) {
      exit_code = cli_error("%s", error);
    } else if (!dtype_allowed(k, arrays[k].type)) {
      int is_index = k == IN_INDPTR || k == IN_INDICES;
      exit_code = cli_error("%s %s: dtype %s is not supported (use %s)", input_options[k],
                            options.inputs[k], dtype_name(arrays[k].type),
                            is_index ? "int32 or int64" : "float32 or float64");
    }
  }

  run_summary summary = {0, 0, 0, 0.0, NULL};
  if (exit_code == 0)
    exit_code = options.inputs[IN_INDPTR] != NULL ? run_sparse(&options, arrays, outputs, &summary)
                                                  : run_dense(&options, arrays, outputs, &summary);
  if (exit_code == 0) exit_code = write_outputs(&options, outputs);

  if (exit_code == 0) {
    const int32_t *statuses = outputs[OUT_STATUS].data;
    int64_t not_optimal = 0;
    const int64_t k = summary.k;
    for (int64_t i = 0; i < k; ++i) not_optimal += statuses[i] != NORMOT_EMD_OPTIMAL;
    if (not_optimal > 0)
      fprintf(stderr,
              "normot: warning: %lld of %lld problems did not reach optimality (iteration limit "
              "or infeasible; see --out-status)\n",
              (long long)not_optimal, (long long)k);
    if (cli_progress_enabled())
      fprintf(stderr, "normot: solved %lld problems of %lld x %lld on %s in %.3f s\n", (long long)k,
              (long long)summary.n, (long long)summary.m,
              normot_backend_name(normot_context_backend(summary.context)), summary.seconds);
  }
  for (int j = 0; j < IN_COUNT; ++j) cli_array_free(&arrays[j]);
  for (int j = 0; j < OUT_COUNT; ++j) cli_array_free(&outputs[j]);
  normot_context_destroy(summary.context);
  return exit_code;
}
