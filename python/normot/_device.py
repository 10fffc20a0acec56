"""Arrays that live on a CUDA device (CuPy, PyTorch, anything with __cuda_array_interface__ or
DLPack), seen as raw pointers for the CUDA backend, without copying them.

Nothing here imports CuPy or PyTorch unless the caller's object already comes from them.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _library as L

# DLPack device types (dlpack.h) that are device memory the CUDA backend can address.
_DLPACK_CUDA, _DLPACK_CUDA_HOST, _DLPACK_CUDA_MANAGED = 2, 3, 13
_DLPACK_MEMORY = {_DLPACK_CUDA: L.MEMORY_CUDA, _DLPACK_CUDA_HOST: L.MEMORY_CUDA_HOST,
                  _DLPACK_CUDA_MANAGED: L.MEMORY_CUDA_MANAGED}


@dataclass
class DeviceArray:
    """A strided view of device memory; `keepalive` holds whatever keeps the memory valid."""

    pointer: int
    shape: tuple
    dtype: np.dtype
    strides: tuple | None  # in bytes; None means C-contiguous
    device_id: int
    memory: int
    framework: str  # "cupy", "torch" or "other"
    owner: Any
    keepalive: list = field(default_factory=list)
    readonly: bool = False

    @property
    def c_contiguous(self) -> bool:
        if self.strides is None:
            return True
        expected = self.dtype.itemsize
        for extent, stride in zip(reversed(self.shape), reversed(self.strides)):
            if extent > 1 and stride != expected:
                return False
            expected *= extent
        return True


def framework_of(obj) -> str:
    root = type(obj).__module__.split(".")[0]
    return root if root in ("cupy", "cupyx", "torch") else "other"


def _device_id_of(obj) -> int:
    device = getattr(obj, "device", None)
    for attribute in ("id", "index"):  # CuPy Device.id, torch.device.index
        value = getattr(device, attribute, None)
        if isinstance(value, int):
            return value
    if hasattr(obj, "__dlpack_device__"):
        try:
            return int(obj.__dlpack_device__()[1])
        except Exception:
            pass
    return 0


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_DLPACK_DTYPE_CODES = {0: "i", 1: "u", 2: "f"}


def read_dlpack_capsule(capsule):
    """(pointer, shape, dtype, strides in bytes or None, device_type, device_id) of the DLTensor
    inside a "dltensor" capsule, which stays owned by the capsule."""
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    tensor = _DLTensor.from_address(get_pointer(capsule, b"dltensor"))
    code = _DLPACK_DTYPE_CODES.get(tensor.dtype.code)
    if code is None or tensor.dtype.lanes != 1:
        raise TypeError("normot: unsupported DLPack element type")
    dtype = np.dtype(f"{code}{tensor.dtype.bits // 8}")
    shape = tuple(tensor.shape[i] for i in range(tensor.ndim))
    strides = None
    if tensor.strides:
        strides = tuple(tensor.strides[i] * dtype.itemsize for i in range(tensor.ndim))
    pointer = (tensor.data or 0) + tensor.byte_offset
    return pointer, shape, dtype, strides, int(tensor.device.device_type), int(tensor.device.device_id)


def _from_dlpack(obj) -> DeviceArray | None:
    announced, _ = obj.__dlpack_device__()
    if int(announced) not in _DLPACK_MEMORY:
        return None
    # stream=1 asks the producer to order its work before the legacy default stream, which is
    # the stream the library's context uses for frameworks it does not know.
    try:
        capsule = obj.__dlpack__(stream=1)
    except TypeError:
        capsule = obj.__dlpack__()
    pointer, shape, dtype, strides, device_type, device_id = read_dlpack_capsule(capsule)
    if device_type not in _DLPACK_MEMORY:
        raise TypeError(f"normot: a {type(obj).__name__} announces DLPack device type "
                        f"{int(announced)} but its tensor is on device type {device_type}")
    # The capsule is not consumed: its own destructor tells the producer when we are done.
    return DeviceArray(pointer=pointer, shape=shape, dtype=dtype, strides=strides,
                       device_id=device_id, memory=_DLPACK_MEMORY[device_type],
                       framework=framework_of(obj), owner=obj, keepalive=[capsule])


def device_array(obj) -> DeviceArray | None:
    """A DeviceArray for an object in CUDA memory, or None for host data."""
    if isinstance(obj, np.ndarray):
        return None
    interface = None
    try:
        interface = getattr(obj, "__cuda_array_interface__", None)
    except (AttributeError, RuntimeError):  # e.g. a CPU torch tensor raises here
        interface = None
    if interface is not None:
        pointer = interface["data"][0] or 0
        array = DeviceArray(pointer=pointer, shape=tuple(interface["shape"]),
                            dtype=np.dtype(interface["typestr"]),
                            strides=tuple(interface["strides"]) if interface.get("strides") else None,
                            device_id=_device_id_of(obj), memory=L.MEMORY_CUDA,
                            framework=framework_of(obj), owner=obj)
        array.keepalive.append(obj)
        array.readonly = bool(interface["data"][1])
        return array
    if hasattr(obj, "__dlpack_device__") and hasattr(obj, "__dlpack__"):
        return _from_dlpack(obj)
    return None


def current_stream(array: DeviceArray) -> int:
    """The producer's current CUDA stream, so that the library orders its work after it."""
    if array.framework in ("cupy", "cupyx"):
        import cupy

        return int(cupy.cuda.get_current_stream().ptr)
    if array.framework == "torch":
        import torch

        return int(torch.cuda.current_stream(array.owner.device).cuda_stream)
    return 0


def _allocating_framework(array: DeviceArray) -> str:
    """The framework that makes arrays next to `array`: its own for CuPy and PyTorch; for other
    producers (any __cuda_array_interface__ or DLPack object) CuPy, else PyTorch, if installed,
    for device memory, and numpy for pinned or managed memory, which both backends can read."""
    if array.framework != "other":
        return array.framework
    if array.memory != L.MEMORY_CUDA:
        return "numpy"  # pinned or managed memory: results in host memory serve both backends
    for name in ("cupy", "torch"):
        try:
            __import__(name)
        except ImportError:
            continue
        return name
    return "other"


def _torch_device(array: DeviceArray):
    if array.framework == "torch":
        return array.owner.device
    import torch

    return torch.device("cuda", array.device_id)


def empty_like_owner(array: DeviceArray, shape, dtype):
    """A new uninitialised array on the same device as `array`, in its framework (see
    _allocating_framework)."""
    dtype = np.dtype(dtype)
    framework = _allocating_framework(array)
    if framework == "numpy":
        return np.empty(shape, dtype=dtype)
    if framework in ("cupy", "cupyx"):
        import cupy

        with cupy.cuda.Device(array.device_id):
            return cupy.empty(shape, dtype=dtype)
    if framework == "torch":
        import torch

        torch_dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64,
                       np.dtype(np.int32): torch.int32, np.dtype(np.int64): torch.int64}[dtype]
        return torch.empty(shape, dtype=torch_dtype, device=_torch_device(array))
    raise TypeError(
        f"normot cannot allocate device output next to a {type(array.owner).__name__} without "
        "CuPy or PyTorch installed; pass CuPy or PyTorch arrays, or float input to be "
        "normalized in place")


def to_device_like(array: DeviceArray, host_values):
    """Copies a small host array onto the device of `array`, in its framework (see
    _allocating_framework)."""
    framework = _allocating_framework(array)
    if framework == "numpy":
        return np.asarray(host_values)
    if framework in ("cupy", "cupyx"):
        import cupy

        with cupy.cuda.Device(array.device_id):
            return cupy.asarray(host_values)
    if framework == "torch":
        import torch

        return torch.as_tensor(np.asarray(host_values), device=_torch_device(array))
    raise TypeError(f"normot cannot move host arrays next to a {type(array.owner).__name__}")


def to_host(obj) -> np.ndarray:
    """A numpy copy of a device array (CuPy .get(), PyTorch .cpu())."""
    if hasattr(obj, "get") and framework_of(obj) in ("cupy", "cupyx"):
        return obj.get()
    if framework_of(obj) == "torch":
        return obj.detach().cpu().numpy()
    return np.asarray(obj)
