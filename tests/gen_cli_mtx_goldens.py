"""Goldens for the CLI's Matrix Market reader: what scipy.io.mmread(path).tocsr() holds.

Writes small .mtx files with unsorted entries, duplicates, explicit zeros, comments and empty
rows into tests/data/cli/scipy/, and next to each the CSR arrays scipy builds from it
(<name>.indptr.npy, <name>.indices.npy, <name>.data.npy). The C++ test reads the .mtx with
cli_read_mtx and compares. Run from the repository root: python3 tests/gen_cli_mtx_goldens.py
(needs numpy and scipy; `pip install numpy scipy` if missing).
"""
import os

import numpy as np
import scipy.io

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "cli", "scipy")


def write_case(name, field, n_rows, n_cols, entries):
    lines = ["%%MatrixMarket matrix coordinate " + field + " general",
             "% golden for cli_read_mtx: unsorted entries, duplicates, explicit zeros"]
    lines.append(f"{n_rows} {n_cols} {len(entries)}")
    for i, j, v in entries:
        if field == "pattern":
            lines.append(f"{i} {j}")
        elif field == "integer":
            lines.append(f"{i} {j} {int(v)}")
        else:
            lines.append(f"{i} {j} {v!r}")
    path = os.path.join(OUT, name + ".mtx")
    with open(path, "w") as stream:
        stream.write("\n".join(lines) + "\n")
    csr = scipy.io.mmread(path).tocsr()
    np.save(os.path.join(OUT, name + ".indptr.npy"), csr.indptr.astype(np.int64))
    np.save(os.path.join(OUT, name + ".indices.npy"), csr.indices.astype(np.int64))
    data = csr.data.astype(np.float64 if field == "real" else np.int64)
    np.save(os.path.join(OUT, name + ".data.npy"), data)


def random_entries(rng, n_rows, n_cols, count, field):
    entries = []
    for _ in range(count):
        i = int(rng.integers(1, n_rows + 1))
        j = int(rng.integers(1, n_cols + 1))
        if field == "real":
            # Dyadic values: any summation order of duplicates gives the same double.
            v = float(rng.integers(-2000, 2000)) / 64.0
        else:
            v = int(rng.integers(0, 40))
        entries.append((i, j, v))
    # Rows 3 and 7 stay empty.
    return [e for e in entries if e[0] not in (3, 7)]


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261122)
    for field in ("integer", "real", "pattern"):
        entries = random_entries(rng, 40, 30, 500, field)
        write_case(field, field, 40, 30, entries)


if __name__ == "__main__":
    main()
