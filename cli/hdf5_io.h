/* HDF5-based formats: Cell Ranger's 10x .h5 and AnnData's .h5ad.
 * Built with the HDF5 C library when NORMOT_HAVE_HDF5 is defined; without it every function
 * returns non-zero with a message saying that HDF5 support is not compiled in. */
#ifndef NORMOT_CLI_HDF5_IO_H
#define NORMOT_CLI_HDF5_IO_H

#include <stddef.h>

#include "matrix_io.h"

/* 1 if this build can read and write HDF5 files, else 0. */
int cli_hdf5_available(void);

/* Both readers check every size a file declares before reading or allocating (dimensions,
 * stored bytes against declared ones, the memory available: hdf5_support.h), so that a small
 * file declaring huge datasets is refused with one line.
 *
 * A 10x .h5 (v3: /matrix/{data,indices,indptr,shape,barcodes,features/{id,name}}; v2 legacy:
 * one group per genome with {data,indices,indptr,shape,barcodes,genes,gene_names}; the first
 * genome group is read). The file is CSC genes x cells, which is read as CSR cells x genes.
 * Like the 10x directory reader, keeps only "Gene Expression" features when several types are
 * listed (features/feature_type), as scanpy.read_10x_h5 does by default.
 * Returns 0, or non-zero with a one-line reason in `error` (and `out` left empty). */
int cli_read_10x_h5(const char *path, cli_matrix *out, char *error, size_t error_size);

/* An AnnData .h5ad: X as csr_matrix, csc_matrix or a dense 2-D dataset; obs names become
 * row_names, var names col_names (and var's gene_symbols / gene_ids column col_symbols when
 * present). Returns 0, or non-zero with a one-line reason in `error`. */
int cli_read_h5ad(const char *path, cli_matrix *out, char *error, size_t error_size);

/* Which gene names index var (scanpy's read_10x_mtx var_names=). */
typedef enum cli_var_index {
  CLI_VAR_INDEX_SYMBOLS, /* the symbols; the ids go to a "gene_ids" column */
  CLI_VAR_INDEX_IDS      /* the ids; the symbols go to a "gene_symbols" column */
} cli_var_index;

/* What an .h5ad output holds besides X. All zero: var indexed by the gene symbols (or the ids when
 * there are none), no obs column, an empty uns. */
typedef struct cli_h5ad_output {
  const void *size_factors; /* NULL, or n_rows values of the matrix's (float) type ... */
  const char *key_added;    /* ... written as the obs column of this name */
  cli_var_index var_index;
  int log1p;               /* uns["log1p"] = {"base": None}, as sc.pp.log1p records */
  const char *source_h5ad; /* an .h5ad input: every element but X is copied from it unchanged,
                            * and X is written in its layout (CSR, CSC or dense) */
} cli_h5ad_output;

/* Writes `matrix` as the .h5ad that scanpy's write_h5ad would write after reading the input and
 * normalizing it (see docs/formats.md); `output` NULL means all defaults. Written to a temporary
 * name and renamed: a failure leaves no file at `path`. Returns 0, or non-zero with a reason that
 * names `path` (never the temporary name) and the cause: the system's (errno), out of memory, or
 * HDF5's error class. */
int cli_write_h5ad(const char *path, const cli_matrix *matrix, const cli_h5ad_output *output,
                   char *error, size_t error_size);

#endif
