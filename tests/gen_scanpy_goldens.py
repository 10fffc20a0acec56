#!/usr/bin/env python3
"""Writes the scanpy goldens for normot's normalize_total tests (tests/data/normalize/).

Run from the repository root:  python3 tests/gen_scanpy_goldens.py [--shared-data DIR]
(pip install scanpy anndata numpy scipy  first, if they are missing).

Every expected value comes from real scanpy: sc.pp.normalize_total on an AnnData, and scanpy's
own _normalize_csr for the raw totals and the excluded genes. normot follows scanpy `main` after
PR #4256 (the median target over the positive totals on the sparse path too). scanpy releases
before that fix (1.11.x, the last for Python 3.11) take the plain median over all totals on the
CSR path; on those the script applies the fix by giving the module a numpy whose median drops
the totals <= 0, which is exactly what the PR's _compute_nnz_median does, and records that in
the files. See docs/normalize_semantics.md.

Output format (read by tests/test_normalize_golden.cc), plain text, one item per line:
    case NAME
    key value...          scalars: ints in decimal, floats as the hex of their IEEE bits
    array KEY TYPE N      then N whitespace-separated items on the following line(s)
    end
Floats are written as the hex of their bits (float32: 8 digits, float64: 16), so the test
compares bytes, not printed decimals.
"""
from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import inspect
import os
import struct
import sys
import warnings

import anndata
import numpy as np
import scipy.io
import scipy.sparse as sp

warnings.simplefilter("ignore")

import scanpy as sc  # noqa: E402
import scanpy.preprocessing._normalization as normalization  # noqa: E402

SCANPY_VERSION = importlib.metadata.version("scanpy")
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "data", "normalize")


PLAIN_MEDIAN = "target_sum = np.median(counts_per_cell)"
POSITIVE_MEDIAN = "target_sum = _compute_nnz_median(counts_per_cell)"


def apply_pr_4256_if_missing() -> str:
    """Makes scanpy's CSR path take the median of the positive totals, as PR #4256 does.

    The PR changes one line of _normalize_total_helper: the CSR branch's plain median becomes
    the module's own _compute_nnz_median, which the dense branch already used. On a scanpy
    without it, the helper is recompiled from its installed source with that one line changed.
    """
    source = inspect.getsource(normalization._normalize_total_helper)
    if PLAIN_MEDIAN not in source:
        return "present in scanpy %s" % SCANPY_VERSION
    patched = source.replace(PLAIN_MEDIAN, POSITIVE_MEDIAN)
    exec(compile(patched, normalization.__file__, "exec"), normalization.__dict__)
    return "applied to scanpy %s (which predates it)" % SCANPY_VERSION


def bits_hex(array: np.ndarray) -> list[str]:
    array = np.ascontiguousarray(array)
    if array.dtype == np.float32:
        return ["%08x" % v for v in array.view(np.uint32)]
    if array.dtype == np.float64:
        return ["%016x" % v for v in array.view(np.uint64)]
    raise TypeError(array.dtype)


def scalar_hex(value: float, dtype) -> str:
    return bits_hex(np.array([value], dtype=dtype))[0]


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def canonical_digest(matrix: sp.csr_matrix) -> int:
    """FNV-1a 64 over (row u32, col u32, value bits) of the entries sorted by (row, col)."""
    coo = matrix.tocoo()
    order = np.lexsort((coo.col, coo.row))
    rows = coo.row[order].astype("<u4")
    cols = coo.col[order].astype("<u4")
    values = np.ascontiguousarray(coo.data[order])
    record = np.dtype([("r", "<u4"), ("c", "<u4"), ("v", values.dtype.newbyteorder("<"))])
    packed = np.empty(len(rows), dtype=record)
    packed["r"], packed["c"], packed["v"] = rows, cols, values
    return fnv1a64(packed.tobytes())


def run_scanpy(x, *, target_sum, exclude, max_fraction):
    """scanpy's normalize_total on a copy of x; returns (X, size factors)."""
    adata = anndata.AnnData(x.copy())
    sc.pp.normalize_total(
        adata,
        target_sum=target_sum,
        exclude_highly_expressed=exclude,
        max_fraction=max_fraction,
        key_added="size_factor",
    )
    return adata.X, np.asarray(adata.obs["size_factor"].values)


def scanpy_totals(csr: sp.csr_matrix, *, exclude, max_fraction):
    """scanpy's own per-cell totals (after exclusion) and excluded-gene count."""
    x = csr.astype(np.float32) if np.issubdtype(csr.dtype, np.integer) else csr
    totals, counts_per_cols = normalization._normalize_csr(
        x,
        rows=x.shape[0],
        columns=x.shape[1],
        exclude_highly_expressed=exclude,
        max_fraction=max_fraction,
        n_threads=2,
    ) if "mat" in inspect.signature(normalization._normalize_csr).parameters else \
        normalization._normalize_csr(
            x.indptr, x.indices, x.data,
            rows=x.shape[0], columns=x.shape[1],
            exclude_highly_expressed=exclude, max_fraction=max_fraction, n_threads=2)
    n_excluded = int(np.count_nonzero(counts_per_cols)) if exclude else 0
    return totals, n_excluded


class Writer:
    def __init__(self, path, header):
        self.file = open(path, "w")
        for line in header:
            self.file.write("# %s\n" % line)

    def line(self, *items):
        self.file.write(" ".join(str(i) for i in items) + "\n")

    def array(self, key, type_name, items):
        items = list(items)
        self.line("array", key, type_name, len(items))
        for start in range(0, len(items), 16):
            self.file.write(" ".join(items[start : start + 16]) + "\n")
        if not items:
            self.file.write("\n")

    def close(self):
        self.file.close()


TYPE_NAMES = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
    np.dtype(np.uint16): "uint16",
    np.dtype(np.uint32): "uint32",
}


def input_items(values: np.ndarray) -> list[str]:
    if values.dtype.kind == "f":
        return bits_hex(values)
    return [str(int(v)) for v in values]


def write_case(w: Writer, name, csr, *, target_sum, exclude, max_fraction, log1p_base=None):
    """Runs scanpy on the CSR, CSC and dense forms of csr and writes one case.

    A CSR whose rows are not sorted is summed in its stored order; its CSC and dense forms are
    summed in column order, so the case then holds for the CSR layout only."""
    sorted_rows = bool(csr.has_sorted_indices)
    out_dtype = np.dtype(np.float32 if np.issubdtype(csr.dtype, np.integer) else csr.dtype)
    results = {}
    for layout, x in (("csr", csr), ("csc", csr.tocsc()), ("dense", csr.toarray())):
        results[layout] = run_scanpy(
            x, target_sum=target_sum, exclude=exclude, max_fraction=max_fraction
        )
    x_csr, factors = results["csr"]
    x_csc = results["csc"][0]
    assert x_csr.dtype == out_dtype, (x_csr.dtype, out_dtype)
    # scanpy turns CSC into CSR first: its CSC answer must be its CSR answer.
    assert not sorted_rows or np.array_equal(sp.csr_matrix(x_csc).toarray().view(np.uint8),
                          x_csr.toarray().view(np.uint8)), name
    x_dense, factors_dense = results["dense"]
    dense_agrees = np.array_equal(np.asarray(x_dense).view(np.uint8),
                                  x_csr.toarray().view(np.uint8)) and np.array_equal(
        factors_dense.view(np.uint8), factors.view(np.uint8))

    totals, n_excluded = scanpy_totals(csr, exclude=exclude, max_fraction=max_fraction)
    totals = totals.astype(out_dtype)
    positive = totals[totals > 0]
    target = out_dtype.type(target_sum) if target_sum is not None else np.median(positive)
    n_zero = int(np.count_nonzero((totals / target) == 0))

    w.line("case", name)
    w.line("rows", csr.shape[0])
    w.line("cols", csr.shape[1])
    w.line("nnz", csr.nnz)
    w.line("input_type", TYPE_NAMES[csr.dtype])
    w.line("output_type", TYPE_NAMES[np.dtype(out_dtype)])
    w.line("has_target_sum", int(target_sum is not None))
    w.line("target_sum", scalar_hex(target_sum if target_sum is not None else 0.0, np.float64))
    w.line("exclude", int(exclude))
    w.line("max_fraction", scalar_hex(max_fraction, np.float64))
    w.line("scanpy_dense_agrees", int(dense_agrees))
    w.line("layouts", "csr csc dense" if sorted_rows else "csr")
    w.line("expected_target", scalar_hex(target, out_dtype))
    w.line("expected_n_zero_cells", n_zero)
    w.line("expected_n_excluded_genes", n_excluded)
    w.array("indptr", "int64", (str(int(v)) for v in csr.indptr))
    w.array("indices", "int64", (str(int(v)) for v in csr.indices))
    w.array("values", TYPE_NAMES[csr.dtype], input_items(csr.data))
    w.array("expected_values", TYPE_NAMES[np.dtype(out_dtype)], bits_hex(x_csr.data))
    w.array("expected_size_factors", TYPE_NAMES[np.dtype(out_dtype)],
            bits_hex(factors.astype(out_dtype)))
    w.array("expected_totals", TYPE_NAMES[np.dtype(out_dtype)], bits_hex(totals))
    if log1p_base is not None:
        adata = anndata.AnnData(x_csr.copy())
        sc.pp.log1p(adata, base=None if log1p_base == 0 else log1p_base)
        w.line("log1p_base", scalar_hex(float(log1p_base), np.float64))
        w.array("expected_log1p_values", TYPE_NAMES[np.dtype(out_dtype)], bits_hex(adata.X.data))
    w.line("end")
    return dense_agrees


def counts_matrix(rng, n_cells, n_genes, density, *, zero_cells=(), spike=None, dtype=np.int64):
    """Poisson counts with log-normal library sizes; chosen cells all zero; optional spike."""
    library = rng.lognormal(mean=3.0, sigma=0.6, size=n_cells)
    gene_weight = rng.dirichlet(np.ones(n_genes) * 0.5)
    mask = rng.random((n_cells, n_genes)) < density
    counts = rng.poisson(np.outer(library, gene_weight) * 8 + 0.2) * mask
    for c in zero_cells:
        counts[c, :] = 0
    if spike is not None:
        cell, gene, value = spike
        counts[cell, gene] = value
    csr = sp.csr_matrix(counts.astype(dtype))
    csr.sort_indices()
    return csr


def shuffle_within_rows(csr: sp.csr_matrix, rng) -> sp.csr_matrix:
    """The same matrix with each row's entries in a random stored order (CSR allows it)."""
    csr = csr.copy()
    for r in range(csr.shape[0]):
        start, end = csr.indptr[r], csr.indptr[r + 1]
        perm = start + rng.permutation(end - start)
        csr.indices[start:end] = csr.indices[perm]
        csr.data[start:end] = csr.data[perm]
    csr.has_sorted_indices = False
    return csr


def synthetic_goldens(path, fix):
    w = Writer(path, [
        "normot normalize_total goldens, written by tests/gen_scanpy_goldens.py",
        "scanpy %s, anndata %s, numpy %s, scipy %s" % (
            SCANPY_VERSION, anndata.__version__, np.__version__, scipy.__version__),
        "scanpy PR #4256 (positive-median target on the CSR path): %s" % fix,
    ])
    rng = np.random.default_rng(20261122)
    counts = counts_matrix(rng, 26, 19, 0.4, zero_cells=(3, 17))
    disagreements = []

    def case(name, csr, **kw):
        if not write_case(w, name, csr, **kw):
            disagreements.append(name)

    # Even count of positive totals (24): the median is the mean of the two middle values.
    case("f32_median_zero_cells", counts.astype(np.float32),
         target_sum=None, exclude=False, max_fraction=0.05)
    case("f64_median_zero_cells", counts.astype(np.float64),
         target_sum=None, exclude=False, max_fraction=0.05)
    case("f32_target_1e4", counts.astype(np.float32),
         target_sum=1e4, exclude=False, max_fraction=0.05)
    case("f64_target_1e6", counts.astype(np.float64),
         target_sum=1e6, exclude=False, max_fraction=0.05)
    # Odd count of positive totals (23 of 24 cells).
    odd = counts_matrix(rng, 24, 15, 0.5, zero_cells=(20,))
    case("f32_median_odd", odd.astype(np.float32),
         target_sum=None, exclude=False, max_fraction=0.05)
    # A gene that dominates one cell is excluded from every total.
    spiked = counts_matrix(rng, 20, 60, 0.5, zero_cells=(5,), spike=(11, 7, 900))
    case("f32_exclude_median", spiked.astype(np.float32),
         target_sum=None, exclude=True, max_fraction=0.1)
    case("f64_exclude_target", spiked.astype(np.float64),
         target_sum=100.0, exclude=True, max_fraction=0.2)
    case("f32_exclude_default_fraction", spiked.astype(np.float32),
         target_sum=None, exclude=True, max_fraction=0.05)
    # Integer input: scanpy casts to float32 first; 2^24 + 1 rounds to 2^24 there.
    ints = counts_matrix(rng, 16, 13, 0.5, zero_cells=(0,), spike=(9, 4, (1 << 24) + 1))
    case("int32_median", ints.astype(np.int32), target_sum=None, exclude=False, max_fraction=0.05)
    case("int64_target", ints.astype(np.int64), target_sum=3.0e3, exclude=False, max_fraction=0.05)
    small = counts_matrix(rng, 16, 13, 0.5, zero_cells=(15,))
    case("uint16_exclude", small.astype(np.uint16), target_sum=None, exclude=True, max_fraction=0.1)
    case("uint32_median", small.astype(np.uint32), target_sum=None, exclude=False,
         max_fraction=0.05)
    # Non-integer values in an unsorted row order: float64 sums in stored order matter here.
    real = counts_matrix(rng, 20, 24, 0.5, zero_cells=(2,)).astype(np.float32)
    real.data = (real.data * rng.lognormal(0.0, 1.5, size=real.nnz)).astype(np.float32)
    case("f32_real_values_median", real, target_sum=None, exclude=False, max_fraction=0.05)
    real_unsorted = shuffle_within_rows(real, rng)
    case("f32_real_values_unsorted", real_unsorted, target_sum=None, exclude=False,
         max_fraction=0.05)
    real64 = real.astype(np.float64)
    real64.data = real64.data * rng.lognormal(0.0, 0.1, size=real64.nnz)
    case("f64_real_values_exclude", real64, target_sum=None, exclude=True, max_fraction=0.08)
    # log1p after the scaling, natural and base 2 (compared within 1 ulp).
    case("f32_log1p", counts.astype(np.float32), target_sum=1e4, exclude=False,
         max_fraction=0.05, log1p_base=0)
    case("f64_log1p_base2", counts.astype(np.float64), target_sum=None, exclude=False,
         max_fraction=0.05, log1p_base=2.0)
    w.close()
    return disagreements


def tenx_golden(path, shared_data):
    mtx = os.path.join(shared_data, "10x", "v3", "filtered_feature_bc_matrix", "matrix.mtx.gz")
    with gzip.open(mtx, "rb") as f:
        genes_by_cells = scipy.io.mmread(f)
    cells = sp.csr_matrix(genes_by_cells.T)  # cells x genes, int64 counts
    cells.sum_duplicates()
    w = Writer(path, [
        "normot normalize_total goldens on the 10x v3 data (shared/data, not committed here)",
        "scanpy %s; values compared through an FNV-1a 64 digest of (row u32, col u32, value bits)"
        " sorted by (row, col); per-cell arrays through FNV-1a 64 of their little-endian bytes"
        % SCANPY_VERSION,
    ])
    for name, dtype, kw in (
        ("tenx_f32_median", np.float32, dict(target_sum=None, exclude=False, max_fraction=0.05)),
        ("tenx_f32_exclude", np.float32, dict(target_sum=None, exclude=True, max_fraction=0.2)),
        ("tenx_f64_target", np.float64, dict(target_sum=1e4, exclude=False, max_fraction=0.05)),
    ):
        x = cells.astype(dtype)  # scanpy reads 10x counts as float32; int -> float is exact here
        result, factors = run_scanpy(x, **kw)
        totals, n_excluded = scanpy_totals(x, exclude=kw["exclude"],
                                           max_fraction=kw["max_fraction"])
        w.line("case", name)
        w.line("rows", cells.shape[0])
        w.line("cols", cells.shape[1])
        w.line("nnz", cells.nnz)
        w.line("output_type", TYPE_NAMES[np.dtype(dtype)])
        w.line("has_target_sum", int(kw["target_sum"] is not None))
        w.line("target_sum", scalar_hex(kw["target_sum"] or 0.0, np.float64))
        w.line("exclude", int(kw["exclude"]))
        w.line("max_fraction", scalar_hex(kw["max_fraction"], np.float64))
        target = dtype(kw["target_sum"]) if kw["target_sum"] else np.median(
            totals[totals > 0].astype(dtype))
        w.line("expected_target", scalar_hex(target, dtype))
        w.line("expected_n_zero_cells", int(np.count_nonzero(totals == 0)))
        w.line("expected_n_excluded_genes", n_excluded)
        w.line("expected_digest", "%016x" % canonical_digest(result))
        w.line("expected_size_factors_digest",
               "%016x" % fnv1a64(factors.astype(np.dtype(dtype).newbyteorder("<")).tobytes()))
        w.line("expected_totals_digest",
               "%016x" % fnv1a64(totals.astype(np.dtype(dtype).newbyteorder("<")).tobytes()))
        if name == "tenx_f32_median":  # one readable copy, for diagnosing a digest mismatch
            w.array("expected_size_factors", TYPE_NAMES[np.dtype(dtype)],
                    bits_hex(factors.astype(dtype)))
        w.line("end")
    w.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared-data", default=os.path.join(HERE, "..", "..", "shared", "data"))
    args = parser.parse_args()
    os.makedirs(OUT_DIR, exist_ok=True)
    fix = apply_pr_4256_if_missing()
    assert PLAIN_MEDIAN not in inspect.getsource(normalization._normalize_total_helper)
    disagreements = synthetic_goldens(os.path.join(OUT_DIR, "scanpy_goldens.txt"), fix)
    if disagreements:
        print("scanpy's dense path differs from its CSR path on: %s" % ", ".join(disagreements))
    if os.path.isdir(args.shared_data):
        tenx_golden(os.path.join(OUT_DIR, "scanpy_10x_v3.txt"), args.shared_data)
    else:
        print("no shared data at %s: 10x golden not written" % args.shared_data, file=sys.stderr)
    print("goldens written to %s" % OUT_DIR)


if __name__ == "__main__":
    main()
