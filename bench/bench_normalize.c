/* bench_normalize: normot_normalize_total on a seeded synthetic count matrix (CSR float32).
 *
 * Cases: "median" (target = median of the totals: two passes over the values) and "target_sum"
 * (target given, values not checked: one pass), for each thread count. Each case prints one JSON
 * line with the median time of --repeats runs after a warm-up, the bytes a streaming kernel must
 * move, and the bandwidth of a parallel copy of the values measured in the same process, with
 * the same threads, interleaved with the runs (the copy is what restores the pristine values
 * before each run, so it is timed for free and sees the same machine state).
 *
 * Bytes moved: median case = values read twice + written once + indptr read once;
 * target_sum case = values read once + written once + indptr. A copy moves 2 x values bytes.
 *
 * --dump DIR writes the input (indptr.npy, indices.npy, data.npy) and each case's output
 * (out_median.npy, out_target_sum.npy) so that compare_scanpy.py checks scanpy on the same
 * matrix.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "normot/normot.h"
#include "normot_io.h"
#include "synthetic.h"

typedef struct options {
  synth_counts_params data;
  int repeats;
  int thread_counts[BENCH_MAX_THREAD_COUNTS];
  int n_thread_counts;
  normot_backend backend;
  int run_median, run_target_sum;
  double target_sum;
  const char *dump_dir;
} options;

static void usage(FILE *stream) {
  fprintf(stream,
          "usage: bench_normalize [--quick] [--cells N] [--genes N] [--density D] [--seed S]\n"
          "                       [--repeats R] [--threads LIST] [--backend cpu|cuda|auto]\n"
          "                       [--cases median,target_sum] [--target-sum X] [--dump DIR]\n"
          "  default: 200000 cells x 20000 genes, density 0.05; --quick: 20000 x 20000\n"
          "  LIST: comma-separated thread counts, 'all' = every core (default 1,all)\n");
}

static int parse_options(int argc, char **argv, options *opt) {
  synth_counts_params_init(&opt->data);
  opt->data.n_cells = 200000;
  opt->data.n_genes = 20000;
  opt->repeats = 5;
  opt->n_thread_counts = bench_parse_threads("1,all", opt->thread_counts);
  opt->backend = NORMOT_BACKEND_CPU;
  opt->run_median = opt->run_target_sum = 1;
  opt->target_sum = 1e4;
  opt->dump_dir = NULL;
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    int takes_value = 1;
    if (strcmp(arg, "--quick") == 0) {
      opt->data.n_cells = 20000;
      takes_value = 0;
    } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      usage(stdout);
      exit(0);
    } else if (value == NULL) {
      fprintf(stderr, "bench_normalize: %s needs a value (or is unknown)\n", arg);
      return 1;
    } else if (strcmp(arg, "--cells") == 0) {
      opt->data.n_cells = strtoll(value, NULL, 10);
    } else if (strcmp(arg, "--genes") == 0) {
      opt->data.n_genes = strtoll(value, NULL, 10);
    } else if (strcmp(arg, "--density") == 0) {
      opt->data.density = strtod(value, NULL);
    } else if (strcmp(arg, "--seed") == 0) {
      opt->data.seed = strtoull(value, NULL, 10);
    } else if (strcmp(arg, "--repeats") == 0) {
      opt->repeats = atoi(value);
    } else if (strcmp(arg, "--threads") == 0) {
      opt->n_thread_counts = bench_parse_threads(value, opt->thread_counts);
    } else if (strcmp(arg, "--target-sum") == 0) {
      opt->target_sum = strtod(value, NULL);
    } else if (strcmp(arg, "--dump") == 0) {
      opt->dump_dir = value;
    } else if (strcmp(arg, "--backend") == 0) {
      if (strcmp(value, "cpu") == 0)
        opt->backend = NORMOT_BACKEND_CPU;
      else if (strcmp(value, "cuda") == 0)
        opt->backend = NORMOT_BACKEND_CUDA;
      else if (strcmp(value, "auto") == 0)
        opt->backend = NORMOT_BACKEND_AUTO;
      else {
        fprintf(stderr, "bench_normalize: unknown backend '%s'\n", value);
        return 1;
      }
    } else if (strcmp(arg, "--cases") == 0) {
      opt->run_median = strstr(value, "median") != NULL;
      opt->run_target_sum = strstr(value, "target_sum") != NULL;
    } else {
      fprintf(stderr, "bench_normalize: unknown option '%s'\n", arg);
      usage(stderr);
      return 1;
    }
    i += takes_value;
  }
  if (opt->n_thread_counts < 1 || opt->repeats < 1 || opt->data.n_cells < 1 ||
      opt->data.n_genes < 1 || !(opt->target_sum > 0.0) ||
      !(opt->run_median || opt->run_target_sum)) {
    fprintf(stderr, "bench_normalize: bad --threads, --repeats, sizes, --target-sum or --cases\n");
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

/* Adds the values with `threads` threads, each over one contiguous slice: a read-only stream,
 * the memory traffic of the median case's first pass. Sixteen independent float lanes, so that
 * the additions keep up with memory. Returns the sum so that the reads stay. */
static double parallel_read_sum(const float *values, int64_t count, int threads) {
  enum { LANES = 16 };
  double sum = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : sum)
  {
    float lane[LANES] = {0};
#pragma omp for schedule(static)
    for (int64_t block = 0; block < count / LANES; ++block)
      for (int k = 0; k < LANES; ++k) lane[k] += values[block * LANES + k];
    for (int k = 0; k < LANES; ++k) sum += lane[k];
  }
  return sum;
}

/* Runs one case at one thread count and prints its JSON line. Returns 0 on success. */
static int run_case(normot_context *context, const options *opt, const synth_csr *matrix,
                    const float *pristine, int threads, int use_target_sum, int dump) {
  const char *name = use_target_sum ? "target_sum" : "median";
  const size_t value_bytes = (size_t)matrix->nnz * sizeof(float);
  const size_t indptr_bytes = (size_t)(matrix->n_rows + 1) * normot_index_size(matrix->index_type);
  const double bytes_moved = (use_target_sum ? 2.0 : 3.0) * (double)value_bytes + indptr_bytes;
  const double copy_bytes = 2.0 * (double)value_bytes;

  normot_normalize_params params;
  normot_normalize_params_init(&params);
  if (use_target_sum) {
    params.has_target_sum = 1;
    params.target_sum = opt->target_sum;
    params.check_values = 0;
  }
  normot_matrix view = synth_csr_view(matrix);
  normot_status status = normot_context_set_threads(context, threads);

  double *run_seconds = malloc((size_t)opt->repeats * sizeof(double));
  double *copy_seconds = malloc((size_t)opt->repeats * sizeof(double));
  double *read_seconds = malloc((size_t)opt->repeats * sizeof(double));
  double read_checksum = 0.0;
  normot_normalize_output output = {0};
  for (int r = -1; r < opt->repeats && status == NORMOT_SUCCESS; ++r) {
    double start = bench_now();
    bench_parallel_copy(matrix->values, pristine, value_bytes, threads);
    double middle = bench_now();
    memset(&output, 0, sizeof output);
    output.value_type = NORMOT_FLOAT32;
    status = normot_normalize_total(context, &view, &params, &output);
    double end = bench_now();
    read_checksum += parallel_read_sum(pristine, matrix->nnz, threads);
    double after_read = bench_now();
    if (r >= 0) { /* r == -1 is the warm-up */
      copy_seconds[r] = middle - start;
      run_seconds[r] = end - middle;
      read_seconds[r] = after_read - end;
    }
  }

  printf(
      "{\"bench\": \"normalize_total\", \"name\": \"csr_f32_%s\", \"layout\": \"csr\", "
      "\"value_type\": \"float32\", \"index_type\": \"%s\", \"n_cells\": %lld, "
      "\"n_genes\": %lld, \"nnz\": %lld, \"density\": %.4f, \"seed\": %llu, "
      "\"backend\": \"%s\", \"threads\": %d, \"repeats\": %d",
      name, matrix->index_type == NORMOT_INDEX_INT64 ? "int64" : "int32", (long long)matrix->n_rows,
      (long long)matrix->n_cols, (long long)matrix->nnz,
      (double)matrix->nnz / ((double)matrix->n_rows * (double)matrix->n_cols),
      (unsigned long long)opt->data.seed, normot_backend_name(normot_context_backend(context)),
      threads, opt->repeats);
  int failed = status != NORMOT_SUCCESS;
  if (failed) {
    printf(", \"error\": \"%s\", \"message\": ", normot_status_string(status));
    bench_print_json_string(stdout, normot_context_last_error(context));
    printf("}\n");
  } else {
    double seconds = bench_median(run_seconds, opt->repeats);
    double seconds_min = run_seconds[0];
    double copy = bench_median(copy_seconds, opt->repeats);
    double gbps = bytes_moved / seconds * 1e-9, copy_gbps = copy_bytes / copy * 1e-9;
    /* A read-only stream moves fewer bytes per second than a copy on many machines (one core
     * has only so many reads in flight), so the median case's floor is one read stream plus one
     * read-and-write stream of the values, each timed here; target_sum's is the copy alone. */
    double read = bench_median(read_seconds, opt->repeats);
    double stream_floor = use_target_sum ? copy : copy + read;
    printf(
        ", \"seconds\": %.6f, \"seconds_min\": %.6f, \"bytes\": %.0f, \"gbps\": %.3f, "
        "\"copy_seconds\": %.6f, \"copy_bytes\": %.0f, \"copy_gbps\": %.3f, "
        "\"fraction_of_copy\": %.3f, \"floor_seconds\": %.6f, \"read_gbps\": %.3f, "
        "\"stream_floor_seconds\": %.6f, \"fraction_of_stream_floor\": %.3f, "
        "\"target\": %.9g, \"zero_cells\": %lld, \"output_fingerprint\": \"%016llx\"}\n",
        seconds, seconds_min, bytes_moved, gbps, copy, copy_bytes, copy_gbps, gbps / copy_gbps,
        bytes_moved / (copy_gbps * 1e9), (double)value_bytes / read * 1e-9, stream_floor,
        stream_floor / seconds, output.target, (long long)output.n_zero_cells,
        (unsigned long long)bench_fingerprint(matrix->values, value_bytes));
    volatile double keep_reads = read_checksum; /* the reads are not optimised away */
    (void)keep_reads;
    if (dump)
      failed |= write_npy(opt->dump_dir, use_target_sum ? "out_target_sum.npy" : "out_median.npy",
                          matrix->nnz, NORMOT_FLOAT32, matrix->values);
  }
  fflush(stdout);
  free(run_seconds);
  free(copy_seconds);
  free(read_seconds);
  return failed;
}

int main(int argc, char **argv) {
  options opt;
  if (parse_options(argc, argv, &opt) != 0) return 2;

  char error[512];
  synth_csr matrix;
  double start = bench_now();
  if (synth_counts_generate(&opt.data, &matrix, error, sizeof error) != 0) {
    fprintf(stderr, "bench_normalize: %s\n", error);
    return 1;
  }
  fprintf(stderr, "bench_normalize: generated %lld x %lld, nnz %lld in %.1f s\n",
          (long long)matrix.n_rows, (long long)matrix.n_cols, (long long)matrix.nnz,
          bench_now() - start);

  const size_t value_bytes = (size_t)matrix.nnz * sizeof(float);
  float *pristine = malloc(value_bytes > 0 ? value_bytes : 1);
  if (pristine == NULL) {
    fprintf(stderr, "bench_normalize: out of memory\n");
    return 1;
  }
  memcpy(pristine, matrix.values, value_bytes);

  int failed = 0;
  if (opt.dump_dir != NULL) {
    if (mkdir(opt.dump_dir, 0777) != 0 && errno != EEXIST) {
      fprintf(stderr, "bench_normalize: cannot create %s\n", opt.dump_dir);
      return 1;
    }
    normot_value_type index_as_value =
        matrix.index_type == NORMOT_INDEX_INT64 ? NORMOT_INT64 : NORMOT_INT32;
    failed |=
        write_npy(opt.dump_dir, "indptr.npy", matrix.n_rows + 1, index_as_value, matrix.indptr);
    failed |= write_npy(opt.dump_dir, "indices.npy", matrix.nnz, index_as_value, matrix.indices);
    failed |= write_npy(opt.dump_dir, "data.npy", matrix.nnz, NORMOT_FLOAT32, matrix.values);
    if (failed) return 1;
  }

  normot_context *context = NULL;
  normot_status status = normot_context_create(&context, opt.backend, 0);
  if (status != NORMOT_SUCCESS) {
    fprintf(stderr, "bench_normalize: cannot create a %s context: %s\n",
            normot_backend_name(opt.backend), normot_status_string(status));
    return 1;
  }
  for (int t = 0; t < opt.n_thread_counts; ++t) {
    int dump = opt.dump_dir != NULL && t == 0;
    if (opt.run_median)
      failed |= run_case(context, &opt, &matrix, pristine, opt.thread_counts[t], 0, dump);
    if (opt.run_target_sum)
      failed |= run_case(context, &opt, &matrix, pristine, opt.thread_counts[t], 1, dump);
  }
  normot_context_destroy(context);
  free(pristine);
  synth_csr_free(&matrix);
  return failed ? 1 : 0;
}
