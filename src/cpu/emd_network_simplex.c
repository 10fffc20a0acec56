/* The primal network simplex for one dense transportation problem.
 *
 * Nodes 0..n-1 are the rows (supplies a_i), nodes n..n+m-1 the columns (demands b_j); every
 * arc goes from a row to a column and has no upper bound. The basis is a spanning tree rooted
 * at row 0, stored as parent pointers with child lists; node x keeps the flow of the arc that
 * joins it to its parent. Potentials pot[] (u for rows, v for columns) satisfy
 * u_i + v_j = cost_ij on every tree arc, so an arc's reduced cost is cost_ij - u_i - v_j.
 *
 * Degeneracy: the tree is kept strongly feasible (Cunningham 1976): every tree arc whose flow
 * is zero points towards the root, so that a positive amount can be sent from any node to the
 * root. The initial tree is built so, and the leaving arc is chosen as the last blocking arc met
 * when the pivot cycle is walked from its apex in the direction of the entering arc; that rule
 * keeps the tree strongly feasible, which rules out cycling on degenerate problems.
 *
 * Pricing: block search over the arcs in row-major order, resumed where the last block ended;
 * each block is a few whole rows, so the reduced costs are computed on contiguous memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "emd_solvers.h"
#include "emd_tree_links.h"
#include "normot/normot.h"

typedef struct tree {
  int32_t n, m, nodes;
  const double *cost;
  int32_t *parent, *first_child, *next_sibling, *prev_sibling, *size, *stack;
  double *flow; /* flow on the arc between a node and its parent */
  double *pot;
} tree;

/* Candidates per row for the greedy start. */
enum { GREEDY_CANDIDATES = 1 };

typedef struct candidate {
  double cost;
  int32_t row, col;
} candidate;

size_t emd_network_simplex_workspace_bytes(int32_t n, int32_t m) {
  size_t nodes = (size_t)n + (size_t)m;
  /* 6 int32 arrays and 2 double arrays of `nodes`, plus remaining supplies (nodes doubles) and
   * the arc list of the initial solution (nodes arcs: 2 int32 + 1 double each) and its
   * adjacency (2 * nodes + 1 int32 offsets, 2 * nodes int32 entries). */
  return 6 * emd_align64(nodes * sizeof(int32_t)) + 3 * emd_align64(nodes * sizeof(double)) +
         2 * emd_align64(nodes * sizeof(int32_t)) + emd_align64(nodes * sizeof(double)) +
         emd_align64((nodes + 1) * sizeof(int32_t)) + emd_align64(2 * nodes * sizeof(int32_t)) +
         2 * emd_align64(nodes * sizeof(int32_t)) +
         emd_align64((size_t)n * GREEDY_CANDIDATES * sizeof(candidate)) + 256;
}

static void *carve(char **cursor, size_t bytes) {
  void *start = *cursor;
  *cursor += emd_align64(bytes);
  return start;
}

static inline double arc_cost(const tree *t, int32_t child, int32_t parent) {
  return child < t->n ? t->cost[(size_t)child * t->m + (parent - t->n)]
                      : t->cost[(size_t)parent * t->m + (child - t->n)];
}

static inline void add_child(tree *t, int32_t parent, int32_t child) {
  emd_tree_links links = {t->parent, t->first_child, t->next_sibling, t->prev_sibling};
  emd_tree_add_child(&links, parent, child);
}

static inline void remove_child(tree *t, int32_t parent, int32_t child) {
  emd_tree_links links = {t->parent, t->first_child, t->next_sibling, t->prev_sibling};
  emd_tree_remove_child(&links, parent, child);
}

/* Sets the potential of every node below `top` (whose own potential is set) from its parent,
 * walking the subtree depth-first. */
static void refresh_subtree(tree *t, int32_t top) {
  int32_t *stack = t->stack;
  int32_t count = 0;
  stack[count++] = top;
  while (count > 0) {
    int32_t x = stack[--count];
    for (int32_t c = t->first_child[x]; c >= 0; c = t->next_sibling[c]) {
      t->pot[c] = arc_cost(t, c, x) - t->pot[x];
      stack[count++] = c;
    }
  }
}

/* Shifts the potentials of the subtree below `top`, leaving out the subtree below `skip`:
 * rows by +row_shift, columns by -row_shift, which keeps every arc inside it tight. */
static void shift_subtree(tree *t, int32_t top, int32_t skip, double row_shift) {
  int32_t *stack = t->stack;
  int32_t count = 0;
  const int32_t n = t->n;
  stack[count++] = top;
  while (count > 0) {
    int32_t x = stack[--count];
    t->pot[x] += x < n ? row_shift : -row_shift;
    for (int32_t c = t->first_child[x]; c >= 0; c = t->next_sibling[c])
      if (c != skip) stack[count++] = c;
  }
}

static int compare_candidates(const void *left, const void *right) {
  const candidate *l = left, *r = right;
  if (l->cost != r->cost) return l->cost < r->cost ? -1 : 1;
  if (l->row != r->row) return l->row < r->row ? -1 : 1;
  return (l->col > r->col) - (l->col < r->col);
}

/* Sends min(what row i has left, what column j still needs) along (i, j); that exhausts the
 * row or the column, which is what keeps the arcs a forest. */
static inline void allocate(int32_t i, int32_t j, double *row_left, double *col_left,
                            int32_t *arc_row, int32_t *arc_col, double *arc_flow, int32_t *arcs) {
  double amount = row_left[i] <= col_left[j] ? row_left[i] : col_left[j];
  arc_row[*arcs] = i, arc_col[*arcs] = j, arc_flow[(*arcs)++] = amount;
  if (row_left[i] <= col_left[j]) {
    col_left[j] -= row_left[i];
    row_left[i] = 0.0;
  } else {
    row_left[i] -= col_left[j];
    col_left[j] = 0.0;
  }
}

/* Initial basic solution: first a greedy pass over the few cheapest arcs of every row, cheapest
 * first (a sampled "matrix minimum" rule); then every row that still has mass sends it to its
 * cheapest columns that still need some ("row minimum"). Every allocation exhausts its row or
 * its column, so the arcs form a forest; whatever rounding leaves over is settled when the
 * flows are recomputed from the tree. */
static int32_t initial_allocation(const emd_dense_problem *problem, double *left,
                                  candidate *candidates, int32_t *arc_row, int32_t *arc_col,
                                  double *arc_flow) {
  const int32_t n = problem->n, m = problem->m;
  const int32_t per_row = m < GREEDY_CANDIDATES ? m : GREEDY_CANDIDATES;
  double *row_left = left, *col_left = left + n;
  memcpy(row_left, problem->a, (size_t)n * sizeof(double));
  memcpy(col_left, problem->b, (size_t)m * sizeof(double));
  int32_t arcs = 0;

  size_t count = 0;
  for (int32_t i = 0; i < n; ++i) {
    const double *row = problem->cost + (size_t)i * m;
    candidate *mine = candidates + count;
    int32_t kept = 0;
    for (int32_t j = 0; j < m; ++j) {
      if (kept == per_row && row[j] >= mine[kept - 1].cost) continue;
      int32_t slot = kept < per_row ? kept++ : kept - 1;
      while (slot > 0 && mine[slot - 1].cost > row[j]) mine[slot] = mine[slot - 1], --slot;
      mine[slot].cost = row[j], mine[slot].row = i, mine[slot].col = j;
    }
    count += (size_t)kept;
  }
  qsort(candidates, count, sizeof *candidates, compare_candidates);
  for (size_t e = 0; e < count; ++e) {
    int32_t i = candidates[e].row, j = candidates[e].col;
    if (row_left[i] > 0.0 && col_left[j] > 0.0)
      allocate(i, j, row_left, col_left, arc_row, arc_col, arc_flow, &arcs);
  }

  for (int32_t i = 0; i < n; ++i) {
    const double *row = problem->cost + (size_t)i * m;
    while (row_left[i] > 0.0) {
      int32_t best = -1;
      double best_cost = INFINITY;
      for (int32_t j = 0; j < m; ++j)
        if (col_left[j] > 0.0 && row[j] < best_cost) best_cost = row[j], best = j;
      if (best < 0) break; /* only rounding is left in this row */
      allocate(i, best, row_left, col_left, arc_row, arc_col, arc_flow, &arcs);
    }
  }
  return arcs;
}

/* Builds the initial strongly feasible tree from the forest of the initial allocation: the
 * component of row 0 hangs from the root; every other component is joined by a zero-flow arc
 * from one of its rows up to a column already in the tree (the cheapest), which points towards
 * the root. Flows then follow from the tree by conservation, leaves first. */
static void build_initial_tree(tree *t, const emd_dense_problem *problem, char *scratch) {
  const int32_t n = t->n, m = t->m, nodes = t->nodes;
  char *cursor = scratch;
  double *left = carve(&cursor, (size_t)nodes * sizeof(double));
  int32_t *arc_row = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  int32_t *arc_col = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  double *arc_flow = carve(&cursor, (size_t)nodes * sizeof(double));
  int32_t *offset = carve(&cursor, ((size_t)nodes + 1) * sizeof(int32_t));
  int32_t *neighbour = carve(&cursor, 2 * (size_t)nodes * sizeof(int32_t));
  int32_t *order = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  int32_t *fill = carve(&cursor, (size_t)nodes * sizeof(int32_t));

  candidate *candidates = carve(&cursor, (size_t)n * GREEDY_CANDIDATES * sizeof(candidate));
  int32_t arcs = initial_allocation(problem, left, candidates, arc_row, arc_col, arc_flow);

  memset(offset, 0, ((size_t)nodes + 1) * sizeof(int32_t));
  for (int32_t e = 0; e < arcs; ++e) ++offset[arc_row[e] + 1], ++offset[n + arc_col[e] + 1];
  for (int32_t x = 0; x < nodes; ++x) offset[x + 1] += offset[x];
  memcpy(fill, offset, (size_t)nodes * sizeof(int32_t));
  for (int32_t e = 0; e < arcs; ++e) {
    neighbour[fill[arc_row[e]]++] = n + arc_col[e];
    neighbour[fill[n + arc_col[e]]++] = arc_row[e];
  }

  for (int32_t x = 0; x < nodes; ++x) {
    t->parent[x] = -2; /* not reached yet */
    t->first_child[x] = -1;
  }
  /* Breadth-first over the forest, component by component; `order` lists nodes parents first. */
  int32_t reached = 0, head = 0, anchor_column = -1;
  t->parent[0] = -1;
  t->next_sibling[0] = t->prev_sibling[0] = -1;
  order[reached++] = 0;
  int32_t next_row = 1;
  for (;;) {
    while (head < reached) {
      int32_t x = order[head++];
      for (int32_t k = offset[x]; k < offset[x + 1]; ++k) {
        int32_t y = neighbour[k];
        if (t->parent[y] != -2) continue;
        add_child(t, x, y);
        order[reached++] = y;
        if (anchor_column < 0 && y >= n) anchor_column = y;
      }
    }
    if (reached == nodes) break;
    while (next_row < n && t->parent[next_row] != -2) ++next_row;
    if (next_row < n) {
      /* a new component, through one of its rows, with a zero-flow arc pointing up */
      if (anchor_column < 0) anchor_column = n; /* row 0 had no arc: only when m == 1 ... */
      if (t->parent[anchor_column] == -2) {
        add_child(t, 0, anchor_column);
        order[reached++] = anchor_column;
      }
      /* ... up to the cheapest column already in the tree, which starts the potentials of
       * the new component near where they will end */
      const double *cost_row = problem->cost + (size_t)next_row * m;
      int32_t up = anchor_column;
      for (int32_t y = 0; y < m; ++y)
        if (t->parent[n + y] != -2 && cost_row[y] < cost_row[up - n]) up = n + y;
      add_child(t, up, next_row);
      order[reached++] = next_row;
      continue;
    }
    /* Columns no arc reached (cannot happen: the last row serves every column); hang them from
     * row 0 so that the tree spans all nodes. */
    for (int32_t y = n; y < nodes; ++y)
      if (t->parent[y] == -2) {
        add_child(t, 0, y);
        order[reached++] = y;
      }
  }

  /* Net supply of each subtree, children before parents; the arc above a row carries its
   * subtree's surplus up, the arc above a column carries its subtree's deficit down. */
  for (int32_t x = 0; x < n; ++x) left[x] = problem->a[x];
  for (int32_t y = 0; y < m; ++y) left[n + y] = -problem->b[y];
  for (int32_t x = 0; x < nodes; ++x) t->size[x] = 1;
  for (int32_t r = nodes - 1; r > 0; --r) {
    int32_t x = order[r];
    t->size[t->parent[x]] += t->size[x];
    double surplus = left[x];
    double carried = x < n ? surplus : -surplus;
    t->flow[x] = carried > 0.0 ? carried : 0.0;
    left[t->parent[x]] += surplus;
  }
  t->flow[0] = 0.0;
  t->pot[0] = 0.0;
  refresh_subtree(t, 0);
}

/* The smallest reduced cost of one row. Pricing is most of the work, so with SSE2 (every
 * x86-64) it runs four independent vector minima, which hides the latency of each; a plain
 * minimum is exact in any order, so the result is the same bits either way. */
static inline double row_minimum(const double *c, const double *v, double u, int32_t m) {
  int32_t j = 0;
  double smallest = INFINITY;
#if defined(__SSE2__)
  if (m >= 8) {
    const __m128d shift = _mm_set1_pd(u);
    __m128d m0 = _mm_set1_pd(INFINITY), m1 = m0, m2 = m0, m3 = m0;
    for (; j + 8 <= m; j += 8) {
      m0 = _mm_min_pd(m0, _mm_sub_pd(_mm_sub_pd(_mm_loadu_pd(c + j), shift), _mm_loadu_pd(v + j)));
      m1 = _mm_min_pd(
          m1, _mm_sub_pd(_mm_sub_pd(_mm_loadu_pd(c + j + 2), shift), _mm_loadu_pd(v + j + 2)));
      m2 = _mm_min_pd(
          m2, _mm_sub_pd(_mm_sub_pd(_mm_loadu_pd(c + j + 4), shift), _mm_loadu_pd(v + j + 4)));
      m3 = _mm_min_pd(
          m3, _mm_sub_pd(_mm_sub_pd(_mm_loadu_pd(c + j + 6), shift), _mm_loadu_pd(v + j + 6)));
    }
    __m128d both = _mm_min_pd(_mm_min_pd(m0, m1), _mm_min_pd(m2, m3));
    double lanes[2];
    _mm_storeu_pd(lanes, both);
    smallest = lanes[0] < lanes[1] ? lanes[0] : lanes[1];
  }
#endif
  for (; j < m; ++j) {
    double reduced = c[j] - u - v[j];
    smallest = reduced < smallest ? reduced : smallest;
  }
  return smallest;
}

/* Block search: the arc with the most negative reduced cost among the next few rows (at least
 * `block` arcs), starting at *next_row; rows are visited cyclically until a negative one is
 * found or every arc was priced. Returns 0 when no arc has reduced cost below -tolerance. */
static int find_entering_arc(const tree *t, int32_t block_rows, double tolerance, int32_t *next_row,
                             int32_t *enter_row, int32_t *enter_col) {
  const int32_t n = t->n, m = t->m;
  const double *v = t->pot + n;
  double best = -tolerance;
  int32_t best_row = -1;
  int32_t row = *next_row;
  for (int32_t visited = 0; visited < n;) {
    int32_t block_end = visited + block_rows < n ? visited + block_rows : n;
    for (; visited < block_end; ++visited) {
      double smallest = row_minimum(t->cost + (size_t)row * m, v, t->pot[row], m);
      if (smallest < best) best = smallest, best_row = row;
      row = row + 1 == n ? 0 : row + 1;
    }
    if (best_row >= 0) {
      /* the first column of that row where the minimum is reached */
      const double *c = t->cost + (size_t)best_row * m;
      const double u = t->pot[best_row];
      int32_t col = 0;
      while (c[col] - u - v[col] != best) ++col;
      *next_row = row;
      *enter_row = best_row;
      *enter_col = col;
      return 1;
    }
  }
  return 0;
}

/* One pivot on entering arc (i, j). */
static void pivot(tree *t, int32_t i, int32_t j_col) {
  const int32_t n = t->n;
  const int32_t jn = n + j_col;
  /* Walk both ends up to the apex. Decreasing arcs: on the side of i, the arcs above rows; on
   * the side of j, the arcs above columns. Ties: the j side is walked last from the apex, so it
   * wins, and within it the arc nearest the apex; on the i side the arc nearest i. */
  double theta_i = INFINITY, theta_j = INFINITY;
  int32_t leave_i = -1, leave_j = -1;
  int32_t x = i, y = jn;
  /* A proper ancestor has a larger subtree, so the end with the smaller subtree (either one on
   * a tie) is not above the apex and may step up. */
  while (x != y) {
    if (t->size[x] <= t->size[y]) {
      if (x < n && t->flow[x] < theta_i) theta_i = t->flow[x], leave_i = x;
      x = t->parent[x];
    } else {
      if (y >= n && t->flow[y] <= theta_j) theta_j = t->flow[y], leave_j = y;
      y = t->parent[y];
    }
  }
  const int32_t apex = x;
  const double reduced = t->cost[(size_t)i * t->m + j_col] - t->pot[i] - t->pot[jn];
  const int on_j_side = theta_j <= theta_i;
  const double theta = on_j_side ? theta_j : theta_i;
  const int32_t leave = on_j_side ? leave_j : leave_i;

  if (theta > 0.0) {
    for (x = i; x != apex; x = t->parent[x]) t->flow[x] += x < n ? -theta : theta;
    for (y = jn; y != apex; y = t->parent[y]) t->flow[y] += y >= n ? -theta : theta;
  }

  /* Cut the leaving arc; the subtree below it holds `inside`, the entering arc's end on that
   * side. Re-hang it from the other end by reversing the parent path from `inside` up to
   * `leave`; each arc's flow moves with it to its new child end. */
  const int32_t inside = on_j_side ? jn : i, outside = on_j_side ? i : jn;
  /* Subtree sizes: the cut subtree (moved_size nodes) leaves the path from the leaving arc up
   * to the apex and joins the path from `outside` up to the apex; above the apex nothing
   * changes. On the reversed path, node s_t (t >= 1) keeps all but the part it had below
   * s_{t-1}: moved_size - old size of s_{t-1}. */
  const int32_t moved_size = t->size[leave];
  for (x = t->parent[leave]; x != apex; x = t->parent[x]) t->size[x] -= moved_size;
  for (x = outside; x != apex; x = t->parent[x]) t->size[x] += moved_size;
  int32_t current = inside, new_parent = outside;
  int32_t below_size = 0;
  double new_flow = theta;
  for (;;) {
    int32_t old_parent = t->parent[current];
    double old_flow = t->flow[current];
    int32_t old_size = t->size[current];
    remove_child(t, old_parent, current);
    add_child(t, new_parent, current);
    t->flow[current] = new_flow;
    t->size[current] = moved_size - below_size;
    if (current == leave) break;
    below_size = old_size;
    new_parent = current;
    new_flow = old_flow;
    current = old_parent;
  }
  /* Potentials are defined up to a constant: shift whichever side of the entering arc is
   * smaller so that the entering arc becomes tight. */
  const double row_shift = inside < n ? reduced : -reduced;
  if (2 * moved_size <= t->nodes)
    shift_subtree(t, inside, -1, row_shift);
  else
    shift_subtree(t, 0, inside, -row_shift);
}

void emd_network_simplex_solve(const emd_dense_problem *problem, int64_t max_iter, void *workspace,
                               emd_basic_solution *solution) {
  const int32_t n = problem->n, m = problem->m, nodes = n + m;
  char *cursor = workspace;
  tree t;
  t.n = n, t.m = m, t.nodes = nodes, t.cost = problem->cost;
  t.parent = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.first_child = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.next_sibling = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.prev_sibling = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.size = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.stack = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.flow = carve(&cursor, (size_t)nodes * sizeof(double));
  t.pot = carve(&cursor, (size_t)nodes * sizeof(double));
  build_initial_tree(&t, problem, cursor);

  /* Reduced costs are trusted down to a few hundred ulps of the largest cost. */
  double largest = 0.0;
  for (size_t e = 0; e < (size_t)n * m; ++e) {
    double magnitude = fabs(problem->cost[e]);
    if (magnitude > largest) largest = magnitude;
  }
  const double tolerance = largest * 1e-13;
  double block_arcs = sqrt((double)n * (double)m);
  int32_t block_rows = (int32_t)ceil(block_arcs / m);
  if (block_rows < 1) block_rows = 1;

  int64_t iterations = 0;
  int status = NORMOT_EMD_OPTIMAL;
  int32_t next_row = 0, enter_row, enter_col;
  while (find_entering_arc(&t, block_rows, tolerance, &next_row, &enter_row, &enter_col)) {
    if (max_iter > 0 && iterations >= max_iter) {
      status = NORMOT_EMD_MAX_ITER_REACHED;
      break;
    }
    pivot(&t, enter_row, enter_col);
    ++iterations;
  }

  /* Fresh potentials from the root, then the basic arcs. */
  t.pot[0] = 0.0;
  refresh_subtree(&t, 0);
  memcpy(solution->u, t.pot, (size_t)n * sizeof(double));
  memcpy(solution->v, t.pot + n, (size_t)m * sizeof(double));
  int64_t count = 0;
  for (int32_t x = 1; x < nodes; ++x) {
    int32_t p = t.parent[x];
    solution->row[count] = x < n ? x : p;
    solution->col[count] = (x < n ? p : x) - n;
    solution->flow[count] = t.flow[x];
    ++count;
  }
  solution->count = count;
  solution->iterations = iterations;
  solution->status = status;
}
