/* The median of the positive totals, as numpy.median computes it: the middle value for an odd
 * count; for an even count the mean of the two middle values, computed in the array's type
 * (float32 totals: (a + b) rounded to float32, then halved in float32). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "normalize_internal.h"

static void swap(double *a, double *b) {
  double t = *a;
  *a = *b;
  *b = t;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Reorders v[0, n) so that v[k] is the value a full sort would put there, everything before it
 * is <= v[k] and everything after is >= v[k]. Three-way partitioning keeps the many ties of
 * count data cheap; past a depth limit the remaining range is sorted, so that no input takes
 * quadratic time. */
static void select_kth(double *v, int64_t n, int64_t k) {
  int64_t lo = 0, hi = n; /* the k-th lies in [lo, hi) */
  int depth_left = 64;
  while (hi - lo > 16) {
    if (depth_left-- == 0) break;
    int64_t mid = lo + (hi - lo) / 2;
    /* median of three as pivot */
    double a = v[lo], b = v[mid], c = v[hi - 1];
    double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
    int64_t lt = lo, i = lo, gt = hi; /* [lo,lt) < pivot, [lt,i) == pivot, [gt,hi) > pivot */
    while (i < gt) {
      if (v[i] < pivot)
        swap(&v[lt++], &v[i++]);
      else if (v[i] > pivot)
        swap(&v[i], &v[--gt]);
      else
        ++i;
    }
    if (k < lt)
      hi = lt;
    else if (k >= gt)
      lo = gt;
    else
      return;
  }
  qsort(v + lo, (size_t)(hi - lo), sizeof *v, compare_doubles);
}

/* Moves the values whose top 16 bits are `bin` to the front of v (in order of appearance) and
 * returns how many there are; *max_below gets the largest value of a lower bin (-Inf if none). */
static int64_t gather_bin(double *v, int64_t n, uint64_t bin, double *max_below) {
  int64_t m = 0;
  double below = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t key;
    memcpy(&key, &v[i], sizeof key);
    if (key >> 48 == bin)
      v[m++] = v[i];
    else if (key >> 48 < bin && v[i] > below)
      below = v[i];
  }
  *max_below = below;
  return m;
}

/* The values are positive, so their bit patterns, read as unsigned integers, sort as the values
 * do. One counting pass over the top 16 bits (sign, exponent, 4 mantissa bits) finds the bin
 * that holds the middle rank; only that bin's values, usually a few percent, go through the
 * selection. With n up to millions of cells this is several times faster than selecting among
 * all of them, and it is the one serial step of the median path. */
double normot_cpu_median(double *scratch, int64_t n, normot_value_type out) {
  const int64_t upper = n / 2;
  uint32_t *count = calloc((size_t)1 << 16, sizeof *count);
  int64_t below = 0, m = n;
  double max_below = -INFINITY;
  if (count != NULL) {
    for (int64_t i = 0; i < n; ++i) {
      uint64_t key;
      memcpy(&key, &scratch[i], sizeof key);
      ++count[key >> 48];
    }
    uint64_t bin = 0;
    while (below + count[bin] <= upper) below += count[bin++];
    free(count);
    m = gather_bin(scratch, n, bin, &max_below);
  }
  const int64_t local = upper - below; /* the middle rank among the gathered values */
  select_kth(scratch, m, local);
  double high = scratch[local];
  if (n % 2 == 1) return high;
  /* The lower middle: the largest gathered value before `local` (selection put every value
   * <= high there), or else the largest value of a lower bin. */
  double low = max_below;
  for (int64_t i = 0; i < local; ++i)
    if (scratch[i] > low) low = scratch[i];
  if (out == NORMOT_FLOAT32) return (double)((float)((float)low + (float)high) / 2.0f);
  return (low + high) / 2.0;
}
