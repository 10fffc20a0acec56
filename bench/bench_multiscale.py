#!/usr/bin/env python3
"""Large exact EMD: normot's multiscale solver against its dense simplex and POT, side by side.

    NORMOT_LIBRARY=build-cpu/libnormot.so PYTHONPATH=python \\
        python3 bench/bench_multiscale.py [--cases dotmark32,dotmark64,grid128,clouds,dense]

Each case runs in a fresh child process (so that its peak RSS is its own: VmHWM read right
after the solve, so it includes Python, numpy and the inputs but not the certificate check) and
prints one JSON line: seconds, peak RSS, iterations (simplex pivots) and the worst violation of the optimality
certificate, for every solver that fits, and POT's time and cost where POT can run (1 thread).

Cases:
  dotmark32, dotmark64  one pair (1001, 1002) of each DOTmark class from ../shared/data/dotmark;
                        squared Euclidean cost between pixel centres (pixel units). POT and the
                        dense simplex get the dense n x n cost; the multiscale solver gets the
                        grid as point clouds (it never builds the cost).
  grid128               a generated 128 x 128 pair (n = 16384): two smooth Gaussian random
                        fields (white noise, Gaussian blur of width 8 pixels, exponentiated:
                        positive and smooth, seeds 128 and 129), multiscale only, 2 threads.
  clouds                2-D point clouds, n = m = 10^4 (and 5 x 10^4 with --big): x uniform on
                        the unit square, y = u^1.5 coordinate-wise (skewed), random weights in
                        [0.1, 1.1), multiscale only (POT would need n^2 doubles), 2 threads.
  clouds3               the same in 3-D: x uniform on the unit cube, y = u^1.5 coordinate-wise,
                        random weights, n = m = 10^4 (and 5 x 10^4 with --big), 2 threads.
  crowded               2-D clouds as "clouds" but crowded: "cluster-S:N" puts 20% of each
                        cloud in a Gaussian cluster of width S around (0.5, 0.5); "copies-K:N"
                        puts half of each cloud on K fixed points (coincident copies). N = 4000
                        and 10^4, multiscale, 2 threads; --before LIB runs each case with
                        another build too.
  dense                 non-uniform dense problems n = m = 100, 500, 1000, 2000 (random 2-D
                        clouds, squared Euclidean cost): POT against normot's AUTO (the dense
                        simplex), 1 thread, interleaved in one process (--repeats rounds of POT
                        then normot; medians). Times are both wall clock and the calling
                        thread's CPU time (time.thread_time: both solvers run in that thread),
                        which a loaded machine disturbs far less. --before LIB runs the same
                        rounds with another build of the library in a second child, for a
                        before/after pair of ratios each measured against POT in its own run
                        (--before-python DIR: that child imports normot from DIR). Besides the
                        library call alone (normot_emd through ctypes, with duals, sparse plan
                        and pivots), each round times the package's normot.emd2 (numThreads=1),
                        which is what a caller of POT's ot.emd2 would call instead.
                        --sizes: the n to run (default 100,500,1000,2000).

The certificate: feasibility (max |row or column sum - weight| / total mass), dual feasibility
(max over ALL pairs of u_i + v_j - c_ij, over max |c|), complementary slackness (max |c_ij - u_i
- v_j| on the plan's support, over max |c|); "violation" is the largest of the three.
"""
import argparse
import ctypes
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DOTMARK = os.path.join(HERE, "..", "..", "shared", "data", "dotmark")
CLASSES = ["CauchyDensity", "ClassicImages", "GRFsmooth", "Shapes", "WhiteNoise"]


def grid(side):
    rows, cols = np.divmod(np.arange(side * side), side)
    return np.stack([rows, cols], 1).astype(np.float64)


def sq_cost(x, y):
    total = np.zeros((x.shape[0], y.shape[0]))
    for d in range(x.shape[1]):
        total += (x[:, None, d] - y[None, :, d]) ** 2
    return total


def dotmark(side, cls, index):
    image = np.loadtxt(os.path.join(DOTMARK, cls, f"data{side}_{index}.csv"), delimiter=",")
    values = image.ravel().astype(np.float64)
    return values / values.sum()


def smooth_field(side, seed):
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.standard_normal((side, side)), 8.0, mode="wrap")
    values = np.exp(field / field.std()).ravel()
    return values / values.sum()


def crowded(kind, n, seed):
    """Clouds as clouds() with part of each in a tight cluster or on a few coincident points."""
    x, y, a, b = clouds(n, seed)
    rng = np.random.default_rng(seed + 1)
    name, value = kind.split("-", 1)
    for points in (x, y):
        if name == "cluster":
            points[: n // 5] = 0.5 + float(value) * rng.standard_normal((n // 5, 2))
        else:
            spots = rng.random((int(value), 2))
            points[: n // 2] = spots[rng.integers(0, int(value), n // 2)]
    return x, y, a, b


def clouds(n, seed, dim=2):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, dim)), rng.random((n, dim)) ** 1.5
    a, b = rng.random(n) + 0.1, rng.random(n) + 0.1
    return x, y, a / a.sum(), b / b.sum()


# ---- normot through its C API (ctypes), with iterations and the sparse plan ------------------

_contexts = {}


def package_path():
    """Where normot (the Python package) is imported from: BENCH_PYTHON, else this tree's."""
    return os.environ.get("BENCH_PYTHON") or os.path.join(HERE, "..", "python")


def normot_context(threads):
    """One context per thread count, kept for the process (as the Python package keeps one), so
    that repeated solves reuse its workspaces."""
    sys.path.insert(0, package_path())
    from normot import _library as L
    lib = L.load()
    if threads not in _contexts:
        handle = ctypes.c_void_p()
        assert lib.normot_context_create(ctypes.byref(handle), L.BACKEND_CPU, 0) == 0
        lib.normot_context_set_threads(handle, threads)
        _contexts[threads] = handle
    return L, lib, _contexts[threads]


def normot_solve(a, b, solver, threads, cost=None, x=None, y=None):
    L, lib, handle = normot_context(threads)
    n, m = a.shape[0], b.shape[0]
    p = L.EmdProblem()
    p.k, p.n, p.m, p.value_type, p.memory = 1, n, m, L.FLOAT64, L.MEMORY_HOST
    p.a, p.b = a.ctypes.data, b.ctypes.data
    if cost is not None:
        p.cost = cost.ctypes.data
    else:
        p.x, p.y, p.dim, p.metric = x.ctypes.data, y.ctypes.data, x.shape[1], 0
    params = L.EmdParams()
    lib.normot_emd_params_init(ctypes.byref(params))
    params.solver = L.EMD_SOLVER_BY_NAME[solver]
    width = n + m - 1
    out = dict(cost=np.zeros(1), u=np.zeros(n), v=np.zeros(m), status=np.zeros(1, np.int32),
               iterations=np.zeros(1, np.int64), rows=np.zeros(width, np.int64),
               cols=np.zeros(width, np.int64), values=np.zeros(width), count=np.zeros(1, np.int64))
    r = L.EmdResult()
    r.cost, r.u, r.v = out["cost"].ctypes.data, out["u"].ctypes.data, out["v"].ctypes.data
    r.status, r.iterations = out["status"].ctypes.data, out["iterations"].ctypes.data
    r.sparse_row, r.sparse_col = out["rows"].ctypes.data, out["cols"].ctypes.data
    r.sparse_value, r.sparse_count = out["values"].ctypes.data, out["count"].ctypes.data
    start, cpu_start = time.perf_counter(), time.thread_time()
    status = lib.normot_emd(handle, ctypes.byref(p), ctypes.byref(params), ctypes.byref(r))
    seconds, cpu_seconds = time.perf_counter() - start, time.thread_time() - cpu_start
    assert status == 0, lib.normot_context_last_error(handle)
    out["seconds"], out["cpu_seconds"] = seconds, cpu_seconds
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)  # before the certificate check's own arrays
    return out


def violation(a, b, out, cost_rows):
    """The certificate's worst violation; cost_rows(i0, i1) gives rows i0..i1 of the cost."""
    n, m = a.shape[0], b.shape[0]
    k = int(out["count"][0])
    rows, cols, flows = out["rows"][:k], out["cols"][:k], out["values"][:k]
    mass = a.sum()
    b = b * mass / b.sum()
    feasibility = max(np.abs(np.bincount(rows, flows, n) - a).max(),
                      np.abs(np.bincount(cols, flows, m) - b).max()) / mass
    largest, dual, slack = 0.0, -np.inf, 0.0
    u, v = out["u"], out["v"]
    step = max(1, 20_000_000 // m)
    for i0 in range(0, n, step):
        block = cost_rows(i0, min(n, i0 + step))
        largest = max(largest, np.abs(block).max())
        dual = max(dual, (u[i0:i0 + block.shape[0], None] + v[None, :] - block).max())
        on = (rows >= i0) & (rows < i0 + block.shape[0])
        if on.any():
            slack = max(slack, np.abs(block[rows[on] - i0, cols[on]] - u[rows[on]]
                                      - v[cols[on]]).max())
    return max(feasibility, max(dual, 0.0) / largest, slack / largest)


def peak_rss_mb():
    """This process's peak resident set so far (VmHWM: unlike ru_maxrss it starts afresh at
    exec, so it is the child's own)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---- the cases, each run in a child -----------------------------------------------------------

def pot_emd2(a, b, M, with_cpu=False):
    import ot
    start, cpu_start = time.perf_counter(), time.thread_time()
    value = ot.emd2(a, b, M, numItermax=10**9)
    if with_cpu:
        return float(value), time.perf_counter() - start, time.thread_time() - cpu_start
    return float(value), time.perf_counter() - start


def package_emd2(a, b, M):
    """normot.emd2 from the package, 1 thread: (cost, wall seconds, CPU seconds)."""
    sys.path.insert(0, package_path())
    import normot
    start, cpu_start = time.perf_counter(), time.thread_time()
    value = normot.emd2(a, b, M, numItermax=10**9, numThreads=1)
    return float(value), time.perf_counter() - start, time.thread_time() - cpu_start


def dense_rounds(n, repeats):
    """POT and normot's AUTO (the library call, then the package's emd2) on one non-uniform
    dense problem, interleaved; medians."""
    x, y, a, b = clouds(n, 11)
    M = sq_cost(x, y)
    times = {key: [] for key in ("pot", "pot_cpu", "normot", "normot_cpu", "py", "py_cpu")}
    for _ in range(repeats):
        pot_cost, wall, cpu = pot_emd2(a, b, M, with_cpu=True)
        times["pot"].append(wall), times["pot_cpu"].append(cpu)
        out = normot_solve(a, b, "auto", 1, cost=M)
        times["normot"].append(out["seconds"]), times["normot_cpu"].append(out["cpu_seconds"])
        py_cost, wall, cpu = package_emd2(a, b, M)
        times["py"].append(wall), times["py_cpu"].append(cpu)
    record = normot_record(out, a, b, lambda i0, i1: M[i0:i1])
    medians = {key: float(np.median(values)) for key, values in times.items()}
    record.update(pot_cost=pot_cost, pot_seconds=round(medians["pot"], 5),
                  pot_cpu_seconds=round(medians["pot_cpu"], 5), repeats=repeats,
                  seconds=round(medians["normot"], 5),
                  cpu_seconds=round(medians["normot_cpu"], 5),
                  speedup_vs_pot=round(medians["pot"] / medians["normot"], 2),
                  cpu_speedup_vs_pot=round(medians["pot_cpu"] / medians["normot_cpu"], 2),
                  emd2_seconds=round(medians["py"], 5),
                  emd2_cpu_seconds=round(medians["py_cpu"], 5),
                  emd2_speedup_vs_pot=round(medians["pot"] / medians["py"], 2),
                  emd2_cpu_speedup_vs_pot=round(medians["pot_cpu"] / medians["py_cpu"], 2),
                  emd2_same_cost=py_cost == record["cost"],
                  cost_difference=abs(record["cost"] - pot_cost) / abs(pot_cost))
    return record


def child(case, arg):
    record = {"case": case, "arg": arg}
    if case in ("dotmark32", "dotmark64"):
        side = 32 if case == "dotmark32" else 64
        a, b = dotmark(side, arg, 1001), dotmark(side, arg, 1002)
        g = grid(side)
        if child_solver() == "pot":
            M = sq_cost(g, g)
            record["pot_cost"], record["pot_seconds"] = pot_emd2(a, b, M)
        elif child_solver() == "simplex":
            M = sq_cost(g, g)
            out = normot_solve(a, b, "network_simplex", 1, cost=M)
            record.update(normot_record(out, a, b, lambda i0, i1: M[i0:i1]))
        else:
            out = normot_solve(a, b, "multiscale", 1, x=g, y=g)
            record.update(normot_record(out, a, b, lambda i0, i1: sq_cost(g[i0:i1], g)))
    elif case == "grid128":
        a, b, g = smooth_field(128, 128), smooth_field(128, 129), grid(128)
        out = normot_solve(a, b, "multiscale", 2, x=g, y=g)
        record.update(normot_record(out, a, b, lambda i0, i1: sq_cost(g[i0:i1], g)))
    elif case in ("clouds", "clouds3"):
        x, y, a, b = clouds(int(arg), 7, 3 if case == "clouds3" else 2)
        out = normot_solve(a, b, "multiscale", 2, x=x, y=y)
        record.update(normot_record(out, a, b, lambda i0, i1: sq_cost(x[i0:i1], y)))
    elif case == "crowded":
        kind, n = arg.split(":")
        x, y, a, b = crowded(kind, int(n), 7)
        out = normot_solve(a, b, "multiscale", 2, x=x, y=y)
        record.update(normot_record(out, a, b, lambda i0, i1: sq_cost(x[i0:i1], y)))
    elif case == "dense":
        record.update(dense_rounds(int(arg), int(os.environ.get("BENCH_REPEATS", "5"))))
    print(json.dumps(record), flush=True)


def child_solver():
    """Which solver a DOTmark child runs: pot, simplex or multiscale."""
    return os.environ.get("BENCH_SOLVER", "multiscale")


def normot_record(out, a, b, cost_rows):
    return {"cost": float(out["cost"][0]), "seconds": round(out["seconds"], 4),
            "peak_rss_mb": out["peak_rss_mb"],
            "iterations": int(out["iterations"][0]), "status": int(out["status"][0]),
            "violation": float(violation(a, b, out, cost_rows))}


def run_child(case, arg, solver, **extra_env):
    env = dict(os.environ, BENCH_SOLVER=solver, **extra_env)
    done = subprocess.run([sys.executable, __file__, "--child", case, str(arg)], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"case": case, "arg": arg, "solver": solver, "error": done.stderr.strip()[-300:]}
    record = json.loads(done.stdout.strip().splitlines()[-1])
    record["solver"] = solver
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="dotmark32,dotmark64,grid128,clouds,dense")
    parser.add_argument("--classes", default=",".join(CLASSES))
    parser.add_argument("--big", action="store_true", help="also clouds n = 5 x 10^4")
    parser.add_argument("--repeats", type=int, default=5, help="dense: interleaved rounds")
    parser.add_argument("--before",
                        help="dense, crowded: another libnormot.so to measure the same way")
    parser.add_argument("--before-python", help="dense: the normot package for --before")
    parser.add_argument("--sizes", default="100,500,1000,2000", help="dense: the n = m to run")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(json.dumps({"cpu": cpu_name()}), flush=True)
    for case in args.cases.split(","):
        if case in ("dotmark32", "dotmark64"):
            for cls in args.classes.split(","):
                runs = {s: run_child(case, cls, s) for s in ("pot", "simplex", "multiscale")}
                summary = {"case": case, "class": cls,
                           "pot_seconds": runs["pot"].get("pot_seconds"),
                           "pot_cost": runs["pot"].get("pot_cost")}
                for s in ("simplex", "multiscale"):
                    summary[s] = runs[s]
                    if "seconds" in runs[s] and summary["pot_seconds"]:
                        summary[s + "_speedup_vs_pot"] = round(
                            summary["pot_seconds"] / runs[s]["seconds"], 2)
                print(json.dumps(summary), flush=True)
        elif case == "grid128":
            print(json.dumps(run_child(case, 128, "multiscale")), flush=True)
        elif case in ("clouds", "clouds3"):
            for n in [10_000] + ([50_000] if args.big else []):
                print(json.dumps(run_child(case, n, "multiscale")), flush=True)
        elif case == "crowded":
            for arg in ("cluster-1e-3:10000", "cluster-1e-6:10000", "copies-1:4000",
                        "copies-1:10000", "copies-10:10000"):
                if args.before:
                    before = run_child(case, arg, "multiscale",
                                       NORMOT_LIBRARY=os.path.abspath(args.before))
                    before["library"] = "before"
                    print(json.dumps(before), flush=True)
                print(json.dumps(run_child(case, arg, "multiscale")), flush=True)
        elif case == "dense":
            for n in (int(size) for size in args.sizes.split(",")):
                repeats = str(args.repeats)
                if args.before:
                    package = os.path.abspath(args.before_python or package_path())
                    before = run_child(case, n, "auto", BENCH_REPEATS=repeats,
                                       NORMOT_LIBRARY=os.path.abspath(args.before),
                                       BENCH_PYTHON=package)
                    before["library"] = "before"
                    print(json.dumps(before), flush=True)
                print(json.dumps(run_child(case, n, "auto", BENCH_REPEATS=repeats)), flush=True)


def cpu_name():
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in text.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
