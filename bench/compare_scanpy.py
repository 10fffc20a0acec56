#!/usr/bin/env python3
"""Side by side: normot's normalize_total (bench_normalize) and scanpy's, on the same matrix.

bench_normalize generates the seeded synthetic matrix, times normot on it and dumps the input
and normot's outputs as .npy (--dump). This script then loads that same matrix, times
scanpy.pp.normalize_total on it (median of --repeats runs after a warm-up, each run on a fresh
copy made outside the timed region), checks that scanpy's output is bitwise equal to normot's,
and prints one JSON line per scanpy case plus the ratios.

Usage: compare_scanpy.py [--quick] [--cells N] [--genes N] [--repeats R] [--threads LIST]
                         [--backend cpu|cuda|auto] [--bench PATH] [--workdir DIR]
"""
import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.sparse


def find_bench(explicit):
    if explicit:
        return explicit
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for build in ("build-bench", "build-release", "build"):
        path = os.path.join(root, build, "bench", "bench_normalize")
        if os.path.exists(path):
            return path
    sys.exit("compare_scanpy: bench_normalize not found; build it or pass --bench PATH")


def run_normot(args, workdir):
    command = [find_bench(args.bench), "--dump", workdir, "--repeats", str(args.repeats),
               "--threads", args.threads, "--target-sum", repr(args.target_sum),
               "--backend", args.backend]
    if args.quick:
        command.append("--quick")
    if args.cells:
        command += ["--cells", str(args.cells)]
    if args.genes:
        command += ["--genes", str(args.genes)]
    print("$ " + " ".join(command), file=sys.stderr)
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    results = []
    for line in completed.stdout.splitlines():
        print(line)
        results.append(json.loads(line))
    if completed.returncode != 0:
        sys.exit("compare_scanpy: bench_normalize failed (exit %d)" % completed.returncode)
    return results


def time_scanpy(matrix, target_sum, repeats):
    import anndata
    import scanpy as sc

    seconds = []
    adata = None
    for run in range(repeats + 1):  # run 0 is the warm-up (numba compiles on first use)
        adata = anndata.AnnData(matrix.copy())
        start = time.perf_counter()
        sc.pp.normalize_total(adata, target_sum=target_sum)
        elapsed = time.perf_counter() - start
        if run > 0:
            seconds.append(elapsed)
    return float(np.median(seconds)), float(np.min(seconds)), adata.X


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cells", type=int)
    parser.add_argument("--genes", type=int)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="1,all")
    parser.add_argument("--target-sum", type=float, default=1e4)
    parser.add_argument("--backend", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--bench")
    parser.add_argument("--workdir")
    args = parser.parse_args()

    try:
        import numba
        numba_threads = numba.get_num_threads()
    except ImportError:
        numba_threads = None

    workdir = args.workdir or tempfile.mkdtemp(prefix="normot_scanpy_")
    try:
        compare(args, workdir, numba_threads)
    finally:
        if not args.workdir:  # the dumped matrix is GBs at the default size
            shutil.rmtree(workdir, ignore_errors=True)


def compare(args, workdir, numba_threads):
    normot = run_normot(args, workdir)
    first = normot[0]
    shape = (first["n_cells"], first["n_genes"])

    indptr = np.load(os.path.join(workdir, "indptr.npy"))
    indices = np.load(os.path.join(workdir, "indices.npy"))
    data = np.load(os.path.join(workdir, "data.npy"))
    matrix = scipy.sparse.csr_matrix((data, indices, indptr), shape=shape)
    del data

    all_equal = True
    for case, target_sum in (("median", None), ("target_sum", args.target_sum)):
        ours = [r for r in normot if r["name"] == "csr_f32_" + case and "seconds" in r]
        if not ours:
            continue
        seconds, seconds_min, result = time_scanpy(matrix, target_sum, args.repeats)
        expected = np.load(os.path.join(workdir, "out_%s.npy" % case))
        equal = (result.dtype == np.float32 and np.array_equal(result.indices, indices)
                 and np.array_equal(result.data.view(np.uint32), expected.view(np.uint32)))
        if not equal and result.dtype == expected.dtype and result.data.shape == expected.shape:
            differ = int(np.count_nonzero(result.data.view(np.uint32) != expected.view(np.uint32)))
        else:
            differ = None if not equal else 0
        all_equal &= equal
        line = {"bench": "normalize_total", "name": "scanpy_csr_f32_" + case,
                "n_cells": shape[0], "n_genes": shape[1], "nnz": int(matrix.nnz),
                "scanpy": importlib.metadata.version("scanpy"),
                "numba_threads": numba_threads, "repeats": args.repeats,
                "seconds": seconds, "seconds_min": seconds_min,
                "bitwise_equal_to_normot": bool(equal), "values_that_differ": differ}
        for r in ours:
            line["speedup_vs_normot_%dthreads" % r["threads"]] = seconds / r["seconds"]
            line["speedup_allowed_by_stream_floor_%dthreads" % r["threads"]] = (
                seconds / r["stream_floor_seconds"])
        print(json.dumps(line))
        for r in ours:
            # The stream floor bounds the ratio any kernel could reach on this machine.
            print("normalize_total %-10s normot %d thread(s) %.4f s (%.0f%% of copy bandwidth,"
                  " %.0f%% of the stream floor) | scanpy %.4f s | normot is %.1fx faster"
                  " (the floor allows %.1fx) | bitwise equal: %s"
                  % (case, r["threads"], r["seconds"], 100 * r["fraction_of_copy"],
                     100 * r["fraction_of_stream_floor"], seconds, seconds / r["seconds"],
                     seconds / r["stream_floor_seconds"], equal), file=sys.stderr)
        del result
    if not all_equal:
        sys.exit("compare_scanpy: normot's output differs from scanpy's")


if __name__ == "__main__":
    main()
