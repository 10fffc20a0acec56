"""Side-by-side timings of the Python package against the packages it replaces.

    python python/bench_python.py            # quick: 20k cells, 200-problem batch
    python python/bench_python.py --full     # the issue's sizes: 200k cells, (1000, 100, 100)

Cases:
  emd:        normot.emd on a (k, n, n) batch (plans, and emd2 for costs only) against a loop
              of POT's ot.emd / ot.emd2 over the same problems; costs compared. Two batches:
              issue 3's seed case (uniform weights, 2-D clouds) and random non-uniform weights
              with i.i.d. uniform costs.
  plans:      on the seed batch, normot.emd with dense plans, sparse=True and sparse="batch"
              against normot.emd2 (costs only), run interleaved, wall and CPU time, and what
              80 MB of plans cost by themselves (allocation with first touch, a second fill).
  torch:      normot.emd2 forward + backward on a (k, n, n) torch batch that requires
              gradients, against a loop of POT's ot.emd2 on the same torch tensors.
  normalize:  normot.normalize_total against scanpy.pp.normalize_total on the same seeded CSR
              count matrix (AnnData, in place, float32); outputs compared bit for bit.
Times are the median of --repeats runs after one warm-up run (which also compiles scanpy's
numba kernels). Prints one JSON object per case, then a table of the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
from scipy import sparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import normot  # noqa: E402


def median_seconds(function, repeats, setup=None):
    """Median wall time of function(setup()) over repeats runs, after one warm-up run."""
    times = []
    for run in range(repeats + 1):
        argument = setup() if setup else None
        start = time.perf_counter()
        function(argument)
        elapsed = time.perf_counter() - start
        if run > 0:
            times.append(elapsed)
    return statistics.median(times)


def seeded_counts(n_cells, n_genes, density, seed):
    """A CSR float32 count matrix with log-normal library sizes and skewed gene expression,
    built without a dense intermediate (200k cells fit easily in memory)."""
    rng = np.random.default_rng(seed)
    gene_weights = rng.gamma(0.3, size=n_genes)
    gene_weights /= gene_weights.sum()
    draws = rng.binomial(n_genes, density, size=n_cells)
    cells = np.repeat(np.arange(n_cells, dtype=np.int64), draws)
    # Distinct (cell, gene) pairs, sorted by cell then gene: canonical CSR.
    codes = np.unique(cells * n_genes + rng.integers(0, n_genes, size=cells.size))
    rows, indices = np.divmod(codes, n_genes)
    indptr = np.zeros(n_cells + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_cells), out=indptr[1:])
    library = rng.lognormal(np.log(3000), 0.6, size=n_cells)
    nnz_per_cell = np.maximum(np.diff(indptr), 1)
    rates = (library / nnz_per_cell)[rows] * gene_weights[indices] * n_genes
    data = (1 + rng.poisson(rates)).astype(np.float32)
    return sparse.csr_matrix((data, indices.astype(np.int32), indptr.astype(np.int32)),
                             shape=(n_cells, n_genes))


def bench_normalize(n_cells, n_genes, density, repeats):
    import anndata as ad
    import scanpy as sc

    counts = seeded_counts(n_cells, n_genes, density, seed=7)

    def fresh(_=None):
        return ad.AnnData(counts.copy())

    def run_scanpy(adata):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.pp.normalize_total(adata, key_added="sf")

    def run_normot(adata):
        normot.normalize_total(adata, key_added="sf")

    reference, ours = fresh(), fresh()
    run_scanpy(reference)
    run_normot(ours)
    equal = (np.array_equal(reference.X.data.view(np.uint32), ours.X.data.view(np.uint32))
             and np.array_equal(reference.obs["sf"].to_numpy().view(np.uint32),
                                ours.obs["sf"].to_numpy().view(np.uint32)))
    scanpy_s = median_seconds(run_scanpy, repeats, setup=fresh)
    normot_s = median_seconds(run_normot, repeats, setup=fresh)
    return {"case": "normalize_total", "cells": n_cells, "genes": n_genes,
            "nnz": int(counts.nnz), "scanpy_s": scanpy_s, "normot_s": normot_s,
            "speedup": scanpy_s / normot_s, "bitwise_equal": bool(equal)}


def emd_problems(kind, k, n, rng):
    """The two batches: issue 3's seed case (uniform weights, squared Euclidean costs between
    random 2-D point clouds) and a harder one (random non-uniform weights, i.i.d. uniform costs,
    which need several times more simplex pivots)."""
    if kind == "seed":
        X, Y = rng.random((k, n, 2)), rng.random((k, n, 2))
        M = ((X[:, :, None, :] - Y[:, None, :, :]) ** 2).sum(-1)
        A = np.full((k, n), 1.0 / n)
        return A, A.copy(), M
    A = rng.random((k, n)) + 0.05
    B = rng.random((k, n)) + 0.05
    A /= A.sum(1, keepdims=True)
    B /= B.sum(1, keepdims=True)
    return A, B, rng.random((k, n, n))


def bench_emd(k, n, repeats):
    import ot

    rng = np.random.default_rng(11)
    results = []
    for kind, label in (("seed", "uniform, 2-D clouds"), ("random", "non-uniform, random M")):
        A, B, M = emd_problems(kind, k, n, rng)

        def pot_plans(_):
            return [ot.emd(A[i], B[i], M[i]) for i in range(k)]

        def pot_costs(_):
            return np.array([ot.emd2(A[i], B[i], M[i]) for i in range(k)])

        ours = normot.emd2(A, B, M)
        theirs = pot_costs(None)
        max_rel = float(np.max(np.abs(ours - theirs) / np.abs(theirs)))
        for name, pot_function, normot_function in (
                ("emd (plans)", pot_plans, lambda _: normot.emd(A, B, M)),
                ("emd2 (costs)", pot_costs, lambda _: normot.emd2(A, B, M))):
            pot_s = median_seconds(pot_function, repeats)
            normot_s = median_seconds(normot_function, repeats)
            results.append({"case": f"{name} {label}", "k": k, "n": n, "m": n,
                            "pot_loop_s": pot_s, "normot_s": normot_s,
                            "speedup": pot_s / normot_s, "max_rel_cost_diff": max_rel})
    return results


def interleaved(cases, repeats):
    """Median wall and CPU seconds per case, the cases run in turn in every round (one
    warm-up round), so that the machine's load drifts over all of them alike."""
    wall = {name: [] for name in cases}
    cpu = {name: [] for name in cases}
    for run in range(repeats + 1):
        for name, function in cases.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            function()
            if run > 0:
                wall[name].append(time.perf_counter() - start_wall)
                cpu[name].append(time.process_time() - start_cpu)
    return ({name: statistics.median(times) for name, times in wall.items()},
            {name: statistics.median(times) for name, times in cpu.items()})


def bench_plans(k, n, repeats):
    A, B, M = emd_problems("seed", k, n, np.random.default_rng(11))
    plan_shape = (k, n, n)

    def first_touch():
        np.empty(plan_shape).fill(0.0)

    filled = np.zeros(plan_shape)
    cases = {
        "emd2 (costs)": lambda: normot.emd2(A, B, M),
        "emd (dense plans)": lambda: normot.emd(A, B, M),
        "emd sparse=True": lambda: normot.emd(A, B, M, sparse=True),
        "emd sparse='batch'": lambda: normot.emd(A, B, M, sparse="batch"),
        "alloc + first touch of the plans": first_touch,
        "a second fill of the plans": lambda: filled.fill(0.0),
    }
    wall, cpu = interleaved(cases, repeats)
    base = "emd2 (costs)"
    return [{"case": f"plans: {name}", "k": k, "n": n, "m": n, "wall_s": wall[name],
             "cpu_s": cpu[name], "wall_ratio_to_emd2": wall[name] / wall[base],
             "cpu_ratio_to_emd2": cpu[name] / cpu[base]} for name in cases]


def bench_torch(k, n, repeats):
    """emd2 forward + backward on leaves made before the clock starts (in a training loop the
    costs come out of earlier computation): one (k, n, n) batch for normot, one leaf per
    problem for the POT loop (indexing one (k, n, m) leaf instead would make every backward
    step of the loop add a (k, n, m) gradient)."""
    import ot
    import torch

    A, B, M = emd_problems("seed", k, n, np.random.default_rng(11))

    def normot_leaves():
        return [torch.tensor(x, requires_grad=True) for x in (A, B, M)]

    def pot_leaves():
        return [[torch.tensor(x[i], requires_grad=True) for x in (A, B, M)] for i in range(k)]

    def run_normot(leaves):
        a, b, m = leaves
        normot.emd2(a, b, m).sum().backward()
        return m.grad

    def run_pot(problems):
        sum(ot.emd2(a, b, m) for a, b, m in problems).backward()
        return torch.stack([m.grad for _, _, m in problems])

    max_grad_diff = float((run_normot(normot_leaves()) - run_pot(pot_leaves())).abs().max())
    wall = {"pot": [], "normot": []}
    cpu = {"pot": [], "normot": []}
    for run in range(repeats + 1):
        for name, make, function in (("pot", pot_leaves, run_pot),
                                     ("normot", normot_leaves, run_normot)):
            leaves = make()
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            function(leaves)
            if run > 0:
                wall[name].append(time.perf_counter() - start_wall)
                cpu[name].append(time.process_time() - start_cpu)
    wall = {name: statistics.median(times) for name, times in wall.items()}
    cpu = {name: statistics.median(times) for name, times in cpu.items()}
    return {"case": "torch emd2 forward + backward", "k": k, "n": n, "m": n,
            "pot_loop_s": wall["pot"], "normot_s": wall["normot"],
            "speedup": wall["pot"] / wall["normot"], "cpu_speedup": cpu["pot"] / cpu["normot"],
            "max_abs_grad_diff": max_grad_diff}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true",
                        help="the issue's sizes: 200,000 cells and a (1000, 100, 100) batch")
    parser.add_argument("--cells", type=int, help="cells of the count matrix")
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--density", type=float, default=0.05)
    parser.add_argument("--batch", type=int, help="k, the number of EMD problems")
    parser.add_argument("--size", type=int, default=100, help="n = m of each EMD problem")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="normot threads (0: all cores)")
    parser.add_argument("--only", choices=["emd", "plans", "torch", "normalize"])
    args = parser.parse_args()
    cells = args.cells or (200_000 if args.full else 20_000)
    batch = args.batch or (1000 if args.full else 200)
    normot.set_num_threads(args.threads)

    info = normot.info()
    print(json.dumps({"machine": platform.processor() or platform.machine(),
                      "cores": os.cpu_count(), "normot": info}), flush=True)
    rows = []
    if args.only in (None, "emd"):
        for row in bench_emd(batch, args.size, args.repeats):
            row["threads"] = normot.get_num_threads()
            print(json.dumps(row), flush=True)
            rows.append((f"{row['case']} ({row['k']}, {row['n']}, {row['m']})",
                         "POT loop", row["pot_loop_s"], row["normot_s"], row["speedup"]))
    if args.only in (None, "plans"):
        for row in bench_plans(batch, args.size, args.repeats):
            row["threads"] = normot.get_num_threads()
            print(json.dumps(row), flush=True)
            rows.append((f"{row['case']} ({row['k']}, {row['n']}, {row['m']}), CPU time",
                         "emd2", row["cpu_s"] / row["cpu_ratio_to_emd2"], row["cpu_s"],
                         1 / row["cpu_ratio_to_emd2"]))
    if args.only in (None, "torch"):
        try:
            row = bench_torch(batch, args.size, args.repeats)
        except ImportError as error:
            print(json.dumps({"case": "torch", "skipped": str(error)}), flush=True)
        else:
            row["threads"] = normot.get_num_threads()
            print(json.dumps(row), flush=True)
            rows.append((f"{row['case']} ({row['k']}, {row['n']}, {row['m']})", "POT loop",
                         row["pot_loop_s"], row["normot_s"], row["speedup"]))
    if args.only in (None, "normalize"):
        row = bench_normalize(cells, args.genes, args.density, args.repeats)
        row["threads"] = normot.get_num_threads()
        print(json.dumps(row), flush=True)
        rows.append((f"normalize_total {row['cells']} x {row['genes']} CSR, nnz {row['nnz']}",
                     "scanpy", row["scanpy_s"], row["normot_s"], row["speedup"]))
        if not row["bitwise_equal"]:
            print("normot and scanpy outputs differ!", file=sys.stderr)
    print()
    print(f"{'case':58} {'against':9} {'theirs s':>9} {'normot s':>9} {'ratio':>7}")
    for case, against, theirs, ours, ratio in rows:
        print(f"{case:58} {against:9} {theirs:9.4f} {ours:9.4f} {ratio:6.1f}x")


if __name__ == "__main__":
    main()
