#!/usr/bin/env python3
"""Writes POT's costs for a few DOTmark 64x64 pairs (tests/data/emd/dotmark64_costs.txt), the
goldens of the multiscale solver's test; the images stay in the shared data.

    python3 -m pip install pot==0.9.7 numpy
    python3 tests/gen_multiscale_goldens.py [--shared ../shared/data]

One line per pair: CLASS FIRST SECOND COST, the cost printed with repr(). POT solves each
pair on the dense 4096 x 4096 squared Euclidean grid cost (pixel units) with no iteration
limit (about a minute each).
"""
import argparse
import os

import numpy as np
import ot

HERE = os.path.dirname(os.path.abspath(__file__))
PAIRS = [("ClassicImages", 1001, 1002), ("GRFsmooth", 1001, 1002), ("CauchyDensity", 1003, 1004)]


def histogram(root, cls, index):
    image = np.loadtxt(os.path.join(root, "dotmark", cls, f"data64_{index}.csv"), delimiter=",")
    values = image.ravel().astype(np.float64)
    return values / values.sum()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared", "data"))
    args = parser.parse_args()
    side = 64
    rows, cols = np.divmod(np.arange(side * side), side)
    cost = (rows[:, None] - rows[None, :]) ** 2.0 + (cols[:, None] - cols[None, :]) ** 2.0
    lines = []
    for cls, first, second in PAIRS:
        a, b = histogram(args.shared, cls, first), histogram(args.shared, cls, second)
        value = ot.emd2(a, b, cost, numItermax=10**9)
        lines.append(f"{cls} {first} {second} {float(value)!r}\n")
        print(lines[-1], end="", flush=True)
    with open(os.path.join(HERE, "data", "emd", "dotmark64_costs.txt"), "w") as out:
        out.writelines(lines)


if __name__ == "__main__":
    main()
