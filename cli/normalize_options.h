/* The options of `normot normalize`, shared by the in-memory run (cmd_normalize.c) and the
 * streaming run for inputs larger than memory (cmd_normalize_stream.c). */
#ifndef NORMOT_CLI_NORMALIZE_OPTIONS_H
#define NORMOT_CLI_NORMALIZE_OPTIONS_H

#include <stdint.h>

#include "cli.h"
#include "normot/normot.h"
#include "normot_io.h"

typedef struct normalize_options {
  const char *input;
  const char *output;
  const char *size_factors_path;
  const char *key_added;
  cli_var_index var_index;
  int var_names_given;
  int make_unique;
  normot_normalize_params params;
  cli_run_options run;
  int dtype; /* -1: default, else a normot_value_type */
  int transpose;
  uint64_t max_memory; /* --max-memory in bytes; 0: the memory available */
} normalize_options;

/* Parses a byte count with an optional K, M or G suffix (powers of 1024), such as "512M".
 * Returns 0 and sets *bytes (> 0), or -1. */
int cli_parse_size(const char *text, uint64_t *bytes);

/* Applies anndata's name rules to a 10x input's names, as scanpy's readers do: read_10x_mtx
 * makes the gene symbols unique; read_10x_h5 keeps repeats and warns (anndata's text). Returns
 * 0, or 1 after printing a failure. */
int cli_settle_var_names(const normalize_options *options, cli_matrix *matrix);

/* Runs the command by streaming X when the input is an .h5ad or a 10x .h5 too large for the
 * memory budget (--max-memory, else the memory available) and the output is an .h5ad. Returns -1
 * when the command should run in memory instead, else its exit code. */
int cli_normalize_streaming(const normalize_options *options, normot_context *context);

#endif
