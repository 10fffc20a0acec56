#!/usr/bin/env python3
"""Side by side: normot's normalize_total (bench_normalize) and scanpy's, on the same matrices.

For each shape (--shapes, default 200000x20000 and 1000000x2000: long and short rows),
bench_normalize generates the seeded synthetic matrix, times normot on it against the stream
floor measured in the same process, and dumps the input and normot's outputs as .npy (--dump).
This script then loads that same matrix, times scanpy.pp.normalize_total on it (median of
--repeats runs after a warm-up, each run on a fresh copy made outside the timed region), checks
that scanpy's output is bitwise equal to normot's, times normot's Python call
(normot.normalize_total on the scipy matrix, median target, in place, at each thread count) to
state its overhead over the C call, and prints one JSON line per comparison plus a summary.

Usage: compare_scanpy.py [--quick] [--shapes CxG,...] [--repeats R] [--threads LIST]
                         [--cases LIST] [--backend cpu|cuda|auto] [--bench PATH] [--workdir DIR]
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
    for build in ("build-bench", "build-release", "build", "build-cpu"):
        path = os.path.join(root, build, "bench", "bench_normalize")
        if os.path.exists(path):
            return path
    sys.exit("compare_scanpy: bench_normalize not found; build it or pass --bench PATH")


def run_normot(args, shape, workdir):
    command = [find_bench(args.bench), "--dump", workdir, "--repeats", str(args.repeats),
               "--threads", args.threads, "--target-sum", repr(args.target_sum),
               "--backend", args.backend, "--shapes", shape, "--cases", args.cases]
    if args.quick:
        command.append("--quick")
    print("$ " + " ".join(command), file=sys.stderr)
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    results = []
    for line in completed.stdout.splitlines():
        print(line)
        results.append(json.loads(line))
    if completed.returncode != 0:
        sys.exit("compare_scanpy: bench_normalize failed (exit %d)" % completed.returncode)
    return results


def time_normot_python(matrix, threads, repeats):
    """normot.normalize_total from Python (median target, in place) on fresh copies, or None
    when the package cannot be imported. Returns (median seconds, output values)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.join(root, "python"))
    try:
        import normot
    except Exception as error:  # the package or its library is missing: skip the overhead
        print("compare_scanpy: normot's Python package not usable (%s)" % error, file=sys.stderr)
        return None, None
    normot.set_num_threads(threads)
    seconds, work = [], None
    for run in range(repeats + 1):
        work = matrix.copy()
        start = time.perf_counter()
        normot.normalize_total(work)
        if run > 0:
            seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)), work.data


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
    parser.add_argument("--shapes", default="200000x20000,1000000x2000")
    parser.add_argument("--cases", default="median,target_sum,log1p")
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
    all_equal = True
    for shape in args.shapes.split(","):
        all_equal &= compare_shape(args, shape, workdir, numba_threads)
    if not all_equal:
        sys.exit("compare_scanpy: normot's output differs from scanpy's")


def load_input(workdir, shape):
    indptr = np.load(os.path.join(workdir, "indptr.npy"))
    indices = np.load(os.path.join(workdir, "indices.npy"))
    data = np.load(os.path.join(workdir, "data.npy"))
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=shape)


def bitwise_equal(result, expected):
    """(equal, number of values that differ or None)."""
    equal = (result.dtype == np.float32
             and np.array_equal(result.data.view(np.uint32), expected.view(np.uint32)))
    if not equal and result.dtype == expected.dtype and result.data.shape == expected.shape:
        return False, int(np.count_nonzero(result.data.view(np.uint32)
                                           != expected.view(np.uint32)))
    return equal, 0 if equal else None


def compare_shape(args, shape_text, workdir, numba_threads):
    normot = run_normot(args, shape_text, workdir)
    first = normot[0]
    shape = (first["n_cells"], first["n_genes"])
    matrix = load_input(workdir, shape)
    all_equal = True
    for case, target_sum in (("median", None), ("target_sum", args.target_sum)):
        ours = [r for r in normot if r["name"] == "csr_f32_" + case and "seconds" in r]
        if not ours:
            continue
        seconds, seconds_min, result = time_scanpy(matrix, target_sum, args.repeats)
        expected = np.load(os.path.join(workdir, "out_%s.npy" % case))
        equal, differ = bitwise_equal(result, expected)
        equal = equal and np.array_equal(result.indices, matrix.indices)
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
            print("normalize_total %s %-10s normot %d thread(s) %.4f s (%.0f%% of the stream "
                  "floor) | scanpy %.4f s | normot is %.1fx faster (the floor allows %.1fx) | "
                  "bitwise equal: %s" % (shape_text, case, r["threads"], r["seconds"],
                                         100 * r["fraction_of_stream_floor"], seconds,
                                         seconds / r["seconds"],
                                         seconds / r["stream_floor_seconds"], equal),
                  file=sys.stderr)
        del result
    all_equal &= python_overhead(args, normot, matrix, workdir, shape_text)
    return all_equal


def python_overhead(args, normot, matrix, workdir, shape_text):
    """Times normot's Python call against the C call (median case) and checks its bytes."""
    expected = np.load(os.path.join(workdir, "out_median.npy"))
    equal = True
    for r in (r for r in normot if r["name"] == "csr_f32_median" and "seconds" in r):
        seconds, values = time_normot_python(matrix, r["threads"], args.repeats)
        if seconds is None:
            return True
        same = bool(np.array_equal(values.view(np.uint32), expected.view(np.uint32)))
        equal &= same
        print(json.dumps({"bench": "normalize_total", "name": "python_csr_f32_median",
                          "n_cells": matrix.shape[0], "n_genes": matrix.shape[1],
                          "threads": r["threads"], "seconds": seconds,
                          "c_seconds": r["seconds"], "python_overhead_seconds":
                          seconds - r["seconds"], "python_over_c": seconds / r["seconds"],
                          "bitwise_equal_to_c": same}))
        print("normalize_total %s median from Python, %d thread(s): %.4f s, the C call %.4f s "
              "(overhead %+.4f s, %.2fx) | same bytes: %s"
              % (shape_text, r["threads"], seconds, r["seconds"], seconds - r["seconds"],
                 seconds / r["seconds"], same), file=sys.stderr)
    return equal


if __name__ == "__main__":
    main()
