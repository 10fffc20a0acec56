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

/* Writes `matrix` as an .h5ad that the anndata package opens: X as csr_matrix, obs indexed by
 * row_names (or "0", "1", ...) with a "size_factors" column when size_factors is non-NULL
 * (n_rows values of matrix->value_type, which must then be FLOAT32 or FLOAT64), var indexed by
 * col_names with a "gene_symbols" column when col_symbols is non-NULL. Written to a temporary
 * name and renamed: a failure leaves no file at `path`. Returns 0, or non-zero with a reason that
 * names `path` (never the temporary name) and the cause: the system's (errno), out of memory, or
 * HDF5's error class. */
int cli_write_h5ad(const char *path, const cli_matrix *matrix, const void *size_factors,
                   char *error, size_t error_size);

#endif
