#!/usr/bin/env python3
"""Side by side on one scheduler: normot.normalize_total and scanpy.pp.normalize_total on the
same Dask array of CSR (or dense) row chunks, with the floor both pay.

The matrix is seeded synthetic counts made chunk by chunk where the tasks run (a map_blocks of a
generator: nothing is made on the client or shipped to the workers). --input persisted (the
default) makes it once and keeps it in the workers' memory, so that a run times the
normalization alone; --input lazy makes every run generate its chunks again, so that both pay
the generator. A timed run is one normalize_total call on an AnnData whose X is a fresh view of
that array (median target or --target-sum, --exclude for exclude_highly_expressed), followed by
persisting the normalized array where it was computed and waiting for it: no result comes back
to the client. Every run has its own task names, so none reuses another's results.

The floor is what any two-pass Dask normalization pays besides its arithmetic: a pass that
gathers one number per chunk on the client, then a persisted pass of one task per chunk that
hands its chunk back unchanged. normot, scanpy and the floor alternate, round after round; the
script prints the median of each, their ratios and the graph sizes as one JSON line, after
checking that normot's and scanpy's results are bitwise equal.

Usage: dask_normalize.py [--cells N] [--genes N] [--density D] [--chunk ROWS]
                         [--scheduler distributed|threads] [--workers W]
                         [--threads-per-worker T] [--rounds R] [--layout csr|dense]
                         [--input persisted|lazy] [--exclude] [--target-sum T]
Needs NORMOT_LIBRARY (or an installed normot), dask[array], distributed, scanpy, anndata.
"""
import argparse
import contextlib
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


def make_matrix(args, name=None):
    import dask.array as da

    rows = [args.chunk] * (args.cells // args.chunk)
    if args.cells % args.chunk:
        rows.append(args.cells % args.chunk)
    meta = sp.csr_matrix((0, 0), dtype=np.float32) if args.layout == "csr" else \
        np.empty((0, 0), np.float32)
    placeholder = da.zeros((args.cells, 1), chunks=(tuple(rows), 1), dtype=np.int8)
    return placeholder.map_blocks(chunk_of_counts, args.genes, args.density, args.layout,
                                  chunks=(tuple(rows), (args.genes,)), dtype=np.float32,
                                  meta=meta, name=name)


def same_chunk(chunk):
    return chunk


def one_number(chunk):
    return np.zeros((1, 1))


def fresh_input(args, X, label):
    """The input under new task names: a view of the persisted array, or a new generator."""
    if args.input == "lazy":
        return make_matrix(args, name=f"input-{label}")
    return X.map_blocks(same_chunk, dtype=X.dtype, meta=X._meta, name=f"input-{label}")


def run_floor(adata, **kwargs):
    """Two passes that do no arithmetic: one number per chunk gathered, then the chunks
    persisted unchanged."""
    x = adata.X
    x.map_blocks(one_number, chunks=(1, 1), dtype=np.float64, meta=np.empty((0, 0))).compute()
    adata.X = x.map_blocks(same_chunk, dtype=x.dtype, meta=x._meta)


def wait_for(result, scheduler):
    if scheduler == "distributed":
        from distributed import wait

        wait(result)


def timed_run(args, normalize, X, label, kwargs):
    import anndata

    adata = anndata.AnnData(X=fresh_input(args, X, label))
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        normalize(adata, **kwargs)
    result = adata.X.persist()
    wait_for(result, args.scheduler)
    return time.perf_counter() - started, result, adata.X


def graph_tasks(args, normalize, X, kwargs, label):
    """Tasks of the graph the call leaves in adata.X (the persisted pass)."""
    import anndata

    adata = anndata.AnnData(X=fresh_input(args, X, f"count-{label}"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        normalize(adata, **kwargs)
    return len(dict(adata.X.__dask_graph__()))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200_000)
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--density", type=float, default=0.05)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--scheduler", choices=["distributed", "threads"], default="distributed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layout", choices=["csr", "dense"], default="csr")
    parser.add_argument("--input", choices=["persisted", "lazy"], default="persisted")
    parser.add_argument("--exclude", action="store_true")
    parser.add_argument("--target-sum", type=float, default=None)
    return parser.parse_args()


@contextlib.contextmanager
def scheduler_for(args):
    if args.scheduler == "threads":
        import dask

        with dask.config.set(scheduler="threads", num_workers=args.workers):
            yield
        return
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                      processes=True, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster):
        yield


def measure(args, X, kwargs):
    import scanpy as sc

    import normot

    cases = {"normot": normot.normalize_total, "scanpy": sc.pp.normalize_total,
             "floor": run_floor}
    times = {name: [] for name in cases}
    results = {}
    for name, normalize in cases.items():  # warm-up: imports and the library where tasks run
        timed_run(args, normalize, X, f"{name}-warm-up", kwargs)
    for round_number in range(args.rounds):
        for name, normalize in cases.items():
            results[name] = None  # the previous run's result is released first
            seconds, results[name], _ = timed_run(args, normalize, X,
                                                  f"{name}-{round_number}", kwargs)
            times[name].append(seconds)
    ours, theirs = (results[name].compute() for name in ("normot", "scanpy"))
    if args.layout == "csr":
        ours, theirs = ours.toarray(), theirs.toarray()
    tasks = {name: graph_tasks(args, cases[name], X, kwargs, name) for name in ("normot", "scanpy")}
    return times, tasks, bool(ours.tobytes() == theirs.tobytes())


def main():
    args = parse_args()
    kwargs = dict(exclude_highly_expressed=args.exclude, target_sum=args.target_sum)
    with scheduler_for(args):
        X = make_matrix(args)
        if args.input == "persisted":
            X = X.persist()
            wait_for(X, args.scheduler)
        times, tasks, equal = measure(args, X, kwargs)
        medians = {name: statistics.median(values) for name, values in times.items()}
        print(json.dumps({
            "cells": args.cells, "genes": args.genes, "density": args.density,
            "layout": args.layout, "chunk_rows": args.chunk, "scheduler": args.scheduler,
            "workers": args.workers, "threads_per_worker": args.threads_per_worker,
            "input": args.input, "exclude": args.exclude, "target_sum": args.target_sum,
            "rounds": args.rounds,
            "normot_s": round(medians["normot"], 4), "scanpy_s": round(medians["scanpy"], 4),
            "floor_s": round(medians["floor"], 4),
            "scanpy_over_normot": round(medians["scanpy"] / medians["normot"], 3),
            "normot_over_floor": round(medians["normot"] / medians["floor"], 3),
            "scanpy_over_floor": round(medians["scanpy"] / medians["floor"], 3),
            "normot_graph_tasks": tasks["normot"], "scanpy_graph_tasks": tasks["scanpy"],
            "bitwise_equal": equal,
        }))


if __name__ == "__main__":
    main()
