/* The fused log1p of one row through a table indexed by the stored count (AVX-512F kernels,
 * chosen at run time: normot_cpu_use_avx512()).
 *
 * Within one row every stored value v becomes log1p(v / factor) with the same factor, so equal
 * inputs give equal outputs, and counts are mostly small integers (85% are 1 in the synthetic
 * data). A row gets a table of the results for v = 0, 1, ..., entries - 1 (32 for float32, 16
 * for float64: two vector registers, read with one two-source permute). A first pass over the
 * row (in cache) finds which entries it needs; only those are computed, in one tight loop, and
 * the table is kept for later rows of the same factor (below). A value is read from the table
 * only when its bits are exactly those of such an integer (-0.0, NaN, non-integers and larger
 * values are not). Every entry, and every other value, is computed by the scalar path: the
 * same division in the output type as the plain pass, then the library's log1p (through the
 * memo for the other values). So the bytes are those of a fresh libm call, only faster: no
 * division and no lookup per value on the table path. */
#ifndef NORMOT_SRC_CPU_NORMALIZE_LOG1P_TABLE_H
#define NORMOT_SRC_CPU_NORMALIZE_LOG1P_TABLE_H

#include "cpu_features.h"
#include "normalize_internal.h"

enum { NORMOT_LOG1P_TABLE_F32 = 32, NORMOT_LOG1P_TABLE_F64 = 16 };

/* The tables of earlier rows, kept for the rest of the call by each thread: rows with equal
 * totals have equal factors, hence equal tables, and totals repeat across many cells (the
 * more so the shorter the rows: a cell of 100 counts has a total near 100). A row whose factor
 * has a table here takes the entries it needs from it and computes only the ones it lacks,
 * instead of one library call per distinct count in every row (measured: 0.8% of 100-value
 * rows and 42% of 1000-value rows still call the library; docs/normalize_semantics.md).
 * Direct-mapped by the factor's bits; a slot taken by another factor starts empty. An entry is a
 * pure function of the count, the factor and the call's base, and the base is fixed for the memo
 * that owns the tables, so the bytes are those of a fresh call. 4096 slots (560 KiB): measured on
 * 200k x 20k and 1M x 2k float32 log1p against 256 and 1024 slots (slower) and 16384 (no faster)
 * (bench/RESULTS.md). */
enum {
  NORMOT_LOG1P_ROW_TABLE_BITS = 12,
  NORMOT_LOG1P_ROW_TABLES = 1 << NORMOT_LOG1P_ROW_TABLE_BITS
};

typedef union normot_log1p_row_entries {
  float f32[NORMOT_LOG1P_TABLE_F32];
  double f64[NORMOT_LOG1P_TABLE_F64];
} normot_log1p_row_entries;

typedef struct normot_log1p_row_tables {
  uint64_t factor_bits[NORMOT_LOG1P_ROW_TABLES];
  uint32_t have[NORMOT_LOG1P_ROW_TABLES]; /* bit k: entry k is computed (0: the slot is empty) */
  normot_log1p_row_entries entries[NORMOT_LOG1P_ROW_TABLES];
} normot_log1p_row_tables;

/* Gives memo a set of empty row tables (560 KiB) when rows of these types go through the
 * row tables and memory allows; without them every row computes its own entries, the same
 * bytes. Release with normot_log1p_memo_drop_tables. */
void normot_log1p_memo_add_tables(normot_log1p_memo *memo, normot_value_type in,
                                  normot_value_type out);
void normot_log1p_memo_drop_tables(normot_log1p_memo *memo);

/* What a row kernel may be told besides its values. `needed`: the row's set of table values
 * (bit k: the row holds the integer k) when the caller has it from an earlier read of the row,
 * or -1 to find it here. `ahead`: prefetch X's values this many values past each one read, into
 * L2, while `readable` (counted from the row's first value) bounds the addresses; 0: none. */
typedef struct normot_log1p_row_hints {
  int64_t needed;
  int64_t ahead;
  int64_t readable;
} normot_log1p_row_hints;

static const normot_log1p_row_hints NORMOT_LOG1P_NO_HINTS = {-1, 0, 0};

/* out[j] = normot_log1p_exact of (in[j] / factor, rounded to float32), for j in [0, n); the
 * memo serves the values outside the table. in and out may be the same array. */
void normot_log1p_row_f32_avx512(const float *in, float *out, int64_t n, float factor,
                                 normot_log1p_row_hints hints, normot_log1p_memo *memo);

/* The same in float64. */
void normot_log1p_row_f64_avx512(const double *in, double *out, int64_t n, double factor,
                                 normot_log1p_row_hints hints, normot_log1p_memo *memo);

#if defined(NORMOT_HAVE_AVX512_KERNELS)
/* Whether rows of input type `in` and output type `out` go through the row tables: float input
 * of the output type, where the CPU has AVX-512F (checked at run time). */
static inline int normot_log1p_table_applies(normot_value_type in, normot_value_type out) {
  return in == out && (in == NORMOT_FLOAT32 || in == NORMOT_FLOAT64) && normot_cpu_use_avx512();
}

/* The row of n values at element `start` of `in` (X's values) to the same place in `out`:
 * divided by factor (a value of type `type`) and its log1p taken; hints as above. */
static inline void normot_log1p_table_row(normot_value_type type, const void *in, void *out,
                                          int64_t start, int64_t n, double factor,
                                          normot_log1p_row_hints hints, normot_log1p_memo *memo) {
  if (type == NORMOT_FLOAT32)
    normot_log1p_row_f32_avx512((const float *)in + start, (float *)out + start, n, (float)factor,
                                hints, memo);
  else
    normot_log1p_row_f64_avx512((const double *)in + start, (double *)out + start, n, factor, hints,
                                memo);
}
#endif

#endif
