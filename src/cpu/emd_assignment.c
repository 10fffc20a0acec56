/* Square problems with equal weights are assignment problems: some optimal plan is a
 * permutation matrix scaled by the common weight (Birkhoff), and the duals of the assignment
 * problem are the duals of the transport problem. Solved exactly with the shortest augmenting
 * path method of Jonker and Volgenant (1987), in three phases:
 *   1. column reduction: each column's price is its smallest cost; a row that is the unique
 *      argmin of a column takes it, and a row holding one column passes the slack of its second
 *      best column on to that column's price (reduction transfer);
 *   2. augmenting row reduction (two sweeps): each free row takes its best column, lowering
 *      that column's price to where its second best would tie, and evicts the previous owner;
 *   3. for every row still free, a Dijkstra search over reduced costs c_ij - v_j for the
 *      nearest free column, then the prices of the scanned columns are raised and the path
 *      is flipped.
 * Prices v stay dual feasible throughout: with u_i = c_{i,x(i)} - v_{x(i)}, u_i + v_j <= c_ij. */
#include <math.h>
#include <string.h>

#include "emd_solvers.h"
#include "normot/normot.h"

size_t emd_assignment_workspace_bytes(int32_t n) {
  return 5 * emd_align64((size_t)n * sizeof(int32_t)) +
         3 * emd_align64((size_t)n * sizeof(double)) + 64;
}

static void *carve(char **cursor, size_t bytes) {
  void *start = *cursor;
  *cursor += emd_align64(bytes);
  return start;
}

/* Phase 1. Fills col_owner/row_col for uniquely reduced rows and appends the others to free. */
static int32_t reduce_columns(int32_t n, const double *cost, double *price, int32_t *row_col,
                              int32_t *col_owner, int32_t *free_rows, int32_t *matches) {
  memset(matches, 0, (size_t)n * sizeof(int32_t));
  for (int32_t i = 0; i < n; ++i) row_col[i] = -1;
  for (int32_t j = n - 1; j >= 0; --j) {
    int32_t best_row = 0;
    double best = cost[j];
    for (int32_t i = 1; i < n; ++i) {
      double c = cost[(size_t)i * n + j];
      if (c < best) best = c, best_row = i;
    }
    price[j] = best;
    if (++matches[best_row] == 1) {
      row_col[best_row] = j;
      col_owner[j] = best_row;
    } else {
      col_owner[j] = -1;
    }
  }
  /* A row that is the argmin of several columns keeps the first it won; the others stay
   * unowned for the later phases. */
  int32_t free_count = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (matches[i] == 0) {
      free_rows[free_count++] = i;
    } else if (matches[i] == 1) {
      const double *row = cost + (size_t)i * n;
      int32_t own = row_col[i];
      double second = INFINITY;
      for (int32_t j = 0; j < n; ++j)
        if (j != own && row[j] - price[j] < second) second = row[j] - price[j];
      if (second < INFINITY) price[own] -= second - (row[own] - price[own]);
    }
  }
  return free_count;
}

/* Phase 2: one sweep of augmenting row reduction over the free rows; returns the new count. */
static int32_t reduce_rows(int32_t n, const double *cost, double *price, int32_t *row_col,
                           int32_t *col_owner, int32_t *free_rows, int32_t free_count) {
  int32_t still_free = 0, k = 0;
  /* Bound the re-processing of evicted rows: with real-valued costs the price drops can be
   * arbitrarily small, and phase 3 finishes the job anyway. */
  int64_t budget = 4 * (int64_t)n + 16;
  while (k < free_count) {
    int32_t i = free_rows[k++];
    const double *row = cost + (size_t)i * n;
    double best = INFINITY, second = INFINITY;
    int32_t best_col = -1, second_col = -1;
    for (int32_t j = 0; j < n; ++j) {
      double h = row[j] - price[j];
      if (h < second) {
        if (h >= best) {
          second = h, second_col = j;
        } else {
          second = best, second_col = best_col;
          best = h, best_col = j;
        }
      }
    }
    int32_t evicted = col_owner[best_col];
    const int lowered = second_col >= 0 && best < second;
    if (lowered) {
      price[best_col] -= second - best;
    } else if (evicted >= 0 && second_col >= 0) {
      best_col = second_col;
      evicted = col_owner[best_col];
    }
    row_col[i] = best_col;
    col_owner[best_col] = i;
    if (evicted >= 0) {
      row_col[evicted] = -1;
      if (lowered && --budget > 0)
        free_rows[--k] = evicted; /* retry it at once: its best column got cheaper for it */
      else
        free_rows[still_free++] = evicted;
    }
  }
  return still_free;
}

/* The smallest entry of values[0, n) and its first index; written as a plain minimum first so
 * that the compiler can vectorise it. */
static int32_t position_of_minimum(const double *values, int32_t n, double *minimum) {
  double smallest = INFINITY;
  for (int32_t j = 0; j < n; ++j) smallest = values[j] < smallest ? values[j] : smallest;
  *minimum = smallest;
  for (int32_t j = 0; j < n; ++j)
    if (values[j] == smallest) return j;
  return 0;
}

/* Phase 3 for one free row: Dijkstra over the columns, on reduced costs c_ij - v_j. Each step
 * finalises the nearest column; if it is owned, its owner's row relaxes every column in one
 * contiguous pass. A finalised column's distance becomes +inf (its value is kept in
 * `finalised_at`) and `blocked` holds +inf for it, so the passes need no branch on it. */
static void augment(int32_t n, const double *cost, double *price, int32_t *row_col,
                    int32_t *col_owner, int32_t start, double *dist, double *blocked, int32_t *pred,
                    int32_t *finalised, double *finalised_at) {
  const double *row = cost + (size_t)start * n;
  for (int32_t j = 0; j < n; ++j) {
    dist[j] = row[j] - price[j];
    pred[j] = start;
    blocked[j] = 0.0;
  }
  int32_t finalised_count = 0, end_col;
  double minimum;
  for (;;) {
    end_col = position_of_minimum(dist, n, &minimum);
    if (col_owner[end_col] < 0) break;
    blocked[end_col] = INFINITY;
    dist[end_col] = INFINITY;
    finalised_at[finalised_count] = minimum;
    finalised[finalised_count++] = end_col;
    const int32_t owner = col_owner[end_col];
    const double *owner_row = cost + (size_t)owner * n;
    const double base = owner_row[end_col] - price[end_col] - minimum;
    for (int32_t j = 0; j < n; ++j) {
      double d = owner_row[j] - price[j] - base;
      d = d < minimum ? minimum : d; /* rounding: nothing is nearer than what is finalised */
      d += blocked[j];
      int nearer = d < dist[j];
      dist[j] = nearer ? d : dist[j];
      pred[j] = nearer ? owner : pred[j];
    }
  }
  /* Finalised columns move up by how much nearer than the free column they were. */
  for (int32_t k = 0; k < finalised_count; ++k) price[finalised[k]] += finalised_at[k] - minimum;
  for (;;) {
    int32_t i = pred[end_col];
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
  int32_t *row_col = carve(&cursor, (size_t)n * sizeof(int32_t));
  int32_t *col_owner = carve(&cursor, (size_t)n * sizeof(int32_t));
  int32_t *free_rows = carve(&cursor, (size_t)n * sizeof(int32_t));
  int32_t *pred = carve(&cursor, (size_t)n * sizeof(int32_t));
  int32_t *finalised = carve(&cursor, (size_t)n * sizeof(int32_t));
  double *dist = carve(&cursor, (size_t)n * sizeof(double));
  double *blocked = carve(&cursor, (size_t)n * sizeof(double));
  double *finalised_at = carve(&cursor, (size_t)n * sizeof(double));
  double *price = solution->v;

  int32_t free_count = reduce_columns(n, cost, price, row_col, col_owner, free_rows, finalised);
  for (int sweep = 0; sweep < 2 && free_count > 0; ++sweep)
    free_count = reduce_rows(n, cost, price, row_col, col_owner, free_rows, free_count);
  for (int32_t f = 0; f < free_count; ++f)
    augment(n, cost, price, row_col, col_owner, free_rows[f], dist, blocked, pred, finalised,
            finalised_at);

  for (int32_t i = 0; i < n; ++i) {
    int32_t j = row_col[i];
    solution->u[i] = cost[(size_t)i * n + j] - price[j];
    solution->row[i] = i;
    solution->col[i] = j;
    solution->flow[i] = problem->a[i];
  }
  solution->count = n;
  solution->iterations = free_count;
  solution->status = NORMOT_EMD_OPTIMAL;
}
