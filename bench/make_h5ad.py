"""A synthetic AnnData .h5ad of counts for the streaming benchmark (bench/stream_normalize.sh).

X is a csr_matrix of float32 counts, cells x genes, about --per-cell stored values per cell
(genes picked by random steps, so each row's indices are sorted and unique; counts geometric
with a few highly expressed genes), written a slab of cells at a time, so that generating a
2M-cell file never holds it in memory. Stored as anndata writes by default (no compression);
--gzip compresses the X arrays as write_h5ad(compression="gzip") does.

    python3 bench/make_h5ad.py --cells 2000000 --genes 20000 -o atlas.h5ad
"""
import argparse

import h5py
import numpy as np


def write_frame(f, name, prefix, length):
    frame = f.create_group(name)
    frame.attrs["encoding-type"] = "dataframe"
    frame.attrs["encoding-version"] = "0.2.0"
    frame.attrs["_index"] = "_index"
    frame.attrs["column-order"] = np.array([], dtype=np.float64)
    names = np.char.add(prefix, np.arange(length).astype(str)).astype(object)
    index = frame.create_dataset("_index", data=names, dtype=h5py.string_dtype())
    index.attrs["encoding-type"] = "string-array"
    index.attrs["encoding-version"] = "0.2.0"


def slab(rng, rows, genes, per_cell):
    """One slab of CSR rows: (indptr from 0, indices, values)."""
    mean_step = genes / per_cell
    width = int(per_cell * 1.6) + 8
    steps = rng.integers(1, max(2, int(2 * mean_step)), size=(rows, width), dtype=np.int32)
    columns = np.cumsum(steps, axis=1) - rng.integers(1, int(mean_step) + 2, size=(rows, 1))
    keep = (columns >= 0) & (columns < genes)
    counts = keep.sum(axis=1)
    indices = columns[keep].astype(np.int32)
    values = rng.geometric(0.4, size=indices.size).astype(np.float32)
    values[indices % 1000 == 7] *= 40  # a few highly expressed genes
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return indptr, indices, values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2_000_000)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--per-cell", type=int, default=400, help="stored values per cell (mean)")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    compression = {"compression": "gzip"} if args.gzip else {}
    with h5py.File(args.output, "w") as f:
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"
        x = f.create_group("X")
        x.attrs["encoding-type"] = "csr_matrix"
        x.attrs["encoding-version"] = "0.1.0"
        x.attrs["shape"] = np.array([args.cells, args.genes], dtype=np.int64)
        data = x.create_dataset("data", (0,), np.float32, maxshape=(None,), chunks=(1 << 18,), **compression)
        indices = x.create_dataset("indices", (0,), np.int32, maxshape=(None,), chunks=(1 << 18,), **compression)
        indptr = [np.zeros(1, np.int64)]
        nnz = 0
        for first in range(0, args.cells, 50_000):
            rows = min(50_000, args.cells - first)
            p, i, v = slab(rng, rows, args.genes, args.per_cell)
            data.resize((nnz + v.size,))
            indices.resize((nnz + v.size,))
            data[nnz:] = v
            indices[nnz:] = i
            indptr.append(p[1:] + nnz)
            nnz += v.size
        x.create_dataset("indptr", data=np.concatenate(indptr), **compression)
        write_frame(f, "obs", "cell", args.cells)
        write_frame(f, "var", "gene", args.genes)
        for name in ("layers", "obsm", "obsp", "varm", "varp", "uns"):
            group = f.create_group(name)
            group.attrs["encoding-type"] = "dict"
            group.attrs["encoding-version"] = "0.1.0"
    print(f"{args.output}: {args.cells} cells x {args.genes} genes, {nnz} stored values")


if __name__ == "__main__":
    main()
