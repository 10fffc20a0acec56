/* The median of the positive totals, as numpy.median computes it: the middle value for an odd
 * count; for an even count the mean of the two middle values, computed in the array's type
 * (float32 totals: (a + b) rounded to float32, then halved in float32). */
#include <stdlib.h>

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

double normot_cpu_median(double *scratch, int64_t n, normot_value_type out) {
  int64_t upper = n / 2;
  select_kth(scratch, n, upper);
  double high = scratch[upper];
  if (n % 2 == 1) return high;
  /* After selection everything below `upper` is <= high: the lower middle is their maximum. */
  double low = scratch[0];
  for (int64_t i = 1; i < upper; ++i)
    if (scratch[i] > low) low = scratch[i];
  if (out == NORMOT_FLOAT32) return (double)((float)((float)low + (float)high) / 2.0f);
  return (low + high) / 2.0;
}
