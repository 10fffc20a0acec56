/* Cell Ranger's 10x matrix directory: matrix.mtx[.gz] (genes x cells) with features.tsv[.gz]
 * (v3) or genes.tsv (v2) and barcodes.tsv[.gz]. Read as a cells x genes CSR matrix. */
#ifndef NORMOT_CLI_TENX_IO_H
#define NORMOT_CLI_TENX_IO_H

#include <stddef.h>

#include "matrix_io.h"

/* 1 if `name` is one of the files a 10x directory is read from (matrix.mtx.gz, features.tsv,
 * barcodes.tsv.gz, ...), else 0. */
int cli_is_10x_file_name(const char *name);

/* 1 if `dir` is a directory holding a matrix.mtx or matrix.mtx.gz, else 0. */
int cli_is_10x_dir(const char *dir);

/* Reads the directory into `out` (cells x genes): row_names = barcodes, col_names = gene ids,
 * col_symbols = gene names; only "Gene Expression" features when several types are listed (see
 * cli_keep_gene_expression). Returns 0, or non-zero with a one-line reason in `error` (and `out`
 * left empty). */
int cli_read_10x_dir(const char *dir, cli_matrix *out, char *error, size_t error_size);

/* Puts each row's entries in ascending column order (scipy's canonical order), values moved with
 * their indices. Cell Ranger writes them descending; the order changes no integer result but
 * makes two readings of one dataset compare equal. Returns 0, or non-zero when out of memory
 * (the matrix is then unchanged). */
int cli_sort_row_entries(cli_matrix *matrix);

/* Keeps only the columns whose feature type is "Gene Expression" when the file lists several
 * types (Antibody Capture, CRISPR Guide Capture, ...), as scanpy's read_10x_* do by default
 * (gex_only=True); the names follow their columns. No type of "Gene Expression" at all, or
 * feature_types NULL: the matrix is left whole. Returns 0, or non-zero when out of memory
 * (matrix unchanged). */
int cli_keep_gene_expression(cli_matrix *matrix, char **feature_types);

#endif
