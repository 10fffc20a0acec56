"""One small interface over host (numpy) and device (CuPy, PyTorch, DLPack) arrays, so that the
normalize and EMD wrappers handle both with the same code: a pointer, a dtype, a shape, where
the memory lives, and how to make a new array of the same kind.
"""

from __future__ import annotations

import numpy as np

from . import _device
from . import _library as L


class Buffer:
    def __init__(self, obj, device=None):
        self.owner = obj
        self.device = device if device is not None else _device.device_array(obj)
        if self.device is None:
            self.array = obj if isinstance(obj, np.ndarray) else np.asarray(obj)
            self.pointer = self.array.ctypes.data
            self.dtype = self.array.dtype
            self.shape = self.array.shape
            self.memory = L.MEMORY_HOST
            self.device_id = 0
            self.strides = self.array.strides
            self.writeable = bool(self.array.flags.writeable)
        else:
            self.array = None
            self.pointer = self.device.pointer
            self.dtype = self.device.dtype
            self.shape = self.device.shape
            self.memory = self.device.memory
            self.device_id = self.device.device_id
            itemsize = self.dtype.itemsize
            if self.device.strides is None:
                strides, step = [], itemsize
                for extent in reversed(self.shape):
                    strides.insert(0, step)
                    step *= extent
                self.strides = tuple(strides)
            else:
                self.strides = self.device.strides
            self.writeable = not self.device.readonly

    @property
    def on_device(self) -> bool:
        return self.device is not None

    @property
    def c_contiguous(self) -> bool:
        expected = self.dtype.itemsize
        for extent, stride in zip(reversed(self.shape), reversed(self.strides)):
            if extent > 1 and stride != expected:
                return False
            expected *= extent
        return True

    @property
    def result(self):
        """The object to hand back to the caller: a numpy array on the host, else the owner."""
        return self.array if self.device is None else self.owner

    def empty(self, shape, dtype):
        if self.device is None:
            return np.empty(shape, dtype=dtype)
        return _device.empty_like_owner(self.device, shape, dtype)

    def astype(self, dtype):
        dtype = np.dtype(dtype)
        if self.device is None:
            return self.array.astype(dtype)
        if self.device.framework == "torch":
            import torch

            return self.owner.to({np.dtype(np.float32): torch.float32,
                                  np.dtype(np.float64): torch.float64,
                                  np.dtype(np.int64): torch.int64,
                                  np.dtype(np.int32): torch.int32}[dtype])
        return self.owner.astype(dtype)

    def contiguous(self):
        if self.device is None:
            return np.ascontiguousarray(self.array)
        if self.device.framework == "torch":
            return self.owner.contiguous()
        if self.device.framework in ("cupy", "cupyx"):
            import cupy

            return cupy.ascontiguousarray(self.owner)
        raise TypeError(f"normot needs C-contiguous device arrays, got a strided "
                        f"{type(self.owner).__name__}")

    def like(self, obj):
        """A Buffer for an object made by empty()/astype()/contiguous() from this one."""
        return Buffer(obj)

    def copy_from_host(self, values):
        if self.device is None:
            return np.asarray(values)
        return _device.to_device_like(self.device, values)

    def stream(self) -> int:
        return 0 if self.device is None else _device.current_stream(self.device)


def to_host(obj):
    return _device.to_host(obj)
