/* The per-call row tables of the fused log1p (normalize_log1p_table.h): allocated for a memo only
 * where the AVX-512 row kernels will use them. Compiled for the baseline instruction set, since
 * every build of the passes asks for them. */
#include <stdlib.h>

#include "normalize_log1p_table.h"

void normot_log1p_memo_add_tables(normot_log1p_memo *memo, normot_value_type in,
                                  normot_value_type out) {
  memo->row_tables = NULL;
#if defined(NORMOT_HAVE_AVX512_KERNELS)
  /* calloc: every slot starts empty (have = 0), and no entry is ever read uninitialised. */
  if (normot_log1p_table_applies(in, out)) memo->row_tables = calloc(1, sizeof *memo->row_tables);
#else
  (void)in, (void)out;
#endif
}

void normot_log1p_memo_drop_tables(normot_log1p_memo *memo) {
  free(memo->row_tables);
  memo->row_tables = NULL;
}
