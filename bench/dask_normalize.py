#!/usr/bin/env python3
"""Side by side on one dask.distributed LocalCluster: normot.normalize_total and
scanpy.pp.normalize_total on the same Dask array of CSR (or dense) row chunks.

The matrix is seeded synthetic counts, generated chunk by chunk on the workers and kept there
(persist), so that neither side pays for making or shipping the input. A timed run is one
normalize_total call on an AnnData whose X is that array (the median target: both compute the
totals first) followed by persisting the normalized array on the workers; every run gets its
own task names, so none reuses another's results. The two alternate,
round after round, and the script prints the median of each and their ratio as one JSON line,
after checking that the two results are bitwise equal.

Usage: dask_normalize.py [--cells N] [--genes N] [--density D] [--chunk ROWS] [--workers W]
                         [--threads-per-worker T] [--rounds R] [--layout csr|dense]
Needs NORMOT_LIBRARY (or an installed normot), dask[array], distributed, scanpy, anndata.
"""
import argparse
import json
import statistics
import time
import warnings

import numpy as np
import scipy.sparse as sp


def chunk_of_counts(placeholder, genes, density, layout, block_id=None):
    """Seeded counts for one chunk of rows (as many as the placeholder chunk has): the same
    matrix on every run."""
    rows = placeholder.shape[0]
    rng = np.random.default_rng(block_id[0])
    weights = rng.gamma(0.3, size=genes) + 1e-3
    library = rng.lognormal(np.log(2000), 0.6, size=rows)
    mask = rng.random((rows, genes)) < density
    counts = np.where(mask, rng.poisson(library[:, None] * (weights / weights.sum()) / density),
                      0)
    counts[np.flatnonzero(counts.sum(1) == 0), 0] = 1
    counts = counts.astype(np.float32)
    return sp.csr_matrix(counts) if layout == "csr" else counts


def make_matrix(args):
    import dask.array as da

    rows = [args.chunk] * (args.cells // args.chunk)
    if args.cells % args.chunk:
        rows.append(args.cells % args.chunk)
    meta = sp.csr_matrix((0, 0), dtype=np.float32) if args.layout == "csr" else \
        np.empty((0, 0), np.float32)
    placeholder = da.zeros((args.cells, 1), chunks=(tuple(rows), 1), dtype=np.int8)
    return placeholder.map_blocks(chunk_of_counts, args.genes, args.density, args.layout,
                                  chunks=(tuple(rows), (args.genes,)), dtype=np.float32,
                                  meta=meta)


def same_chunk(chunk):
    return chunk


def timed_run(normalize, X, label):
    """One run on a fresh view of X: an identity task per chunk under a new name, so that no run
    finds the results of an earlier one still held by the cluster (equal graphs have equal
    keys, and Dask would hand them back without computing)."""
    import anndata
    from distributed import wait

    adata = anndata.AnnData(X=X.map_blocks(same_chunk, dtype=X.dtype, meta=X._meta,
                                           name=f"input-{label}"))
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        normalize(adata)
    result = adata.X.persist()
    wait(result)
    return time.perf_counter() - started, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200_000)
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--density", type=float, default=0.05)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layout", choices=["csr", "dense"], default="csr")
    args = parser.parse_args()

    import scanpy as sc
    from distributed import Client, LocalCluster, wait

    import normot

    with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                      processes=True, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster):
        X = make_matrix(args).persist()
        wait(X)
        cases = {"normot": normot.normalize_total, "scanpy": sc.pp.normalize_total}
        times = {name: [] for name in cases}
        results = {}
        for name, normalize in cases.items():  # warm-up: imports and the library on the workers
            timed_run(normalize, X, f"{name}-warm-up")
        for round_number in range(args.rounds):
            for name, normalize in cases.items():
                results[name] = None  # the previous run's result is released first
                seconds, results[name] = timed_run(normalize, X, f"{name}-{round_number}")
                times[name].append(seconds)
        ours, theirs = (results[name].compute() for name in ("normot", "scanpy"))
        if args.layout == "csr":
            ours, theirs = ours.toarray(), theirs.toarray()
        medians = {name: statistics.median(values) for name, values in times.items()}
        print(json.dumps({
            "cells": args.cells, "genes": args.genes, "density": args.density,
            "layout": args.layout, "chunk_rows": args.chunk, "workers": args.workers,
            "threads_per_worker": args.threads_per_worker, "rounds": args.rounds,
            "nnz": int(X.map_blocks(lambda c: np.array([[c.nnz if sp.issparse(c) else
                                                           np.count_nonzero(c)]]),
                                    chunks=(1, 1), dtype=np.int64).sum().compute()),
            "normot_s": medians["normot"], "scanpy_s": medians["scanpy"],
            "scanpy_over_normot": medians["scanpy"] / medians["normot"],
            "bitwise_equal": bool(ours.tobytes() == theirs.tobytes()),
        }))


if __name__ == "__main__":
    main()
