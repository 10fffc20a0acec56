#!/usr/bin/env bash
# One entry point for a fresh Debian machine (as root) or a developer's:
#   bash dev/setup.sh demo   install what is missing, build, run `normot demo`
#   bash dev/setup.sh test   install what is missing, build, run every test and the style
#                            checks (dev/check_style.sh)
# Environment: NORMOT_SANITIZE_PASS=1 (default under CI=true) also builds and runs the suite
# under AddressSanitizer + UBSan; NORMOT_FUZZ_PASS=1 (default under CI=true) then runs every
# fuzz target for a short fixed time (tests/fuzz/run_ci.sh, docs/fuzzing.md); NORMOT_JOBS sets
# the build parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}
jobs=${NORMOT_JOBS:-$(nproc)}

log() { printf '== %s\n' "$*" >&2; }

install_debian_packages() {
  local wanted=(build-essential cmake pkg-config zlib1g-dev libhdf5-dev libgtest-dev
                libbenchmark-dev python3 python3-pip python3-venv)
  # The fuzz targets need clang with libFuzzer (libclang-rt-dev: libclang-rt-14-dev on Debian
  # 12) and clang's OpenMP runtime.
  if fuzz_pass_enabled; then wanted+=(clang libclang-rt-dev libomp-dev); fi
  # dev/check_style.sh (test mode): clang-format and clang-tidy.
  if [ "$mode" = test ]; then wanted+=(clang-format clang-tidy); fi
  local missing=()
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Python is used by the tests that check interoperability (anndata reads our .h5ad, the Python
# package against scanpy and POT); the C suite itself needs none.
install_python_packages() {
  local python=${PYTHON:-python3}
  if ! "$python" -c 'import numpy, scipy, anndata, h5py, pytest' 2>/dev/null; then
    log "installing Python packages from PyPI"
    "$python" -m pip install -q numpy scipy anndata h5py pytest 2>/dev/null ||
      "$python" -m pip install -q --break-system-packages numpy scipy anndata h5py pytest
  fi
}

build() {  # preset
  log "configuring and building preset $1"
  cmake --preset "$1" >/dev/null
  cmake --build --preset "$1" -j "$jobs"
}

fuzz_pass_enabled() {
  [ "$mode" = test ] && [ "${NORMOT_FUZZ_PASS:-${CI:-false}}" != "false" ] &&
    [ "${NORMOT_FUZZ_PASS:-1}" != "0" ]
}

install_debian_packages
case "$mode" in
  demo)
    build release
    ./build/cli/normot demo
    ;;
  test)
    install_python_packages
    build release
    log "running the test suite (release build)"
    ctest --preset release -j "$jobs"
    log "checking the style: clang-format on every source, clang-tidy on src/, io/, cli/"
    NORMOT_JOBS=$jobs bash dev/check_style.sh
    log "checking the installed package (find_package, pkg-config) with the README's example"
    bash dev/check_install.sh build
    if [ "${NORMOT_SANITIZE_PASS:-${CI:-false}}" != "false" ] && [ "${NORMOT_SANITIZE_PASS:-1}" != "0" ]; then
      build asan
      log "running the test suite under AddressSanitizer + UBSan"
      ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --preset asan -j "$jobs"
    fi
    if fuzz_pass_enabled; then
      log "fuzzing every reader and API call for a short fixed time (ASan + UBSan)"
      NORMOT_JOBS=$jobs bash tests/fuzz/run_ci.sh
    fi
    if [ -d python/tests ]; then
      log "running the Python package's tests"
      bash python/run_tests.sh
    fi
    ;;
  *)
    echo "usage: bash dev/setup.sh demo|test" >&2
    exit 2
    ;;
esac
