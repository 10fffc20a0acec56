#!/usr/bin/env python3
"""Writes the EMD goldens of the test suite with POT's ot.emd (tests/data/emd/).

    python3 -m pip install pot==0.9.7 numpy   # the peer the goldens come from
    python3 tests/gen_pot_goldens.py [--shared ../shared/data]

pot_cases.txt: small seeded problems with their inputs, POT's cost and its duals (log['u'],
log['v'], centred by POT). Duals are only compared where the optimum is non-degenerate, so
that they are unique once centred (compare_duals = 1), and only on rows and columns with
positive weight: POT's duals of zero-weight rows/columns start from the raw offset of its
solver's potentials, which is an internal convention, not a property of the problem.
dotmark_costs.txt: POT's costs for a few DOTmark 32x32 pairs (the images stay in the shared
data; the suite reads them from there and skips when absent).

Format of pot_cases.txt, one block per case, every number printed with repr():
    case NAME N M CHECK_MARGINALS COMPARE_DUALS
    a ...   (N values)
    b ...   (M values)
    M ...   (N*M values, row-major)
    cost C
    u ...   (N values)
    v ...   (M values)
"""
import argparse
import os

import numpy as np
import ot

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data", "emd")


def sq_euclidean(x, y):
    # The same formula as normot's point-cloud mode: a sum over coordinates of squared
    # differences, in coordinate order.
    diff = x[:, None, :] - y[None, :, :]
    total = np.zeros(diff.shape[:2])
    for d in range(diff.shape[2]):
        total += diff[:, :, d] ** 2
    return total


def random_weights(rng, n, zeros=0):
    w = rng.random(n) + 0.05
    if zeros:
        w[rng.choice(n, zeros, replace=False)] = 0.0
    return w / w.sum()


def cases(rng):
    out = []
    # name, a, b, M, check_marginals, compare_duals
    a, b = random_weights(rng, 5), random_weights(rng, 7)
    out.append(("random_5x7", a, b, rng.random((5, 7)), True, True))
    a, b = random_weights(rng, 8, zeros=2), random_weights(rng, 8, zeros=1)
    out.append(("zero_weights_8x8", a, b, rng.random((8, 8)), True, True))
    a, b = random_weights(rng, 9, zeros=3), random_weights(rng, 6, zeros=2)
    x, y = rng.random((9, 2)), rng.random((6, 2))
    out.append(("zero_weights_points_9x6", a, b, sq_euclidean(x, y), True, True))
    a, b = random_weights(rng, 6), random_weights(rng, 4)
    out.append(("integer_costs_6x4", a, b, rng.integers(0, 4, (6, 4)).astype(float), True, False))
    x, y = rng.random((10, 2)), rng.random((10, 2))
    out.append(("uniform_sqeuclidean_10x10", np.full(10, 0.1), np.full(10, 0.1), sq_euclidean(x, y),
                True, False))
    out.append(("one_row_1x5", np.ones(1), random_weights(rng, 5), rng.random((1, 5)), True, True))
    out.append(("one_col_4x1", random_weights(rng, 4), np.ones(1), rng.random((4, 1)), True, True))
    a, b = random_weights(rng, 12), random_weights(rng, 9) * 1.37
    out.append(("unbalanced_rescaled_12x9", a, b, rng.random((12, 9)), False, True))
    a, b = random_weights(rng, 7), random_weights(rng, 11)
    out.append(("negative_costs_7x11", a, b, rng.random((7, 11)) - 0.8, True, True))
    a, b = random_weights(rng, 6), random_weights(rng, 6)
    out.append(("huge_costs_6x6", a, b, rng.random((6, 6)) * 1e12, True, True))
    # POT prices with an absolute epsilon, so its duals at this scale are off by ~1e-3
    # relative (they violate u + v <= M by ~8e-16); only the cost is compared.
    a, b = random_weights(rng, 6), random_weights(rng, 8)
    out.append(("tiny_costs_6x8", a, b, rng.random((6, 8)) * 1e-12, True, False))
    a, b = random_weights(rng, 30), random_weights(rng, 40)
    x, y = rng.random((30, 3)), rng.random((40, 3))
    out.append(("points_3d_30x40", a, b, sq_euclidean(x, y), True, True))
    out.append(("all_equal_costs_5x5", random_weights(rng, 5), random_weights(rng, 5),
                np.full((5, 5), 2.5), True, False))
    return out


def write_cases(path, rng):
    with open(path, "w") as f:
        for name, a, b, M, check, compare in cases(rng):
            _, log = ot.emd(a, b, M, log=True, check_marginals=check)
            n, m = M.shape
            f.write(f"case {name} {n} {m} {int(check)} {int(compare)}\n")
            f.write("a " + " ".join(repr(float(v)) for v in a) + "\n")
            f.write("b " + " ".join(repr(float(v)) for v in b) + "\n")
            f.write("M " + " ".join(repr(float(v)) for v in M.ravel()) + "\n")
            f.write(f"cost {float(log['cost'])!r}\n")
            f.write("u " + " ".join(repr(float(v)) for v in log["u"]) + "\n")
            f.write("v " + " ".join(repr(float(v)) for v in log["v"]) + "\n")


DOTMARK_PAIRS = [("CauchyDensity", 1001, 1002), ("Shapes", 1001, 1002), ("WhiteNoise", 1001, 1002)]


def dotmark_histogram(root, cls, index):
    image = np.loadtxt(os.path.join(root, "dotmark", cls, f"data32_{index}.csv"), delimiter=",")
    return image.ravel() / image.sum()


def grid_cost(side):
    rows, cols = np.divmod(np.arange(side * side), side)
    points = np.stack([rows, cols], axis=1).astype(float)
    return sq_euclidean(points, points)


def write_dotmark(path, root):
    M = grid_cost(32)
    with open(path, "w") as f:
        for cls, first, second in DOTMARK_PAIRS:
            a, b = dotmark_histogram(root, cls, first), dotmark_histogram(root, cls, second)
            cost = ot.emd2(a, b, M, numItermax=10_000_000)
            f.write(f"{cls} {first} {second} {float(cost)!r}\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared", "data"))
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    write_cases(os.path.join(OUT, "pot_cases.txt"), np.random.default_rng(20261122))
    if os.path.isdir(os.path.join(args.shared, "dotmark")):
        write_dotmark(os.path.join(OUT, "dotmark_costs.txt"), args.shared)
    else:
        print("no DOTmark data under", args.shared, "- dotmark_costs.txt left as it is")
    print("POT", ot.__version__, "goldens written to", OUT)


if __name__ == "__main__":
    main()
