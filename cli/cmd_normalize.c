/* normot normalize INPUT -o OUTPUT: Scanpy's normalize_total on a count matrix file. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "normalize_options.h"
#include "normot_io.h"
#include "progress.h"

static void print_help(FILE *stream) {
  fputs(
      "usage: normot normalize INPUT -o OUTPUT [options]\n"
      "\n"
      "Scales each cell (row) to the same total count, exactly as scanpy's\n"
      "sc.pp.normalize_total, optionally followed by log1p.\n"
      "\n"
      "INPUT   a Matrix Market file (.mtx or .mtx.gz, rows = cells, like scipy.io.mmread),\n"
      "        a 10x directory (matrix.mtx[.gz] + features + barcodes), a 10x .h5 or an\n"
      "        AnnData .h5ad.\n"
      "OUTPUT  .mtx, .mtx.gz (cells x genes; values written round-trip exact: 9 significant\n"
      "        digits for float32, 17 for float64) or .h5ad.\n"
      "\n"
      "options:\n"
      "  -o, --output PATH           where to write the normalized matrix (required)\n"
      "  --target-sum X              total of every cell after scaling (> 0); default: the\n"
      "                              median of the positive cell totals\n"
      "  --exclude-highly-expressed  leave out of the totals every gene that makes up more\n"
      "                              than --max-fraction of some cell's total\n"
      "  --max-fraction F            in [0, 1] (default 0.05)\n"
      "  --log1p                     apply natural log1p after scaling (sc.pp.log1p)\n"
      "  --size-factors FILE.npy     also write the size factors (total / target), one per\n"
      "                              cell, of the output dtype\n"
      "  --key-added NAME            .h5ad output: also write the size factors as the obs\n"
      "                              column NAME (scanpy's key_added)\n"
      "  --var-names gene_symbols|gene_ids\n"
      "                              10x input: what indexes var in an .h5ad output (default\n"
      "                              gene_symbols, as scanpy's readers; the other names go\n"
      "                              to a gene_ids or gene_symbols column)\n"
      "  --var-names-make-unique     10x input: rename repeated var names to NAME-1, NAME-2,\n"
      "                              ... (anndata's var_names_make_unique; a 10x directory's\n"
      "                              gene symbols are made unique anyway, as read_10x_mtx)\n"
      "  --dtype float32|float64     output type. Default: float32 for integer input (scanpy\n"
      "                              casts counts to float32), the input's own type for float\n"
      "                              input (float64 for a 'real' .mtx). Float input of the\n"
      "                              other type is converted before normalizing.\n"
      "  --transpose                 the input is genes x cells (for .mtx files; 10x inputs\n"
      "                              are transposed to cells x genes already)\n"
      "  --backend auto|cpu|cuda     default auto: CUDA if available, else CPU\n"
      "  --threads N                 CPU threads (default 0: as OpenMP, OMP_NUM_THREADS)\n"
      "  --max-memory SIZE           memory to stay within (bytes, or with a K, M or G\n"
      "                              suffix); default: the memory available. An .h5ad or\n"
      "                              10x .h5 input whose normalization needs more is streamed\n"
      "                              to an .h5ad output a block of rows (columns for CSC) at a\n"
      "                              time, to the same bytes\n"
      "  --quiet                     no summary or progress on stderr\n"
      "\n"
      "Exit status: 0 on success, 1 on bad input or failure, 2 on bad usage. On failure no\n"
      "output file is left behind.\n",
      stream);
}

static const char command[] = "normalize";

/* The checks that need every option: -1 when the options fit together, else 2 (bad usage). */
static int check_options(const normalize_options *options) {
  if (options->input == NULL) return cli_usage_error(command, "no INPUT given");
  if (options->output == NULL) return cli_usage_error(command, "no output given (-o OUTPUT)");
  char reason[512];
  if (cli_check_output_path(options->output, reason, sizeof reason) != 0)
    return cli_usage_error(command, "%s", reason);
  if (cli_output_replaces_input(options->output, options->input))
    return cli_usage_error(command, "the output %s would overwrite the input %s", options->output,
                           options->input);
  if (options->size_factors_path != NULL &&
      cli_output_replaces_input(options->size_factors_path, options->input))
    return cli_usage_error(command, "--size-factors %s would overwrite the input %s",
                           options->size_factors_path, options->input);
  if (options->size_factors_path != NULL &&
      cli_same_file(options->size_factors_path, options->output))
    return cli_usage_error(command, "--size-factors and the output are the same file");
  if (options->key_added != NULL && !cli_ends_with(options->output, ".h5ad"))
    return cli_usage_error(command, "--key-added writes an obs column: the output must be .h5ad");
  cli_input_kind kind = cli_input_kind_of(options->input);
  if ((options->var_names_given || options->make_unique) && kind != CLI_INPUT_10X_DIR &&
      kind != CLI_INPUT_10X_H5)
    return cli_usage_error(command,
                           "--var-names and --var-names-make-unique apply to 10x inputs (a "
                           "directory or .h5)");
  return -1;
}

/* The options without a value. 1 when argv's `arg` is one of them, else 0. */
static int take_flag(const char *arg, normalize_options *options) {
  if (strcmp(arg, "--exclude-highly-expressed") == 0)
    options->params.exclude_highly_expressed = 1;
  else if (strcmp(arg, "--log1p") == 0)
    options->params.log1p = 1;
  else if (strcmp(arg, "--transpose") == 0)
    options->transpose = 1;
  else if (strcmp(arg, "--var-names-make-unique") == 0)
    options->make_unique = 1;
  else if (strcmp(arg, "--quiet") == 0)
    cli_progress_set_quiet(1);
  else
    return 0;
  return 1;
}

/* The options that name what is written: -o, --size-factors, --key-added, --var-names. Returns 1
 * when it took argv[*i], 0 when it is another argument, 2 on bad usage (printed). */
static int take_output_option(int argc, char **argv, int *i, normalize_options *options) {
  const char *arg = argv[*i], *value = NULL;
  int taken;
  if ((taken = cli_take_value(argc, argv, i, "-o", &value)) != 0 ||
      (taken = cli_take_value(argc, argv, i, "--output", &value)) != 0) {
    if (taken < 0) return cli_usage_error(command, "%s needs a path", arg);
    options->output = value;
  } else if ((taken = cli_take_value(argc, argv, i, "--size-factors", &value)) != 0) {
    if (taken < 0) return cli_usage_error(command, "--size-factors needs a path");
    if (!cli_ends_with(value, ".npy"))
      return cli_usage_error(command, "--size-factors writes a .npy file; '%s' is not one", value);
    options->size_factors_path = value;
  } else if ((taken = cli_take_value(argc, argv, i, "--key-added", &value)) != 0) {
    if (taken < 0 || value[0] == '\0' || strchr(value, '/') != NULL || strcmp(value, "_index") == 0)
      return cli_usage_error(command,
                             "--key-added needs an obs column name without '/', other than "
                             "'_index'");
    options->key_added = value;
  } else if ((taken = cli_take_value(argc, argv, i, "--var-names", &value)) != 0) {
    if (taken >= 0 && strcmp(value, "gene_symbols") == 0)
      options->var_index = CLI_VAR_INDEX_SYMBOLS;
    else if (taken >= 0 && strcmp(value, "gene_ids") == 0)
      options->var_index = CLI_VAR_INDEX_IDS;
    else
      return cli_usage_error(command, "--var-names must be gene_symbols or gene_ids");
    options->var_names_given = 1;
  } else {
    return 0;
  }
  return 1;
}

/* The options that shape the numbers or the run: --target-sum, --max-fraction, --dtype,
 * --max-memory. Returns as take_output_option does. */
static int take_number_option(int argc, char **argv, int *i, normalize_options *options) {
  const char *value = NULL;
  int taken;
  normot_normalize_params *params = &options->params;
  if ((taken = cli_take_value(argc, argv, i, "--target-sum", &value)) != 0) {
    if (taken < 0) return cli_usage_error(command, "--target-sum needs a value");
    if (cli_parse_double(value, &params->target_sum) != 0 || !(params->target_sum > 0))
      return cli_usage_error(command, "--target-sum must be a finite number > 0, not '%s'", value);
    params->has_target_sum = 1;
  } else if ((taken = cli_take_value(argc, argv, i, "--max-fraction", &value)) != 0) {
    if (taken < 0) return cli_usage_error(command, "--max-fraction needs a value");
    if (cli_parse_double(value, &params->max_fraction) != 0 || params->max_fraction < 0 ||
        params->max_fraction > 1)
      return cli_usage_error(command, "--max-fraction must be a number in [0, 1], not '%s'", value);
  } else if ((taken = cli_take_value(argc, argv, i, "--max-memory", &value)) != 0) {
    if (taken < 0 || cli_parse_size(value, &options->max_memory) != 0)
      return cli_usage_error(command, "--max-memory needs a size such as 2G, 512M or 1000000");
  } else if ((taken = cli_take_value(argc, argv, i, "--dtype", &value)) != 0) {
    if (taken >= 0 && strcmp(value, "float32") == 0)
      options->dtype = NORMOT_FLOAT32;
    else if (taken >= 0 && strcmp(value, "float64") == 0)
      options->dtype = NORMOT_FLOAT64;
    else
      return cli_usage_error(command, "--dtype must be float32 or float64");
  } else {
    return 0;
  }
  return 1;
}

/* Returns -1 when the options are fine, else the exit code (0 for --help, 2 for bad usage). */
static int parse_options(int argc, char **argv, normalize_options *options) {
  memset(options, 0, sizeof *options);
  normot_normalize_params_init(&options->params);
  options->run.backend = NORMOT_BACKEND_AUTO;
  options->dtype = -1;
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      print_help(stdout);
      return 0;
    }
    if (take_flag(arg, options)) continue;
    int taken = take_output_option(argc, argv, &i, options);
    if (taken == 0) taken = take_number_option(argc, argv, &i, options);
    if (taken == 0) taken = cli_take_run_option(argc, argv, &i, command, &options->run);
    if (taken == 2) return 2;
    if (taken == 1) continue;
    if (arg[0] == '-' && arg[1] != '\0')
      return cli_usage_error(command, "unknown option '%s'", arg);
    if (options->input != NULL)
      return cli_usage_error(command, "more than one input ('%s' and '%s')", options->input, arg);
    options->input = arg;
  }
  return check_options(options);
}

static size_t float_size(normot_value_type type) {
  return type == NORMOT_FLOAT32 ? 4 : 8;
}

/* Converts float values between float32 and float64 (the library normalizes float input in its
 * own type). Returns 0, or 1 after printing a failure. */
static int convert_float_values(cli_matrix *matrix, normot_value_type to) {
  size_t count = matrix->nnz > 0 ? (size_t)matrix->nnz : 1;
  void *converted = malloc(count * float_size(to));
  if (converted == NULL)
    return cli_error("out of memory converting the values to %s",
                     to == NORMOT_FLOAT32 ? "float32" : "float64");
  if (to == NORMOT_FLOAT32) {
    const double *from = matrix->values;
    float *out = converted;
    for (int64_t i = 0; i < matrix->nnz; ++i) out[i] = (float)from[i];
  } else {
    const float *from = matrix->values;
    double *out = converted;
    for (int64_t i = 0; i < matrix->nnz; ++i) out[i] = (double)from[i];
  }
  free(matrix->values);
  matrix->values = converted;
  matrix->value_type = to;
  return 0;
}

/* The gene names that index var in an .h5ad output (symbols when asked and present). */
static char **var_index_names(const normalize_options *options, cli_matrix *matrix) {
  if (options->var_index == CLI_VAR_INDEX_SYMBOLS && matrix->col_symbols != NULL)
    return matrix->col_symbols;
  return matrix->col_names;
}

int cli_settle_var_names(const normalize_options *options, cli_matrix *matrix) {
  cli_input_kind kind = cli_input_kind_of(options->input);
  if (kind != CLI_INPUT_10X_DIR && kind != CLI_INPUT_10X_H5) return 0;
  char **names = var_index_names(options, matrix);
  int make_unique = options->make_unique ||
                    (kind == CLI_INPUT_10X_DIR && names == matrix->col_symbols && names != NULL);
  if (names != NULL && make_unique) {
    int collided = 0;
    if (cli_names_make_unique(names, matrix->n_cols, &collided) != 0)
      return cli_error("out of memory making the var names unique");
    if (collided)
      fputs(
          "normot: warning: Suffix used (-[0-9]+) to deduplicate index values may make index "
          "values difficult to interpret. There values with a similar suffixes in the index.\n",
          stderr);
  }
  if (kind != CLI_INPUT_10X_H5) return 0;
  if (names != NULL && cli_names_have_duplicates(names, matrix->n_cols) > 0)
    fputs(
        "normot: warning: Variable names are not unique. To make them unique, call "
        "`.var_names_make_unique` (normot: --var-names-make-unique).\n",
        stderr);
  if (matrix->row_names != NULL && cli_names_have_duplicates(matrix->row_names, matrix->n_rows) > 0)
    fputs(
        "normot: warning: Observation names are not unique. To make them unique, call "
        "`.obs_names_make_unique`.\n",
        stderr);
  return 0;
}

/* What an .h5ad output holds besides X. */
static cli_h5ad_output h5ad_output_for(const normalize_options *options, const void *size_factors) {
  cli_h5ad_output h5ad = {options->key_added != NULL ? size_factors : NULL,
                          options->key_added,
                          options->var_index,
                          options->params.log1p,
                          NULL,
                          NULL};
  /* An .h5ad input keeps everything but X; transposed, its obs and var no longer fit. */
  if (cli_input_kind_of(options->input) == CLI_INPUT_H5AD && !options->transpose)
    h5ad.source_h5ad = options->input;
  return h5ad;
}

static int is_float(normot_value_type type) {
  return type == NORMOT_FLOAT32 || type == NORMOT_FLOAT64;
}

/* One run of the command: the matrix, what normalize_total writes, and the times. */
typedef struct normalize_run {
  cli_matrix matrix;
  normot_value_type dtype;
  void *normalized;   /* the new values of count input (float input is scaled in place) */
  void *size_factors; /* when --size-factors or --key-added */
  normot_normalize_output output;
  double read_seconds, normalize_seconds, write_seconds;
} normalize_run;

/* The output type, the input's float values converted to it, and the output arrays. Returns 0,
 * or 1 after printing a failure. */
static int prepare_output(const normalize_options *options, normalize_run *run) {
  cli_matrix *matrix = &run->matrix;
  if (options->dtype >= 0)
    run->dtype = (normot_value_type)options->dtype;
  else
    run->dtype = is_float(matrix->value_type) ? matrix->value_type : NORMOT_FLOAT32;
  if (is_float(matrix->value_type) && matrix->value_type != run->dtype &&
      convert_float_values(matrix, run->dtype) != 0)
    return 1;
  run->output.value_type = run->dtype;
  if (!is_float(matrix->value_type)) {
    run->normalized = malloc((matrix->nnz > 0 ? (size_t)matrix->nnz : 1) * float_size(run->dtype));
    if (run->normalized == NULL) return cli_error("out of memory for the normalized values");
    run->output.values = run->normalized;
  }
  if (options->size_factors_path != NULL || options->key_added != NULL) {
    run->size_factors =
        malloc((matrix->n_rows > 0 ? (size_t)matrix->n_rows : 1) * float_size(run->dtype));
    if (run->size_factors == NULL) return cli_error("out of memory for the size factors");
    run->output.size_factors = run->size_factors;
  }
  return 0;
}

/* normalize_total on the matrix; the normalized values become the matrix's. */
static int normalize_matrix(normot_context *context, const normalize_options *options,
                            normalize_run *run) {
  cli_matrix *matrix = &run->matrix;
  normot_matrix view =
      normot_matrix_csr(matrix->n_rows, matrix->n_cols, matrix->nnz, matrix->indptr,
                        matrix->indices, NORMOT_INDEX_INT64, matrix->values, matrix->value_type);
  double start = cli_seconds();
  normot_status status = normot_normalize_total(context, &view, &options->params, &run->output);
  run->normalize_seconds = cli_seconds() - start;
  if (status != NORMOT_SUCCESS)
    return cli_error("%s: %s", options->input, normot_context_last_error(context));
  if (run->normalized != NULL) {
    free(matrix->values);
    matrix->values = run->normalized;
    matrix->value_type = run->dtype;
    run->normalized = NULL;
  }
  return 0;
}

/* The size factors are staged under a temporary name, the matrix is written (atomically), then
 * the size factors are renamed into place: a failure anywhere leaves neither. */
static int write_outputs(const normalize_options *options, normalize_run *run) {
  char error[1024];
  char *size_factors_temp = NULL;
  int exit_code = 0;
  if (options->size_factors_path != NULL) {
    size_factors_temp = cli_atomic_temp_name(options->size_factors_path);
    cli_array array = {
        .ndim = 1, .shape = {run->matrix.n_rows}, .type = run->dtype, .data = run->size_factors};
    if (size_factors_temp == NULL)
      exit_code = cli_error("out of memory");
    else if (cli_npy_write_staged(size_factors_temp, options->size_factors_path, &array, error,
                                  sizeof error) != 0)
      exit_code = cli_error("%s", error);
  }
  double start = cli_seconds();
  cli_h5ad_output h5ad = h5ad_output_for(options, run->size_factors);
  if (exit_code == 0 &&
      cli_write_matrix(options->output, &run->matrix, &h5ad, error, sizeof error) != 0)
    exit_code = cli_error("%s", error);
  if (exit_code == 0 && size_factors_temp != NULL) {
    if (cli_atomic_commit_path(size_factors_temp, options->size_factors_path) != 0) {
      exit_code = cli_error("cannot rename the finished file onto %s: %s",
                            options->size_factors_path, strerror(errno));
      unlink(options->output);
    }
    free(size_factors_temp);
    size_factors_temp = NULL;
  }
  cli_atomic_discard_path(size_factors_temp);
  run->write_seconds = cli_seconds() - start;
  return exit_code;
}

static void print_summary(const normot_context *context, const normalize_run *run) {
  const cli_matrix *matrix = &run->matrix;
  fprintf(stderr,
          "normot: normalized %lld cells x %lld genes (%lld stored values) to %s on %s: "
          "target %.9g, %lld all-zero cells, %lld excluded genes; read %.2f s, normalize "
          "%.3f s, write %.2f s\n",
          (long long)matrix->n_rows, (long long)matrix->n_cols, (long long)matrix->nnz,
          run->dtype == NORMOT_FLOAT32 ? "float32" : "float64",
          normot_backend_name(normot_context_backend(context)), run->output.target,
          (long long)run->output.n_zero_cells, (long long)run->output.n_excluded_genes,
          run->read_seconds, run->normalize_seconds, run->write_seconds);
}

int normot_cmd_normalize(int argc, char **argv) {
  normalize_options options;
  int usage = parse_options(argc, argv, &options);
  if (usage >= 0) return usage;

  cli_set_io_threads(options.run.threads);
  normot_context *context = cli_context(options.run.backend, options.run.threads);
  if (context == NULL) return 1;
  int streamed = cli_normalize_streaming(&options, context);
  if (streamed >= 0) {
    normot_context_destroy(context);
    return streamed;
  }

  double start = cli_seconds();
  char error[1024];
  normalize_run run;
  memset(&run, 0, sizeof run);
  if (cli_read_matrix(options.input, options.transpose, &run.matrix, error, sizeof error) != 0) {
    normot_context_destroy(context);
    return cli_error("%s", error);
  }
  run.read_seconds = cli_seconds() - start;
  int exit_code = cli_settle_var_names(&options, &run.matrix);
  if (exit_code == 0) exit_code = prepare_output(&options, &run);
  if (exit_code == 0) exit_code = normalize_matrix(context, &options, &run);
  if (exit_code == 0) exit_code = write_outputs(&options, &run);
  if (exit_code == 0 && cli_progress_enabled()) print_summary(context, &run);
  free(run.normalized);
  free(run.size_factors);
  cli_matrix_free(&run.matrix);
  normot_context_destroy(context);
  return exit_code;
}
