#!/usr/bin/env python3
"""Side by side: POT's ot.emd2 in a Python loop against one batched normot call (bench_emd).

For each case of issue 3 item 5 the data are generated here with numpy (seeded), written as
.npy files, solved by a loop of ot.emd2 (timed), then by bench_emd on the same files at each
thread count. Prints one JSON line per case and thread count with the time per problem, the
ratio to POT and the largest relative difference between the costs, and a summary on stderr.

Cases (k = number of problems; --quick and --full change the slow ones):
  seed        k=1000, n=m=100, uniform weights, squared Euclidean costs of random 2-D clouds
  nonuniform  k=100, n=m=500, random non-uniform weights, same costs
  single      k=1, n=m=1000, random non-uniform weights
  dotmark     DOTmark 32x32 image pairs of each class (n=m=1024, one shared grid cost);
              3 pairs per class by default, all 45 with --full
  grid28      pairs of generated 28x28 images on one shared grid cost (n=m=784);
              200 pairs by default, 1000 with --full

POT timing: one warm-up solve, then the loop over all k problems, repeated 5 times (median)
when one loop takes under 3 s, else timed once (the time is then a mean over many problems).
POT's loop gets the cost matrices ready-made; ot.emd2 returns the cost (its solver is the one
ot.emd runs). bench_emd repeats 5 calls after a warm-up (3 when POT's loop took over 5 s).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def find_bench(explicit):
    if explicit:
        return explicit
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for build in ("build-bench", "build-release", "build"):
        path = os.path.join(root, build, "bench", "bench_emd")
        if os.path.exists(path):
            return path
    sys.exit("compare_pot: bench_emd not found; build it or pass --bench PATH")


def histograms(rng, k, n):
    h = rng.uniform(0.05, 1.0, size=(k, n))
    return h / h.sum(axis=1, keepdims=True)


def sq_euclidean(x, y):
    # (k, n, d), (k, m, d) -> (k, n, m), the way ot.dist computes it per problem.
    return ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(axis=-1)


def grid_cost(side):
    rows, cols = np.divmod(np.arange(side * side), side)
    return ((rows[:, None] - rows[None, :]) ** 2 + (cols[:, None] - cols[None, :]) ** 2).astype(
        np.float64)


def generated_images(rng, k, side):
    """Blobs thresholded to a black background (most pixels zero), 8-bit levels, sum 1."""
    rows, cols = np.mgrid[0:side, 0:side]
    images = np.empty((k, side * side))
    for i in range(k):
        intensity = np.zeros((side, side))
        for _ in range(rng.integers(2, 5)):
            cy, cx = side * (0.25 + 0.5 * rng.random(2))
            width = side * (0.06 + 0.1 * rng.random())
            intensity += np.exp(-0.5 * (((cols - cx) / width) ** 2 + ((rows - cy) / width) ** 2))
        level = np.floor(255 * np.minimum(intensity, 1.0))
        level[level < 25] = 0
        images[i] = level.ravel() / level.sum()
    return images


def dotmark_pairs(data_dir, pairs_per_class):
    classes = sorted(d for d in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, d)))
    a, b, labels = [], [], []
    for name in classes:
        files = sorted(f for f in os.listdir(os.path.join(data_dir, name))
                       if f.startswith("data32_") and f.endswith(".csv"))
        images = [np.loadtxt(os.path.join(data_dir, name, f), delimiter=",").ravel()
                  for f in files]
        pairs = [(i, j) for i in range(len(images)) for j in range(i + 1, len(images))]
        for i, j in pairs[:pairs_per_class]:
            a.append(images[i] / images[i].sum())
            b.append(images[j] / images[j].sum())
            labels.append(name)
    return np.array(a), np.array(b), labels


def make_cases(args, rng):
    quick, full = args.quick, args.full
    cases = []
    selected = args.cases.split(",")
    if "seed" in selected:
        k, n = (100 if quick else 1000), 100
        x, y = rng.random((k, n, 2)), rng.random((k, n, 2))
        cases.append(dict(name="seed_n100_uniform", cost=sq_euclidean(x, y), a=None, b=None))
    if "nonuniform" in selected:
        k, n = (10 if quick else 100), 500
        x, y = rng.random((k, n, 2)), rng.random((k, n, 2))
        cases.append(dict(name="nonuniform_n500", cost=sq_euclidean(x, y),
                          a=histograms(rng, k, n), b=histograms(rng, k, n)))
    if "single" in selected:
        n = 1000
        x, y = rng.random((1, n, 2)), rng.random((1, n, 2))
        cases.append(dict(name="single_n1000", cost=sq_euclidean(x, y),
                          a=histograms(rng, 1, n), b=histograms(rng, 1, n)))
    if "dotmark" in selected:
        data_dir = args.dotmark
        if os.path.isdir(data_dir):
            per_class = 1 if quick else (45 if full else 3)
            a, b, labels = dotmark_pairs(data_dir, per_class)
            cases.append(dict(name="dotmark32_%d_per_class" % per_class, cost=grid_cost(32),
                              a=a, b=b))
        else:
            print("compare_pot: skipping DOTmark: %s not found" % data_dir, file=sys.stderr)
    if "grid28" in selected:
        k = 20 if quick else (1000 if full else 200)
        cases.append(dict(name="grid28_shared_cost", cost=grid_cost(28),
                          a=generated_images(rng, k, 28), b=generated_images(rng, k, 28)))
    return cases


def time_pot(case):
    import ot

    cost, a, b = case["cost"], case["a"], case["b"]
    k = len(a) if a is not None else cost.shape[0]
    shared = cost.ndim == 2
    def solve(i):
        return ot.emd2(a[i] if a is not None else [], b[i] if b is not None else [],
                       cost if shared else cost[i])
    solve(0)  # warm-up
    loops = []
    costs = np.empty(k)
    while True:
        start = time.perf_counter()
        for i in range(k):
            costs[i] = solve(i)
        loops.append(time.perf_counter() - start)
        if loops[0] >= 3.0 or len(loops) == 5:
            break
    return float(np.median(loops)), len(loops), costs


def run_normot(args, case, workdir, pot_loop_seconds):
    files = {}
    for key in ("cost", "a", "b"):
        if case[key] is not None:
            files[key] = os.path.join(workdir, "%s_%s.npy" % (case["name"], key))
            np.save(files[key], np.ascontiguousarray(case[key], dtype=np.float64))
    out_cost = os.path.join(workdir, case["name"] + "_normot_cost.npy")
    repeats = args.repeats if pot_loop_seconds < 5.0 else min(args.repeats, 3)
    command = [find_bench(args.bench), "--name", case["name"], "--threads", args.threads,
               "--repeats", str(repeats), "--out-cost", out_cost, "--cost", files["cost"]]
    for key in ("a", "b"):
        if key in files:
            command += ["--" + key, files[key]]
    if "a" not in files and "b" not in files and case["cost"].ndim == 2:
        command += ["--k", "1"]
    if args.solver:
        command += ["--solver", args.solver]
    print("$ " + " ".join(command), file=sys.stderr)
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    results = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    costs = np.load(out_cost) if completed.returncode == 0 and os.path.exists(out_cost) else None
    for key in files.values():
        os.remove(key)
    return results, costs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small k everywhere (< 1 minute)")
    parser.add_argument("--full", action="store_true", help="issue 3's full k for the slow cases")
    parser.add_argument("--cases", default="seed,nonuniform,single,dotmark,grid28")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--solver", help="bench_emd --solver (default auto)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bench")
    parser.add_argument("--dotmark", default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data",
        "dotmark"))
    parser.add_argument("--workdir")
    args = parser.parse_args()

    import importlib.metadata
    pot_version = importlib.metadata.version("POT")
    workdir = args.workdir or tempfile.mkdtemp(prefix="normot_pot_")
    rng = np.random.default_rng(args.seed)
    failures = 0
    for case in make_cases(args, rng):
        k = len(case["a"]) if case["a"] is not None else case["cost"].shape[0]
        n, m = case["cost"].shape[-2:]
        pot_seconds, pot_loops, pot_costs = time_pot(case)
        results, costs = run_normot(args, case, workdir, pot_seconds)
        if costs is not None:
            relative = np.abs(costs - pot_costs) / np.maximum(np.abs(pot_costs), 1e-300)
            worst = float(relative.max())
        else:
            worst = None
        for r in results:
            line = {"bench": "emd_vs_pot", "name": case["name"], "k": k, "n": int(n), "m": int(m),
                    "pot": pot_version, "pot_seconds_per_problem": pot_seconds / k,
                    "pot_loops_timed": pot_loops, "threads": r.get("threads")}
            if "seconds" in r:
                line.update(normot_seconds_per_problem=r["seconds_per_problem"],
                            normot_repeats=r["repeats"],
                            speedup_vs_pot=pot_seconds / r["seconds"],
                            problems_optimal=r["problems_optimal"],
                            max_relative_cost_difference=worst)
                print("emd %-24s k=%-5d n=%-5d threads=%d  POT %.3f ms/problem  normot %.3f "
                      "ms/problem  %.1fx  max rel. cost diff %.1e"
                      % (case["name"], k, n, r["threads"], 1e3 * pot_seconds / k,
                         1e3 * r["seconds_per_problem"], pot_seconds / r["seconds"], worst),
                      file=sys.stderr)
                failures += worst is None or worst > 1e-9
            else:
                line.update(error=r.get("error"), message=r.get("message"))
                failures += 1
            print(json.dumps(line), flush=True)
        if not results:
            failures += 1
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        sys.exit("compare_pot: %d case(s) failed or differ from POT by more than 1e-9" % failures)


if __name__ == "__main__":
    main()
