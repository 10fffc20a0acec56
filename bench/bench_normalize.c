/* bench_normalize: normot_normalize_total on seeded synthetic count matrices, each case against
 * its own stream floor measured in the same process.
 *
 * Shapes (--shapes, default both): 200000 x 20000 (about 1000 stored values per cell at density
 * 0.05; long rows) and 1000000 x 2000 (about 100 per cell; short rows, as after selecting highly
 * variable genes). Cases (--cases):
 *   median          CSR float32, target = median of the totals, values checked (two passes)
 *   target_sum      CSR float32, target_sum, check_values = 0 (one fused pass)
 *   log1p           target_sum with the fused log1p
 *   f64_median, f64_target_sum        the same on float64 values
 *   csc_median      CSC float32 (the same matrix transposed in memory), median target
 *   dense_median, dense_target_sum    the first rows of the matrix as a dense float32 array of
 *                   about 256 MiB
 *   out_median, out_target_sum        CSR float32 into an output array of its own (the input
 *                   left unchanged), as the package's inplace=False does; the same floors
 * Each case prints one JSON line: the median time of --repeats runs after a warm-up, and, timed
 * in the same loop, a parallel copy of the case's values (it restores the pristine values before
 * each run) and a parallel read of them, with the same threads. The floor of a case is the time
 * those streams need for the bytes it must move:
 *   two-pass cases (median): read the values (and CSC's row indices) once, then read and write
 *     the values (and read the row indices again for CSC): read + copy (+ 2 index reads);
 *   one-pass cases (target_sum, log1p): read and write the values once: the copy.
 * `fraction_of_stream_floor` = floor / time (1.0 = as fast as the streams themselves).
 *
 * --dump DIR writes, for the first shape, the CSR input (indptr.npy, indices.npy, data.npy) and
 * the median and target_sum outputs (out_median.npy, out_target_sum.npy) at the first thread
 * count, so that compare_scanpy.py checks scanpy on the same matrix. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "normalize_cases.h"
#include "normot/normot.h"
#include "normot_io.h"
#include "synthetic.h"

enum { MAX_SHAPES = 8 };

typedef struct options {
  synth_counts_params data;
  int64_t shape_cells[MAX_SHAPES], shape_genes[MAX_SHAPES];
  int n_shapes;
  int quick;
  bench_case_settings settings;
  int thread_counts[BENCH_MAX_THREAD_COUNTS];
  int n_thread_counts;
  normot_backend backend;
  const char *cases;
  const char *dump_dir;
} options;

static void usage(FILE *stream) {
  fprintf(stream,
          "usage: bench_normalize [--quick] [--shapes CxG,...] [--density D] [--seed S]\n"
          "                       [--repeats R] [--threads LIST] [--backend cpu|cuda|auto]\n"
          "                       [--cases LIST] [--target-sum X] [--dump DIR]\n"
          "  shapes: cells x genes, default 200000x20000,1000000x2000; --quick: cells / 10\n"
          "  cases: median,target_sum,log1p,f64_median,f64_target_sum,csc_median,dense_median,\n"
          "         dense_target_sum,out_median,out_target_sum (default median,target_sum,log1p)\n"
          "  LIST: comma-separated thread counts, 'all' = every core (default 1,all)\n");
}

static int parse_shapes(const char *text, options *opt) {
  opt->n_shapes = 0;
  const char *at = text;
  while (*at != '\0' && opt->n_shapes < MAX_SHAPES) {
    char *stop;
    long long cells = strtoll(at, &stop, 10);
    if (*stop != 'x') return 1;
    long long genes = strtoll(stop + 1, &stop, 10);
    if (cells < 1 || genes < 1 || (*stop != ',' && *stop != '\0')) return 1;
    opt->shape_cells[opt->n_shapes] = cells;
    opt->shape_genes[opt->n_shapes++] = genes;
    at = *stop == ',' ? stop + 1 : stop;
  }
  return opt->n_shapes == 0;
}

static void set_defaults(options *opt) {
  synth_counts_params_init(&opt->data);
  parse_shapes("200000x20000,1000000x2000", opt);
  opt->quick = 0;
  opt->settings.repeats = 5;
  opt->settings.target_sum = 1e4;
  opt->n_thread_counts = bench_parse_threads("1,all", opt->thread_counts);
  opt->backend = NORMOT_BACKEND_CPU;
  opt->cases = "median,target_sum,log1p";
  opt->dump_dir = NULL;
}

/* A backend by the name normot_backend_name gives it. */
static int parse_backend(const char *value, normot_backend *backend) {
  const normot_backend all[] = {NORMOT_BACKEND_AUTO, NORMOT_BACKEND_CPU, NORMOT_BACKEND_CUDA};
  for (int b = 0; b < 3; ++b)
    if (strcmp(value, normot_backend_name(all[b])) == 0) return *backend = all[b], 0;
  return 1;
}

/* One option with a value; returns 0, or 1 for an unknown option or a bad value. */
static int parse_valued(const char *arg, const char *value, options *opt) {
  if (strcmp(arg, "--shapes") == 0) return parse_shapes(value, opt);
  if (strcmp(arg, "--density") == 0)
    opt->data.density = strtod(value, NULL);
  else if (strcmp(arg, "--seed") == 0)
    opt->data.seed = strtoull(value, NULL, 10);
  else if (strcmp(arg, "--repeats") == 0)
    opt->settings.repeats = atoi(value);
  else if (strcmp(arg, "--threads") == 0)
    opt->n_thread_counts = bench_parse_threads(value, opt->thread_counts);
  else if (strcmp(arg, "--target-sum") == 0)
    opt->settings.target_sum = strtod(value, NULL);
  else if (strcmp(arg, "--dump") == 0)
    opt->dump_dir = value;
  else if (strcmp(arg, "--cases") == 0)
    opt->cases = value;
  else if (strcmp(arg, "--backend") == 0)
    return parse_backend(value, &opt->backend);
  else
    return 1;
  return 0;
}

static int parse_options(int argc, char **argv, options *opt) {
  set_defaults(opt);
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quick") == 0) {
      opt->quick = 1;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      exit(0);
    } else if (i + 1 >= argc || parse_valued(argv[i], argv[i + 1], opt) != 0) {
      fprintf(stderr, "bench_normalize: bad or unknown option '%s'\n", argv[i]);
      usage(stderr);
      return 1;
    } else {
      ++i;
    }
  }
  if (opt->n_thread_counts < 1 || opt->settings.repeats < 1 || !(opt->settings.target_sum > 0.0)) {
    fprintf(stderr, "bench_normalize: bad --threads, --repeats or --target-sum\n");
    return 1;
  }
  return 0;
}

static int write_npy(const char *dir, const char *name, int64_t count, normot_value_type type,
                     void *data) {
  char path[4096], error[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  cli_array array = {0};
  array.ndim = 1;
  array.shape[0] = count;
  array.type = type;
  array.data = data;
  if (cli_npy_write(path, &array, error, sizeof error) != 0) {
    fprintf(stderr, "bench_normalize: cannot write %s: %s\n", path, error);
    return 1;
  }
  return 0;
}

static int dump_input(const char *dir, const synth_csr *matrix) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "bench_normalize: cannot create %s\n", dir);
    return 1;
  }
  normot_value_type index_as_value =
      matrix->index_type == NORMOT_INDEX_INT64 ? NORMOT_INT64 : NORMOT_INT32;
  return write_npy(dir, "indptr.npy", matrix->n_rows + 1, index_as_value, matrix->indptr) ||
         write_npy(dir, "indices.npy", matrix->nnz, index_as_value, matrix->indices) ||
         write_npy(dir, "data.npy", matrix->nnz, NORMOT_FLOAT32, matrix->values);
}

/* Every requested case of one shape at every thread count. */
static int run_shape(normot_context *context, const options *opt, const synth_csr *matrix,
                     int dump) {
  static const char *const names[] = {"median",        "target_sum",       "log1p",
                                      "f64_median",    "f64_target_sum",   "csc_median",
                                      "dense_median",  "dense_target_sum", "out_median",
                                      "out_target_sum"};
  int failed = 0;
  for (size_t n = 0; n < sizeof names / sizeof *names && !failed; ++n) {
    if (!bench_case_listed(opt->cases, names[n])) continue;
    bench_case c;
    if (bench_case_build(names[n], matrix, &c) != 0) {
      fprintf(stderr, "bench_normalize: out of memory for case %s\n", names[n]);
      return 1;
    }
    for (int t = 0; t < opt->n_thread_counts && !failed; ++t) {
      bench_case_settings settings = opt->settings;
      settings.threads = opt->thread_counts[t];
      settings.seed = opt->data.seed;
      failed |= bench_case_run(context, &settings, &c);
      if (dump && t == 0 &&
          (strcmp(names[n], "median") == 0 || strcmp(names[n], "target_sum") == 0)) {
        char file[64];
        snprintf(file, sizeof file, "out_%s.npy", names[n]);
        failed |= write_npy(opt->dump_dir, file, matrix->nnz, NORMOT_FLOAT32, c.values);
      }
    }
    bench_case_free(&c);
  }
  return failed;
}

int main(int argc, char **argv) {
  options opt;
  if (parse_options(argc, argv, &opt) != 0) return 2;
  normot_context *context = NULL;
  normot_status status = normot_context_create(&context, opt.backend, 0);
  if (status != NORMOT_SUCCESS) {
    fprintf(stderr, "bench_normalize: cannot create a %s context: %s\n",
            normot_backend_name(opt.backend), normot_status_string(status));
    return 1;
  }
  int failed = 0;
  for (int s = 0; s < opt.n_shapes && !failed; ++s) {
    char error[512];
    synth_csr matrix;
    opt.data.n_cells = opt.quick ? opt.shape_cells[s] / 10 : opt.shape_cells[s];
    opt.data.n_genes = opt.shape_genes[s];
    double start = bench_now();
    if (synth_counts_generate(&opt.data, &matrix, error, sizeof error) != 0) {
      fprintf(stderr, "bench_normalize: %s\n", error);
      failed = 1;
      break;
    }
    fprintf(stderr, "bench_normalize: generated %lld x %lld, nnz %lld in %.1f s\n",
            (long long)matrix.n_rows, (long long)matrix.n_cols, (long long)matrix.nnz,
            bench_now() - start);
    int dump = opt.dump_dir != NULL && s == 0;
    if (dump) failed |= dump_input(opt.dump_dir, &matrix);
    failed |= run_shape(context, &opt, &matrix, dump);
    synth_csr_free(&matrix);
  }
  normot_context_destroy(context);
  return failed ? 1 : 0;
}
