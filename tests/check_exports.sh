#!/bin/sh
# The shared library exports exactly the public API: every function that normot.h declares
# with NORMOT_API, and no other symbol. Usage: check_exports.sh libnormot.so normot.h
set -eu
library=$1
header=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nm -D --defined-only "$library" | awk '{print $NF}' | sed 's/@.*//' | sort -u > "$work/exported"
grep '^NORMOT_API ' "$header" | grep -o 'normot_[a-z0-9_]*(' | tr -d '(' | sort -u > "$work/declared"
if [ ! -s "$work/declared" ]; then
  echo "no NORMOT_API declaration found in $header" >&2
  exit 1
fi
status=0
for name in $(comm -23 "$work/exported" "$work/declared"); do
  echo "$library exports $name, which $header does not declare" >&2
  status=1
done
for name in $(comm -13 "$work/exported" "$work/declared"); do
  echo "$header declares $name, which $library does not export" >&2
  status=1
done
[ $status -ne 0 ] || echo "$(wc -l < "$work/declared") functions exported, all declared in $header"
exit $status
