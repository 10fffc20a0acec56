#!/usr/bin/env python3
"""The anndata side of the .h5ad tests (run by tests/test_io_h5ad.cc at test time).

  anndata_roundtrip.py make DIR   writes .h5ad files with the anndata package (X as csr_matrix,
                                  csc_matrix, dense, integer csr, and one X of an encoding normot
                                  does not read) holding the pattern matrix below.
  anndata_roundtrip.py dump FILE...  opens each FILE with anndata.read_h5ad and prints what it
                                  holds in a canonical text form that the C++ test builds
                                  independently (one Python start for several files).

The pattern (also computed in the C++ test): a 9 x 13 matrix with
  X[r, c] = ((r * 31 + c * 17) % 7) + 0.25 * (r % 2)   where (r + 2 c) % 3 == 0, else 0,
obs names "cell<r>", var index "gene<c>" and a gene_symbols column "SYM<c>".
"""
import sys

import numpy as np

N_OBS, N_VARS = 9, 13


def pattern(dtype):
    x = np.zeros((N_OBS, N_VARS), dtype=np.float64)
    for r in range(N_OBS):
        for c in range(N_VARS):
            if (r + 2 * c) % 3 == 0:
                x[r, c] = ((r * 31 + c * 17) % 7) + 0.25 * (r % 2)
    return x.astype(dtype)


def make(directory):
    import anndata
    import h5py
    import pandas as pd
    import scipy.sparse as sp

    obs = pd.DataFrame(index=[f"cell{r}" for r in range(N_OBS)])
    var = pd.DataFrame({"gene_symbols": [f"SYM{c}" for c in range(N_VARS)]},
                       index=[f"gene{c}" for c in range(N_VARS)])
    x = pattern(np.float32)
    anndata.AnnData(sp.csr_matrix(x), obs=obs, var=var).write_h5ad(f"{directory}/csr.h5ad")
    anndata.AnnData(sp.csc_matrix(x), obs=obs, var=var).write_h5ad(f"{directory}/csc.h5ad")
    anndata.AnnData(x, obs=obs, var=var).write_h5ad(f"{directory}/dense.h5ad")
    counts = np.floor(pattern(np.float64)).astype(np.int64)
    anndata.AnnData(sp.csr_matrix(counts), obs=obs, var=var).write_h5ad(
        f"{directory}/int_csr.h5ad")
    # As scanpy.read_10x_h5 lays out var: symbols in the index, ids in a gene_ids column.
    scanpy_var = pd.DataFrame({"gene_ids": [f"gene{c}" for c in range(N_VARS)]},
                              index=[f"SYM{c}" for c in range(N_VARS)])
    anndata.AnnData(sp.csr_matrix(x), obs=obs, var=scanpy_var).write_h5ad(
        f"{directory}/scanpy_var.h5ad")
    # Repeated symbols: anndata stores the column as a categorical (codes + categories).
    categorical_var = pd.DataFrame({"gene_symbols": [f"SYM{c % 5}" for c in range(N_VARS)]},
                                   index=[f"gene{c}" for c in range(N_VARS)])
    anndata.AnnData(sp.csr_matrix(x), obs=obs, var=categorical_var).write_h5ad(
        f"{directory}/categorical_var.h5ad")
    # An encoding normot does not know: relabel a csr X.
    anndata.AnnData(sp.csr_matrix(x), obs=obs, var=var).write_h5ad(f"{directory}/unknown.h5ad")
    with h5py.File(f"{directory}/unknown.h5ad", "r+") as f:
        f["X"].attrs["encoding-type"] = "coo_matrix"


def dump(path):
    import anndata
    import scipy.sparse as sp

    adata = anndata.read_h5ad(path)
    x = adata.X
    print(f"shape {adata.n_obs} {adata.n_vars}")
    print(f"format {'csr' if sp.isspmatrix_csr(x) else type(x).__name__}")
    print(f"dtype {x.dtype}")
    has_sf = "size_factors" in adata.obs.columns
    for r, name in enumerate(adata.obs_names):
        line = f"obs {name}"
        if has_sf:
            line += " %.17g" % float(adata.obs["size_factors"].iloc[r])
        print(line)
    has_symbols = "gene_symbols" in adata.var.columns
    for c, name in enumerate(adata.var_names):
        print(f"var {name} {adata.var['gene_symbols'].iloc[c]}" if has_symbols else f"var {name}")
    x = sp.csr_matrix(x)
    x.sort_indices()
    for r in range(x.shape[0]):
        for k in range(x.indptr[r], x.indptr[r + 1]):
            print("X %d %d %.17g" % (r, x.indices[k], float(x.data[k])))


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("make", "dump") or (
            sys.argv[1] == "make" and len(sys.argv) != 3):
        sys.exit(__doc__)
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        for path in sys.argv[2:]:
            dump(path)
