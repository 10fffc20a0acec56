/*
 * normot.h — the whole public C API of normot, and its manual.
 *
 * normot does two kernels exactly and fast, on the CPU (OpenMP) or on an NVIDIA GPU (CUDA):
 *
 *   1. normot_normalize_total(): per-cell library-size normalization of a cells x genes count
 *      matrix (CSR, CSC or dense), bitwise identical to Scanpy's sc.pp.normalize_total.
 *   2. normot_emd(): a batch of exact earth mover's distance / optimal transport problems,
 *      with the results of POT's ot.emd / ot.emd2 for each problem.
 *
 * Conventions that hold for every function below:
 *   - Every entry point returns a normot_status; NORMOT_SUCCESS is 0. Nothing aborts or prints.
 *     After a failure, normot_context_last_error() holds a sentence naming the problem.
 *   - Inputs are validated before anything is written: a call that fails leaves every output
 *     buffer exactly as it was.
 *   - Sizes are int64_t. Index arrays may be 32- or 64-bit.
 *   - Data views are non-owning: normot never frees or keeps a pointer you pass it.
 *   - One context per thread; two contexts share nothing mutable, so they can run concurrently.
 *   - No CUDA header is needed: a CUDA stream travels as a void pointer.
 *
 * Minimal use (see README.md for a complete program):
 *
 *   normot_context *ctx;
 *   if (normot_context_create(&ctx, NORMOT_BACKEND_AUTO, 0) != NORMOT_SUCCESS) ...
 *   normot_matrix X = normot_matrix_csr(n_cells, n_genes, nnz, indptr, indices,
 *                                       NORMOT_INDEX_INT32, data, NORMOT_FLOAT32);
 *   normot_normalize_params params;
 *   normot_normalize_params_init(&params);
 *   normot_normalize_output out = {0};        // values == NULL: normalize in place
 *   if (normot_normalize_total(ctx, &X, &params, &out) != NORMOT_SUCCESS)
 *       fprintf(stderr, "%s\n", normot_context_last_error(ctx));
 *   normot_context_destroy(ctx);
 */
#ifndef NORMOT_NORMOT_H
#define NORMOT_NORMOT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(NORMOT_BUILDING_SHARED)
#define NORMOT_API __declspec(dllexport)
#elif defined(__GNUC__)
#define NORMOT_API __attribute__((visibility("default")))
#else
#define NORMOT_API
#endif

/* ---------------------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------------------- */

#define NORMOT_VERSION_MAJOR 0
#define NORMOT_VERSION_MINOR 1
#define NORMOT_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH, comparable with normot_version_number(). */
#define NORMOT_VERSION_NUMBER \
  (NORMOT_VERSION_MAJOR * 10000 + NORMOT_VERSION_MINOR * 100 + NORMOT_VERSION_PATCH)

/* The version of the library actually linked, as "MAJOR.MINOR.PATCH". Never NULL. */
NORMOT_API const char *normot_version_string(void);
/* The version of the library actually linked, as NORMOT_VERSION_NUMBER. */
NORMOT_API unsigned normot_version_number(void);

/* ---------------------------------------------------------------------------------------------
 * Status codes. The values are part of the ABI and never change.
 * ------------------------------------------------------------------------------------------- */

typedef enum normot_status {
  NORMOT_SUCCESS = 0,
  NORMOT_ERROR_NULL_POINTER = 1,         /* a required pointer argument is NULL */
  NORMOT_ERROR_INVALID_SIZE = 2,         /* a negative size, or sizes whose product overflows */
  NORMOT_ERROR_INVALID_INDPTR = 3,       /* indptr[0] != 0, not monotone, or last != nnz */
  NORMOT_ERROR_INDEX_OUT_OF_RANGE = 4,   /* a row/column index < 0 or >= the dimension */
  NORMOT_ERROR_NONFINITE_VALUE = 5,      /* NaN or +-Inf among the input values */
  NORMOT_ERROR_INVALID_MAX_FRACTION = 6, /* max_fraction outside [0, 1] (or NaN) */
  NORMOT_ERROR_INVALID_TARGET_SUM = 7,   /* target_sum given but not finite and > 0 */
  NORMOT_ERROR_INVALID_LOG_BASE = 8,     /* log_base given but not finite, > 0 and != 1 */
  NORMOT_ERROR_UNSUPPORTED_TYPE = 9,     /* this combination of types/layout is not supported */
  NORMOT_ERROR_BACKEND_UNAVAILABLE = 10, /* asked for CUDA where it is not compiled or no device */
  NORMOT_ERROR_NO_POSITIVE_TOTAL = 11,   /* median target asked for, but no cell has total > 0 */
  NORMOT_ERROR_OUT_OF_MEMORY = 12,       /* host or device allocation failed */
  NORMOT_ERROR_NOT_IMPLEMENTED = 13,     /* the chosen backend does not implement this yet */
  NORMOT_ERROR_CUDA = 14,                /* a CUDA runtime/library call failed (message has it) */
  NORMOT_ERROR_INVALID_MEMORY = 15,      /* memory tag not usable by this backend / pointer kind */
  NORMOT_ERROR_INVALID_ARGUMENT = 16,    /* a value out of range, overlapping arrays, ... */
  NORMOT_ERROR_NEGATIVE_WEIGHT = 17,     /* EMD: a negative entry in a or b */
  NORMOT_ERROR_UNBALANCED = 18,          /* EMD: |sum a - sum b| > tol * max(sum a, sum b) */
  NORMOT_ERROR_ZERO_MASS = 19,           /* EMD: a or b sums to zero */
  NORMOT_ERROR_OVERFLOW = 20,            /* finite inputs whose results would not be finite
                                            (the rules: docs/emd_semantics.md,
                                            docs/normalize_semantics.md) */
  NORMOT_ERROR_INTERNAL = 99             /* a bug in normot: please report it */
} normot_status;

/* A short constant English description of a status ("success", "null pointer", ...).
 * Never NULL; an unknown value gives "unknown status". */
NORMOT_API const char *normot_status_string(normot_status status);

/* ---------------------------------------------------------------------------------------------
 * Context: the backend, its threads or CUDA stream, cached scratch memory, the last error.
 * ------------------------------------------------------------------------------------------- */

typedef enum normot_backend {
  NORMOT_BACKEND_AUTO = 0, /* CUDA if compiled in and a device exists, else CPU */
  NORMOT_BACKEND_CPU = 1,  /* OpenMP; the reference every other backend is tested against */
  NORMOT_BACKEND_CUDA = 2
} normot_backend;

typedef struct normot_context normot_context;

/* 1 if `backend` can be used on this machine now (AUTO and CPU: always 1; CUDA: compiled in and
 * at least one device visible), else 0. */
NORMOT_API int normot_backend_available(normot_backend backend);

/* Number of visible CUDA devices; 0 when CUDA is not compiled in or none is visible. */
NORMOT_API int normot_cuda_device_count(void);

/* A constant name for a backend: "auto", "cpu" or "cuda". */
NORMOT_API const char *normot_backend_name(normot_backend backend);

/* Creates a context on `backend`. device_id selects the CUDA device (ignored by the CPU backend).
 * On success *out_context is a new context; on failure it is set to NULL.
 * Returns NORMOT_SUCCESS, NORMOT_ERROR_NULL_POINTER (out_context NULL),
 * NORMOT_ERROR_INVALID_ARGUMENT (unknown backend, device_id < 0),
 * NORMOT_ERROR_BACKEND_UNAVAILABLE (CUDA asked for, not compiled in, no such device),
 * NORMOT_ERROR_OUT_OF_MEMORY. */
NORMOT_API normot_status normot_context_create(normot_context **out_context, normot_backend backend,
                                               int device_id);

/* Frees a context and its cached scratch memory. NULL is accepted and does nothing. */
NORMOT_API void normot_context_destroy(normot_context *context);

/* The backend this context runs on: CPU or CUDA, never AUTO. */
NORMOT_API normot_backend normot_context_backend(const normot_context *context);

/* The largest thread count a context accepts. More threads than cores only add overhead, and
 * each thread of a call costs a stack and, for normot_emd, a workspace. */
#define NORMOT_MAX_THREADS 1024

/* CPU threads used by this context, 1 to NORMOT_MAX_THREADS. 0, the initial value, means what
 * OpenMP would use: omp_get_max_threads() of the calling thread, evaluated at each call, so that
 * OMP_NUM_THREADS, omp_set_num_threads() and the CPU affinity mask are honoured (capped at
 * NORMOT_MAX_THREADS). Results never depend on the thread count. (Nor on the CPU's vector
 * instructions: on x86-64 the CPU kernels use AVX2 where the CPU has it; the environment
 * variable NORMOT_CPU_KERNELS=baseline, read once per process, makes them use the portable code
 * instead, same bytes.)
 * Returns NORMOT_SUCCESS, NORMOT_ERROR_NULL_POINTER, NORMOT_ERROR_INVALID_ARGUMENT (n < 0 or
 * n > NORMOT_MAX_THREADS; the previous value is kept). */
NORMOT_API normot_status normot_context_set_threads(normot_context *context, int n_threads);
/* The thread count a call would use now (resolves 0 as described above). */
NORMOT_API int normot_context_threads(const normot_context *context);

/* The CUDA stream (a cudaStream_t passed as void*) that the CUDA backend orders its work on;
 * NULL (the default) is the legacy default stream. Calls return after the work is complete.
 * Returns NORMOT_SUCCESS, NORMOT_ERROR_NULL_POINTER (context NULL). The CPU backend keeps the
 * value and ignores it. */
NORMOT_API normot_status normot_context_set_stream(normot_context *context, void *cuda_stream);
NORMOT_API void *normot_context_stream(const normot_context *context);

/* The message of the last failed call on this context ("" if none yet). The pointer stays
 * valid until the next call on the context. Never NULL for a non-NULL context. */
NORMOT_API const char *normot_context_last_error(const normot_context *context);

/* ---------------------------------------------------------------------------------------------
 * Data views
 * ------------------------------------------------------------------------------------------- */

/* Where the bytes live. Numbered like DLPack's DLDeviceType (kDLCPU = 1, kDLCUDA = 2,
 * kDLCUDAHost = 3, kDLCUDAManaged = 13), so that a DLPack adapter is a cast. */
typedef enum normot_memory {
  NORMOT_MEMORY_AUTO = 0,         /* ask the CUDA driver (host if CUDA is not compiled in) */
  NORMOT_MEMORY_HOST = 1,         /* ordinary host memory */
  NORMOT_MEMORY_CUDA = 2,         /* device memory on the context's device */
  NORMOT_MEMORY_CUDA_HOST = 3,    /* pinned host memory (cudaMallocHost) */
  NORMOT_MEMORY_CUDA_MANAGED = 13 /* managed memory (cudaMallocManaged) */
} normot_memory;

typedef enum normot_value_type {
  NORMOT_FLOAT32 = 0,
  NORMOT_FLOAT64 = 1,
  NORMOT_INT32 = 2,
  NORMOT_INT64 = 3,
  NORMOT_UINT16 = 4,
  NORMOT_UINT32 = 5
} normot_value_type;

typedef enum normot_index_type { NORMOT_INDEX_INT32 = 0, NORMOT_INDEX_INT64 = 1 } normot_index_type;

/* Bytes of one element of a value type / an index type; 0 for a value that names no type. */
NORMOT_API size_t normot_value_size(normot_value_type type);
NORMOT_API size_t normot_index_size(normot_index_type type);

typedef enum normot_layout {
  NORMOT_LAYOUT_CSR = 0,  /* rows (cells) compressed: indptr has n_rows + 1 entries */
  NORMOT_LAYOUT_CSC = 1,  /* columns (genes) compressed: indptr has n_cols + 1 entries */
  NORMOT_LAYOUT_DENSE = 2 /* row-major, element (r, c) at values[r * ld + c] */
} normot_layout;

/* A non-owning view of an n_rows (cells) x n_cols (genes) matrix.
 * Sparse: indptr and indices share index_type; entries of a row (CSR) or column (CSC) may be
 * in any order; explicit zeros are allowed. Dense: indptr, indices and nnz are unused. */
typedef struct normot_matrix {
  normot_layout layout;
  int64_t n_rows;
  int64_t n_cols;
  int64_t nnz;         /* sparse: number of stored entries */
  const void *indptr;  /* sparse: n_rows + 1 (CSR) or n_cols + 1 (CSC) offsets */
  const void *indices; /* sparse: nnz column (CSR) or row (CSC) indices */
  normot_index_type index_type;
  void *values; /* nnz (sparse) or n_rows * ld (dense) values */
  normot_value_type value_type;
  int64_t ld;           /* dense: leading dimension >= n_cols; 0 means n_cols */
  normot_memory memory; /* where indptr, indices and values live */
} normot_matrix;

/* Convenience constructors for host views (memory = NORMOT_MEMORY_HOST). */
NORMOT_API normot_matrix normot_matrix_csr(int64_t n_rows, int64_t n_cols, int64_t nnz,
                                           const void *indptr, const void *indices,
                                           normot_index_type index_type, void *values,
                                           normot_value_type value_type);
NORMOT_API normot_matrix normot_matrix_csc(int64_t n_rows, int64_t n_cols, int64_t nnz,
                                           const void *indptr, const void *indices,
                                           normot_index_type index_type, void *values,
                                           normot_value_type value_type);
NORMOT_API normot_matrix normot_matrix_dense(int64_t n_rows, int64_t n_cols, void *values,
                                             normot_value_type value_type);

/* ---------------------------------------------------------------------------------------------
 * normalize_total
 *
 * For each cell (row) c, with every sum accumulated in float64 and rounded to the output type:
 *   total_c = sum over genes g of X[c,g]
 *   if exclude_highly_expressed: gene g is excluded from every total iff some cell c has
 *     X[c,g] > max_fraction * total_c (strict, compared in float64); totals are recomputed
 *     over the genes that remain. Excluded genes are still scaled.
 *   target = target_sum if has_target_sum, else the median of the totals that are > 0
 *     (an even count takes the mean of the two middle values, in the output type)
 *   size_factor_c = total_c / target, and 1 where that is 0 (all-zero cells stay zero)
 *   X[c,g] = X[c,g] / size_factor_c          (a division, as Scanpy does)
 *   if log1p: X[c,g] = log1p(X[c,g]) (/ log(log_base) if log_base is given)
 * Integer inputs are first converted to the output type (Scanpy casts them to float32).
 * On integer-valued data the results are bitwise identical to Scanpy, for every thread count
 * and for both backends.
 * ------------------------------------------------------------------------------------------- */

typedef struct normot_normalize_params {
  int has_target_sum;           /* 0: target is the median of the positive totals (default) */
  double target_sum;            /* used when has_target_sum; must be finite and > 0 */
  int exclude_highly_expressed; /* default 0 */
  double max_fraction;          /* default 0.05; must lie in [0, 1] */
  int log1p;                    /* default 0: fuse sc.pp.log1p after the scaling */
  double log_base;              /* 0 (default): natural log; else finite, > 0, != 1 */
  int check_values;             /* default 1: reject NaN/Inf before writing, and results that
                                   would not be finite (NORMOT_ERROR_OVERFLOW). 0 skips both
                                   checks, so that a target_sum call is one pass over the
                                   values: the caller vouches for finite values and results */
} normot_normalize_params;

/* Fills params with Scanpy's defaults (median target, no exclusion, max_fraction 0.05, no
 * log1p, values checked). Does nothing if params is NULL. */
NORMOT_API void normot_normalize_params_init(normot_normalize_params *params);

/* Where the results go, and what the call reports back. */
typedef struct normot_normalize_output {
  /* Normalized values, laid out like the input's values (nnz, or n_rows * ld), of value_type.
   * NULL, or X->values itself: in place into the input's values (float input whose type equals
   * value_type). Otherwise it must not overlap X's arrays; none of the three output arrays may
   * overlap X's arrays or each other. */
  void *values;
  /* NORMOT_FLOAT32 or NORMOT_FLOAT64. For float input it must equal the input type; for
   * integer input either is allowed (Scanpy gives float32). Also the type of the two arrays
   * below. */
  normot_value_type value_type;
  void *size_factors; /* optional, n_rows: total_c / target (Scanpy's key_added column),
                         0 for an all-zero cell although its values were divided by 1 */
  void *totals;       /* optional, n_rows: total_c as used (after any exclusion) */
  /* Filled on success: */
  double target;            /* the target used, rounded to value_type */
  int64_t n_zero_cells;     /* cells whose total was 0 (their size factor became 1) */
  int64_t n_excluded_genes; /* genes excluded from the totals (0 without exclusion) */
} normot_normalize_output;

/* Normalizes X as described above. The output buffers live in X->memory. With check_values,
 * every total, the target, every size factor and result must be finite in the output type
 * (docs/normalize_semantics.md, rule 8), else nothing is written.
 * Returns NORMOT_SUCCESS or:
 *   NORMOT_ERROR_NULL_POINTER      context, X, params or output NULL; X's indptr (sparse),
 *                                  indices (sparse, nnz > 0) or values (when non-empty) NULL
 *   NORMOT_ERROR_INVALID_SIZE      n_rows, n_cols or nnz < 0; ld < n_cols; overflowing sizes
 *   NORMOT_ERROR_INVALID_INDPTR    indptr[0] != 0, indptr decreasing, or indptr[last] != nnz
 *   NORMOT_ERROR_INDEX_OUT_OF_RANGE an index < 0 or >= its dimension, where indices are read
 *                                  (CSC always; CSR when exclude_highly_expressed)
 *   NORMOT_ERROR_NONFINITE_VALUE   NaN or Inf in the values (when check_values)
 *   NORMOT_ERROR_INVALID_MAX_FRACTION, NORMOT_ERROR_INVALID_TARGET_SUM,
 *   NORMOT_ERROR_INVALID_LOG_BASE  the parameter named is out of its range
 *   NORMOT_ERROR_UNSUPPORTED_TYPE  output type not float; in place on integer input; in place
 *                                  with a different output type; unknown enum values
 *   NORMOT_ERROR_NO_POSITIVE_TOTAL median target with no cell whose total is > 0
 *   NORMOT_ERROR_OVERFLOW          (check_values) a total, the median target, a size factor
 *                                  or a result not finite
 *   NORMOT_ERROR_INVALID_ARGUMENT  an output array overlaps an input array or another output
 *   NORMOT_ERROR_INVALID_MEMORY    device memory given to the CPU backend; an unknown memory tag
 *   NORMOT_ERROR_OUT_OF_MEMORY, NORMOT_ERROR_CUDA, NORMOT_ERROR_NOT_IMPLEMENTED */
NORMOT_API normot_status normot_normalize_total(normot_context *context, const normot_matrix *X,
                                                const normot_normalize_params *params,
                                                normot_normalize_output *output);

/* ---------------------------------------------------------------------------------------------
 * normalize_total in blocks, for a matrix larger than memory
 *
 * normot_normalize_total needs the whole matrix at once. The five calls below do the same
 * arithmetic on pieces of it, so that a caller can read a matrix from disk a block at a time and
 * still get, bit for bit, the totals, target, size factors and values normot_normalize_total
 * gives on the whole matrix. A block is a normot_matrix of whole rows (CSR or dense: row i of the
 * block is one cell) or of whole columns (CSC: every cell, some genes). The steps:
 *   1. Zero an array of float64 sums, one per cell. normot_normalize_block_sums adds each cell's
 *      values into it: CSR in stored order, dense and CSC in increasing column order (so CSC
 *      blocks must come in column order). Give a CSR or dense block the part of the array that
 *      belongs to its rows; give a CSC block the whole array.
 *   2. normot_normalize_block_totals rounds the sums to the output type in place: the totals.
 *   3. exclude_highly_expressed only: zero one flag per gene; normot_normalize_block_exclusion
 *      flags the genes of each block (give it the flags of the block's columns); then steps 1
 *      and 2 again with those flags, which leave the flagged genes out of the sums.
 *   4. normot_normalize_block_target: target_sum, or the median of the positive totals.
 *   5. normot_normalize_block_scale on each block, with params->has_target_sum = 1 and
 *      params->target_sum = the target of step 4.
 * `value_type` is the output type (NORMOT_FLOAT32 or NORMOT_FLOAT64, as output->value_type of
 * normot_normalize_total: the input's own type for float input). The calls run on the host
 * whatever the context's backend (host memory only), with the context's threads. Each checks
 * what it reads as normot_normalize_total does (indptr; indices where read: CSC, or when genes
 * are excluded; NaN/Inf with params->check_values; totals, target and results that would not be
 * finite) and returns the same statuses; a failed call writes nothing.
 * ------------------------------------------------------------------------------------------- */

/* Adds each cell's values (converted to value_type first, as Scanpy casts counts) into sums:
 * X->n_rows entries for a CSR or dense block, the matrix's n_rows for a CSC block. Genes whose
 * flag in `excluded` (X->n_cols flags, or NULL for none) is non-zero are left out. */
NORMOT_API normot_status normot_normalize_block_sums(normot_context *context,
                                                     const normot_matrix *X,
                                                     const normot_normalize_params *params,
                                                     normot_value_type value_type,
                                                     const unsigned char *excluded, double *sums);

/* Rounds n sums to value_type in place, which makes them the totals; with params->check_values
 * each must be finite in value_type (else NORMOT_ERROR_OVERFLOW, nothing changed). */
NORMOT_API normot_status normot_normalize_block_totals(normot_context *context,
                                                       const normot_normalize_params *params,
                                                       normot_value_type value_type, int64_t n,
                                                       double *sums);

/* Sets excluded[g] = 1 (X->n_cols flags, for the block's columns) for each gene g with a value
 * above params->max_fraction times its cell's total (totals as for the sums of step 1). Flags
 * already set stay set. A CSR or dense block takes X->n_cols bytes of memory per thread for the
 * threads' own flags (NORMOT_ERROR_OUT_OF_MEMORY without it, nothing flagged). */
NORMOT_API normot_status normot_normalize_block_exclusion(
    normot_context *context, const normot_matrix *X, const normot_normalize_params *params,
    normot_value_type value_type, const double *totals, unsigned char *excluded);

/* The target of n totals, rounded to value_type: params->target_sum when has_target_sum, else
 * the median of the totals that are > 0 (NORMOT_ERROR_NO_POSITIVE_TOTAL when none is; takes
 * memory for their copy, NORMOT_ERROR_OUT_OF_MEMORY without it). */
NORMOT_API normot_status normot_normalize_block_target(normot_context *context,
                                                       const normot_normalize_params *params,
                                                       normot_value_type value_type, int64_t n,
                                                       const double *totals, double *target);

/* Step 5: scales the block into output->values (laid out as X's values; NULL or X->values: in
 * place, for float input of value_type) with size factor total / params->target_sum (1 for a
 * zero total), then log1p when asked. `totals` has one entry per row of a CSR or dense block,
 * or per cell of the matrix for a CSC block; so has output->size_factors when given (total /
 * target, 0 for a zero total). output->totals must be NULL. Fills output->target and
 * output->n_zero_cells (zero totals among the block's rows; every cell for CSC) and sets
 * output->n_excluded_genes to 0. */
NORMOT_API normot_status normot_normalize_block_scale(normot_context *context,
                                                      const normot_matrix *X,
                                                      const normot_normalize_params *params,
                                                      const double *totals,
                                                      normot_normalize_output *output);

/* ---------------------------------------------------------------------------------------------
 * Batched exact EMD
 *
 * Problem i of k: minimise <G, M_i> over G >= 0 (n x m) with G 1 = a_i and G^T 1 = b_i.
 * Each problem is solved exactly (network simplex / shortest augmenting paths on the CPU; an
 * epsilon-scaling auction on a fixed-point cost grid on CUDA, certified by its duals), and
 * independently: one problem that fails never spoils the others.
 * ------------------------------------------------------------------------------------------- */

typedef enum normot_metric {
  NORMOT_METRIC_SQEUCLIDEAN = 0, /* M_ij = |x_i - y_j|^2 */
  NORMOT_METRIC_EUCLIDEAN = 1    /* M_ij = |x_i - y_j| */
} normot_metric;

/* A batch of k problems of one size n x m. All arrays are C-ordered, of value_type (FLOAT32 or
 * FLOAT64), in `memory`. The solver works in float64 whatever value_type is. */
typedef struct normot_emd_problem {
  int64_t k, n, m;
  normot_value_type value_type;
  normot_memory memory;
  const void *a; /* (k, n), or (n) if a_shared; NULL: uniform 1/n */
  int a_shared;
  const void *b; /* (k, m), or (m) if b_shared; NULL: uniform 1/m */
  int b_shared;
  const void *cost; /* (k, n, m), or (n, m) if cost_shared; NULL: point-cloud mode */
  int cost_shared;
  /* Point-cloud mode (cost == NULL): costs computed on the fly, never stored. */
  const void *x; /* (k, n, dim) */
  const void *y; /* (k, m, dim) */
  int64_t dim;
  normot_metric metric;
} normot_emd_problem;

typedef enum normot_emd_solver {
  NORMOT_EMD_SOLVER_AUTO = 0,            /* the fastest exact method for each problem */
  NORMOT_EMD_SOLVER_NETWORK_SIMPLEX = 1, /* CPU: the general transportation simplex */
  NORMOT_EMD_SOLVER_ASSIGNMENT = 2,      /* CPU: n == m, uniform weights: shortest augmenting
                                            paths; other problems fall back to the simplex */
  NORMOT_EMD_SOLVER_AUCTION = 3,         /* the fixed-point auction core (CUDA's algorithm; on
                                            the CPU too, as an alternative) */
  NORMOT_EMD_SOLVER_MULTISCALE = 4       /* CPU only (CUDA: NORMOT_ERROR_NOT_IMPLEMENTED): a
                                            sparse simplex on candidate pairs (each point's
                                            cheapest partners; coarse to fine on 1-3-D point
                                            clouds), priced over all pairs until none violates,
                                            so the result is optimal for the full problem.
                                            Point clouds: no n x m memory. max_iter does not
                                            apply (it always runs to the certified optimum) */
} normot_emd_solver;

typedef struct normot_emd_params {
  int64_t max_iter;         /* iteration limit per problem; 0 (default) = no limit. It bounds
                               exactly the iterations of the solver that runs: NETWORK_SIMPLEX
                               pivots, ASSIGNMENT augmenting paths (at most n: AUTO picks it only
                               when max_iter is 0 or >= n), AUCTION pushes; MULTISCALE ignores it
                               (AUTO picks it, on the CPU, for point clouds of 1 to 3 dimensions
                               with n + m > 2048, only when max_iter is 0 or >= 100000, POT's
                               default). On CUDA, AUTO runs the device auction only when max_iter
                               is 0; with a limit it takes the CPU's choice (on the host), so a
                               limit means the same on both */
  int check_marginals;      /* default 1: reject |sum a - sum b| > marginal_tol * max(sums).
                               0: rescale b to sum a, as POT does */
  double marginal_tol;      /* default 1e-6 (relative) */
  int center_duals;         /* default 1: shift (u, v) as POT's center_ot_dual */
  normot_emd_solver solver; /* default AUTO */
} normot_emd_params;

/* Defaults as documented above. Does nothing if params is NULL. */
NORMOT_API void normot_emd_params_init(normot_emd_params *params);

/* Per-problem outcome; the values match POT's result_code. */
typedef enum normot_emd_status {
  NORMOT_EMD_INFEASIBLE = 0,
  NORMOT_EMD_OPTIMAL = 1,
  NORMOT_EMD_UNBOUNDED = 2,
  NORMOT_EMD_MAX_ITER_REACHED = 3 /* the plan returned is feasible but may not be optimal */
} normot_emd_status;

/* Flags per problem. */
#define NORMOT_EMD_FLAG_CPU_FALLBACK                      \
  1 /* the auction's answer failed its certificate on the \
       original costs; the network simplex re-solved it */

/* Where results go. Every pointer but `cost` is optional (NULL: not computed/not written).
 * All live in the problem's memory, and all values are float64. */
typedef struct normot_emd_result {
  double *cost; /* (k): <G_i, M_i> */
  double *plan; /* (k, n, m) dense plans */
  /* Sparse plans: problem i's entries are at offsets [i*(n+m-1), i*(n+m-1) + sparse_count[i]);
   * sparse_count[i] <= n + m - 1 (the basic solution), only positive entries are listed. */
  int64_t *sparse_row;   /* (k, n+m-1) */
  int64_t *sparse_col;   /* (k, n+m-1) */
  double *sparse_value;  /* (k, n+m-1) */
  int64_t *sparse_count; /* (k) */
  double *u;             /* (k, n) duals of the a constraints */
  double *v;             /* (k, m) duals of the b constraints */
  int32_t *status;       /* (k) normot_emd_status */
  int64_t *iterations;   /* (k) */
  int32_t *flags;        /* (k) NORMOT_EMD_FLAG_* */
} normot_emd_result;

/* Solves the k problems. The call returns NORMOT_SUCCESS when the batch was processed, even if
 * some problems are INFEASIBLE or MAX_ITER_REACHED: look at result->status per problem.
 * No result array may overlap an input array or another result array. Every cost (given, or
 * computed from the clouds) must satisfy max|M| <= DBL_MAX / (8 (n + m) max(1, sum a)), and the
 * mass sum a <= DBL_MAX / (8 (n + m)), so that every result is finite (docs/emd_semantics.md,
 * "Magnitude limits").
 * Returns NORMOT_SUCCESS or:
 *   NORMOT_ERROR_NULL_POINTER     context, problem, params, result or result->cost NULL; cost and
 *                                 x/y both NULL; x or y NULL in point-cloud mode
 *   NORMOT_ERROR_INVALID_SIZE     k, n, m < 0, n or m == 0 with k > 0, dim < 1 in point-cloud
 *                                 mode, overflowing sizes
 *   NORMOT_ERROR_UNSUPPORTED_TYPE value_type not FLOAT32/FLOAT64; unknown metric or solver
 *   NORMOT_ERROR_NONFINITE_VALUE  NaN or Inf in a, b, cost, x or y (message names the problem)
 *   NORMOT_ERROR_NEGATIVE_WEIGHT  a negative entry in a or b
 *   NORMOT_ERROR_ZERO_MASS        a or b of a problem sums to 0
 *   NORMOT_ERROR_UNBALANCED       sums differ by more than marginal_tol (check_marginals)
 *   NORMOT_ERROR_OVERFLOW         a cost that is infinite or above the limit, b rescaled to
 *                                 the mass of a not finite, or a mass above its limit (message
 *                                 names the problem)
 *   NORMOT_ERROR_INVALID_ARGUMENT max_iter < 0, marginal_tol < 0; a result array overlapping an
 *                                 input array or another result array
 *   NORMOT_ERROR_INVALID_MEMORY, NORMOT_ERROR_OUT_OF_MEMORY, NORMOT_ERROR_CUDA,
 *   NORMOT_ERROR_NOT_IMPLEMENTED */
NORMOT_API normot_status normot_emd(normot_context *context, const normot_emd_problem *problem,
                                    const normot_emd_params *params, normot_emd_result *result);

/* ---------------------------------------------------------------------------------------------
 * Exact EMD on a sparse cost
 *
 * One problem whose cost is given only on a set of edges (i, j): CSR over the n rows, stored
 * entries (explicit zeros included) are the edges, and every missing pair is forbidden (as if
 * its cost were infinite). Minimise <G, M> over G >= 0 supported on the edges with G 1 = a and
 * G^T 1 = b; b is rescaled to the mass of a as in normot_emd. Solved exactly by a network
 * simplex on the edge graph, never building the n x m matrix, by the CPU solver whatever the
 * context's backend (the arrays must be in host memory). Duplicate edges are allowed (the
 * cheaper one carries the flow).
 * ------------------------------------------------------------------------------------------- */

typedef struct normot_emd_sparse_problem {
  int64_t n, m, nnz;
  normot_value_type value_type; /* of a, b and values: FLOAT32 or FLOAT64 */
  const void *a;                /* (n); NULL: uniform 1/n */
  const void *b;                /* (m); NULL: uniform 1/m */
  const void *indptr;           /* n + 1 offsets: row i's edges are [indptr[i], indptr[i+1]) */
  const void *indices;          /* nnz column indices in [0, m), any order within a row */
  normot_index_type index_type; /* of indptr and indices */
  const void *values;           /* nnz edge costs */
  normot_memory memory;         /* HOST (or AUTO resolving to host memory) */
} normot_emd_sparse_problem;

/* Solves the problem as described above. `result` is read as for a batch of k = 1: cost (1),
 * sparse_row/col/value (n + m - 1) and sparse_count (1) for the plan's positive entries sorted
 * by row then column, u (n), v (m), status (1), iterations (1), flags (1), each optional but
 * cost; plan, when given, receives the dense n x m plan.
 * Status per problem: OPTIMAL; INFEASIBLE when the edges cannot carry the marginals (cost 0,
 * no plan entries, zero duals, as POT); MAX_ITER_REACHED when max_iter pivots were made (the
 * plan may then not meet the marginals). The duals satisfy u_i + v_j <= cost on every edge,
 * with equality where the plan is positive; they are centred as in normot_emd when
 * center_duals, and rows or columns of zero weight get dual 0 before that centring.
 * params->solver is checked but not used. Returns NORMOT_SUCCESS or:
 *   NORMOT_ERROR_NULL_POINTER      context, problem, params, result or result->cost NULL;
 *                                  indptr NULL; indices or values NULL while nnz > 0
 *   NORMOT_ERROR_INVALID_SIZE      n or m < 1, nnz < 0, n + m >= 2^31
 *   NORMOT_ERROR_INVALID_INDPTR    indptr[0] != 0, indptr decreasing, or indptr[n] != nnz
 *   NORMOT_ERROR_INDEX_OUT_OF_RANGE a column index < 0 or >= m
 *   NORMOT_ERROR_UNSUPPORTED_TYPE  value_type not FLOAT32/FLOAT64; unknown index_type or solver
 *   NORMOT_ERROR_NONFINITE_VALUE, NORMOT_ERROR_NEGATIVE_WEIGHT, NORMOT_ERROR_ZERO_MASS,
 *   NORMOT_ERROR_UNBALANCED, NORMOT_ERROR_OVERFLOW, NORMOT_ERROR_INVALID_ARGUMENT  as for
 *                                  normot_emd, the edge costs standing for the costs
 *   NORMOT_ERROR_INVALID_MEMORY    device memory, or an unknown memory tag
 *   NORMOT_ERROR_OUT_OF_MEMORY */
NORMOT_API normot_status normot_emd_sparse(normot_context *context,
                                           const normot_emd_sparse_problem *problem,
                                           const normot_emd_params *params,
                                           normot_emd_result *result);

#ifdef __cplusplus
}
#endif

#endif /* NORMOT_NORMOT_H */
