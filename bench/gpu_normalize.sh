#!/usr/bin/env bash
# The GPU session's checks and benchmarks of the CUDA normalize_total, in one call.
#
#   bench/gpu_normalize.sh [STEP...]      STEP: build test stream sanitize check bench (default: all)
#
#   build     configure + build build-gpu/ for sm_90 (Release, tests and benchmarks on)
#   test      the GoogleTest suite: every CUDA instance, then the whole suite
#   stream    the normalize tests on CUDA again with host input streamed in tiny chunks through
#             the three slots and never kept resident (NORMOT_CUDA_CHUNK_ENTRIES,
#             NORMOT_CUDA_FORCE_STREAMING)
#   sanitize  compute-sanitizer memcheck and racecheck on the CUDA normalize tests
#   check     bench/gpu_normalize.py check: device, managed and pinned memory vs the CPU backend
#   bench     bench/gpu_normalize.py bench (issue 5's cases, CuPy side by side), then
#             bench_normalize --backend cuda
#
# Environment: BUILD_DIR (default build-gpu), JOBS (default nproc), BENCH_ARGS (extra arguments
# for gpu_normalize.py bench, e.g. "--cells 200000 --no-big" for a short run).
# Logs go to $OUT (the device tool's folder) when it is set, else to $BUILD_DIR/gpu-logs.
#
# GoogleTest: the GPU machine's image may lack it. If CMake cannot find it, the script builds
# the sources in .gpu-deps/googletest: on the machine that sends the tree, run once
#   mkdir -p .gpu-deps && cp -r /usr/src/googletest .gpu-deps/ && echo /.gpu-deps/ >> .git/info/exclude
# and name .gpu-deps in the device call's carry list.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-gpu}"
jobs="${JOBS:-$(nproc)}"
logs="${OUT:-$build/gpu-logs}"
mkdir -p "$logs"
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(build test stream sanitize check bench)
summary=()

want() {
  local s
  for s in "${steps[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

# Runs a named step, logging to $logs/NAME.log; records PASS/FAIL for the summary.
step() {
  local name="$1"
  shift
  echo "=== $name: $*" >&2
  local start=$SECONDS
  if "$@" >"$logs/$name.log" 2>&1; then
    summary+=("PASS $name ($((SECONDS - start)) s)")
  else
    summary+=("FAIL $name ($((SECONDS - start)) s): see $logs/$name.log")
    tail -n 40 "$logs/$name.log" >&2
  fi
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true

configure() {
  # HDF5 is for the CLI's .h5/.h5ad files; without it those tests are compiled out.
  local hdf5=ON
  [ -e /usr/include/hdf5.h ] || [ -e /usr/include/hdf5/serial/hdf5.h ] || hdf5=OFF
  local options=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DNORMOT_CUDA=ON
    -DNORMOT_TESTS=ON -DNORMOT_BENCH=ON "-DNORMOT_HDF5=$hdf5")
  if ! cmake -S "$root" -B "$build" "${options[@]}"; then
    [ -d "$root/.gpu-deps/googletest" ] || return 1
    echo "configure failed: building GoogleTest from .gpu-deps/googletest and retrying"
    cmake -S "$root/.gpu-deps/googletest" -B /tmp/gtest-build -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_GMOCK=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON &&
      cmake --build /tmp/gtest-build -j "$jobs" &&
      cmake --install /tmp/gtest-build --prefix /tmp/gtest-install || return 1
    rm -f "$build/CMakeCache.txt"
    cmake -S "$root" -B "$build" "${options[@]}" -DCMAKE_PREFIX_PATH=/tmp/gtest-install || return 1
  fi
  cmake --build "$build" -j "$jobs"
}

tests="$build/tests/normot_tests"
normalize_cuda='*Normalize*/cuda'

if want build; then step build configure; fi
if want test; then
  step test_cuda "$tests" --gtest_filter='*/cuda' --gtest_brief=1
  step test_all "$tests" --gtest_brief=1
fi
if want stream; then
  step test_stream env NORMOT_CUDA_CHUNK_ENTRIES=101 NORMOT_CUDA_FORCE_STREAMING=1 \
    "$tests" --gtest_filter="$normalize_cuda" --gtest_brief=1
fi
if want sanitize; then
  step memcheck compute-sanitizer --tool memcheck --error-exitcode 3 --leak-check full \
    "$tests" --gtest_filter="$normalize_cuda" --gtest_brief=1
  step memcheck_stream env NORMOT_CUDA_CHUNK_ENTRIES=101 NORMOT_CUDA_FORCE_STREAMING=1 \
    compute-sanitizer --tool memcheck --error-exitcode 3 \
    "$tests" --gtest_filter="$normalize_cuda" --gtest_brief=1
  step racecheck compute-sanitizer --tool racecheck --error-exitcode 3 \
    "$tests" --gtest_filter="$normalize_cuda" --gtest_brief=1
fi
if want check; then
  step check python3 "$root/bench/gpu_normalize.py" check --lib "$build/libnormot.so"
fi
if want bench; then
  # shellcheck disable=SC2086
  step bench python3 "$root/bench/gpu_normalize.py" bench --lib "$build/libnormot.so" \
    ${BENCH_ARGS:-}
  step bench_normalize "$build/bench/bench_normalize" --backend cuda --threads 1 --repeats 5
  cat "$logs/bench.log" "$logs/bench_normalize.log" 2>/dev/null
fi

echo "=== summary" >&2
status=0
for line in "${summary[@]}"; do
  echo "$line" >&2
  case "$line" in FAIL*) status=1 ;; esac
done
exit $status
