/* normot normalize on an .h5ad or a 10x .h5 larger than memory: X is read a block at a time,
 * never whole.
 *
 *   pass 1      the sums of every cell (the values checked as they are read); with
 *               exclude_highly_expressed, the genes to exclude too (CSC: in a pass of its own)
 *   [pass 1b]   exclude_highly_expressed: the sums again without the excluded genes: CSC,
 *               every block; else only the blocks before the last one that flagged a gene
 *               (pass 1 sums each block without the genes flagged so far)
 *   target      the median of the totals (or --target-sum), exactly as in memory
 *   pass 2      each block read again, scaled and handed to the .h5ad writer, which writes it
 *               where the in-memory run writes it, in the same file layout
 * The arithmetic is the library's normalize_total in blocks (normot.h), so the output file is
 * the in-memory run's, byte for byte (docs/streaming.md). */
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

typedef struct stream_run {
  const normalize_options *options;
  normot_context *context;
  cli_x_stream *stream;
  const cli_x_layout *shape;
  int tenx;         /* a 10x .h5 input: obs and var are built from ... */
  cli_matrix names; /* ... its names (no entries), as in memory */
  normot_normalize_params params;
  normot_value_type out;
  double *totals;          /* n_rows: the sums, then the totals */
  unsigned char *excluded; /* n_cols flags, with exclusion */
  /* Exclusion in pass 1 (CSR, dense): each cell's sum without the genes flagged by the end of
   * its block; the blocks before the last one that flagged a gene, whose cells miss a flag. */
  double *kept_sums;
  int64_t n_flagged, reread_blocks;
  void *size_factors; /* n_rows of `out`, when written */
  void *scaled;       /* a block's normalized values */
  int64_t next_block; /* the writer's next block (pass 2) */
  cli_progress progress;
  char error[1024];
} stream_run;

int cli_parse_size(const char *text, uint64_t *bytes) {
  char *end = NULL;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (end == text || errno != 0 || text[0] == '-') return -1;
  unsigned shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10;
  if (*end == 'M' || *end == 'm') shift = 20;
  if (*end == 'G' || *end == 'g') shift = 30;
  if (shift != 0) end++;
  if (*end != '\0' || value == 0 || value > (UINT64_MAX >> shift)) return -1;
  *bytes = (uint64_t)value << shift;
  return 0;
}

static size_t float_bytes(normot_value_type type) {
  return type == NORMOT_FLOAT32 ? 4 : 8;
}

static int is_float(normot_value_type type) {
  return type == NORMOT_FLOAT32 || type == NORMOT_FLOAT64;
}

/* Bytes per block entry: the values read, their int64 indices and the normalized values; a dense
 * X also holds its rows as stored and the writer's dense rows; a 10x .h5's the writer's int32
 * copy of the indices. */
static double entry_bytes(const stream_run *run) {
  const cli_x_layout *shape = run->shape;
  double read = (double)normot_value_size(shape->value_type) + 8.0 + (double)float_bytes(run->out);
  if (shape->layout == NORMOT_LAYOUT_DENSE)
    read += (double)normot_value_size(shape->value_type) + (double)float_bytes(run->out);
  if (run->tenx) read += 4.0;
  return read;
}

/* A 10x .h5's names as held: each string, its pointer and the allocator's overhead. */
static double strings_bytes(char *const *strings, int64_t count) {
  double bytes = 0.0;
  for (int64_t i = 0; strings != NULL && i < count; i++)
    bytes += 8.0 + 16.0 + (strings[i] != NULL ? (double)strlen(strings[i]) + 1.0 : 0.0);
  return bytes;
}

static double names_bytes(const cli_matrix *names) {
  double bytes = strings_bytes(names->row_names, names->n_rows) +
                 strings_bytes(names->col_names, names->n_cols) +
                 strings_bytes(names->col_symbols, names->n_cols);
  for (int k = 0; k < names->n_annotations; k++)
    bytes += strings_bytes(names->annotations[k].values, names->n_cols);
  return bytes;
}

/* The arrays kept for the whole run: per cell the sums, the offsets of a CSR X, the median's
 * copy, the size factors and, with exclusion, the kept sums; per gene the flags and the offsets of
 * a CSC X; a 10x .h5's names, the offsets of the entries kept and the writer's int32 offsets and
 * name pointers. libhdf5's own buffers (chunk caches, filters) and the program are not counted: a
 * few tens of MB. */
static double fixed_bytes(const stream_run *run) {
  const cli_x_layout *shape = run->shape;
  double per_row = 8.0 + 8.0 + 8.0 + (double)float_bytes(run->out) + 8.0;
  if (run->options->params.exclude_highly_expressed && shape->layout != NORMOT_LAYOUT_CSC)
    per_row += 8.0; /* the kept sums */
  double bytes = per_row * (double)shape->n_rows + 17.0 * (double)shape->n_cols;
  if (run->tenx) bytes += names_bytes(&run->names) + 20.0 * (double)shape->n_rows;
  return bytes;
}

/* What the in-memory run would take: CSR arrays and their normalized values (a CSC X is
 * converted, which takes its arrays twice; a dense X may be all non-zero), a 10x .h5's names. */
static double in_memory_bytes(const stream_run *run) {
  const cli_x_layout *shape = run->shape;
  normot_value_type out = run->out;
  double entries = shape->layout == NORMOT_LAYOUT_DENSE
                       ? (double)shape->n_rows * (double)shape->n_cols
                       : (double)shape->nnz;
  double per_entry = (double)normot_value_size(shape->value_type) + 8.0 + (double)float_bytes(out);
  if (shape->layout == NORMOT_LAYOUT_CSC) per_entry *= 2.0;
  double names = run->tenx ? names_bytes(&run->names) : 0.0;
  return entries * per_entry + 24.0 * (double)shape->n_rows + 8.0 * (double)shape->n_cols + names;
}

static normot_value_type output_type(const normalize_options *options, normot_value_type input) {
  if (options->dtype >= 0) return (normot_value_type)options->dtype;
  return is_float(input) ? input : NORMOT_FLOAT32;
}

/* Reads block b, or returns 1 after printing why not. */
static int read_block(stream_run *run, int64_t b, cli_x_block *block) {
  if (cli_x_stream_read(run->stream, b, block, run->error, sizeof run->error) != 0)
    return cli_error("%s", run->error);
  return 0;
}

static int library_failed(const stream_run *run) {
  return cli_error("%s: %s", run->options->input, normot_context_last_error(run->context));
}

/* The per-cell part of a block's arrays: its own rows, or every cell for CSC. */
static int64_t row_offset(const stream_run *run, const cli_x_block *block) {
  return run->shape->layout == NORMOT_LAYOUT_CSC ? 0 : block->first;
}

/* The flags of a block's genes: its own columns for CSC, every gene otherwise. */
static int64_t column_offset(const stream_run *run, const cli_x_block *block) {
  return run->shape->layout == NORMOT_LAYOUT_CSC ? block->first : 0;
}

/* Steps 1 and 2 of the block recipe: the totals of every cell, leaving out the genes flagged in
 * `excluded` (NULL: none). Returns 0, or 1 after printing the failure. */
/* Whether pass 1 also flags the genes to exclude: a CSR or dense block holds whole cells, so
 * their totals are known as soon as the block is summed (a CSC X needs a pass of its own). */
static int flags_in_pass_one(const stream_run *run, const unsigned char *excluded) {
  return excluded == NULL && run->excluded != NULL && run->shape->layout != NORMOT_LAYOUT_CSC;
}

/* Step 3 for one block of whole cells or of genes: the block's totals (rounded) in run->totals
 * already, its genes above max_fraction of a cell's total flagged. */
static int flag_block(stream_run *run, const cli_x_block *block) {
  double *totals = run->totals + row_offset(run, block);
  if (run->shape->layout != NORMOT_LAYOUT_CSC &&
      normot_normalize_block_totals(run->context, &run->params, run->out, block->X.n_rows,
                                    totals) != NORMOT_SUCCESS)
    return library_failed(run);
  /* Pass 1's sums checked these values already: no need to scan them for NaN again. */
  normot_normalize_params checked = run->params;
  checked.check_values = 0;
  if (normot_normalize_block_exclusion(run->context, &block->X, &checked, run->out, totals,
                                       run->excluded + column_offset(run, block)) != NORMOT_SUCCESS)
    return library_failed(run);
  return 0;
}

/* Exclusion without reading X a third time (docs/streaming.md). Once a block of whole cells is
 * flagged, pass 1 sums it again, in memory, without the genes flagged so far: the sums the
 * second pass would add with those flags. Flags only grow, so they are final for every block
 * from the last one that flagged a gene on; only the blocks before it are read again. */
static int flag_in_pass_one(stream_run *run, const cli_x_block *block, int64_t b) {
  if (flag_block(run, block) != 0) return 1;
  int64_t flagged = 0;
  for (int64_t g = 0; g < run->shape->n_cols; g++) flagged += run->excluded[g] != 0;
  if (flagged > run->n_flagged) run->reread_blocks = b;
  run->n_flagged = flagged;
  double *kept = run->kept_sums + block->first;
  memset(kept, 0, (size_t)block->X.n_rows * sizeof *kept);
  normot_normalize_params checked = run->params; /* values checked by the block's first sums */
  checked.check_values = 0;
  if (normot_normalize_block_sums(run->context, &block->X, &checked, run->out, run->excluded,
                                  kept) != NORMOT_SUCCESS)
    return library_failed(run);
  return 0;
}

/* Steps 1 and 2 of the block recipe: the totals of every cell, leaving out the genes flagged in
 * `excluded` (NULL: none); with exclusion and whole cells per block, step 3's flags as well.
 * Returns 0, or 1 after printing the failure. */
static int totals_pass(stream_run *run, const unsigned char *excluded, const char *label) {
  memset(run->totals, 0, (size_t)run->shape->n_rows * sizeof *run->totals);
  int flag = flags_in_pass_one(run, excluded);
  /* Without excluded genes a CSR row's total needs its values alone. */
  cli_x_stream_skip_indices(run->stream, excluded == NULL && !flag);
  cli_progress_begin(&run->progress, label, run->shape->n_blocks);
  for (int64_t b = 0; b < run->shape->n_blocks; b++) {
    cli_x_block block;
    if (read_block(run, b, &block) != 0) return 1;
    const unsigned char *flags = excluded != NULL ? excluded + column_offset(run, &block) : NULL;
    if (normot_normalize_block_sums(run->context, &block.X, &run->params, run->out, flags,
                                    run->totals + row_offset(run, &block)) != NORMOT_SUCCESS)
      return library_failed(run);
    if (flag && flag_in_pass_one(run, &block, b) != 0) return 1;
    cli_progress_update(&run->progress, b + 1);
  }
  cli_progress_end(&run->progress);
  if (normot_normalize_block_totals(run->context, &run->params, run->out, run->shape->n_rows,
                                    run->totals) != NORMOT_SUCCESS)
    return library_failed(run);
  return 0;
}

/* Step 3's totals without the excluded genes from pass 1's kept sums, but for the cells of the
 * first reread_blocks blocks, summed again with every flag. */
static int totals_from_kept_sums(stream_run *run) {
  cli_x_stream_skip_indices(run->stream, 0);
  int64_t n_blocks = run->reread_blocks, first_kept = 0;
  if (n_blocks > 0)
    cli_progress_begin(&run->progress, "totals without the excluded genes", n_blocks);
  for (int64_t b = 0; b < n_blocks; b++) {
    cli_x_block block;
    if (read_block(run, b, &block) != 0) return 1;
    double *sums = run->totals + block.first;
    memset(sums, 0, (size_t)block.X.n_rows * sizeof *sums);
    if (normot_normalize_block_sums(run->context, &block.X, &run->params, run->out, run->excluded,
                                    sums) != NORMOT_SUCCESS)
      return library_failed(run);
    first_kept = block.first + block.X.n_rows;
    cli_progress_update(&run->progress, b + 1);
  }
  if (n_blocks > 0) cli_progress_end(&run->progress);
  memcpy(run->totals + first_kept, run->kept_sums + first_kept,
         (size_t)(run->shape->n_rows - first_kept) * sizeof *run->totals);
  if (normot_normalize_block_totals(run->context, &run->params, run->out, run->shape->n_rows,
                                    run->totals) != NORMOT_SUCCESS)
    return library_failed(run);
  return 0;
}

/* Step 3: the genes to exclude (a pass of its own for CSC), then the totals without them. */
static int exclusion_pass(stream_run *run) {
  if (run->kept_sums != NULL) return totals_from_kept_sums(run);
  cli_x_stream_skip_indices(run->stream, 0);
  int64_t n_blocks = run->shape->layout == NORMOT_LAYOUT_CSC ? run->shape->n_blocks : 0;
  if (n_blocks > 0) cli_progress_begin(&run->progress, "finding highly expressed genes", n_blocks);
  for (int64_t b = 0; b < n_blocks; b++) {
    cli_x_block block;
    if (read_block(run, b, &block) != 0 || flag_block(run, &block) != 0) return 1;
    cli_progress_update(&run->progress, b + 1);
  }
  if (n_blocks > 0) cli_progress_end(&run->progress);
  return totals_pass(run, run->excluded, "totals without the excluded genes");
}

/* The writer's source of X's values (pass 2): the next block, normalized. */
static int next_values(void *state, cli_values_block *values) {
  stream_run *run = state;
  if (run->next_block == 0) {
    /* Scaling a CSR row needs its values alone; a 10x .h5's indices are written as well. */
    cli_x_stream_skip_indices(run->stream, !run->tenx);
    cli_progress_begin(&run->progress, "normalizing and writing", run->shape->n_blocks);
  }
  if (run->next_block == run->shape->n_blocks) {
    cli_progress_end(&run->progress);
    return 0;
  }
  cli_x_block block;
  if (cli_x_stream_read(run->stream, run->next_block, &block, run->error, sizeof run->error) != 0)
    return -1;
  normot_normalize_output output;
  memset(&output, 0, sizeof output);
  output.values = run->scaled;
  output.value_type = run->out;
  if (run->size_factors != NULL)
    output.size_factors =
        (char *)run->size_factors + (size_t)row_offset(run, &block) * float_bytes(run->out);
  if (normot_normalize_block_scale(run->context, &block.X, &run->params,
                                   run->totals + row_offset(run, &block),
                                   &output) != NORMOT_SUCCESS) {
    snprintf(run->error, sizeof run->error, "%s: %s", run->options->input,
             normot_context_last_error(run->context));
    return -1;
  }
  int dense = run->shape->layout == NORMOT_LAYOUT_DENSE;
  values->first = dense ? block.first : block.first_entry;
  values->n_rows = block.X.n_rows;
  values->nnz = block.X.nnz;
  values->indptr = block.X.indptr;
  values->indices = block.X.indices;
  values->values = run->scaled;
  cli_progress_update(&run->progress, ++run->next_block);
  return 1;
}

/* Whether the input and output are the kinds that stream: .h5ad or 10x .h5 to .h5ad, not
 * transposed. */
static int streamable(const normalize_options *options) {
  cli_input_kind kind = cli_input_kind_of(options->input);
  return (kind == CLI_INPUT_H5AD || kind == CLI_INPUT_10X_H5) && !options->transpose &&
         cli_ends_with(options->output, ".h5ad");
}

/* The arrays of the run. Returns 0, or 1 after printing the failure. */
static int allocate_arrays(stream_run *run) {
  const cli_x_layout *shape = run->shape;
  int wants_factors = run->options->key_added != NULL || run->options->size_factors_path != NULL;
  run->totals = malloc((size_t)(shape->n_rows > 0 ? shape->n_rows : 1) * sizeof *run->totals);
  run->scaled = malloc((size_t)(shape->max_block_entries > 0 ? shape->max_block_entries : 1) *
                       float_bytes(run->out));
  int kept = run->params.exclude_highly_expressed && shape->layout != NORMOT_LAYOUT_CSC;
  if (run->params.exclude_highly_expressed)
    run->excluded = calloc((size_t)(shape->n_cols > 0 ? shape->n_cols : 1), 1);
  if (kept) run->kept_sums = malloc((size_t)(shape->n_rows > 0 ? shape->n_rows : 1) * 8);
  if (wants_factors)
    run->size_factors =
        malloc((size_t)(shape->n_rows > 0 ? shape->n_rows : 1) * float_bytes(run->out));
  if (run->totals == NULL || run->scaled == NULL ||
      (run->params.exclude_highly_expressed && run->excluded == NULL) ||
      (kept && run->kept_sums == NULL) || (wants_factors && run->size_factors == NULL))
    return cli_error("out of memory for the per-cell arrays of %lld cells",
                     (long long)shape->n_rows);
  return 0;
}

/* Plans the blocks within the budget. Returns 0; 1 after printing why the budget is too small;
 * -1 when the run fits in memory (then nothing is planned). */
static int plan_within_budget(stream_run *run) {
  const normalize_options *options = run->options;
  double budget =
      options->max_memory > 0 ? (double)options->max_memory : (double)cli_memory_available();
  if (in_memory_bytes(run) <= budget) return -1;
  double for_blocks = budget - fixed_bytes(run);
  double per_entry = entry_bytes(run);
  double longest_major = run->shape->layout == NORMOT_LAYOUT_CSC ? (double)run->shape->n_rows
                                                                 : (double)run->shape->n_cols;
  if (for_blocks < per_entry * longest_major && for_blocks < 1048576.0 * per_entry)
    return cli_error(
        "%s: %.0f MiB of memory is too little to stream it: %lld cells x %lld genes "
        "need about %.0f MiB for their per-cell arrays and a block (--max-memory)",
        options->input, budget / 1048576.0, (long long)run->shape->n_rows,
        (long long)run->shape->n_cols, (fixed_bytes(run) + per_entry * longest_major) / 1048576.0);
  if (cli_x_stream_plan(run->stream, (int64_t)(for_blocks / per_entry), run->error,
                        sizeof run->error) != 0)
    return cli_error("%s", run->error);
  return 0;
}

/* pass 1 (and 1b), the target, pass 2 into the .h5ad. Returns the exit code. */
static int run_passes(stream_run *run) {
  if (totals_pass(run, NULL, "reading the totals") != 0) return 1;
  if (run->params.exclude_highly_expressed && exclusion_pass(run) != 0) return 1;
  double target = 0.0;
  if (normot_normalize_block_target(run->context, &run->params, run->out, run->shape->n_rows,
                                    run->totals, &target) != NORMOT_SUCCESS)
    return library_failed(run);
  run->params.has_target_sum = 1;
  run->params.target_sum = target;
  const normalize_options *options = run->options;
  cli_values_source source = {next_values, run};
  cli_h5ad_output h5ad = {options->key_added != NULL ? run->size_factors : NULL,
                          options->key_added,
                          options->var_index,
                          options->params.log1p,
                          run->tenx ? NULL : options->input,
                          &source};
  /* The matrix as the writer sees it: sizes and type; a 10x .h5's names and offsets (the
   * entries kept, known now that pass 1 has read every block), from which obs, var and X's
   * indptr are built as in memory. */
  cli_matrix shell = run->names;
  shell.n_rows = run->shape->n_rows;
  shell.n_cols = run->shape->n_cols;
  shell.nnz = run->shape->nnz;
  shell.value_type = run->out;
  if (run->tenx) {
    shell.indptr = (int64_t *)cli_x_stream_offsets(run->stream);
    shell.nnz = shell.indptr[shell.n_rows];
  }
  if (cli_write_h5ad(options->output, &shell, &h5ad, run->error, sizeof run->error) != 0)
    return cli_error("%s", run->error);
  if (options->size_factors_path == NULL) return 0;
  cli_array array = {
      .ndim = 1, .shape = {shell.n_rows}, .type = run->out, .data = run->size_factors};
  if (cli_npy_write(options->size_factors_path, &array, run->error, sizeof run->error) == 0)
    return 0;
  unlink(options->output); /* neither output is left, as in memory */
  return cli_error("%s", run->error);
}

int cli_normalize_streaming(const normalize_options *options, normot_context *context) {
  if (!streamable(options)) return -1;
  stream_run run;
  memset(&run, 0, sizeof run);
  run.options = options;
  run.context = context;
  run.params = options->params;
  run.tenx = cli_input_kind_of(options->input) == CLI_INPUT_10X_H5;
  cli_x_stream_request request = {options->input, options->dtype, run.tenx ? &run.names : NULL};
  /* A file this cannot open is left to the in-memory reader, which says what is wrong. */
  if (cli_x_stream_open(&request, &run.stream, run.error, sizeof run.error) != 0) {
    cli_matrix_free(&run.names);
    return -1;
  }
  run.shape = cli_x_stream_layout(run.stream);
  run.out = output_type(options, run.shape->value_type);
  double start = cli_seconds();
  int exit_code = plan_within_budget(&run);
  if (exit_code == 0) exit_code = cli_settle_var_names(options, &run.names);
  if (exit_code == 0) exit_code = allocate_arrays(&run);
  if (exit_code == 0) exit_code = run_passes(&run);
  if (exit_code == 0 && cli_progress_enabled())
    fprintf(stderr,
            "normot: normalized %lld cells x %lld genes to %s, streamed in %lld blocks: target "
            "%.9g; %.2f s\n",
            (long long)run.shape->n_rows, (long long)run.shape->n_cols, options->output,
            (long long)run.shape->n_blocks, run.params.target_sum, cli_seconds() - start);
  cli_x_stream_close(run.stream);
  cli_matrix_free(&run.names);
  free(run.totals);
  free(run.excluded);
  free(run.kept_sums);
  free(run.size_factors);
  free(run.scaled);
  return exit_code;
}
