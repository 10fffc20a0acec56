#!/usr/bin/env bash
# Streaming `normot normalize` against the in-memory run and against anndata + scanpy, on a
# synthetic .h5ad (bench/make_h5ad.py): wall time and peak RSS of each (GNU time), with the
# input in the page cache, and whether the streamed file equals the in-memory one byte for byte.
#
#   bench/stream_normalize.sh [CELLS] [MAX_MEMORY]     (defaults: 2000000 cells, 1G)
#
# Needs build/cli/normot (or NORMOT=path), /usr/bin/time, python3 with h5py, anndata, scanpy.
set -euo pipefail
cells=${1:-2000000}
max_memory=${2:-1G}
here=$(cd "$(dirname "$0")" && pwd)
normot=${NORMOT:-$here/../build/cli/normot}
work=${WORK:-$(mktemp -d)}
input=$work/atlas_${cells}.h5ad
[ -f "$input" ] || python3 "$here/make_h5ad.py" --cells "$cells" --genes 20000 -o "$input"
ls -l "$input"
cat "$input" > /dev/null # into the page cache

measure() { # label, command...: prints "label  seconds  peak-RSS-MiB"
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null
  awk -v l="$label" '{printf "%-34s %8.2f s %8.0f MiB\n", l, $1, $2 / 1024}' "$work/time.txt"
}

for run in 1 2; do
  echo "run $run"
  measure "normot in memory" "$normot" normalize "$input" -o "$work/memory.h5ad" --quiet
  measure "normot streamed (--max-memory $max_memory)" \
    "$normot" normalize "$input" -o "$work/stream.h5ad" --max-memory "$max_memory" --quiet
  cmp "$work/memory.h5ad" "$work/stream.h5ad" && echo "streamed output == in-memory output (bytes)"
done
measure "anndata + scanpy normalize_total" python3 -c "
import sys, anndata, scanpy as sc
adata = anndata.read_h5ad(sys.argv[1])
sc.pp.normalize_total(adata)
adata.write_h5ad(sys.argv[2])" "$input" "$work/scanpy.h5ad"
rm -f "$work/memory.h5ad" "$work/stream.h5ad" "$work/scanpy.h5ad"
