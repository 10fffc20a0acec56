#!/usr/bin/env bash
# Runs the Python package's tests against scanpy and POT.
#   bash python/run_tests.sh [pytest arguments...]
# Finds libnormot (NORMOT_LIBRARY, else build/ from `bash dev/setup.sh test`, else builds it
# there with the release preset), installs what the tests need from PyPI when it is missing
# (numpy, scipy, anndata, scanpy, pot, pytest, dask[array] and distributed for the Dask tests,
# and torch: see below), runs pytest, and fails when a test fails or when no test ran at all.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

log() { printf '== %s\n' "$*" >&2; }

if [ -z "${NORMOT_LIBRARY:-}" ]; then
  if [ ! -e build/libnormot.so ]; then
    log "building libnormot (release preset, library only)"
    cmake --preset release >/dev/null
    cmake --build --preset release --target normot -j "${NORMOT_JOBS:-$(nproc)}"
  fi
  NORMOT_LIBRARY=$PWD/build/libnormot.so
fi
export NORMOT_LIBRARY
log "using $NORMOT_LIBRARY"

missing=()
# dask and distributed are installed together through dask's own extra, which pins the one
# distributed release made for that dask: installed apart, pip may pair the newest dask with a
# years-old distributed that cannot import it (dask 2026.11 with distributed 2021.4 did).
for spec in numpy:numpy scipy:scipy anndata:anndata scanpy:scanpy ot:pot pytest:pytest \
  'dask.array,distributed:dask[array,distributed]'; do
  module=${spec%%:*}
  "$python" -c "import $module" 2>/dev/null || missing+=("${spec##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing from PyPI: ${missing[*]}"
  "$python" -m pip install -q "${missing[@]}" 2>/dev/null ||
    "$python" -m pip install -q --break-system-packages "${missing[@]}"
fi

# The Dask tests skip when distributed cannot be imported; here that is a failure, not a skip.
"$python" -c "import dask.array, distributed" ||
  { log "dask and distributed do not import together (see above)"; exit 1; }

# PyTorch (optional for the package, needed for its tensor tests): the CPU wheel from PyTorch's
# own index when it is reachable (a few hundred MB), else PyPI's default wheel, which pulls
# about 3.5 GB of CUDA libraries (3 min 15 s to download and install on the development machine,
# where only PyPI is reachable; the failed try of the CPU index costs about 10 s).
if ! "$python" -c "import torch" 2>/dev/null; then
  log "installing torch (CPU wheel if its index is reachable, else from PyPI)"
  for source in "--index-url https://download.pytorch.org/whl/cpu" ""; do
    # shellcheck disable=SC2086  # $source is either empty or two words
    if "$python" -m pip install -q $source torch 2>/dev/null ||
      "$python" -m pip install -q --break-system-packages $source torch 2>/dev/null; then
      break
    fi
  done
  "$python" -c "import torch" 2>/dev/null || log "torch could not be installed: its tests skip"
fi

# The package is imported from the source tree, never from an older installed copy.
export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
status=0
"$python" -m pytest -q -p no:cacheprovider python/tests "$@" || status=$?
# pytest exits 5 when it collected no tests: that is a failure here too.
if [ "$status" -eq 5 ]; then
  log "no tests ran"
  exit 1
fi
exit "$status"
