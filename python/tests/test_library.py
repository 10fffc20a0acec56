"""The ctypes layer: struct layouts against the C header, loading, errors, settings."""

import ctypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import normot
from normot import _library as L

REPO = Path(__file__).resolve().parents[2]
HEADER_DIR = REPO / "include"


def _layout_program() -> str:
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <normot/normot.h>",
             "int main(void) {"]
    for c_name, struct in L.STRUCTS.items():
        lines.append(f'  printf("{c_name} size %zu\\n", sizeof({c_name}));')
        for field, _ in struct._fields_:
            lines.append(f'  printf("{c_name} {field} %zu\\n", offsetof({c_name}, {field}));')
    lines += ["  return 0;", "}"]
    return "\n".join(lines)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to measure the C layout")
@pytest.mark.skipif(not HEADER_DIR.exists(), reason="the C header is not in this installation")
def test_struct_layouts_match_the_c_header(tmp_path):
    source = tmp_path / "layout.c"
    source.write_text(_layout_program())
    binary = tmp_path / "layout"
    subprocess.run(["cc", "-std=c11", f"-I{HEADER_DIR}", str(source), "-o", str(binary)],
                   check=True)
    printed = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    measured = {}
    for line in printed.splitlines():
        *key, value = line.split()
        measured[tuple(key)] = int(value)
    for c_name, struct in L.STRUCTS.items():
        assert measured[(c_name, "size")] == ctypes.sizeof(struct), c_name
        for field, _ in struct._fields_:
            assert measured[(c_name, field)] == getattr(struct, field).offset, (c_name, field)


def _header_fields(text: str, c_name: str) -> list:
    """The member names of a struct in the header, in order (comments stripped)."""
    body = text.split(f"typedef struct {c_name} {{", 1)[1].split(f"}} {c_name};", 1)[0]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    names = []
    for declaration in body.split(";"):
        if not declaration.strip():
            continue
        first, *others = declaration.split(",")
        names.append(first.split()[-1].lstrip("*"))
        names.extend(part.strip().lstrip("*") for part in others)
    return names


def test_every_header_field_is_mirrored_in_order():
    """The layout test above checks offsets of the fields mirrored here; this one checks that
    no field of the header is missing or out of order."""
    header = HEADER_DIR / "normot" / "normot.h"
    if not header.exists():
        pytest.skip("the C header is not in this installation")
    text = header.read_text()
    for c_name, struct in L.STRUCTS.items():
        assert _header_fields(text, c_name) == [f for f, _ in struct._fields_], c_name


def test_params_init_round_trips_the_documented_defaults():
    params = L.NormalizeParams()
    L.load().normot_normalize_params_init(ctypes.byref(params))
    assert (params.has_target_sum, params.exclude_highly_expressed, params.log1p) == (0, 0, 0)
    assert params.max_fraction == 0.05 and params.log_base == 0.0 and params.check_values == 1
    emd_params = L.EmdParams()
    L.load().normot_emd_params_init(ctypes.byref(emd_params))
    assert emd_params.max_iter == 0 and emd_params.check_marginals == 1
    assert emd_params.marginal_tol == 1e-6 and emd_params.center_duals == 1
    assert emd_params.solver == 0


def test_info_and_versions():
    info = normot.info()
    assert info["library_version"] == normot.library_version()
    major, minor, patch = (int(p) for p in info["library_version"].split("."))
    assert L.load().normot_version_number() == major * 10000 + minor * 100 + patch
    assert "cpu" in info["backends"]
    assert Path(info["library_path"]).exists()


def test_status_strings_come_from_the_library():
    error = normot.NormotError("x", L.ERROR_UNBALANCED)
    assert error.status_name == L.load().normot_status_string(L.ERROR_UNBALANCED).decode()
    assert error.status_name != L.load().normot_status_string(L.ERROR_ZERO_MASS).decode()


def test_threads_setting():
    normot.set_num_threads(1)
    try:
        assert normot.get_num_threads() == 1
    finally:
        normot.set_num_threads(0)
    assert normot.get_num_threads() >= 1
    with pytest.raises(ValueError):
        normot.set_num_threads(-1)


def test_backend_setting():
    with pytest.raises(ValueError):
        normot.set_backend("tpu")
    if "cuda" not in normot.info()["backends"]:
        with pytest.raises(normot.NormotError) as caught:
            normot.set_backend("cuda")
        assert caught.value.status == L.ERROR_BACKEND_UNAVAILABLE
    normot.set_backend("cpu")
    try:
        assert normot.get_backend() == "cpu"
    finally:
        normot.set_backend("auto")


def test_context_creation_failure_carries_status():
    if L.load().normot_backend_available(L.BACKEND_CUDA):
        pytest.skip("CUDA is available here")
    from normot._context import Context

    with pytest.raises(normot.NormotError) as caught:
        Context(L.BACKEND_CUDA, 0)
    assert caught.value.status == L.ERROR_BACKEND_UNAVAILABLE


def test_explicit_library_path_that_is_missing_fails_clearly(tmp_path):
    code = "import normot; normot.info()"
    env = dict(os.environ, NORMOT_LIBRARY=str(tmp_path / "nowhere.so"))
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=str(Path(normot.__file__).parents[1]))
    # A missing explicit path falls through to the other places; a present but broken one
    # must fail without falling back.
    broken = tmp_path / "broken.so"
    broken.write_text("not a library")
    env["NORMOT_LIBRARY"] = str(broken)
    run_broken = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, cwd=str(Path(normot.__file__).parents[1]))
    assert run_broken.returncode != 0
    assert "could not load libnormot" in run_broken.stderr
    assert str(broken) in run_broken.stderr
    assert run.returncode == 0 or "could not load libnormot" in run.stderr


def test_invalid_arguments_raise_before_the_library_is_called():
    with pytest.raises(ValueError):
        normot.emd2([], [], np.ones(3))
    with pytest.raises(ValueError):
        normot.emd_pointclouds(np.ones((3, 2)), np.ones((3, 2)), metric="cosine")


def test_dlpack_capsules_are_read_correctly():
    """The DLPack reader used for GPU arrays, exercised on numpy's own (host) capsules."""
    from normot._device import read_dlpack_capsule

    base = np.arange(60, dtype=np.float32).reshape(6, 10)
    view = base[1:5, 2:9]
    pointer, shape, dtype, strides, device_type, device_id = read_dlpack_capsule(view.__dlpack__())
    assert pointer == view.ctypes.data
    assert shape == (4, 7) and dtype == np.float32 and strides == view.strides
    assert (device_type, device_id) == (1, 0)
    for kind in (np.int32, np.int64, np.float64, np.uint16):
        array = np.zeros(3, dtype=kind)
        assert read_dlpack_capsule(array.__dlpack__())[2] == np.dtype(kind)


def test_cuda_array_interface_objects_are_seen_as_device_arrays():
    """An object that advertises __cuda_array_interface__ is routed to the CUDA path with its
    pointer, shape, dtype and strides (only parsed here: nothing is called on it)."""
    from normot._buffers import Buffer

    class FakeDeviceArray:
        __cuda_array_interface__ = {"data": (123456, False), "shape": (3, 4), "typestr": "<f4",
                                    "strides": (32, 4), "version": 3}

    buffer = Buffer(FakeDeviceArray())
    assert buffer.on_device and buffer.memory == L.MEMORY_CUDA
    assert buffer.pointer == 123456 and buffer.shape == (3, 4) and buffer.dtype == np.float32
    assert buffer.strides == (32, 4) and not buffer.c_contiguous and buffer.writeable
    # Outputs next to an unknown producer's array are made by CuPy, else PyTorch, if installed.
    from normot import _device

    installed = []
    for name in ("cupy", "torch"):
        try:
            __import__(name)
        except ImportError:
            continue
        installed.append(name)
    assert _device._allocating_framework(buffer.device) == (installed + ["other"])[0]
    if not installed:
        with pytest.raises(TypeError, match="without CuPy or PyTorch"):
            buffer.empty((3,), np.float32)


def test_device_data_is_refused_by_the_cpu_backend():
    """Device memory handed to a CPU context is a clear error, never a crash."""
    from normot._buffers import Buffer
    from normot.normalize import _make_params, _run

    class FakeDeviceArray:
        __cuda_array_interface__ = {"data": (4096, False), "shape": (2, 2), "typestr": "<f4",
                                    "strides": None, "version": 3}

    values = Buffer(FakeDeviceArray())
    matrix = L.Matrix(layout=L.LAYOUT_DENSE, n_rows=2, n_cols=2, values=values.pointer,
                      value_type=L.FLOAT32, ld=2, memory=L.MEMORY_CUDA)
    normot.set_backend("cpu")
    try:
        with pytest.raises(normot.NormotError) as caught:
            values.empty = lambda shape, dtype: np.empty(shape, dtype)  # host totals
            _run(values, matrix, _make_params(None, False, 0.05), None, np.float32)
    finally:
        normot.set_backend("auto")
    assert caught.value.status in (L.ERROR_INVALID_MEMORY, L.ERROR_BACKEND_UNAVAILABLE)


class FakeDLPackProducer:
    """A DLPack producer whose capsule describes `array`'s memory as DLPack device type
    `device_type` (2 CUDA, 3 pinned host, 13 managed); for 2 the memory is never read, because
    a library without CUDA must refuse it before any access."""

    def __init__(self, array, device_type):
        from normot import _device

        self.array, self.device_type = array, device_type
        self._shape = (ctypes.c_int64 * array.ndim)(*array.shape)
        self._tensor = _device._DLTensor(
            data=array.ctypes.data, device=_device._DLDevice(device_type, 0), ndim=array.ndim,
            dtype=_device._DLDataType(2, array.dtype.itemsize * 8, 1), shape=self._shape,
            strides=None, byte_offset=0)

    def __dlpack_device__(self):
        return (self.device_type, 0)

    def __dlpack__(self, stream=None):
        new_capsule = ctypes.pythonapi.PyCapsule_New
        new_capsule.restype = ctypes.py_object
        new_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        return new_capsule(ctypes.addressof(self._tensor), b"dltensor", None)


def test_dlpack_device_producers_are_parsed_and_refused_by_name_without_cuda():
    from normot._buffers import Buffer

    M = np.random.default_rng(0).random((4, 5))
    producer = FakeDLPackProducer(M, 2)
    buffer = Buffer(producer)
    assert buffer.on_device and buffer.memory == L.MEMORY_CUDA
    assert buffer.pointer == M.ctypes.data and buffer.shape == (4, 5)
    assert buffer.dtype == np.float64 and buffer.c_contiguous
    if "cuda" in normot.info()["backends"]:
        pytest.skip("this libnormot has a CUDA backend: the refusal is not what happens")
    with pytest.raises(normot.NormotError, match=r"M \(a FakeDLPackProducer\) lives in CUDA"):
        normot.emd2([], [], producer)
    with pytest.raises(normot.NormotError, match=r"X \(a FakeDLPackProducer\) lives in CUDA"):
        normot.normalize_total(FakeDLPackProducer(M.astype(np.float32), 2))


@pytest.mark.parametrize("device_type", [3, 13])
def test_pinned_and_managed_memory_is_read_by_the_cpu_backend(device_type):
    if "cuda" in normot.info()["backends"]:
        pytest.skip("with a CUDA backend these go to the device")
    rng = np.random.default_rng(1)
    M = rng.random((6, 7))
    expected = normot.emd2([], [], M)
    assert normot.emd2([], [], FakeDLPackProducer(M, device_type)) == expected
    plans = normot.emd([], [], FakeDLPackProducer(M[None].copy(), device_type))
    assert isinstance(plans, np.ndarray)
    np.testing.assert_array_equal(plans[0], normot.emd([], [], M))
    counts = np.ascontiguousarray(rng.integers(1, 9, size=(5, 4)).astype(np.float32))
    reference = normot.normalize_total(counts.copy())
    normot.normalize_total(FakeDLPackProducer(counts, device_type))  # in place, where it lies
    np.testing.assert_array_equal(counts, reference)
    with pytest.raises(TypeError, match="a is on the host but M is in"):
        normot.emd2(np.full(6, 1 / 6), [], FakeDLPackProducer(M, device_type))
