# Sourced by run_ci.sh and campaign.sh: the fuzz targets, and the options every run of one uses.
# shellcheck shell=bash
normot_fuzz_targets=(fuzz_mtx fuzz_mtx_gz fuzz_npy fuzz_10x_dir fuzz_10x_h5 fuzz_h5ad
                     fuzz_10x_h5_layout fuzz_h5ad_layout fuzz_normalize fuzz_emd)

# Byte-level mutation of HDF5 files soon crashes inside libhdf5's own parser (Debian's 1.10.8),
# which normot cannot fix: CI only replays these targets' seeds and reproducers, and the
# *_layout targets fuzz the same readers with well-formed files. Campaigns run them all.
normot_fuzz_replay_only=(fuzz_10x_h5 fuzz_h5ad)

# Targets whose fuzzing meets bugs that are still open (tests/fuzz/open/README.md) within CI's
# budget: CI replays their seeds and reproducers only, so that it stays green until the fixes
# are in; then a target leaves this list (NORMOT_FUZZ_ALL=1 fuzzes them anyway).
normot_fuzz_awaiting_fixes=()

# 0 when CI fuzzes `target`, 1 when it only replays its seeds and reproducers.
normot_fuzz_ci_replays() {
  local target=$1 listed=" ${normot_fuzz_replay_only[*]} "
  [ "${NORMOT_FUZZ_ALL:-0}" = 1 ] || listed+="${normot_fuzz_awaiting_fixes[*]} "
  [[ "$listed" == *" $target "* ]]
}

# The dictionary of a target (fuzz_mtx_gz shares fuzz_mtx's), or nothing (the API and *_layout
# targets read bytes as numbers and choices, where words would not help).
normot_fuzz_dict() {
  local name=${1#fuzz_}
  name=${name%_gz}
  local file=tests/fuzz/dict/$name.dict
  [ -f "$file" ] && printf '%s\n' "-dict=$file"
  return 0
}

# Sanitizer settings: a leak, any UBSan report or an allocation beyond the limit is a failure.
# ASan's quarantine of freed memory is cut to 32 MB so that the memory limit measures what the
# code under test holds (libhdf5's churn filled the default 256 MB quarantine in seconds).
# Options already in the environment come after these, so they win.
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:quarantine_size_mb=32${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
# The readers' memory budget (docs/formats.md, NORMOT_MAX_MEMORY) below libFuzzer's limit, so
# that a file declaring more than that is refused, not allocated: without it a 552-million-row
# empty .mtx fits this machine's memory and its 4.4 GB indptr trips the 256 MB limit.
export NORMOT_MAX_MEMORY=${NORMOT_MAX_MEMORY:-134217728}
# libFuzzer's limits: 256 MB of memory (a refused tiny file must stay under it), 10 s an input.
normot_fuzz_limits=(-rss_limit_mb=256 -malloc_limit_mb=256 -timeout=10)

# Per-target limits given after normot_fuzz_limits (libFuzzer takes the last value of a flag).
# fuzz_emd's 1030-point clouds with many coincident points take up to 1.3 s in an optimised
# build but 11-100 s under ASan + UBSan + coverage instrumentation (docs/fuzzing.md): its
# inputs get 120 s, which still stops a real hang.
normot_fuzz_target_limits() {
  [ "$1" = fuzz_emd ] && printf '%s\n' "-timeout=120"
  return 0
}
