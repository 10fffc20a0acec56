#!/usr/bin/env bash
# Runs the Python package's tests against scanpy and POT.
#   bash python/run_tests.sh [pytest arguments...]
# Finds libnormot (NORMOT_LIBRARY, else build/ from `bash dev/setup.sh test`, else builds it
# there with the release preset), installs what the tests need from PyPI when it is missing
# (numpy, scipy, anndata, scanpy, pot, pytest), runs pytest, and fails when a test fails or
# when no test ran at all.
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
for spec in numpy:numpy scipy:scipy anndata:anndata scanpy:scanpy ot:pot pytest:pytest; do
  module=${spec%%:*}
  "$python" -c "import $module" 2>/dev/null || missing+=("${spec##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing from PyPI: ${missing[*]}"
  "$python" -m pip install -q "${missing[@]}" 2>/dev/null ||
    "$python" -m pip install -q --break-system-packages "${missing[@]}"
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
