/* Square problems with equal weights are assignment problems: some optimal plan is a
 * permutation matrix scaled by the common weight (Birkhoff), and the duals of the assignment
 * problem are the duals of the transport problem. Solved exactly with the shortest augmenting
 * path method of Jonker and Volgenant (1987), in three phases:
 *   1. column reduction: each column's price is its smallest cost; a row that is the argmin of
 *      some column takes the last such column, and a row holding exactly one column passes the
 *      slack of its second best column on to that column's price (reduction transfer);
 *   2. augmenting row reduction: each free row takes its best column, lowering that column's
 *      price to where its second best would tie, and evicts the previous owner, which is
 *      retried at once; a budget of row scans bounds this phase, because with real-valued
 *      costs the price drops can be arbitrarily small (two rows trading one column);
 *   3. for every row still free, a Dijkstra search over reduced costs c_ij - v_j for the
 *      nearest free column, then the prices of the finalised columns are lowered and the path
 *      is flipped.
 * Invariant: every assigned row's column attains the row's smallest reduced cost c_ij - v_j,
 * so with u_i = c_{i,x(i)} - v_{x(i)}, u_i + v_j <= c_ij (up to rounding) at the end.
 *
 * The passes over a row are written so that, with SSE2, two columns go per instruction; a
 * minimum and a comparison are exact, so the vector and scalar paths give the same bits. */
#include <math.h>
#include <string.h>

#include "cpu_features.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
/* With GCC or Clang on x86-64, the two hottest passes also exist for AVX2 (four columns per
 * instruction), chosen at run time when the CPU has it; they compute the same values. (AVX
 * alone would do, but GCC 12 scalarises _mm256_blendv_pd's mask without AVX2.) */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EMD_AVX2_PATH 1
#include <immintrin.h>
#endif

#include "emd_solvers.h"
#include "normot/normot.h"

/* Row scans allowed to the augmenting row reduction, per row. Measured on random 2-D clouds
 * at n = 100: 1 is faster than 0, 2 and 4 (more scans free few more rows, each costing as
 * much as a Dijkstra step). */
enum { ARR_BUDGET_FACTOR = 1 };

size_t emd_assignment_workspace_bytes(int32_t n) {
  return 7 * emd_align64((size_t)n * sizeof(int32_t)) +
         6 * emd_align64((size_t)n * sizeof(double)) + 64;
}

static void *carve(char **cursor, size_t bytes) {
  void *start = *cursor;
  *cursor += emd_align64(bytes);
  return start;
}

/* The solver's state: the problem, the assignment in both directions, the column prices, and
 * the scratch arrays of the searches (all of n entries, in the caller's workspace). */
typedef struct assignment {
  int32_t n;
  const double *cost; /* n x n, row-major */
  double *price;      /* v_j */
  int32_t *row_col;   /* the column of each row, -1 when free */
  int32_t *col_owner; /* the row of each column, -1 when free */
  int32_t *free_rows;
  int32_t *finalised;                    /* phase 3: the columns finalised, in order ... */
  double *finalised_at;                  /* ... and their distances */
  double *dist, *blocked, *pred, *owned; /* phase 3 (see augment) */
  int wide;                              /* the AVX2 passes */
} assignment;

/* Phase 1. Row by row (the cost is row-major), each column keeps its smallest cost and the
 * first row reaching it (`argmin`, as doubles so that the vector path selects it with the
 * same mask). Returns the number of free rows written to free_rows. */
static int32_t reduce_columns(const assignment *s, int32_t *matches, double *argmin) {
  const int32_t n = s->n;
  const double *cost = s->cost;
  double *price = s->price;
  int32_t *row_col = s->row_col, *col_owner = s->col_owner, *free_rows = s->free_rows;
  memcpy(price, cost, (size_t)n * sizeof(double));
  for (int32_t j = 0; j < n; ++j) argmin[j] = 0.0;
  for (int32_t i = 1; i < n; ++i) {
    const double *row = cost + (size_t)i * n;
    int32_t j = 0;
#if defined(__SSE2__)
    const __m128d which = _mm_set1_pd((double)i);
    for (; j + 2 <= n; j += 2) {
      const __m128d c = _mm_loadu_pd(row + j), p = _mm_loadu_pd(price + j);
      const __m128d smaller = _mm_cmplt_pd(c, p);
      _mm_storeu_pd(price + j, _mm_or_pd(_mm_and_pd(smaller, c), _mm_andnot_pd(smaller, p)));
      _mm_storeu_pd(argmin + j, _mm_or_pd(_mm_and_pd(smaller, which),
                                          _mm_andnot_pd(smaller, _mm_loadu_pd(argmin + j))));
    }
#endif
    for (; j < n; ++j)
      if (row[j] < price[j]) price[j] = row[j], argmin[j] = (double)i;
  }
  memset(matches, 0, (size_t)n * sizeof(int32_t));
  for (int32_t i = 0; i < n; ++i) row_col[i] = -1;
  for (int32_t j = n - 1; j >= 0; --j) {
    const int32_t i = (int32_t)argmin[j];
    if (matches[i]++ == 0) {
      row_col[i] = j;
      col_owner[j] = i;
    } else {
      col_owner[j] = -1;
    }
  }
  int32_t free_count = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (matches[i] == 0) {
      free_rows[free_count++] = i;
    } else if (matches[i] == 1) {
      /* Reduction transfer: lower the price of the row's column to where its second best
       * column ties, which leaves more slack to the other rows' searches. */
      const double *row = cost + (size_t)i * n;
      const int32_t own = row_col[i];
      double second = INFINITY;
      for (int32_t j = 0; j < n; ++j) {
        double h = j == own ? INFINITY : row[j] - price[j];
        second = h < second ? h : second;
      }
      if (second < INFINITY) price[own] -= second - (row[own] - price[own]);
    }
  }
  return free_count;
}

/* The first j with values[j] == target, or n. */
static inline int32_t first_at(const double *values, int32_t n, double target) {
  int32_t j = 0;
#if defined(__SSE2__)
  const __m128d wanted = _mm_set1_pd(target);
  for (; j + 4 <= n; j += 4) {
    if (_mm_movemask_pd(_mm_cmpeq_pd(_mm_loadu_pd(values + j), wanted)) |
        _mm_movemask_pd(_mm_cmpeq_pd(_mm_loadu_pd(values + j + 2), wanted)))
      break;
  }
#endif
  while (j < n && values[j] != target) ++j;
  return j;
}

/* Of h_j = row[j] - price[j]: the smallest value and the first column reaching it; the
 * smallest over the other columns (the second smallest, counting ties) and the first other
 * column reaching it (-1 when n == 1). */
typedef struct row_minima {
  double best, second;
  int32_t best_col, second_col;
} row_minima;

/* The row_minima of `row`, h written to h. Two minima per lane, merged at the end, keep the
 * pass branch-free; the columns are then found by exact comparison. */
static inline void two_smallest(const double *row, const double *price, int32_t n, double *h,
                                row_minima *out) {
  double b = INFINITY, s = INFINITY;
  int32_t j = 0;
#if defined(__SSE2__)
  __m128d b0 = _mm_set1_pd(INFINITY), s0 = b0, b1 = b0, s1 = b0;
  for (; j + 4 <= n; j += 4) {
    const __m128d h0 = _mm_sub_pd(_mm_loadu_pd(row + j), _mm_loadu_pd(price + j));
    const __m128d h1 = _mm_sub_pd(_mm_loadu_pd(row + j + 2), _mm_loadu_pd(price + j + 2));
    _mm_storeu_pd(h + j, h0);
    _mm_storeu_pd(h + j + 2, h1);
    s0 = _mm_min_pd(s0, _mm_max_pd(b0, h0));
    b0 = _mm_min_pd(b0, h0);
    s1 = _mm_min_pd(s1, _mm_max_pd(b1, h1));
    b1 = _mm_min_pd(b1, h1);
  }
  /* merge the four (smallest, second) pairs */
  double lb[4], ls[4];
  _mm_storeu_pd(lb, b0), _mm_storeu_pd(lb + 2, b1);
  _mm_storeu_pd(ls, s0), _mm_storeu_pd(ls + 2, s1);
  for (int lane = 0; lane < 4; ++lane) {
    double bigger = lb[lane] > b ? lb[lane] : b;
    b = lb[lane] < b ? lb[lane] : b;
    s = bigger < s ? bigger : s;
    s = ls[lane] < s ? ls[lane] : s;
  }
#endif
  for (; j < n; ++j) {
    h[j] = row[j] - price[j];
    double bigger = h[j] > b ? h[j] : b;
    b = h[j] < b ? h[j] : b;
    s = bigger < s ? bigger : s;
  }
  const int32_t bc = first_at(h, n, b);
  int32_t sc = -1;
  if (n > 1) {
    sc = first_at(h, bc, s); /* before the best column, then after it */
    if (sc == bc) sc = bc + 1 + first_at(h + bc + 1, n - bc - 1, s);
  }
  out->best = b, out->best_col = bc, out->second = s, out->second_col = sc;
}

/* Phase 2 over the free rows; returns the number still free (written back to free_rows). */
static int32_t reduce_rows(const assignment *s, int32_t free_count, int64_t budget) {
  const int32_t n = s->n;
  double *price = s->price;
  int32_t *row_col = s->row_col, *col_owner = s->col_owner, *free_rows = s->free_rows;
  int32_t still_free = 0, k = 0;
  while (k < free_count) {
    const int32_t i = free_rows[k++];
    row_minima found;
    two_smallest(s->cost + (size_t)i * n, price, n, s->dist, &found);
    int32_t best_col = found.best_col;
    int32_t evicted = col_owner[best_col];
    const int lowered = found.second_col >= 0 && found.best < found.second;
    if (lowered) {
      price[best_col] -= found.second - found.best;
    } else if (evicted >= 0 && found.second_col >= 0) {
      best_col = found.second_col;
      evicted = col_owner[best_col];
    }
    row_col[i] = best_col;
    col_owner[best_col] = i;
    if (evicted >= 0) {
      row_col[evicted] = -1;
      if (lowered && --budget > 0)
        free_rows[--k] = evicted; /* retry it at once: its best column got dearer for it */
      else
        free_rows[still_free++] = evicted;
    }
  }
  return still_free;
}

/* One relaxation from the row `owner` (see relax_row): its cost row and scalars. The arrays it
 * reads and updates are the assignment's. */
typedef struct relax_step {
  const double *row;
  double base, minimum, owner;
} relax_step;

/* The smallest distance over the columns not finalised, and over the free columns. */
typedef struct running_minima {
  double smallest, free_min;
} running_minima;

/* The scalar relaxation of columns [j, n) (see relax_row), continuing the running minima of the
 * columns before j; the tail of every vector path. */
static inline void relax_columns(const assignment *s, relax_step step, int32_t j,
                                 running_minima *minima) {
  const double *row = step.row, *price = s->price, *blocked = s->blocked, *owned = s->owned;
  const double base = step.base, minimum = step.minimum, owner = step.owner;
  const int32_t n = s->n;
  double *dist = s->dist, *pred = s->pred;
  double smallest = minima->smallest, free_min = minima->free_min;
  for (; j < n; ++j) {
    double d = row[j] - price[j] - base;
    d = (d < minimum ? minimum : d) + blocked[j];
    if (d < dist[j]) dist[j] = d, pred[j] = owner;
    smallest = dist[j] < smallest ? dist[j] : smallest;
    const double reached = dist[j] + owned[j];
    free_min = reached < free_min ? reached : free_min;
  }
  minima->smallest = smallest, minima->free_min = free_min;
}

/* One relaxation from the row `owner` (reached at distance `minimum` through one of its
 * columns, with offset `base`): every column's distance becomes the smaller of its own and
 * max(c - price - base, minimum) + blocked (blocked is +inf on finalised columns); the
 * predecessor follows. Predecessors are kept as doubles (exact for any int32) so that the
 * vector path selects them with the same mask as the distances, without a branch. Returns the
 * smallest distance left over the columns not finalised and over the free columns. */
static running_minima relax_row(const assignment *s, const double *row, double base, double minimum,
                                double owner) {
  const double *price = s->price, *blocked = s->blocked, *owned = s->owned;
  const int32_t n = s->n;
  double *dist = s->dist, *pred = s->pred;
  int32_t j = 0;
  running_minima minima = {INFINITY, INFINITY};
#if defined(__SSE2__)
  const __m128d vbase = _mm_set1_pd(base), vmin = _mm_set1_pd(minimum), vowner = _mm_set1_pd(owner);
  __m128d s0 = _mm_set1_pd(INFINITY), s1 = s0, f0 = s0, f1 = s0;
  for (; j + 4 <= n; j += 4) {
    __m128d d0 = _mm_sub_pd(_mm_sub_pd(_mm_loadu_pd(row + j), _mm_loadu_pd(price + j)), vbase);
    __m128d d1 =
        _mm_sub_pd(_mm_sub_pd(_mm_loadu_pd(row + j + 2), _mm_loadu_pd(price + j + 2)), vbase);
    d0 = _mm_add_pd(_mm_max_pd(d0, vmin), _mm_loadu_pd(blocked + j));
    d1 = _mm_add_pd(_mm_max_pd(d1, vmin), _mm_loadu_pd(blocked + j + 2));
    const __m128d old0 = _mm_loadu_pd(dist + j), old1 = _mm_loadu_pd(dist + j + 2);
    const __m128d near0 = _mm_cmplt_pd(d0, old0), near1 = _mm_cmplt_pd(d1, old1);
    const __m128d next0 = _mm_or_pd(_mm_and_pd(near0, d0), _mm_andnot_pd(near0, old0));
    const __m128d next1 = _mm_or_pd(_mm_and_pd(near1, d1), _mm_andnot_pd(near1, old1));
    _mm_storeu_pd(dist + j, next0);
    _mm_storeu_pd(dist + j + 2, next1);
    _mm_storeu_pd(pred + j, _mm_or_pd(_mm_and_pd(near0, vowner),
                                      _mm_andnot_pd(near0, _mm_loadu_pd(pred + j))));
    _mm_storeu_pd(pred + j + 2, _mm_or_pd(_mm_and_pd(near1, vowner),
                                          _mm_andnot_pd(near1, _mm_loadu_pd(pred + j + 2))));
    s0 = _mm_min_pd(s0, next0);
    s1 = _mm_min_pd(s1, next1);
    f0 = _mm_min_pd(f0, _mm_add_pd(next0, _mm_loadu_pd(owned + j)));
    f1 = _mm_min_pd(f1, _mm_add_pd(next1, _mm_loadu_pd(owned + j + 2)));
  }
  double lanes[2];
  _mm_storeu_pd(lanes, _mm_min_pd(s0, s1));
  minima.smallest = lanes[0] < lanes[1] ? lanes[0] : lanes[1];
  _mm_storeu_pd(lanes, _mm_min_pd(f0, f1));
  minima.free_min = lanes[0] < lanes[1] ? lanes[0] : lanes[1];
#endif
  relax_columns(s, (relax_step){row, base, minimum, owner}, j, &minima);
  return minima;
}

#if defined(EMD_AVX2_PATH)
/* relax_row with four columns per instruction (AVX2 CPUs); the tail is relax_row's scalar loop. */
__attribute__((target("avx2"))) static running_minima relax_row_avx2(const assignment *s,
                                                                     const double *row, double base,
                                                                     double minimum, double owner) {
  const double *price = s->price, *blocked = s->blocked, *owned = s->owned;
  const int32_t n = s->n;
  double *dist = s->dist, *pred = s->pred;
  int32_t j = 0;
  const __m256d vbase = _mm256_set1_pd(base), vmin = _mm256_set1_pd(minimum),
                vowner = _mm256_set1_pd(owner);
  __m256d s0 = _mm256_set1_pd(INFINITY), s1 = s0, f0 = s0, f1 = s0;
  for (; j + 8 <= n; j += 8) {
    __m256d d0 =
        _mm256_sub_pd(_mm256_sub_pd(_mm256_loadu_pd(row + j), _mm256_loadu_pd(price + j)), vbase);
    __m256d d1 = _mm256_sub_pd(
        _mm256_sub_pd(_mm256_loadu_pd(row + j + 4), _mm256_loadu_pd(price + j + 4)), vbase);
    d0 = _mm256_add_pd(_mm256_max_pd(d0, vmin), _mm256_loadu_pd(blocked + j));
    d1 = _mm256_add_pd(_mm256_max_pd(d1, vmin), _mm256_loadu_pd(blocked + j + 4));
    const __m256d old0 = _mm256_loadu_pd(dist + j), old1 = _mm256_loadu_pd(dist + j + 4);
    const __m256d near0 = _mm256_cmp_pd(d0, old0, _CMP_LT_OQ);
    const __m256d near1 = _mm256_cmp_pd(d1, old1, _CMP_LT_OQ);
    const __m256d next0 = _mm256_blendv_pd(old0, d0, near0);
    const __m256d next1 = _mm256_blendv_pd(old1, d1, near1);
    _mm256_storeu_pd(dist + j, next0);
    _mm256_storeu_pd(dist + j + 4, next1);
    _mm256_storeu_pd(pred + j, _mm256_blendv_pd(_mm256_loadu_pd(pred + j), vowner, near0));
    _mm256_storeu_pd(pred + j + 4, _mm256_blendv_pd(_mm256_loadu_pd(pred + j + 4), vowner, near1));
    s0 = _mm256_min_pd(s0, next0);
    s1 = _mm256_min_pd(s1, next1);
    f0 = _mm256_min_pd(f0, _mm256_add_pd(next0, _mm256_loadu_pd(owned + j)));
    f1 = _mm256_min_pd(f1, _mm256_add_pd(next1, _mm256_loadu_pd(owned + j + 4)));
  }
  if (j + 4 <= n) { /* four more columns, so that at most three go the scalar way */
    __m256d d0 =
        _mm256_sub_pd(_mm256_sub_pd(_mm256_loadu_pd(row + j), _mm256_loadu_pd(price + j)), vbase);
    d0 = _mm256_add_pd(_mm256_max_pd(d0, vmin), _mm256_loadu_pd(blocked + j));
    const __m256d old0 = _mm256_loadu_pd(dist + j);
    const __m256d near0 = _mm256_cmp_pd(d0, old0, _CMP_LT_OQ);
    const __m256d next0 = _mm256_blendv_pd(old0, d0, near0);
    _mm256_storeu_pd(dist + j, next0);
    _mm256_storeu_pd(pred + j, _mm256_blendv_pd(_mm256_loadu_pd(pred + j), vowner, near0));
    s0 = _mm256_min_pd(s0, next0);
    f0 = _mm256_min_pd(f0, _mm256_add_pd(next0, _mm256_loadu_pd(owned + j)));
    j += 4;
  }
  double lanes[4], free_lanes[4];
  _mm256_storeu_pd(lanes, _mm256_min_pd(s0, s1));
  _mm256_storeu_pd(free_lanes, _mm256_min_pd(f0, f1));
  running_minima minima = {lanes[0], free_lanes[0]};
  for (int lane = 1; lane < 4; ++lane) {
    minima.smallest = lanes[lane] < minima.smallest ? lanes[lane] : minima.smallest;
    minima.free_min = free_lanes[lane] < minima.free_min ? free_lanes[lane] : minima.free_min;
  }
  relax_columns(s, (relax_step){row, base, minimum, owner}, j, &minima);
  return minima;
}

/* first_at, four columns per step. */
__attribute__((target("avx2"))) static int32_t first_at_avx2(const double *values, int32_t n,
                                                             double target) {
  int32_t j = 0;
  const __m256d wanted = _mm256_set1_pd(target);
  for (; j + 4 <= n; j += 4)
    if (_mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(values + j), wanted, _CMP_EQ_OQ))) break;
  while (j < n && values[j] != target) ++j;
  return j;
}
#endif

/* Phase 3 for one free row: Dijkstra over the columns, on reduced costs c_ij - v_j. Each step
 * finalises the nearest column (the first one at the smallest distance); if it is owned, its
 * owner's row relaxes every column in one contiguous pass that also finds the next smallest
 * distance. A finalised column's distance becomes +inf (its value is kept in `finalised_at`)
 * and `blocked` holds +inf for it, so the passes need no branch on it. */
static void augment(const assignment *s, int32_t start) {
  const int32_t n = s->n;
  const double *cost = s->cost;
  double *price = s->price, *dist = s->dist, *blocked = s->blocked, *pred = s->pred;
  double *owned = s->owned, *finalised_at = s->finalised_at;
  int32_t *row_col = s->row_col, *col_owner = s->col_owner, *finalised = s->finalised;
  const double *row = cost + (size_t)start * n;
  double minimum = INFINITY, free_min = INFINITY;
  for (int32_t j = 0; j < n; ++j) {
    dist[j] = row[j] - price[j];
    pred[j] = (double)start;
    blocked[j] = 0.0;
    minimum = dist[j] < minimum ? dist[j] : minimum;
    const double reached = dist[j] + owned[j];
    free_min = reached < free_min ? reached : free_min;
  }
  int32_t finalised_count = 0, end_col;
  for (;;) {
    if (free_min == minimum) {
      /* a free column is among the nearest (ties): the path ends there */
      end_col = 0;
      while (owned[end_col] != 0.0 || dist[end_col] != minimum) ++end_col;
      break;
    }
#if defined(EMD_AVX2_PATH)
    end_col = s->wide ? first_at_avx2(dist, n, minimum) : first_at(dist, n, minimum);
#else
    end_col = first_at(dist, n, minimum);
#endif
    blocked[end_col] = INFINITY;
    dist[end_col] = INFINITY;
    finalised_at[finalised_count] = minimum;
    finalised[finalised_count++] = end_col;
    const int32_t owner = col_owner[end_col];
    const double *owner_row = cost + (size_t)owner * n;
    /* rounding: nothing is nearer than what is finalised, hence the clamp at `minimum` */
    const double base = owner_row[end_col] - price[end_col] - minimum;
    running_minima next;
#if defined(EMD_AVX2_PATH)
    if (s->wide)
      next = relax_row_avx2(s, owner_row, base, minimum, (double)owner);
    else
#endif
      next = relax_row(s, owner_row, base, minimum, (double)owner);
    minimum = next.smallest, free_min = next.free_min;
  }
  /* Finalised columns move by how much nearer than the free column they were. */
  for (int32_t k = 0; k < finalised_count; ++k) price[finalised[k]] += finalised_at[k] - minimum;
  owned[end_col] = INFINITY;
  for (;;) {
    int32_t i = (int32_t)pred[end_col];
    col_owner[end_col] = i;
    int32_t previous = row_col[i];
    row_col[i] = end_col;
    if (i == start) break;
    end_col = previous;
  }
}

void emd_assignment_solve(const emd_dense_problem *problem, void *workspace,
                          emd_basic_solution *solution) {
  const int32_t n = problem->n;
  const double *cost = problem->cost;
  char *cursor = workspace;
  assignment s = {.n = n, .cost = cost, .price = solution->v};
  s.row_col = carve(&cursor, (size_t)n * sizeof(int32_t));
  s.col_owner = carve(&cursor, (size_t)n * sizeof(int32_t));
  s.free_rows = carve(&cursor, (size_t)n * sizeof(int32_t));
  s.finalised = carve(&cursor, (size_t)n * sizeof(int32_t));
  s.dist = carve(&cursor, (size_t)n * sizeof(double));
  s.blocked = carve(&cursor, (size_t)n * sizeof(double));
  s.owned = carve(&cursor, (size_t)n * sizeof(double));
  s.finalised_at = carve(&cursor, (size_t)n * sizeof(double));
  s.pred = carve(&cursor, (size_t)n * sizeof(double));
#if defined(EMD_AVX2_PATH)
  s.wide = normot_cpu_use_avx2();
#endif

  /* phase 1 borrows `finalised` and `dist` as its match counts and argmins */
  int32_t free_count = reduce_columns(&s, s.finalised, s.dist);
  if (free_count > 0) free_count = reduce_rows(&s, free_count, ARR_BUDGET_FACTOR * (int64_t)n + 16);
  /* +inf on owned columns, 0 on free ones: dist + owned is the distance of free columns only */
  for (int32_t j = 0; j < n; ++j) s.owned[j] = s.col_owner[j] >= 0 ? INFINITY : 0.0;
  for (int32_t f = 0; f < free_count; ++f) augment(&s, s.free_rows[f]);

  for (int32_t i = 0; i < n; ++i) {
    int32_t j = s.row_col[i];
    solution->u[i] = cost[(size_t)i * n + j] - s.price[j];
    solution->row[i] = i;
    solution->col[i] = j;
    solution->flow[i] = problem->a[i];
  }
  solution->count = n;
  solution->iterations = free_count;
  solution->status = NORMOT_EMD_OPTIMAL;
}
