#!/usr/bin/env bash
# Installs the built library into a temporary prefix, then builds the README's example program
# against it twice: with find_package(normot) and with pkg-config. Runs both.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
# The first C block of the README's "C API" section is the example program.
awk '/^## The C API/{api=1} api&&/^```c$/{code=1;next} code&&/^```$/{exit} code{print}' README.md \
  >"$work/readme_example.c"
[ -s "$work/readme_example.c" ] || { echo "no C example found in README.md" >&2; exit 1; }
cp tests/consumer/CMakeLists.txt "$work/"
cmake -S "$work" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/build/readme_example"
libdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -1)
PKG_CONFIG_PATH="$libdir" cc -std=c11 "$work/readme_example.c" -o "$work/example_pc" \
  $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs normot)
LD_LIBRARY_PATH="$(dirname "$libdir"):${LD_LIBRARY_PATH:-}" "$work/example_pc" >/dev/null
echo "install check: the README example built with find_package(normot) and with pkg-config, and ran"
