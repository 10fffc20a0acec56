#!/usr/bin/env bash
# One line per failing input of a campaign: which failure it reproduces.
#   bash tests/fuzz/triage.sh TARGET [CRASH_DIR]   (default build-fuzz/campaign-crashes/TARGET)
# Each input is run once under the CI limits; the line shows the contract message, or the
# sanitizer's or libFuzzer's summary, and the first stack frame in normot's own code.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/fuzz/targets.sh
target=${1:?usage: bash tests/fuzz/triage.sh TARGET [CRASH_DIR]}
crashes=${2:-build-fuzz/campaign-crashes/$target}
for input in "$crashes"/crash-* "$crashes"/leak-* "$crashes"/timeout-* "$crashes"/oom-*; do
  [ -f "$input" ] || continue
  output=$(timeout 60 "build-fuzz/tests/fuzz/$target" "${normot_fuzz_limits[@]}" $(normot_fuzz_target_limits "$target") "$input" 2>&1)
  reason=$(grep -m1 -E 'contract broken|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' <<<"$output")
  frame=$(grep -m1 -E '#[0-9]+ .* in [a-z_]+ /.*/(src|cli|io)/' <<<"$output" | sed -E 's/.* in ([a-z_0-9]+) .*\/((src|cli|io)\/[^ ]*).*/\1 \2/')
  # A failure whose stack passes through libhdf5 before reaching normot happened inside libhdf5
  # (docs/formats.md, "Untrusted .h5 and .h5ad files"): name the innermost HDF5 call.
  inside=$(grep -E '^ *#[0-9]+ ' <<<"$output" | grep -m1 -E 'libhdf5|/(src|cli|io)/' |
           grep 'libhdf5' >/dev/null && grep -E '^ *#[0-9]+ .* in H5[A-Za-z_]+ ' <<<"$output" |
           grep -m1 -oE ' in H5[A-Za-z_]+' | sed 's/ in //')
  printf '%s: %s%s%s\n' "$(basename "$input")" "${reason:-no failure when run alone}" \
    "${frame:+ [$frame]}" "${inside:+ (inside libhdf5: $inside)}"
done
