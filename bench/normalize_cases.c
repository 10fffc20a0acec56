/* bench_normalize's cases (see bench_normalize.c for what each measures and its floor). */
#include "normalize_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

enum { DENSE_BUDGET_VALUES = 64 << 20 }; /* 256 MiB of float32 */

/* indices[j] (int32 or int64). */
static int64_t index_at(const void *indices, normot_index_type type, int64_t j) {
  return type == NORMOT_INDEX_INT64 ? ((const int64_t *)indices)[j] : ((const int32_t *)indices)[j];
}
static int64_t gene_of(const synth_csr *m, int64_t j) {
  return index_at(m->indices, m->index_type, j);
}
static int64_t row_start(const synth_csr *m, int64_t r) {
  return index_at(m->indptr, m->index_type, r);
}

int bench_case_listed(const char *list, const char *name) {
  size_t length = strlen(name);
  for (const char *at = list; at != NULL && *at != '\0';) {
    const char *end = strchr(at, ',');
    size_t item = end ? (size_t)(end - at) : strlen(at);
    if (item == length && strncmp(at, name, length) == 0) return 1;
    at = end ? end + 1 : NULL;
  }
  return 0;
}

void bench_case_free(bench_case *c) {
  for (int i = 0; i < 4; ++i) free(c->owned[i]);
  memset(c, 0, sizeof *c);
}

/* Allocates the working values (owned[0]) for `count` values of `type`. */
static int alloc_values(bench_case *c, int64_t count, normot_value_type type) {
  c->value_type = type;
  c->value_bytes = (size_t)count * (type == NORMOT_FLOAT64 ? 8 : 4);
  c->values = c->owned[0] = malloc(c->value_bytes > 0 ? c->value_bytes : 1);
  return c->values == NULL;
}

static int build_csr(const synth_csr *m, normot_value_type type, bench_case *c) {
  if (alloc_values(c, m->nnz, type) != 0) return 1;
  c->pristine = m->values;
  if (type == NORMOT_FLOAT64) {
    double *pristine = c->owned[1] = malloc(c->value_bytes > 0 ? c->value_bytes : 1);
    if (pristine == NULL) return 1;
    for (int64_t j = 0; j < m->nnz; ++j) pristine[j] = ((const float *)m->values)[j];
    c->pristine = pristine;
  }
  c->layout = "csr";
  c->view = normot_matrix_csr(m->n_rows, m->n_cols, m->nnz, m->indptr, m->indices, m->index_type,
                              c->values, type);
  return 0;
}

/* The same matrix in CSC (int64 indices when the CSR has them), rows sorted in each column. */
static int build_csc(const synth_csr *m, bench_case *c) {
  const int wide = m->index_type == NORMOT_INDEX_INT64;
  const size_t index_size = wide ? 8 : 4;
  if (alloc_values(c, m->nnz, NORMOT_FLOAT32) != 0) return 1;
  int64_t *start = c->owned[1] = calloc((size_t)m->n_cols + 1, sizeof(int64_t));
  void *indptr = c->owned[2] = malloc(((size_t)m->n_cols + 1) * index_size);
  void *rows = c->owned[3] = malloc((size_t)m->nnz * index_size);
  float *pristine = malloc(c->value_bytes > 0 ? c->value_bytes : 1);
  if (start == NULL || indptr == NULL || rows == NULL || pristine == NULL) return free(pristine), 1;
  for (int64_t j = 0; j < m->nnz; ++j) ++start[gene_of(m, j) + 1];
  for (int64_t g = 0; g < m->n_cols; ++g) start[g + 1] += start[g];
  for (int64_t g = 0; g <= m->n_cols; ++g) {
    if (wide)
      ((int64_t *)indptr)[g] = start[g];
    else
      ((int32_t *)indptr)[g] = (int32_t)start[g];
  }
  for (int64_t r = 0; r < m->n_rows; ++r)
    for (int64_t j = row_start(m, r); j < row_start(m, r + 1); ++j) {
      int64_t at = start[gene_of(m, j)]++;
      pristine[at] = ((const float *)m->values)[j];
      if (wide)
        ((int64_t *)rows)[at] = r;
      else
        ((int32_t *)rows)[at] = (int32_t)r;
    }
  free(c->owned[1]);
  c->owned[1] = pristine;
  c->pristine = pristine;
  c->layout = "csc";
  c->index_bytes = (double)m->nnz * (double)index_size;
  c->view = normot_matrix_csc(m->n_rows, m->n_cols, m->nnz, indptr, rows, m->index_type, c->values,
                              NORMOT_FLOAT32);
  return 0;
}

/* The first rows of the matrix (about DENSE_BUDGET_VALUES values) as a dense row-major array. */
static int build_dense(const synth_csr *m, bench_case *c) {
  int64_t rows = DENSE_BUDGET_VALUES / m->n_cols;
  if (rows > m->n_rows) rows = m->n_rows;
  if (rows < 1) rows = 1;
  if (alloc_values(c, rows * m->n_cols, NORMOT_FLOAT32) != 0) return 1;
  float *pristine = c->owned[1] = calloc((size_t)(rows * m->n_cols) + 1, sizeof(float));
  if (pristine == NULL) return 1;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = row_start(m, r); j < row_start(m, r + 1); ++j)
      pristine[r * m->n_cols + gene_of(m, j)] = ((const float *)m->values)[j];
  c->pristine = pristine;
  c->layout = "dense";
  c->view = normot_matrix_dense(rows, m->n_cols, c->values, NORMOT_FLOAT32);
  return 0;
}

int bench_case_build(const char *name, const synth_csr *m, bench_case *c) {
  memset(c, 0, sizeof *c);
  c->use_target_sum = strstr(name, "target_sum") != NULL || strcmp(name, "log1p") == 0;
  c->log1p = strcmp(name, "log1p") == 0;
  const char *what =
      strchr(name, '_') != NULL && strncmp(name, "target", 6) != 0 ? strchr(name, '_') + 1 : name;
  int failed;
  if (strncmp(name, "f64_", 4) == 0) {
    failed = build_csr(m, NORMOT_FLOAT64, c);
    snprintf(c->name, sizeof c->name, "csr_f64_%s", what);
  } else if (strncmp(name, "csc_", 4) == 0) {
    failed = build_csc(m, c);
    snprintf(c->name, sizeof c->name, "csc_f32_%s", what);
  } else if (strncmp(name, "dense_", 6) == 0) {
    failed = build_dense(m, c);
    snprintf(c->name, sizeof c->name, "dense_f32_%s", what);
  } else if (strncmp(name, "out_", 4) == 0) {
    /* Out of place: the pristine values are the input, `values` the output. */
    failed = build_csr(m, NORMOT_FLOAT32, c);
    c->view.values = (void *)c->pristine;
    c->out_of_place = 1;
    snprintf(c->name, sizeof c->name, "csr_f32_out_%s", what);
  } else {
    failed = build_csr(m, NORMOT_FLOAT32, c);
    snprintf(c->name, sizeof c->name, "csr_f32_%s", name);
  }
  if (failed) bench_case_free(c);
  return failed;
}

/* Reads `bytes` with `threads` threads, each over one contiguous slice, in eight independent
 * integer lanes (the adds keep up with memory whatever the bytes are): a read-only stream.
 * Returns the sum so that the reads stay. */
static uint64_t parallel_read(const void *data, size_t bytes, int threads) {
  const uint32_t *words = data;
  const int64_t count = (int64_t)(bytes / 4);
  uint64_t sum = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sum)
  {
    uint32_t lane[8] = {0};
#pragma omp for schedule(static)
    for (int64_t block = 0; block < count / 8; ++block)
      for (int k = 0; k < 8; ++k) lane[k] += words[block * 8 + k];
    for (int k = 0; k < 8; ++k) sum += lane[k];
  }
  return sum;
}

typedef struct case_times {
  double *run, *copy, *read;
  normot_normalize_output output;
  normot_status status;
} case_times;

/* The warm-up and the timed runs, each after a copy of the pristine values and before a read. */
static void time_case(normot_context *context, const bench_case_settings *s, bench_case *c,
                      case_times *times) {
  normot_normalize_params params;
  normot_normalize_params_init(&params);
  params.log1p = c->log1p;
  if (c->use_target_sum) {
    params.has_target_sum = 1;
    params.target_sum = s->target_sum;
    params.check_values = 0;
  }
  volatile uint64_t keep = 0; /* the reads are not optimised away */
  times->status = normot_context_set_threads(context, s->threads);
  for (int r = -1; r < s->repeats && times->status == NORMOT_SUCCESS; ++r) {
    double start = bench_now();
    bench_parallel_copy(c->values, c->pristine, c->value_bytes, s->threads);
    double middle = bench_now();
    memset(&times->output, 0, sizeof times->output);
    times->output.value_type = c->value_type;
    times->output.values = c->out_of_place ? c->values : NULL;
    times->status = normot_normalize_total(context, &c->view, &params, &times->output);
    double end = bench_now();
    keep += parallel_read(c->pristine, c->value_bytes, s->threads);
    if (r >= 0) { /* r == -1 is the warm-up */
      times->copy[r] = middle - start;
      times->run[r] = end - middle;
      times->read[r] = bench_now() - end;
    }
  }
  (void)keep;
}

static void print_header(normot_context *context, const bench_case_settings *s,
                         const bench_case *c) {
  const normot_matrix *X = &c->view;
  printf(
      "{\"bench\": \"normalize_total\", \"name\": \"%s\", \"layout\": \"%s\", "
      "\"value_type\": \"%s\", \"n_cells\": %lld, \"n_genes\": %lld, \"nnz\": %lld, "
      "\"seed\": %llu, \"backend\": \"%s\", \"threads\": %d, \"repeats\": %d",
      c->name, c->layout, c->value_type == NORMOT_FLOAT64 ? "float64" : "float32",
      (long long)X->n_rows, (long long)X->n_cols,
      (long long)(X->layout == NORMOT_LAYOUT_DENSE ? X->n_rows * X->n_cols : X->nnz),
      (unsigned long long)s->seed, normot_backend_name(normot_context_backend(context)), s->threads,
      s->repeats);
}

/* The timings against the floors: a two-pass case reads the values (and CSC's row indices) and
 * then copies them (reading the indices again); a one-pass case copies them. */
static void print_times(const bench_case_settings *s, const bench_case *c, case_times *t) {
  const double seconds = bench_median(t->run, s->repeats), copy = bench_median(t->copy, s->repeats);
  double seconds_min = t->run[0];
  const double read = bench_median(t->read, s->repeats);
  const double bytes = (double)c->value_bytes, read_gbps = bytes / read * 1e-9;
  const int two_pass = !c->use_target_sum;
  const double moved = (two_pass ? 3.0 : 2.0) * bytes + 2.0 * c->index_bytes;
  const double copy_gbps = 2.0 * bytes / copy * 1e-9;
  const double stream_floor =
      copy + (two_pass ? read * (bytes + 2.0 * c->index_bytes) / bytes : 0.0);
  printf(
      ", \"seconds\": %.6f, \"seconds_min\": %.6f, \"bytes\": %.0f, \"gbps\": %.3f, "
      "\"copy_seconds\": %.6f, \"copy_gbps\": %.3f, \"read_seconds\": %.6f, "
      "\"read_gbps\": %.3f, \"floor_seconds\": %.6f, \"fraction_of_copy\": %.3f, "
      "\"stream_floor_seconds\": %.6f, \"fraction_of_stream_floor\": %.3f",
      seconds, seconds_min, moved, moved / seconds * 1e-9, copy, copy_gbps, read, read_gbps,
      moved / (copy_gbps * 1e9), moved / (copy_gbps * 1e9) / seconds, stream_floor,
      stream_floor / seconds);
  printf(", \"target\": %.9g, \"zero_cells\": %lld, \"output_fingerprint\": \"%016llx\"}\n",
         t->output.target, (long long)t->output.n_zero_cells,
         (unsigned long long)bench_fingerprint(c->values, c->value_bytes));
}

int bench_case_run(normot_context *context, const bench_case_settings *s, bench_case *c) {
  case_times t;
  memset(&t, 0, sizeof t);
  t.run = calloc((size_t)s->repeats, sizeof(double));
  t.copy = calloc((size_t)s->repeats, sizeof(double));
  t.read = calloc((size_t)s->repeats, sizeof(double));
  int failed = t.run == NULL || t.copy == NULL || t.read == NULL;
  if (!failed) time_case(context, s, c, &t);
  print_header(context, s, c);
  if (failed || t.status != NORMOT_SUCCESS) {
    printf(", \"error\": \"%s\", \"message\": ",
           failed ? "out of memory" : normot_status_string(t.status));
    bench_print_json_string(stdout, failed ? "" : normot_context_last_error(context));
    printf("}\n");
    failed = 1;
  } else {
    print_times(s, c, &t);
  }
  fflush(stdout);
  free(t.run);
  free(t.copy);
  free(t.read);
  return failed;
}
