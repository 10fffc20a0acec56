/* normot_normalize_total with fuzzed layouts, types, shapes, indptr/indices (some corrupted),
 * values and parameters, against normot.h's contract: a documented status; a failure leaves
 * every output buffer (and, in place, the input) byte for byte as it was and says why in one
 * line; a success gives a positive target, and a checked one (check_values) a finite target and,
 * on finite input, finite results. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_bytes.h"
#include "fuzz_support.h"
#include "normot/normot.h"

enum { SENTINEL_BYTE = 0xA5 };

typedef struct normalize_call {
  normot_matrix X;
  normot_normalize_params params;
  normot_normalize_output output;
  int in_place;
  uint8_t threads_code;
  void *indptr, *indices, *values, *values_before;
  size_t values_bytes, out_values_bytes, per_row_bytes;
  int inputs_finite; /* every value the call reads is finite */
} normalize_call;

static void *sentinel_buffer(size_t bytes) {
  const size_t size = bytes > 0 ? bytes : 1;
  void *buffer = malloc(size);
  if (buffer != NULL) return memset(buffer, SENTINEL_BYTE, size);
  fuzz_fail("out of memory in the harness");
}

static int is_sentinel(const void *buffer, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i)
    if (((const unsigned char *)buffer)[i] != SENTINEL_BYTE) return 0;
  return 1;
}

static int64_t nonnegative(int64_t n) {
  return n > 0 ? n : 0;
}

/* Mostly 0..8, sometimes -1; `huge_allowed` (a dimension no buffer is proportional to) also
 * gives 2^31, 2^40 and INT64_MAX. */
static int64_t decode_extent(uint8_t code, int huge_allowed) {
  if (code >= 240 && code < 248) return -1;
  if (code >= 248 && huge_allowed) {
    const int64_t huge[3] = {(int64_t)1 << 31, (int64_t)1 << 40, INT64_MAX};
    return huge[(code - 248) % 3];
  }
  return code % 9;
}

static normot_memory decode_memory(uint8_t code) {
  const normot_memory memories[5] = {NORMOT_MEMORY_HOST, NORMOT_MEMORY_HOST, NORMOT_MEMORY_AUTO,
                                     NORMOT_MEMORY_CUDA, (normot_memory)7};
  return memories[code % 5];
}

static void store_index(void *indices, normot_index_type type, int64_t i, int64_t value) {
  if (type == NORMOT_INDEX_INT32)
    ((int32_t *)indices)[i] = (int32_t)value;
  else
    ((int64_t *)indices)[i] = value;
}

static int64_t decode_index(uint8_t code, int64_t inner) {
  switch (code) {
    case 250: return -1;
    case 251: return inner;
    case 252: return INT32_MAX;
    case 253: return inner - 1;
    default: return inner > 0 ? code % inner : code % 4;
  }
}

/* Outer lengths of 0..4 entries, then an optional corruption of indptr or nnz that keeps every
 * offset within the buffers given, then the indices. */
static void decode_sparse(fuzz_bytes *bytes, normalize_call *call) {
  const int csr = call->X.layout == NORMOT_LAYOUT_CSR;
  const int64_t outer = nonnegative(csr ? call->X.n_rows : call->X.n_cols);
  const int64_t inner = csr ? call->X.n_cols : call->X.n_rows;
  const normot_index_type type = call->X.index_type;
  call->indptr = sentinel_buffer((size_t)(outer + 1) * 8);
  int64_t total = 0;
  store_index(call->indptr, type, 0, 0);
  for (int64_t i = 0; i < outer; ++i) {
    total += fuzz_take_byte(bytes) % 5;
    store_index(call->indptr, type, i + 1, total);
  }
  call->X.nnz = total;
  switch (fuzz_take_byte(bytes) % 16) {
    case 0: call->X.nnz = total + 1; break;
    case 1: store_index(call->indptr, type, 0, 1); break;
    case 2: store_index(call->indptr, type, outer / 2, total + 1); break;
    case 3: call->X.nnz = total > 0 ? total - 1 : 0; break;
    default: break;
  }
  call->indices = sentinel_buffer((size_t)(total + 1) * 8);
  for (int64_t e = 0; e <= total; ++e)
    store_index(call->indices, type, e, decode_index(fuzz_take_byte(bytes), inner));
  call->X.indptr = call->indptr;
  call->X.indices = call->indices;
}

/* The dense leading dimension: n_cols plus 0..2, or n_cols - 1 (invalid), or 0 (n_cols). */
static int64_t decode_ld(uint8_t code, int64_t n_cols) {
  if (code == 255) return n_cols - 1;
  if (code == 254) return 0;
  return n_cols + code % 3;
}

static int value_is_read(const normalize_call *call, int64_t e) {
  if (call->X.layout != NORMOT_LAYOUT_DENSE) return e < call->X.nnz;
  const int64_t ld = call->X.ld > 0 ? call->X.ld : call->X.n_cols;
  return ld > 0 && e % ld < call->X.n_cols;
}

static void decode_values(fuzz_bytes *bytes, normalize_call *call, int64_t count) {
  const normot_value_type type = call->X.value_type;
  call->values_bytes = (size_t)count * fuzz_type_size(type);
  call->values = sentinel_buffer(call->values_bytes);
  call->inputs_finite = 1;
  for (int64_t e = 0; e < count; ++e) {
    fuzz_store_value(call->values, e, type, bytes);
    if (value_is_read(call, e) && !isfinite(fuzz_load_value(call->values, e, type)))
      call->inputs_finite = 0;
  }
  call->values_before = malloc(call->values_bytes > 0 ? call->values_bytes : 1);
  if (call->values_before == NULL) fuzz_fail("out of memory in the harness");
  memcpy(call->values_before, call->values, call->values_bytes);
  call->X.values = call->values;
}

static void decode_params(fuzz_bytes *bytes, uint8_t flags, normot_normalize_params *params) {
  normot_normalize_params_init(params);
  params->has_target_sum = (flags >> 1) & 1;
  params->exclude_highly_expressed = (flags >> 2) & 1;
  params->log1p = (flags >> 3) & 1;
  params->check_values = !((flags >> 4) & 1);
  params->target_sum = fuzz_take_number(bytes, NULL);
  params->max_fraction = fuzz_take_number(bytes, NULL) / 16.0;
  if ((flags >> 7) & 1) params->log_base = fuzz_take_number(bytes, NULL);
}

static void decode_outputs(fuzz_bytes *bytes, uint8_t flags, normalize_call *call) {
  const normot_value_type out_types[3] = {NORMOT_FLOAT32, NORMOT_FLOAT64, NORMOT_INT32};
  normot_normalize_output *output = &call->output;
  memset(output, 0, sizeof *output);
  output->value_type = out_types[fuzz_take_byte(bytes) % 3];
  call->in_place = flags & 1;
  const size_t count = call->values_bytes / fuzz_type_size(call->X.value_type);
  call->out_values_bytes = call->in_place ? 0 : count * fuzz_type_size(output->value_type);
  if (!call->in_place) output->values = sentinel_buffer(call->out_values_bytes);
  call->per_row_bytes = (size_t)nonnegative(call->X.n_rows) * 8;
  if ((flags >> 5) & 1) output->size_factors = sentinel_buffer(call->per_row_bytes);
  if ((flags >> 6) & 1) output->totals = sentinel_buffer(call->per_row_bytes);
}

static void decode_call(fuzz_bytes *bytes, normalize_call *call) {
  memset(call, 0, sizeof *call);
  normot_matrix *X = &call->X;
  X->layout = (normot_layout)(fuzz_take_byte(bytes) % 4);
  X->value_type = (normot_value_type)(fuzz_take_byte(bytes) % 7);
  X->index_type = (normot_index_type)(fuzz_take_byte(bytes) % 2);
  const uint8_t flags = fuzz_take_byte(bytes);
  X->memory = decode_memory(fuzz_take_byte(bytes));
  call->threads_code = fuzz_take_byte(bytes);
  X->n_rows = decode_extent(fuzz_take_byte(bytes), 0);
  X->n_cols = decode_extent(fuzz_take_byte(bytes), X->layout == NORMOT_LAYOUT_CSR);
  int64_t value_count;
  if (X->layout == NORMOT_LAYOUT_CSR || X->layout == NORMOT_LAYOUT_CSC) {
    decode_sparse(bytes, call);
    value_count = X->nnz + 1;
  } else {
    X->ld = decode_ld(fuzz_take_byte(bytes), nonnegative(X->n_cols));
    value_count = nonnegative(X->n_rows) * nonnegative(X->ld > 0 ? X->ld : X->n_cols);
  }
  decode_params(bytes, flags, &call->params);
  decode_values(bytes, call, value_count);
  decode_outputs(bytes, flags, call);
}

static int is_float_type(normot_value_type type) {
  return type == NORMOT_FLOAT32 || type == NORMOT_FLOAT64;
}

static void check_failure(const normalize_call *call) {
  const normot_normalize_output *output = &call->output;
  if (memcmp(call->values, call->values_before, call->values_bytes) != 0)
    fuzz_fail("a failed normalize changed the input values");
  if (output->values != NULL && !is_sentinel(output->values, call->out_values_bytes))
    fuzz_fail("a failed normalize wrote output values");
  if (output->size_factors != NULL && !is_sentinel(output->size_factors, call->per_row_bytes))
    fuzz_fail("a failed normalize wrote size factors");
  if (output->totals != NULL && !is_sentinel(output->totals, call->per_row_bytes))
    fuzz_fail("a failed normalize wrote totals");
}

static void check_finite_array(const char *what, const void *array, int64_t count,
                               normot_value_type type) {
  for (int64_t i = 0; i < count; ++i)
    if (!isfinite(fuzz_load_value(array, i, type)))
      fuzz_fail("normalize succeeded with a non-finite %s at %lld", what, (long long)i);
}

static void check_success(const normalize_call *call) {
  const normot_normalize_output *output = &call->output;
  if (!is_float_type(output->value_type)) fuzz_fail("normalize succeeded with an integer output");
  if (call->params.check_values && !call->inputs_finite)
    fuzz_fail("normalize succeeded on non-finite values with check_values on");
  /* The target is positive: a given target_sum is validated in the output type, a median is
   * one of positive totals. It is finite when the call checks or when it was given: an unchecked
   * median is of totals that the caller vouched for (check_values = 0, normot.h). */
  if (!(output->target > 0)) fuzz_fail("normalize succeeded with target %g", output->target);
  if (!isfinite(output->target) && (call->params.check_values || call->params.has_target_sum))
    fuzz_fail("normalize succeeded with target %g", output->target);
  if (output->n_zero_cells < 0 || output->n_zero_cells > call->X.n_rows ||
      output->n_excluded_genes < 0 || output->n_excluded_genes > call->X.n_cols)
    fuzz_fail("normalize succeeded with counts out of range");
  if (!call->in_place && memcmp(call->values, call->values_before, call->values_bytes) != 0)
    fuzz_fail("an out-of-place normalize changed its input");
  /* check_values = 0 is the caller's promise of finite inputs and results (normot.h): the library
   * then checks neither, so only a checked call must give finite results. */
  if (!call->inputs_finite || !call->params.check_values) return;
  const void *results = call->in_place ? call->values : output->values;
  const int64_t count = (int64_t)(call->values_bytes / fuzz_type_size(call->X.value_type));
  for (int64_t e = 0; e < count; ++e)
    if (value_is_read(call, e) && !isfinite(fuzz_load_value(results, e, output->value_type)))
      fuzz_fail("normalize succeeded with a non-finite value at %lld", (long long)e);
  if (output->size_factors != NULL)
    check_finite_array("size factor", output->size_factors, call->X.n_rows, output->value_type);
  if (output->totals != NULL)
    check_finite_array("total", output->totals, call->X.n_rows, output->value_type);
}

static void free_call(normalize_call *call) {
  free(call->indptr);
  free(call->indices);
  free(call->values);
  free(call->values_before);
  free(call->output.values);
  free(call->output.size_factors);
  free(call->output.totals);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_bytes bytes = {data, size, 0};
  normalize_call call;
  decode_call(&bytes, &call);
  normot_context *context = NULL;
  if (normot_context_create(&context, NORMOT_BACKEND_CPU, 0) != NORMOT_SUCCESS)
    fuzz_fail("cannot create a CPU context");
  fuzz_set_threads(context, call.threads_code);
  normot_status status = normot_normalize_total(context, &call.X, &call.params, &call.output);
  fuzz_check_status("normot_normalize_total", status, normot_context_last_error(context));
  if (status == NORMOT_SUCCESS)
    check_success(&call);
  else
    check_failure(&call);
  normot_context_destroy(context);
  free_call(&call);
  return 0;
}
