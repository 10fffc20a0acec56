#!/usr/bin/env bash
# Style checks that CI runs (dev/setup.sh test): every C/C++/CUDA source is clang-formatted
# (.clang-format), and clang-tidy (.clang-tidy: function size, bugprone-*) is quiet on every C
# source of src/, io/ and cli/, compiled as the cpu preset compiles it. Prints one line per
# finding, "file:line:column: message [check]", and exits 1 when there is any.
# Environment: NORMOT_JOBS (parallel clang-tidy processes, default nproc), CLANG_FORMAT,
# CLANG_TIDY (the programs to run).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${NORMOT_JOBS:-$(nproc)}
clang_format=${CLANG_FORMAT:-clang-format}
clang_tidy=${CLANG_TIDY:-clang-tidy}
build_dir=build-cpu
status=0

log() { printf '== %s\n' "$*" >&2; }

log "clang-format: every C/C++/CUDA source"
unformatted=$(git ls-files -z '*.c' '*.h' '*.cc' '*.cpp' '*.cu' '*.cuh' |
  xargs -0 -r -n 16 -P "$jobs" "$clang_format" --dry-run --Werror 2>&1 |
  grep -E '^[^ ].*:[0-9]+:[0-9]+: (warning|error):' |
  sed -E 's/: (warning|error): code should be clang-formatted.*/: not clang-formatted (clang-format -i FILE)/' |
  sort -u || true)
if [ -n "$unformatted" ]; then
  printf '%s\n' "$unformatted"
  status=1
fi

log "clang-tidy: the C sources of src/, io/ and cli/ (compile commands of the cpu preset)"
cmake --preset cpu > /dev/null
findings=$(git ls-files -z 'src/*.c' 'io/*.c' 'cli/*.c' |
  xargs -0 -r -n 4 -P "$jobs" "$clang_tidy" -p "$build_dir" --quiet 2> /dev/null |
  grep -E '^[^ ].*:[0-9]+:[0-9]+: (warning|error):' | sed "s|^$PWD/||" | sort -u || true)
if [ -n "$findings" ]; then
  printf '%s\n' "$findings"
  status=1
fi
[ $status -eq 0 ] && log "style checks passed"
exit $status
