#!/usr/bin/env bash
# Builds normot in Release (build-bench/) and runs every benchmark and comparison.
#
#   bench/run_all.sh            default sizes (normalize: 200k x 20k and 1M x 2k; EMD: issue 3's cases,
#                               slow ones scaled; several minutes on 2 cores)
#   bench/run_all.sh --quick    small sizes, well under a minute of benchmarking
#   bench/run_all.sh --full     EMD with issue 3's full k everywhere (DOTmark: all 45 pairs
#                               per class; 1000 image pairs)
#
# Environment: BUILD_DIR (default build-bench), BACKEND (cpu|cuda|auto, default cpu),
# THREADS (default 1,all), CMAKE_ARGS (extra configure arguments).
# The JSON lines of every program go to stdout and to $BUILD_DIR/bench-results.jsonl; the
# human-readable summaries of the comparison scripts go to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
backend="${BACKEND:-cpu}"
threads="${THREADS:-1,all}"
mode=""
for arg in "$@"; do
  case "$arg" in
    --quick) mode="--quick" ;;
    --full) mode="--full" ;;
    *) echo "usage: $0 [--quick|--full]" >&2; exit 2 ;;
  esac
done

load="$(cut -d' ' -f1 /proc/loadavg)"
echo "run_all: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $load, $(date -u +%FT%TZ)" >&2

# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DNORMOT_BENCH=ON -DNORMOT_TESTS=OFF \
  ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" --target bench_normalize bench_emd -j "$(nproc)" >/dev/null

results="$build/bench-results.jsonl"
: >"$results"
status=0
run() {
  echo "+ $*" >&2
  "$@" | tee -a "$results" || status=1
}

normalize_size=()
emd_size=()
pot_size=()
case "$mode" in
  --quick) normalize_size=(--quick); emd_size=(--quick); pot_size=(--quick) ;;
  --full) pot_size=(--full) ;;
esac

# compare_scanpy.py runs bench_normalize itself (and passes its JSON lines through), so that
# both are timed on the same matrix in the same run; without scanpy, bench_normalize alone.
if python3 -c "import scanpy, anndata" 2>/dev/null; then
  run python3 "$root/bench/compare_scanpy.py" "${normalize_size[@]}" --threads "$threads" \
    --backend "$backend" --bench "$build/bench/bench_normalize"
else
  echo "run_all: scanpy not importable: normot alone" >&2
  run "$build/bench/bench_normalize" "${normalize_size[@]}" --backend "$backend" --threads "$threads"
fi
run "$build/bench/bench_emd" "${emd_size[@]}" --backend "$backend" --threads "$threads"
run python3 "$root/bench/compare_pot.py" "${pot_size[@]}" --threads "$threads" \
  --bench "$build/bench/bench_emd"
echo "run_all: JSON lines in $results" >&2
exit $status
