/* The exact assignment solver of the CPU backend (src/cpu/emd_assignment.c: Jonker and
 * Volgenant's column reduction, augmenting row reduction, then a Dijkstra search per free row
 * on reduced costs c_ij - v_j), written for a team of lanes that solves one square problem:
 * on the device a warp, on the host one lane or the emulated warp of
 * tests/test_auction_cuda_emulation.cc. Host-and-device code (the team primitives are the
 * auction core's).
 *
 * Every pass over the n columns is split across the lanes (lane l takes columns l, l + lanes,
 * ...), and every choice the sequential solver makes by scanning (the smallest value, the first
 * column reaching it, the second smallest) is a team-wide lexicographic (value, column) minimum.
 * Minima and comparisons are exact and the per-column arithmetic is the CPU's expression for
 * expression, so any team size gives the CPU's prices and assignment bit for bit.
 *
 * Memory: the costs are read where they are (global memory on the device, L2-resident for the
 * seed case); only the O(n) prices, distances and labels live in the team's fast memory
 * (emd_assignment_fast_bytes(n): shared memory on the device). The sequential bookkeeping
 * (assignments after the column reduction, the eviction chain, flipping a path) is lane 0's,
 * followed by a barrier. */
#ifndef NORMOT_SRC_CUDA_EMD_ASSIGNMENT_TEAM_CUH
#define NORMOT_SRC_CUDA_EMD_ASSIGNMENT_TEAM_CUH

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "../auction/auction_core.h"

/* A column index larger than any: the idle lanes' candidate in a minimum. */
#define EMD_NO_COLUMN INT32_MAX

/* The team's fast memory for one problem of side n. */
typedef struct emd_assignment_space {
  double *price;         /* n: the column duals v_j */
  double *dist;          /* n: Dijkstra distances (+inf once finalised) */
  double *finalised_at;  /* n: the distance at which each finalised column was taken */
  int32_t *pred;         /* n: the row a column is reached from (phase 1: the argmin row) */
  int32_t *row_col;      /* n: row -> its column, -1 while free */
  int32_t *col_owner;    /* n: column -> its row, -1 while free */
  int32_t *free_rows;    /* n */
  int32_t *finalised;    /* n: the finalised columns in order (phase 1: match counts) */
  unsigned char *closed; /* n: finalised in the current search */
  unsigned char *taken;  /* n: owned by some row */
} emd_assignment_space;

NORMOT_AUCTION_INLINE size_t emd_assignment_fast_bytes(int64_t n) {
  return (size_t)n * (3 * sizeof(double) + 5 * sizeof(int32_t) + 2) + 16;
}

NORMOT_AUCTION_INLINE emd_assignment_space emd_assignment_carve(void *memory, int64_t n) {
  emd_assignment_space s;
  double *d = (double *)memory;
  s.price = d, d += n;
  s.dist = d, d += n;
  s.finalised_at = d, d += n;
  int32_t *w = (int32_t *)d;
  s.pred = w, w += n;
  s.row_col = w, w += n;
  s.col_owner = w, w += n;
  s.free_rows = w, w += n;
  s.finalised = w, w += n;
  s.closed = (unsigned char *)w;
  s.taken = s.closed + n;
  return s;
}

/* One square problem for the team: row i's costs at cost + i * ld. */
typedef struct emd_assignment_job {
  int32_t n;
  const double *cost;
  int64_t ld;
  emd_assignment_space s;
  int lane, lanes;
} emd_assignment_job;

/* (v1, c1) before (v2, c2): the smaller value, then the smaller column. */
NORMOT_AUCTION_INLINE int emd_before(double v1, int32_t c1, double v2, int32_t c2) {
  return v1 < v2 || (v1 == v2 && c1 < c2);
}

/* A (value, column) candidate. */
typedef struct emd_candidate {
  double value;
  int32_t col;
} emd_candidate;

NORMOT_AUCTION_INLINE emd_candidate emd_no_candidate(void) {
  emd_candidate none = {INFINITY, EMD_NO_COLUMN};
  return none;
}

NORMOT_AUCTION_INLINE void emd_offer(emd_candidate *best, double value, int32_t col) {
  if (emd_before(value, col, best->value, best->col)) best->value = value, best->col = col;
}

/* The team-wide lexicographic minimum; every lane gets it. */
NORMOT_AUCTION_INLINE void emd_team_argmin(emd_candidate *best) {
  for (int offset = NORMOT_AUCTION_WIDTH / 2; offset > 0; offset >>= 1) {
    double value = normot_auction_exchange_double(best->value, offset);
    int32_t col = (int32_t)normot_auction_exchange(best->col, offset);
    emd_offer(best, value, col);
  }
}

NORMOT_AUCTION_INLINE double emd_team_min(double value) {
  for (int offset = NORMOT_AUCTION_WIDTH / 2; offset > 0; offset >>= 1) {
    double other = normot_auction_exchange_double(value, offset);
    value = other < value ? other : value;
  }
  return value;
}

/* The smallest candidate and the smallest of the others (ties: the first column). Offers may
 * come in any order: a candidate that displaces the best hands the old best down. */
typedef struct emd_two_best {
  emd_candidate best, second;
} emd_two_best;

NORMOT_AUCTION_INLINE void emd_two_best_offer(emd_two_best *t, double value, int32_t col) {
  if (emd_before(value, col, t->best.value, t->best.col)) {
    t->second = t->best;
    t->best.value = value, t->best.col = col;
  } else {
    emd_offer(&t->second, value, col);
  }
}

/* Of h_j = c_ij - v_j over row i: the two best, team-wide (second.col = -1 when n == 1). */
NORMOT_AUCTION_INLINE emd_two_best emd_row_two_best(const emd_assignment_job *job, int32_t i) {
  const double *row = job->cost + (int64_t)i * job->ld;
  emd_two_best t = {emd_no_candidate(), emd_no_candidate()};
  for (int32_t j = job->lane; j < job->n; j += job->lanes)
    emd_two_best_offer(&t, row[j] - job->s.price[j], j);
  for (int offset = NORMOT_AUCTION_WIDTH / 2; offset > 0; offset >>= 1) {
    emd_candidate best, second;
    best.value = normot_auction_exchange_double(t.best.value, offset);
    best.col = (int32_t)normot_auction_exchange(t.best.col, offset);
    second.value = normot_auction_exchange_double(t.second.value, offset);
    second.col = (int32_t)normot_auction_exchange(t.second.col, offset);
    emd_two_best_offer(&t, best.value, best.col);
    emd_two_best_offer(&t, second.value, second.col);
  }
  if (t.second.col == EMD_NO_COLUMN) t.second.col = -1;
  return t;
}

/* Phase 1, the columns' minima: each lane scans its columns down the rows (on the device the
 * lanes read consecutive columns of one row at a time). Then lane 0 gives each column to its
 * argmin row, the last column first, as the CPU does. */
NORMOT_AUCTION_INLINE void emd_assignment_column_minima(const emd_assignment_job *job) {
  const emd_assignment_space s = job->s;
  const int32_t n = job->n;
  for (int32_t j = job->lane; j < n; j += job->lanes) {
    double best = job->cost[j];
    int32_t row = 0;
    for (int32_t i = 1; i < n; ++i) {
      const double c = job->cost[(int64_t)i * job->ld + j];
      if (c < best) best = c, row = i;
    }
    s.price[j] = best;
    s.pred[j] = row;
  }
  normot_auction_sync();
  if (job->lane == 0) {
    for (int32_t i = 0; i < n; ++i) s.finalised[i] = 0, s.row_col[i] = -1;
    for (int32_t j = n - 1; j >= 0; --j) {
      const int32_t i = s.pred[j];
      if (s.finalised[i]++ == 0) {
        s.row_col[i] = j;
        s.col_owner[j] = i;
      } else {
        s.col_owner[j] = -1;
      }
    }
  }
  normot_auction_sync();
}

/* Phase 1's reduction transfer for row i, which holds exactly one column: that column's price
 * drops to where the row's second best column ties. */
NORMOT_AUCTION_INLINE void emd_assignment_transfer(const emd_assignment_job *job, int32_t i) {
  const double *row = job->cost + (int64_t)i * job->ld;
  const int32_t own = job->s.row_col[i];
  double second = INFINITY;
  for (int32_t j = job->lane; j < job->n; j += job->lanes) {
    const double h = j == own ? INFINITY : row[j] - job->s.price[j];
    second = h < second ? h : second;
  }
  second = emd_team_min(second);
  if (job->lane == 0 && second < INFINITY)
    job->s.price[own] -= second - (row[own] - job->s.price[own]);
  normot_auction_sync();
}

/* Phase 1 whole; returns the number of free rows (listed in free_rows, in row order). */
NORMOT_AUCTION_INLINE int32_t emd_assignment_reduce_columns(const emd_assignment_job *job) {
  emd_assignment_column_minima(job);
  int32_t free_count = 0;
  for (int32_t i = 0; i < job->n; ++i) {
    const int32_t matches = job->s.finalised[i];
    if (matches == 0) {
      if (job->lane == 0) job->s.free_rows[free_count] = i;
      ++free_count;
    } else if (matches == 1) {
      emd_assignment_transfer(job, i);
    }
  }
  normot_auction_sync();
  return free_count;
}

/* Row scans allowed to the augmenting row reduction: the CPU's budget (ARR_BUDGET_FACTOR = 1 in
 * src/cpu/emd_assignment.c), so that both stop at the same row. */
NORMOT_AUCTION_INLINE int64_t emd_assignment_arr_budget(int32_t n) {
  return (int64_t)n + 16;
}

/* Phase 2 over the free rows; returns the number still free (written back to free_rows). Every
 * lane runs the same control flow on the same values; lane 0 writes, then the team meets. */
NORMOT_AUCTION_INLINE int32_t emd_assignment_reduce_rows(const emd_assignment_job *job,
                                                         int32_t free_count) {
  const emd_assignment_space s = job->s;
  const int writer = job->lane == 0;
  int64_t budget = emd_assignment_arr_budget(job->n);
  int32_t still_free = 0, k = 0;
  while (k < free_count) {
    const int32_t i = s.free_rows[k++];
    const emd_two_best t = emd_row_two_best(job, i);
    int32_t best_col = t.best.col;
    int32_t evicted = s.col_owner[best_col];
    const int lowered = t.second.col >= 0 && t.best.value < t.second.value;
    if (!lowered && evicted >= 0 && t.second.col >= 0) {
      best_col = t.second.col;
      evicted = s.col_owner[best_col];
    }
    normot_auction_sync(); /* every lane has read before lane 0 writes */
    if (writer) {
      if (lowered) s.price[best_col] -= t.second.value - t.best.value;
      s.row_col[i] = best_col;
      s.col_owner[best_col] = i;
      if (evicted >= 0) s.row_col[evicted] = -1;
    }
    if (evicted >= 0) {
      if (lowered && --budget > 0) {
        --k; /* retry it at once: its best column got dearer for it */
        if (writer) s.free_rows[k] = evicted;
      } else {
        if (writer) s.free_rows[still_free] = evicted;
        ++still_free;
      }
    }
    normot_auction_sync();
  }
  return still_free;
}

/* The Dijkstra search's running state: the nearest column and the nearest free one. */
typedef struct emd_search {
  emd_candidate nearest, nearest_free;
} emd_search;

/* Relaxes every column from row `owner`, reached at distance `minimum` through one of its
 * columns (offset `base`), as the CPU's relax_row: max(c - v - base, minimum) + (+inf on
 * finalised columns) replaces a larger distance. Returns the new nearest columns. */
NORMOT_AUCTION_INLINE emd_search emd_assignment_relax(const emd_assignment_job *job, int32_t owner,
                                                      double base, double minimum) {
  const emd_assignment_space s = job->s;
  const double *row = job->cost + (int64_t)owner * job->ld;
  emd_search next = {emd_no_candidate(), emd_no_candidate()};
  for (int32_t j = job->lane; j < job->n; j += job->lanes) {
    double d = row[j] - s.price[j] - base;
    d = (d > minimum ? d : minimum) + (s.closed[j] ? INFINITY : 0.0);
    if (d < s.dist[j]) s.dist[j] = d, s.pred[j] = owner;
    emd_offer(&next.nearest, s.dist[j], j);
    if (!s.taken[j]) emd_offer(&next.nearest_free, s.dist[j], j);
  }
  emd_team_argmin(&next.nearest);
  emd_team_argmin(&next.nearest_free);
  return next;
}

/* The search's first step, from the free row `start`. */
NORMOT_AUCTION_INLINE emd_search emd_assignment_search_from(const emd_assignment_job *job,
                                                            int32_t start) {
  const emd_assignment_space s = job->s;
  const double *row = job->cost + (int64_t)start * job->ld;
  emd_search first = {emd_no_candidate(), emd_no_candidate()};
  for (int32_t j = job->lane; j < job->n; j += job->lanes) {
    s.dist[j] = row[j] - s.price[j];
    s.pred[j] = start;
    s.closed[j] = 0;
    emd_offer(&first.nearest, s.dist[j], j);
    if (!s.taken[j]) emd_offer(&first.nearest_free, s.dist[j], j);
  }
  emd_team_argmin(&first.nearest);
  emd_team_argmin(&first.nearest_free);
  return first;
}

/* After the search: the finalised columns' prices move by how much nearer than the free column
 * they were, and lane 0 flips the path from the free column back to `start`. */
NORMOT_AUCTION_INLINE void emd_assignment_flip(const emd_assignment_job *job, int32_t start,
                                               int32_t end_col, int32_t count, double minimum) {
  const emd_assignment_space s = job->s;
  normot_auction_sync(); /* the finalised list and the predecessors are complete */
  for (int32_t q = job->lane; q < count; q += job->lanes)
    s.price[s.finalised[q]] += s.finalised_at[q] - minimum;
  if (job->lane == 0) {
    s.taken[end_col] = 1;
    for (;;) {
      const int32_t i = s.pred[end_col];
      s.col_owner[end_col] = i;
      const int32_t previous = s.row_col[i];
      s.row_col[i] = end_col;
      if (i == start) break;
      end_col = previous;
    }
  }
  normot_auction_sync();
}

/* Phase 3 for one free row: Dijkstra over the columns until a free column is the nearest. A
 * finalised column belongs to the lane that scans it (so that its own later reads see it
 * without a barrier); the list of finalised columns is lane 0's. */
NORMOT_AUCTION_INLINE void emd_assignment_augment(const emd_assignment_job *job, int32_t start) {
  const emd_assignment_space s = job->s;
  emd_search search = emd_assignment_search_from(job, start);
  int32_t count = 0;
  while (search.nearest_free.value != search.nearest.value) {
    const int32_t col = search.nearest.col;
    const double minimum = search.nearest.value;
    if (col % job->lanes == job->lane) s.closed[col] = 1, s.dist[col] = INFINITY;
    if (job->lane == 0) s.finalised_at[count] = minimum, s.finalised[count] = col;
    ++count;
    const int32_t owner = s.col_owner[col];
    const double base = job->cost[(int64_t)owner * job->ld + col] - s.price[col] - minimum;
    search = emd_assignment_relax(job, owner, base, minimum);
  }
  emd_assignment_flip(job, start, search.nearest_free.col, count, search.nearest.value);
}

/* Solves the job: job->s.price holds the column duals v and job->s.row_col the assignment.
 * Returns the number of augmenting paths (the CPU's iteration count). */
NORMOT_AUCTION_INLINE int32_t emd_assignment_solve_team(const emd_assignment_job *job) {
  int32_t free_count = emd_assignment_reduce_columns(job);
  if (free_count > 0) free_count = emd_assignment_reduce_rows(job, free_count);
  for (int32_t j = job->lane; j < job->n; j += job->lanes)
    job->s.taken[j] = job->s.col_owner[j] >= 0;
  normot_auction_sync();
  for (int32_t f = 0; f < free_count; ++f) emd_assignment_augment(job, job->s.free_rows[f]);
  return free_count;
}

#endif
