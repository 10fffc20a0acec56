#!/usr/bin/env bash
# CI's fuzzing step: builds the fuzz preset (clang, ASan + UBSan, libFuzzer) and runs every
# target for a fixed time (some only replay their seeds and reproducers, see targets.sh),
# starting from the committed seeds and reproducers only; new inputs go to a temporary folder,
# failing ones to build-fuzz/fuzz-artifacts/<target>/. Fails when any target crashes, leaks,
# times out or runs out of memory.
# Environment: NORMOT_FUZZ_SECONDS (default 20 per target); NORMOT_FUZZ_ALL=1 (fuzz the
# targets awaiting fixes too); NORMOT_FUZZ_SEED (default 1: a fixed libFuzzer seed, so that a
# failure repeats); NORMOT_JOBS (build parallelism).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/fuzz/targets.sh
seconds=${NORMOT_FUZZ_SECONDS:-20}
seed=${NORMOT_FUZZ_SEED:-1}
jobs=${NORMOT_JOBS:-$(nproc)}

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs" --target fuzz_targets

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "${normot_fuzz_targets[@]}"; do
  if [ ! -x "build-fuzz/tests/fuzz/$target" ]; then
    printf '== %s is not built here (HDF5 off?): skipped\n' "$target" >&2
    continue
  fi
  artifacts=build-fuzz/fuzz-artifacts/$target
  mkdir -p "$scratch/$target" "$artifacts"
  corpora=(tests/fuzz/corpus/$target)
  [ -d tests/fuzz/regressions/$target ] && corpora+=(tests/fuzz/regressions/$target)
  budget=(-max_total_time="$seconds")
  if normot_fuzz_ci_replays "$target"; then
    budget=(-runs=0)
    printf '== replaying the seeds and reproducers of %s\n' "$target" >&2
  else
    printf '== fuzzing %s for %s s\n' "$target" "$seconds" >&2
  fi
  # shellcheck disable=SC2046
  if ! build-fuzz/tests/fuzz/$target "$scratch/$target" "${corpora[@]}" \
      $(normot_fuzz_dict "$target") "${normot_fuzz_limits[@]}" $(normot_fuzz_target_limits "$target") -seed="$seed" "${budget[@]}" \
      -artifact_prefix="$artifacts/" -print_final_stats=1 >"$scratch/$target.log" 2>&1; then
    tail -n 60 "$scratch/$target.log" >&2
    failed+=("$target")
  else
    grep -E '^(stat::number_of_executed_units|Done)' "$scratch/$target.log" >&2 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  printf '== fuzzing failed: %s (inputs in build-fuzz/fuzz-artifacts/)\n' "${failed[*]}" >&2
  exit 1
fi
printf '== fuzzing: no failure in %d targets\n' "${#normot_fuzz_targets[@]}" >&2
