"""Builds libnormot with CMake while the package is built, and puts it inside the package.

Configuration (environment variables):
  NORMOT_CUDA=ON|OFF     build the CUDA backend (default: ON when nvcc is found)
  NORMOT_SOURCE_DIR      the normot source tree (default: the folder above this one)
  NORMOT_BUILD_JOBS      parallel build jobs (default: all cores)
  CMAKE                  the cmake program (default: cmake on PATH)
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _source_dir() -> Path:
    source = Path(os.environ.get("NORMOT_SOURCE_DIR", HERE.parent)).resolve()
    if not (source / "CMakeLists.txt").exists() or not (source / "include" / "normot").exists():
        raise RuntimeError(
            f"normot: the C sources were not found at {source}; build the package from a "
            "checkout of the repository (pip install ./python) or set NORMOT_SOURCE_DIR")
    return source


def _cuda_wanted() -> str:
    chosen = os.environ.get("NORMOT_CUDA")
    if chosen:
        return "ON" if chosen.upper() in ("1", "ON", "YES", "TRUE") else "OFF"
    found = (shutil.which("nvcc") or os.environ.get("CUDACXX")
             or Path("/usr/local/cuda/bin/nvcc").exists())
    return "ON" if found else "OFF"


def build_library(build_dir: Path) -> Path:
    cmake = os.environ.get("CMAKE") or shutil.which("cmake")
    if not cmake:
        raise RuntimeError("normot: building the C library needs CMake >= 3.25 on PATH")
    jobs = os.environ.get("NORMOT_BUILD_JOBS") or str(os.cpu_count() or 1)
    configure = [cmake, "-S", str(_source_dir()), "-B", str(build_dir),
                 "-DCMAKE_BUILD_TYPE=Release", "-DNORMOT_TESTS=OFF", "-DNORMOT_BENCH=OFF",
                 "-DNORMOT_HDF5=OFF", f"-DNORMOT_CUDA={_cuda_wanted()}"]
    subprocess.run(configure, check=True)
    subprocess.run([cmake, "--build", str(build_dir), "--target", "normot", "-j", jobs],
                   check=True)
    library = build_dir / "libnormot.so"
    if not library.exists():
        raise RuntimeError(f"normot: the build did not produce {library}")
    return library.resolve()  # the versioned file behind the symlinks


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        library = build_library(HERE / "build" / "cmake")
        target_dir = Path(self.build_lib) / "normot" / "_lib"
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library, target_dir / "libnormot.so")


class BinaryDistribution(Distribution):
    """The wheel carries a compiled library, so it is platform-specific."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=BinaryDistribution)
