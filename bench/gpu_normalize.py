#!/usr/bin/env python3
"""GPU checks and benchmarks of normot's CUDA normalize_total, through ctypes and CuPy.

    gpu_normalize.py check --lib build/libnormot.so
        Device-memory (cudaMalloc, managed) and pinned-host inputs, which the GoogleTest suite
        (host arrays only) does not reach: every layout, index type, value type, exclusion,
        log1p, in place and out of place, on a caller's stream; bitwise against the CPU backend
        on integer-valued data, log1p within 1 ulp (2 with a log_base, as the tests allow: the
        division by log(base) can stretch the one ulp of log1p to two); bad inputs give the CPU backend's status and
        message and leave the outputs untouched. Exit status 1 on any mismatch.

    gpu_normalize.py bench --lib build/libnormot.so [--cells N] [--per-cell K] [--repeats R]
        The cases of issue 5, one JSON line each: device-resident CSR float32 with the median
        target (default 1M cells x ~2,000 nonzeros), the same work done with CuPy, host-resident
        streaming (pageable and pinned), and a dense host matrix larger than half the device
        memory. Each line carries the device name, seconds (median of R runs after a warm-up),
        bytes moved, GB/s, and the reference bandwidth measured in the same process
        (device-to-device copy, or host-to-device copy for host-resident cases).
"""
import argparse
import ctypes as C
import json
import os
import statistics
import sys
import time

import numpy as np

try:
    import cupy as cp
    import cupyx
    import cupyx.scipy.sparse as cpsparse
except ImportError:  # the check needs CuPy for device memory; say so plainly
    cp = None

# ---- the C API through ctypes ----------------------------------------------------------------

CSR, CSC, DENSE = 0, 1, 2
F32, F64, I32, I64, U16, U32 = 0, 1, 2, 3, 4, 5
IDX32, IDX64 = 0, 1
MEM_HOST, MEM_CUDA, MEM_CUDA_HOST, MEM_MANAGED = 1, 2, 3, 13
BACKEND_CPU, BACKEND_CUDA = 1, 2
NP_TYPE = {F32: np.float32, F64: np.float64, I32: np.int32, I64: np.int64, U16: np.uint16,
           U32: np.uint32}
TYPE_NAME = {F32: "float32", F64: "float64", I32: "int32", I64: "int64", U16: "uint16",
             U32: "uint32"}


class Matrix(C.Structure):
    _fields_ = [("layout", C.c_int), ("n_rows", C.c_int64), ("n_cols", C.c_int64),
                ("nnz", C.c_int64), ("indptr", C.c_void_p), ("indices", C.c_void_p),
                ("index_type", C.c_int), ("values", C.c_void_p), ("value_type", C.c_int),
                ("ld", C.c_int64), ("memory", C.c_int)]


class Params(C.Structure):
    _fields_ = [("has_target_sum", C.c_int), ("target_sum", C.c_double),
                ("exclude_highly_expressed", C.c_int), ("max_fraction", C.c_double),
                ("log1p", C.c_int), ("log_base", C.c_double), ("check_values", C.c_int)]


class Output(C.Structure):
    _fields_ = [("values", C.c_void_p), ("value_type", C.c_int), ("size_factors", C.c_void_p),
                ("totals", C.c_void_p), ("target", C.c_double), ("n_zero_cells", C.c_int64),
                ("n_excluded_genes", C.c_int64)]


class Normot:
    def __init__(self, path):
        lib = C.CDLL(path)
        lib.normot_context_create.argtypes = [C.POINTER(C.c_void_p), C.c_int, C.c_int]
        lib.normot_context_destroy.argtypes = [C.c_void_p]
        lib.normot_context_set_stream.argtypes = [C.c_void_p, C.c_void_p]
        lib.normot_context_last_error.argtypes = [C.c_void_p]
        lib.normot_context_last_error.restype = C.c_char_p
        lib.normot_normalize_params_init.argtypes = [C.POINTER(Params)]
        lib.normot_normalize_total.argtypes = [C.c_void_p, C.POINTER(Matrix), C.POINTER(Params),
                                               C.POINTER(Output)]
        self.lib = lib

    def context(self, backend):
        handle = C.c_void_p()
        status = self.lib.normot_context_create(C.byref(handle), backend, 0)
        if status != 0:
            raise RuntimeError("normot_context_create(%d) failed: status %d" % (backend, status))
        return handle

    def params(self, **kw):
        p = Params()
        self.lib.normot_normalize_params_init(C.byref(p))
        for key, value in kw.items():
            setattr(p, key, value)
        return p

    def run(self, context, matrix, params, output):
        status = self.lib.normot_normalize_total(context, C.byref(matrix), C.byref(params),
                                                 C.byref(output))
        message = self.lib.normot_context_last_error(context).decode()
        return status, message


def pointer(array):
    if array is None:
        return None
    if cp is not None and isinstance(array, cp.ndarray):
        return array.data.ptr if array.size else None
    return array.ctypes.data if array.size else None


# ---- test data --------------------------------------------------------------------------------

def random_counts(rng, rows, cols, density, long_rows=(), empty_rows=()):
    """CSR (indptr, indices, values as float64 integers), rows in shuffled column order."""
    indptr, indices, values = [0], [], []
    for r in range(rows):
        if r in empty_rows:
            k = 0
        elif r in long_rows:
            k = cols
        else:
            k = rng.binomial(cols, density)
        cols_r = rng.permutation(cols)[:k]
        indices.extend(cols_r.tolist())
        values.extend(rng.integers(1, 30, size=k).tolist())
        indptr.append(len(indices))
    if values:  # one strong gene, so that exclusion has something to find
        values[0] = 5000
    return (np.array(indptr, np.int64), np.array(indices, np.int64),
            np.array(values, np.float64))


def to_layout(rows, cols, indptr, indices, values, layout):
    if layout == CSR:
        return indptr, indices, values
    if layout == DENSE:
        dense = np.zeros((rows, cols))
        for r in range(rows):
            dense[r, indices[indptr[r]:indptr[r + 1]]] = values[indptr[r]:indptr[r + 1]]
        return None, None, dense.ravel()
    # CSC: column by column, rows increasing
    order = np.lexsort((np.repeat(np.arange(rows), np.diff(indptr)), indices))
    col_indptr = np.zeros(cols + 1, np.int64)
    np.add.at(col_indptr, indices + 1, 1)
    col_indptr = np.cumsum(col_indptr)
    row_of = np.repeat(np.arange(rows), np.diff(indptr))
    return col_indptr, row_of[order], values[order]


def log1p_ulp_allowance(log_base):
    """The ulp distance from the CPU backend that log1p values may have: 1 for the natural log
    (log1pf/log1p differ between math libraries by up to 1 ulp), 2 with a base, whose division
    by log(base) can stretch that ulp to 2 (docs/normalize_semantics.md)."""
    return 1 if log_base == 0 else 2


def ulp_distance(a, b, dtype):
    int_type = np.int32 if dtype == np.float32 else np.int64
    ai = a.view(int_type).astype(np.int64)
    bi = b.view(int_type).astype(np.int64)
    return int(np.max(np.abs(ai - bi))) if a.size else 0


# ---- check ------------------------------------------------------------------------------------

class Checker:
    def __init__(self, normot):
        self.normot = normot
        self.cpu = normot.context(BACKEND_CPU)
        self.gpu = normot.context(BACKEND_CUDA)
        self.failures = 0
        self.cases = 0

    def fail(self, what):
        self.failures += 1
        print("FAIL", what, flush=True)

    def call(self, backend_context, memory, layout, rows, cols, arrays, in_type, idx_type,
             out_type, params, in_place, stream=None):
        """Runs one call with inputs placed in `memory`; returns (status, message, results)."""
        indptr, indices, values = arrays
        np_idx = np.int32 if idx_type == IDX32 else np.int64
        host = {
            "indptr": None if indptr is None else indptr.astype(np_idx),
            "indices": None if indices is None else indices.astype(np_idx),
            "values": values.astype(NP_TYPE[in_type]),
        }
        n_out = values.size
        host["out"] = None if in_place else np.full(n_out, 7, NP_TYPE[out_type])
        host["factors"] = np.full(rows, 7, NP_TYPE[out_type])
        host["totals"] = np.full(rows, 7, NP_TYPE[out_type])
        if memory == MEM_HOST:
            placed = host
        elif memory == MEM_CUDA_HOST:
            placed = {}
            for k, v in host.items():
                if v is None:
                    placed[k] = None
                else:
                    pinned = cupyx.empty_pinned(v.shape, v.dtype)
                    pinned[...] = v
                    placed[k] = pinned
        else:
            placed = {}
            for k, v in host.items():
                if v is None:
                    placed[k] = None
                elif memory == MEM_MANAGED:
                    mem = cp.cuda.malloc_managed(max(v.nbytes, 1))
                    arr = cp.ndarray(v.shape, v.dtype, mem)
                    arr.set(v)
                    placed[k] = arr
                else:
                    placed[k] = cp.asarray(v)
            cp.cuda.Device().synchronize()
        m = Matrix(layout, rows, cols, 0 if layout == DENSE else len(indices), pointer(placed["indptr"]),
                   pointer(placed["indices"]), idx_type, pointer(placed["values"]), in_type,
                   cols if layout == DENSE else 0, memory)
        out = Output(pointer(placed["out"]), out_type, pointer(placed["factors"]),
                     pointer(placed["totals"]), 0.0, -1, -1)
        if stream is not None:
            self.normot.lib.normot_context_set_stream(backend_context, C.c_void_p(stream.ptr))
        status, message = self.normot.run(backend_context, m, params, out)
        if stream is not None:
            self.normot.lib.normot_context_set_stream(backend_context, None)

        def back(a):
            if a is None:
                return None
            return a.get() if cp is not None and isinstance(a, cp.ndarray) else np.array(a)
        values_out = back(placed["values"] if in_place else placed["out"])
        result = {"values": values_out, "factors": back(placed["factors"]),
                  "totals": back(placed["totals"]), "target": out.target,
                  "zero": out.n_zero_cells, "excluded": out.n_excluded_genes,
                  "untouched_out": host["out"] if not in_place else host["values"]}
        return status, message, result

    def compare(self, name, reference, candidate, out_type, log1p, log_base=0.0):
        self.cases += 1
        rs, rm, r = reference
        cs, cm, c = candidate
        if rs != cs or (rs != 0 and rm != cm):
            self.fail("%s: status/message %d '%s' vs CPU %d '%s'" % (name, cs, cm, rs, rm))
            return
        if rs != 0:
            if not np.array_equal(c["values"].view(np.uint8), c["untouched_out"].astype(
                    c["values"].dtype).view(np.uint8)):
                self.fail("%s: a failed call wrote its output" % name)
            return
        dtype = NP_TYPE[out_type]
        for key in ("factors", "totals"):
            if not np.array_equal(r[key].view(np.uint8), c[key].view(np.uint8)):
                self.fail("%s: %s differ from the CPU backend" % (name, key))
        for key in ("target", "zero", "excluded"):
            if r[key] != c[key]:
                self.fail("%s: %s %r vs CPU %r" % (name, key, c[key], r[key]))
        if log1p:
            distance = ulp_distance(r["values"], c["values"], dtype)
            if distance > log1p_ulp_allowance(log_base):
                self.fail("%s: log1p values %d ulp from the CPU backend" % (name, distance))
        elif not np.array_equal(r["values"].view(np.uint8), c["values"].view(np.uint8)):
            bad = np.flatnonzero(r["values"].view(np.uint8) != c["values"].view(np.uint8))
            self.fail("%s: values differ from the CPU backend (first byte %d)" % (name, bad[0]))

    def run_all(self):
        rng = np.random.default_rng(5)
        shapes = {
            "short": (120, 90, 0.05, (), (3, 77)),
            "long": (40, 9000, 0.02, (5, 31), (0,)),  # rows of 9000 > the block threshold
        }
        stream = cp.cuda.Stream(non_blocking=True)
        for shape_name, (rows, cols, density, long_rows, empty) in shapes.items():
            base = random_counts(rng, rows, cols, density, long_rows, empty)
            for layout in (CSR, CSC, DENSE):
                arrays = to_layout(rows, cols, *base, layout)
                for in_type, out_type in ((F32, F32), (F64, F64), (I32, F32), (U16, F64),
                                          (I64, F32), (U32, F64)):
                    for idx_type in ((IDX32, IDX64) if layout != DENSE else (IDX32,)):
                        for exclude in (0, 1):
                            for log1p, target in ((0, 0.0), (1, 1e4)):
                                params = self.normot.params(
                                    exclude_highly_expressed=exclude, max_fraction=0.2,
                                    log1p=log1p, has_target_sum=int(target > 0),
                                    target_sum=target, log_base=2.0 if log1p else 0.0)
                                in_place = in_type == out_type and exclude == 0
                                ref = self.call(self.cpu, MEM_HOST, layout, rows, cols, arrays,
                                                in_type, idx_type, out_type, params, in_place)
                                for memory in (MEM_CUDA, MEM_MANAGED, MEM_CUDA_HOST, MEM_HOST):
                                    name = "%s %s %s->%s idx%d excl%d log%d mem%d" % (
                                        shape_name, ("csr", "csc", "dense")[layout],
                                        TYPE_NAME[in_type], TYPE_NAME[out_type], 32 << idx_type,
                                        exclude, log1p, memory)
                                    got = self.call(self.gpu, memory, layout, rows, cols, arrays,
                                                    in_type, idx_type, out_type, params, in_place,
                                                    stream if memory == MEM_CUDA else None)
                                    self.compare(name, ref, got, out_type, log1p,
                                                 params.log_base)
            self.bad_inputs(rows, cols, base)

    def bad_inputs(self, rows, cols, base):
        """NaN, broken indptr and out-of-range indices: the CPU's status and message."""
        params_ex = self.normot.params(exclude_highly_expressed=1)
        params = self.normot.params()
        for layout in (CSR, CSC, DENSE):
            indptr, indices, values = to_layout(rows, cols, *base, layout)
            cases = []
            v = values.copy()
            v[v.size // 2] = np.nan
            cases.append(("nan", (indptr, indices, v), params))
            if layout != DENSE:
                p = indptr.copy()
                p[len(p) // 2] = p[len(p) // 2 + 1] + 1  # a decreasing step
                v2 = values.copy()
                v2[-1] = np.inf  # after the bad step: the step is reported (CSR) / first (CSC)
                cases.append(("indptr", (p, indices, v2), params))
                v3 = values.copy()
                v3[1] = np.nan  # before the bad step: CSR reports the NaN
                cases.append(("indptr_after_nan", (p, indices, v3), params))
                ind = indices.copy()
                ind[ind.size // 3] = (cols if layout == CSR else rows) + 4
                cases.append(("index", (indptr, ind, values), params_ex))
                ind2 = ind.copy()
                v4 = values.copy()
                v4[ind.size // 3 + 1] = np.nan
                cases.append(("index_then_nan", (indptr, ind2, v4), params_ex))
            for name, arrays, prm in cases:
                ref = self.call(self.cpu, MEM_HOST, layout, rows, cols, arrays, F32, IDX64, F32,
                                prm, False)
                for memory in (MEM_CUDA, MEM_HOST):
                    got = self.call(self.gpu, memory, layout, rows, cols, arrays, F32, IDX64, F32,
                                    prm, False)
                    self.compare("bad %s %s mem%d" % (name, ("csr", "csc", "dense")[layout],
                                                       memory), ref, got, F32, 0)


def check(args):
    if cp is None:
        print("gpu_normalize.py check: CuPy is not importable", file=sys.stderr)
        return 2
    checker = Checker(Normot(args.lib))
    checker.run_all()
    # The host path again with tiny chunks and no residency: many chunks through the 3 slots.
    os.environ["NORMOT_CUDA_CHUNK_ENTRIES"] = "97"
    os.environ["NORMOT_CUDA_FORCE_STREAMING"] = "1"
    checker.run_all()
    print("gpu_normalize.py check: %d comparisons, %d failures" % (checker.cases,
                                                                  checker.failures))
    return 1 if checker.failures else 0


# ---- bench ------------------------------------------------------------------------------------

def timed(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def device_copy_bandwidth(nbytes, repeats):
    src = cp.empty(nbytes // 4, cp.float32)
    dst = cp.empty_like(src)
    src.fill(1)

    def copy():
        cp.copyto(dst, src)
        cp.cuda.Device().synchronize()
    seconds = timed(copy, repeats)
    del src, dst
    return 2 * nbytes / seconds / 1e9  # read + write


def host_to_device_bandwidth(nbytes, repeats, pinned):
    host = cupyx.empty_pinned(nbytes // 4, np.float32) if pinned else np.ones(nbytes // 4,
                                                                               np.float32)
    dev = cp.empty(nbytes // 4, cp.float32)

    def copy():
        dev.set(host)
        cp.cuda.Device().synchronize()
    seconds = timed(copy, repeats)
    del host, dev
    return nbytes / seconds / 1e9


def device_csr(cells, per_cell, genes, seed):
    """A device CSR float32 count matrix with ~per_cell nonzeros per cell (varied ±25%)."""
    rs = cp.random.RandomState(seed)
    lengths = rs.randint(int(per_cell * 0.75), int(per_cell * 1.25) + 1, size=cells,
                         dtype=cp.int64)
    indptr = cp.zeros(cells + 1, cp.int64)
    cp.cumsum(lengths, out=indptr[1:])
    nnz = int(indptr[-1])
    index_type = cp.int32 if nnz < 2**31 else cp.int64
    indptr = indptr.astype(index_type)
    indices = rs.randint(0, genes, size=nnz, dtype=cp.int32).astype(index_type, copy=False)
    values = rs.randint(1, 20, size=nnz, dtype=cp.int32).astype(cp.float32)
    return indptr, indices, values, nnz


def emit(record):
    print(json.dumps(record), flush=True)


def bench(args):
    normot = Normot(args.lib)
    gpu = normot.context(BACKEND_CUDA)
    props = cp.cuda.runtime.getDeviceProperties(0)
    device = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    free, total = cp.cuda.runtime.memGetInfo()
    common = {"device": device, "backend": "cuda", "repeats": args.repeats}

    # 1. Device-resident CSR float32, median target, in place.
    indptr, indices, values, nnz = device_csr(args.cells, args.per_cell, args.genes, 1)
    idx_type = IDX32 if indices.dtype == cp.int32 else IDX64
    copy_gbs = device_copy_bandwidth(min(values.nbytes, 4 << 30), args.repeats)
    pristine = values.copy()
    m = Matrix(CSR, args.cells, args.genes, nnz, indptr.data.ptr, indices.data.ptr, idx_type,
               values.data.ptr, F32, 0, MEM_CUDA)
    params = normot.params()

    def run_normot():
        status, message = normot.run(gpu, m, params, Output(None, F32, None, None, 0, 0, 0))
        if status != 0:
            raise RuntimeError(message)
    seconds = timed(run_normot, args.repeats)
    moved = 3 * values.nbytes + 2 * indptr.nbytes  # values read twice, written once
    emit(dict(common, name="device_csr_f32_median", cells=args.cells, genes=args.genes, nnz=nnz,
              seconds=seconds, bytes=moved, gbs=moved / seconds / 1e9, copy_gbs=copy_gbs,
              fraction_of_copy=moved / seconds / 1e9 / copy_gbs))

    # 2. The same work with CuPy: cuSPARSE row sums, median of the positive ones, scaling.
    if args.cupy:
        values[...] = pristine
        del pristine  # room for CuPy's temporaries
        pristine = None

        def run_cupy():
            x = cpsparse.csr_matrix((values, indices, indptr), shape=(args.cells, args.genes))
            totals = x.sum(axis=1).ravel()
            target = cp.median(totals[totals > 0])
            factors = totals / target
            factors[factors == 0] = 1
            # cupy.repeat takes no device array of counts: each entry's row by a search.
            positions = cp.arange(nnz, dtype=cp.int32 if nnz < 2**31 else cp.int64)
            rows = cp.searchsorted(x.indptr, positions, side="right") - 1
            del positions
            x.data /= factors[rows]
            del rows
            cp.cuda.Device().synchronize()
        try:
            cupy_seconds = timed(run_cupy, args.repeats)
            emit(dict(common, name="cupy_csr_f32_median", backend="cupy", cells=args.cells,
                      nnz=nnz, seconds=cupy_seconds, bytes=moved,
                      gbs=moved / cupy_seconds / 1e9, copy_gbs=copy_gbs,
                      normot_speedup=cupy_seconds / seconds))
        except Exception as error:  # e.g. out of memory for a temporary
            emit(dict(common, name="cupy_csr_f32_median", backend="cupy", error=str(error)))
    del indptr, indices, values, pristine
    cp.get_default_memory_pool().free_all_blocks()

    # 3. Host-resident CSR float32 (pageable, then pinned), median target, in place.
    h_cells = args.host_cells
    lengths = np.random.default_rng(2).integers(int(args.per_cell * 0.75),
                                                int(args.per_cell * 1.25) + 1, h_cells)
    h_indptr = np.zeros(h_cells + 1, np.int64)
    np.cumsum(lengths, out=h_indptr[1:])
    h_nnz = int(h_indptr[-1])
    index_type = np.int32 if h_nnz < 2**31 else np.int64
    h_indptr = h_indptr.astype(index_type)
    # Not read (CSR without exclusion reads no index), but the API wants a real array.
    h_indices = (np.arange(h_nnz, dtype=np.int64) % args.genes).astype(index_type)
    h_idx = IDX32 if index_type == np.int32 else IDX64
    h_values = np.ones(h_nnz, np.float32)
    probe = min(h_values.nbytes, 2 << 30)
    h2d_pageable = host_to_device_bandwidth(probe, args.repeats, False)
    h2d_pinned = host_to_device_bandwidth(probe, args.repeats, True)
    for pinned in (False, True):
        if pinned:
            vals = cupyx.empty_pinned(h_values.shape, np.float32)
            vals[...] = 1
            ptr = cupyx.empty_pinned(h_indptr.shape, index_type)
            ptr[...] = h_indptr
            ind = cupyx.empty_pinned(h_indices.shape, index_type)
            ind[...] = h_indices
            memory = MEM_CUDA_HOST
        else:
            vals, ptr, ind, memory = h_values, h_indptr, h_indices, MEM_HOST
        hm = Matrix(CSR, h_cells, args.genes, h_nnz, ptr.ctypes.data, ind.ctypes.data, h_idx,
                    vals.ctypes.data, F32, 0, memory)

        def run_host():
            status, message = normot.run(gpu, hm, params, Output(None, F32, None, None, 0, 0, 0))
            if status != 0:
                raise RuntimeError(message)
        s = timed(run_host, args.repeats)
        # Over the bus: the values in once (they stay on the device between the passes) and
        # out once, plus indptr; in and out can overlap (the link is full duplex).
        pcie = 2 * vals.nbytes + ptr.nbytes
        emit(dict(common, name="host_csr_f32_median_" + ("pinned" if pinned else "pageable"),
                  cells=h_cells, nnz=h_nnz, seconds=s, bytes=pcie, gbs=pcie / s / 1e9,
                  h2d_pinned_gbs=h2d_pinned, h2d_pageable_gbs=h2d_pageable,
                  fraction_of_h2d_pinned=pcie / s / 1e9 / h2d_pinned))
        del vals, ptr, ind

    # 4. Dense host float32 larger than half the device memory: streamed in every pass.
    if args.big:
        target_bytes = int(total * 0.55)
        genes = 20000
        cells = target_bytes // (4 * genes)
        dense = np.ones(cells * genes, np.float32)
        dm = Matrix(DENSE, cells, genes, 0, None, None, IDX32, dense.ctypes.data, F32, genes,
                    MEM_HOST)

        def run_big():
            status, message = normot.run(gpu, dm, params, Output(None, F32, None, None, 0, 0, 0))
            if status != 0:
                raise RuntimeError(message)
        s = timed(run_big, max(1, min(args.repeats, 3)))
        pcie = 3 * dense.nbytes  # in twice (not resident), out once
        emit(dict(common, name="host_dense_f32_larger_than_half_device", cells=cells,
                  genes=genes, bytes_matrix=dense.nbytes, device_bytes=total, seconds=s,
                  bytes=pcie, gbs=pcie / s / 1e9, h2d_pageable_gbs=h2d_pageable,
                  h2d_pinned_gbs=h2d_pinned))
    normot.lib.normot_context_destroy(gpu)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("check", "bench"))
    parser.add_argument("--lib", required=True, help="path to libnormot.so")
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--per-cell", type=int, default=2000)
    parser.add_argument("--genes", type=int, default=30000)
    parser.add_argument("--host-cells", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-cupy", dest="cupy", action="store_false")
    parser.add_argument("--no-big", dest="big", action="store_false")
    args = parser.parse_args()
    if cp is None:
        print("gpu_normalize.py: CuPy is not importable", file=sys.stderr)
        return 2
    return check(args) if args.mode == "check" else bench(args)


if __name__ == "__main__":
    sys.exit(main())
