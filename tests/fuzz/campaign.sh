#!/usr/bin/env bash
# A longer fuzzing campaign of one target: bash tests/fuzz/campaign.sh TARGET SECONDS [CRASH_DIR]
# Runs under nice with one libFuzzer worker in fork mode, which goes on after a crash, a leak,
# a timeout or an out-of-memory, so that one campaign collects every distinct failure. The
# corpus grows in build-fuzz/campaign-corpus/TARGET (seeded from the committed corpus and
# reproducers, kept between campaigns); failing inputs go to CRASH_DIR (default
# build-fuzz/campaign-crashes/TARGET). Exit status: 0 when nothing failed, 1 otherwise.
# The last line printed sums it up: libFuzzer's last status line (runs, coverage, corpus,
# execs/s, OOM/timeout/crash counts) and the peak RSS of the fuzzer and its jobs
# (/usr/bin/time -v, kept in CRASH_DIR/campaign.time, when /usr/bin/time is there).
# Build first: cmake --preset fuzz && cmake --build --preset fuzz --target fuzz_targets
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/fuzz/targets.sh
if [ $# -lt 2 ]; then
  echo "usage: bash tests/fuzz/campaign.sh TARGET SECONDS [CRASH_DIR]" >&2
  echo "targets: ${normot_fuzz_targets[*]}" >&2
  exit 2
fi
target=$1
seconds=$2
crashes=${3:-build-fuzz/campaign-crashes/$target}
binary=build-fuzz/tests/fuzz/$target
[ -x "$binary" ] || { echo "$binary is not built (see the comment at the top)" >&2; exit 2; }
corpus=build-fuzz/campaign-corpus/$target
mkdir -p "$corpus" "$crashes"
corpora=(tests/fuzz/corpus/$target)
[ -d tests/fuzz/regressions/$target ] && corpora+=(tests/fuzz/regressions/$target)
log=$crashes/campaign.log
timing=$crashes/campaign.time
timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -v -o "$timing")
# shellcheck disable=SC2046
nice -n 10 "${timer[@]}" "$binary" "$corpus" "${corpora[@]}" $(normot_fuzz_dict "$target") \
  "${normot_fuzz_limits[@]}" $(normot_fuzz_target_limits "$target") -max_total_time="$seconds" -fork=1 -ignore_crashes=1 \
  -ignore_timeouts=1 -ignore_ooms=1 -artifact_prefix="$crashes/" -print_final_stats=1 \
  >"$log" 2>&1 || true
failures=$(find "$crashes" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
           -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
status=$(grep -E '^#[0-9]+: cov: ' "$log" | tail -n 1)
peak=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$timing" 2>/dev/null)
printf '%s: %s s, %s failing input(s) in %s (log: %s)\n' "$target" "$seconds" "$failures" \
  "$crashes" "$log"
printf '%s: last status %s; corpus files %s; peak RSS %s MB\n' "$target" "${status:-none}" \
  "$(find "$corpus" -type f | wc -l)" "$(( ${peak:-0} / 1024 ))"
[ "$failures" -eq 0 ]
