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
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NORMOT_PRICING_AVX2 1
#include <immintrin.h>
#else
#define NORMOT_PRICING_AVX2 0
#endif

#include "../validate_emd.h"
#include "cpu_features.h"
#include "emd_solvers.h"
#include "emd_tree_links.h"
#include "normot/normot.h"

typedef struct tree {
  int32_t n, m, nodes;
  const double *cost;
  int32_t *parent, *size;
  /* Preorder of the tree as a cyclic list (thread, rev_thread) starting at the root; last[x]
   * is the last node of x's subtree in that order, so a subtree is a run of the list. */
  int32_t *thread, *rev_thread, *last;
  int32_t *path; /* pivot scratch: the path that is re-hung */
  /* Pivot scratch: the cycle's two sides as find_cycle met them, i's from the front and j's
   * from the back, so that the second walk reads a list instead of chasing parents again. */
  int32_t *cycle_nodes;
  int32_t *segments; /* pivot scratch: 4 per node of that path */
  int32_t *skip;     /* the node EMD_THREAD_SKIP places ahead in the thread */
  int32_t *touched;  /* pivot scratch: 3 per node */
  double *flow;      /* flow on the arc between a node and its parent */
  double *pot;
} tree;

/* How the entering arc is searched for. */
typedef struct pricing {
  double tolerance;   /* reduced costs above -tolerance count as zero */
  int32_t block_rows; /* rows per block: at least sqrt(n m) arcs */
  /* The kernels: the smallest reduced cost (c - u) - v of a row of m arcs, and the first column
   * where it equals `target` (which the row reaches). */
  double (*row_minimum)(const double *c, const double *v, double u, int32_t m);
  int32_t (*first_column_at)(const double *c, const double *v, double u, double target, int32_t m);
} pricing;

typedef struct candidate {
  double cost;
  int32_t row, col;
} candidate;

enum { TREE_INT_ARRAYS = 16, BUILD_INT_ARRAYS = 12, BUILD_DOUBLE_ARRAYS = 4 };

size_t emd_network_simplex_workspace_bytes(int32_t n, int32_t m) {
  const size_t nodes = (size_t)n + (size_t)m;
  /* The tree: parent, size, thread, rev_thread, last, path, cycle_nodes, skip, 4 segment slots
   * and 3 touched slots per node (int32), flow and pot (double). The initial solution's scratch:
   * remaining supplies, the arc list (row, col, flow), its adjacency (offsets, 2 entries per arc),
   * the breadth-first order and the child lists, the closed columns, plus one candidate per row. */
  return TREE_INT_ARRAYS * emd_align64(nodes * sizeof(int32_t)) +
         2 * emd_align64(nodes * sizeof(double)) +
         BUILD_INT_ARRAYS * emd_align64((nodes + 1) * sizeof(int32_t)) +
         BUILD_DOUBLE_ARRAYS * emd_align64(nodes * sizeof(double)) +
         emd_align64((size_t)n * sizeof(candidate)) + 256;
}

static emd_thread_tree thread_tree(const tree *t) {
  const emd_thread_tree order = {t->parent, t->thread,   t->rev_thread, t->last,
                                 t->path,   t->segments, t->skip,       t->touched};
  return order;
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

/* Sets every potential from the root's along the preorder (parents come before children). */
static void refresh_potentials(tree *t) {
  for (int32_t x = t->thread[0]; x != 0; x = t->thread[x])
    t->pot[x] = arc_cost(t, x, t->parent[x]) - t->pot[t->parent[x]];
}

static int compare_candidates(const void *left, const void *right) {
  const candidate *l = left, *r = right;
  if (l->cost != r->cost) return l->cost < r->cost ? -1 : 1;
  if (l->row != r->row) return l->row < r->row ? -1 : 1;
  return (l->col > r->col) - (l->col < r->col);
}

/* The smallest reduced cost of one row. Pricing is most of the work, so with SSE2 (every
 * x86-64) it runs four independent vector minima, which hides the latency of each; a plain
 * minimum is exact in any order, so the result is the same bits either way. */
static double row_minimum(const double *c, const double *v, double u, int32_t m) {
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

/* The first column of a row where the reduced cost (c - u) - v equals `target`, which the row
 * reaches. */
static int32_t first_column_at(const double *c, const double *v, double u, double target,
                               int32_t m) {
  (void)m;
  int32_t col = 0;
  while (c[col] - u - v[col] != target) ++col;
  return col;
}

#if NORMOT_PRICING_AVX2
/* row_minimum and first_column_at with four lanes of AVX2: the same arithmetic per entry, so
 * the same bits. */
__attribute__((target("avx2"))) static double row_minimum_avx2(const double *c, const double *v,
                                                               double u, int32_t m) {
  if (m < 4) return row_minimum(c, v, u, m);
  const __m256d shift = _mm256_set1_pd(u);
  __m256d m0 = _mm256_set1_pd(INFINITY), m1 = m0, m2 = m0, m3 = m0;
  int32_t j = 0;
#define NORMOT_LANE(acc, at)                                                                  \
  (acc) = _mm256_min_pd((acc), _mm256_sub_pd(_mm256_sub_pd(_mm256_loadu_pd(c + (at)), shift), \
                                             _mm256_loadu_pd(v + (at))))
  for (; j + 16 <= m; j += 16) {
    NORMOT_LANE(m0, j);
    NORMOT_LANE(m1, j + 4);
    NORMOT_LANE(m2, j + 8);
    NORMOT_LANE(m3, j + 12);
  }
  for (; j + 4 <= m; j += 4) NORMOT_LANE(m1, j);
  /* The last columns in one vector that overlaps columns already seen: a minimum does not mind
   * seeing a value twice, and a scalar tail would be a chain of dependent minima. */
  if (j < m) NORMOT_LANE(m2, m - 4);
#undef NORMOT_LANE
  __m256d both = _mm256_min_pd(_mm256_min_pd(m0, m1), _mm256_min_pd(m2, m3));
  __m128d half = _mm_min_pd(_mm256_castpd256_pd128(both), _mm256_extractf128_pd(both, 1));
  return _mm_cvtsd_f64(_mm_min_sd(half, _mm_unpackhi_pd(half, half)));
}

__attribute__((target("avx2"))) static int32_t first_column_at_avx2(const double *c,
                                                                    const double *v, double u,
                                                                    double target, int32_t m) {
  const __m256d shift = _mm256_set1_pd(u), wanted = _mm256_set1_pd(target);
  int32_t j = 0;
  for (; j + 4 <= m; j += 4) {
    __m256d reduced =
        _mm256_sub_pd(_mm256_sub_pd(_mm256_loadu_pd(c + j), shift), _mm256_loadu_pd(v + j));
    int mask = _mm256_movemask_pd(_mm256_cmp_pd(reduced, wanted, _CMP_EQ_OQ));
    if (mask != 0) return j + __builtin_ctz((unsigned)mask);
  }
  return j + first_column_at(c + j, v + j, u, target, m - j);
}
#endif

/* Rows are priced in runs of PRICING_RUN columns: the first run that reaches a row's minimum
 * holds the first column where it is reached, so that column's search starts there instead of
 * at the row's start (about half a row less to scan on a long row). */
enum { PRICING_RUN = 256 };

/* A row's smallest reduced cost and the start of the first run that reaches it. */
typedef struct row_scan {
  double smallest;
  int32_t from;
} row_scan;

/* The smallest reduced cost of row c (m columns) under potentials u and v. */
static row_scan row_minimum_from(const pricing *p, const double *c, const double *v, double u,
                                 int32_t m) {
  row_scan scan = {INFINITY, 0};
  for (int32_t s = 0; s < m; s += PRICING_RUN) {
    const double run = p->row_minimum(c + s, v + s, u, m - s < PRICING_RUN ? m - s : PRICING_RUN);
    if (run < scan.smallest) scan.smallest = run, scan.from = s;
  }
  return scan;
}

/* The first column of row c where the reduced cost is scan.smallest. */
static int32_t column_at(const pricing *p, const double *c, const double *v, double u, int32_t m,
                         row_scan scan) {
  return scan.from +
         p->first_column_at(c + scan.from, v + scan.from, u, scan.smallest, m - scan.from);
}

/* The initial allocation: what each row and column has left, and the arcs given flow. */
typedef struct allocation {
  double *row_left, *col_left;
  int32_t *arc_row, *arc_col;
  double *arc_flow;
  int32_t arcs;
} allocation;

/* Sends min(what row i has left, what column j still needs) along (i, j); that exhausts the
 * row or the column, which is what keeps the arcs a forest. */
static inline void allocate(allocation *al, int32_t i, int32_t j) {
  double *row_left = al->row_left, *col_left = al->col_left;
  double amount = row_left[i] <= col_left[j] ? row_left[i] : col_left[j];
  al->arc_row[al->arcs] = i, al->arc_col[al->arcs] = j, al->arc_flow[al->arcs++] = amount;
  if (row_left[i] <= col_left[j]) {
    col_left[j] -= row_left[i];
    row_left[i] = 0.0;
  } else {
    row_left[i] -= col_left[j];
    col_left[j] = 0.0;
  }
}

/* Each row's cheapest arc, sorted cheapest first (ties: by row). The pricing kernels with no
 * potentials (u = 0, v = `zero`) give a row's smallest cost and its first column. */
static void cheapest_arcs(const emd_dense_problem *problem, const pricing *p, const double *zero,
                          candidate *candidates) {
  const int32_t n = problem->n, m = problem->m;
  for (int32_t i = 0; i < n; ++i) {
    const double *row = problem->cost + (size_t)i * m;
    const row_scan scan = row_minimum_from(p, row, zero, 0.0, m);
    candidates[i].cost = scan.smallest, candidates[i].row = i;
    candidates[i].col = column_at(p, row, zero, 0.0, m, scan);
  }
  qsort(candidates, (size_t)n, sizeof *candidates, compare_candidates);
}

/* Initial basic solution: first a greedy pass over the cheapest arc of every row, cheapest
 * first (a sampled "matrix minimum" rule); then every row that still has mass sends it to its
 * cheapest columns that still need some ("row minimum"). Every allocation exhausts its row or
 * its column, so the arcs form a forest; whatever rounding leaves over is settled when the
 * flows are recomputed from the tree. The row minimum runs on the pricing kernels: `closed`
 * holds 0 for a column that still needs mass and -Inf for one that does not, so that a closed
 * column's reduced cost c - 0 - closed is +Inf and an open one's is its cost, exactly. */
static void initial_allocation(const emd_dense_problem *problem, const pricing *p, double *closed,
                               candidate *candidates, allocation *al) {
  const int32_t n = problem->n, m = problem->m;
  memcpy(al->row_left, problem->a, (size_t)n * sizeof(double));
  memcpy(al->col_left, problem->b, (size_t)m * sizeof(double));
  al->arcs = 0;
  memset(closed, 0, (size_t)m * sizeof(double));
  cheapest_arcs(problem, p, closed, candidates);
  for (int32_t e = 0; e < n; ++e) {
    int32_t i = candidates[e].row, j = candidates[e].col;
    if (al->row_left[i] > 0.0 && al->col_left[j] > 0.0) allocate(al, i, j);
  }
  for (int32_t j = 0; j < m; ++j)
    if (!(al->col_left[j] > 0.0)) closed[j] = -INFINITY;
  for (int32_t i = 0; i < n; ++i) {
    const double *row = problem->cost + (size_t)i * m;
    while (al->row_left[i] > 0.0) {
      const row_scan scan = row_minimum_from(p, row, closed, 0.0, m);
      if (scan.smallest == INFINITY) break; /* only rounding is left in this row */
      const int32_t best = column_at(p, row, closed, 0.0, m, scan);
      allocate(al, i, best);
      if (!(al->col_left[best] > 0.0)) closed[best] = -INFINITY;
    }
  }
}

/* The scratch of the initial tree's construction. */
typedef struct build_scratch {
  double *left;
  int32_t *offset, *neighbour, *order, *fill;
  emd_tree_links links;
} build_scratch;

/* The forest of the allocation as adjacency lists (offset, neighbour). */
static void forest_adjacency(const tree *t, const allocation *al, build_scratch *b) {
  const int32_t n = t->n, nodes = t->nodes;
  memset(b->offset, 0, ((size_t)nodes + 1) * sizeof(int32_t));
  for (int32_t e = 0; e < al->arcs; ++e)
    ++b->offset[al->arc_row[e] + 1], ++b->offset[n + al->arc_col[e] + 1];
  for (int32_t x = 0; x < nodes; ++x) b->offset[x + 1] += b->offset[x];
  memcpy(b->fill, b->offset, (size_t)nodes * sizeof(int32_t));
  for (int32_t e = 0; e < al->arcs; ++e) {
    b->neighbour[b->fill[al->arc_row[e]]++] = n + al->arc_col[e];
    b->neighbour[b->fill[n + al->arc_col[e]]++] = al->arc_row[e];
  }
}

static void hang(tree *t, build_scratch *b, int32_t parent, int32_t child, int32_t *reached) {
  emd_tree_add_child(&b->links, parent, child);
  b->order[(*reached)++] = child;
}

/* Spanning tree from the forest: the component of row 0 hangs from the root; every other
 * component is joined by a zero-flow arc from one of its rows up to a column already in the
 * tree (the cheapest), which points towards the root. b->order lists the nodes parents first. */
static void span_forest(tree *t, const emd_dense_problem *problem, build_scratch *b) {
  const int32_t n = t->n, m = t->m, nodes = t->nodes;
  for (int32_t x = 0; x < nodes; ++x) {
    t->parent[x] = -2; /* not reached yet */
    b->links.first_child[x] = -1;
  }
  int32_t reached = 0, head = 0, anchor_column = -1, next_row = 1;
  t->parent[0] = -1;
  b->links.next_sibling[0] = b->links.prev_sibling[0] = -1;
  b->order[reached++] = 0;
  while (reached < nodes) {
    while (head < reached) { /* breadth-first over the current component */
      int32_t x = b->order[head++];
      for (int32_t k = b->offset[x]; k < b->offset[x + 1]; ++k) {
        int32_t y = b->neighbour[k];
        if (t->parent[y] != -2) continue;
        hang(t, b, x, y, &reached);
        if (anchor_column < 0 && y >= n) anchor_column = y;
      }
    }
    while (next_row < n && t->parent[next_row] != -2) ++next_row;
    if (next_row < n) {
      /* a new component, through one of its rows, with a zero-flow arc pointing up */
      if (anchor_column < 0) anchor_column = n; /* row 0 had no arc: only when m == 1 ... */
      if (t->parent[anchor_column] == -2) hang(t, b, 0, anchor_column, &reached);
      /* ... up to the cheapest column already in the tree, which starts the potentials of
       * the new component near where they will end */
      const double *cost_row = problem->cost + (size_t)next_row * m;
      int32_t up = anchor_column;
      for (int32_t y = 0; y < m; ++y)
        if (t->parent[n + y] != -2 && cost_row[y] < cost_row[up - n]) up = n + y;
      hang(t, b, up, next_row, &reached);
      continue;
    }
    /* Columns no arc reached (cannot happen: the last row serves every column); hang them from
     * row 0 so that the tree spans all nodes. */
    for (int32_t y = n; y < nodes; ++y)
      if (t->parent[y] == -2) hang(t, b, 0, y, &reached);
  }
}

/* Flows by conservation, leaves first (the arc above a row carries its subtree's surplus up,
 * the arc above a column its subtree's deficit down), subtree sizes, and the preorder thread. */
static void finish_tree(tree *t, const emd_dense_problem *problem, build_scratch *b) {
  const int32_t n = t->n, m = t->m, nodes = t->nodes;
  double *left = b->left;
  for (int32_t x = 0; x < n; ++x) left[x] = problem->a[x];
  for (int32_t y = 0; y < m; ++y) left[n + y] = -problem->b[y];
  for (int32_t x = 0; x < nodes; ++x) t->size[x] = 1;
  for (int32_t r = nodes - 1; r > 0; --r) {
    int32_t x = b->order[r];
    t->size[t->parent[x]] += t->size[x];
    double surplus = left[x];
    double carried = x < n ? surplus : -surplus;
    t->flow[x] = carried > 0.0 ? carried : 0.0;
    left[t->parent[x]] += surplus;
  }
  t->flow[0] = 0.0;
  /* Depth first from the root: any order of the children gives a preorder. */
  int32_t *stack = b->offset, *preorder = b->order;
  int32_t depth = 0, count = 0;
  stack[depth++] = 0;
  while (depth > 0) {
    int32_t x = stack[--depth];
    preorder[count++] = x;
    for (int32_t c = b->links.first_child[x]; c >= 0; c = b->links.next_sibling[c])
      stack[depth++] = c;
  }
  for (int32_t k = 0; k < nodes; ++k) {
    const int32_t next = preorder[k + 1 < nodes ? k + 1 : 0];
    t->thread[preorder[k]] = next, t->rev_thread[next] = preorder[k];
    t->last[preorder[k]] = preorder[k + t->size[preorder[k]] - 1];
  }
  const emd_thread_tree order = thread_tree(t);
  emd_thread_skip_all(&order, nodes);
  t->pot[0] = 0.0;
  refresh_potentials(t);
}

static void build_initial_tree(tree *t, const emd_dense_problem *problem, const pricing *p,
                               char *scratch) {
  const int32_t n = t->n, nodes = t->nodes;
  char *cursor = scratch;
  build_scratch b;
  b.left = carve(&cursor, (size_t)nodes * sizeof(double));
  b.offset = carve(&cursor, ((size_t)nodes + 1) * sizeof(int32_t));
  b.neighbour = carve(&cursor, 2 * (size_t)nodes * sizeof(int32_t));
  b.order = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  b.fill = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  b.links.parent = t->parent;
  b.links.first_child = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  b.links.next_sibling = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  b.links.prev_sibling = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  allocation al = {b.left,
                   b.left + n,
                   carve(&cursor, (size_t)nodes * sizeof(int32_t)),
                   carve(&cursor, (size_t)nodes * sizeof(int32_t)),
                   carve(&cursor, (size_t)nodes * sizeof(double)),
                   0};
  double *closed = carve(&cursor, (size_t)t->m * sizeof(double));
  candidate *candidates = carve(&cursor, (size_t)n * sizeof(candidate));
  initial_allocation(problem, p, closed, candidates, &al);
  forest_adjacency(t, &al, &b);
  span_forest(t, problem, &b);
  finish_tree(t, problem, &b);
}

/* Where the block search resumes. On a cost larger than a core's L2 cache (SAME_ROW_MIN_ARCS
 * float64), a row that gave the entering arc is priced first again, up to SAME_ROW_PIVOTS
 * pivots in a row: it is still in cache and often still has a negative arc. Measured on
 * non-uniform 2-D problems: at n = 500 to 2000, 5% to 25% more pivots but 5% to 23% less time
 * than resuming after it (3 was at least as fast as 2, 5, 10 or no limit); at n = 100 and 200,
 * where every row stays cached, the extra pivots made it 8% to 30% slower. */
enum { SAME_ROW_PIVOTS = 3, SAME_ROW_MIN_ARCS = 1 << 16 };

typedef struct search_cursor {
  int32_t next_row, last_row, streak, repeats; /* repeats: SAME_ROW_PIVOTS, or 1 for none */
} search_cursor;

/* Block search: the arc with the most negative reduced cost among the next few rows (at least
 * `block` arcs) from the cursor; rows are visited cyclically until a negative one is found or
 * every arc was priced. Returns 0 when no arc has reduced cost below -tolerance. */
static int find_entering_arc(const tree *t, const pricing *p, search_cursor *cursor,
                             int32_t *enter_row, int32_t *enter_col) {
  const int32_t n = t->n, m = t->m;
  const double *v = t->pot + n;
  row_scan best = {-p->tolerance, 0};
  int32_t best_row = -1;
  int32_t row = cursor->next_row;
  for (int32_t visited = 0; visited < n;) {
    int32_t block_end = visited + p->block_rows < n ? visited + p->block_rows : n;
    for (; visited < block_end; ++visited) {
      const row_scan scan = row_minimum_from(p, t->cost + (size_t)row * m, v, t->pot[row], m);
      if (scan.smallest < best.smallest) best = scan, best_row = row;
      row = row + 1 == n ? 0 : row + 1;
    }
    if (best_row >= 0) {
      *enter_col = column_at(p, t->cost + (size_t)best_row * m, v, t->pot[best_row], m, best);
      if (best_row == cursor->last_row)
        ++cursor->streak;
      else
        cursor->last_row = best_row, cursor->streak = 1;
      cursor->next_row = cursor->streak < cursor->repeats ? best_row : row;
      *enter_row = best_row;
      return 1;
    }
  }
  return 0;
}

/* The cycle that entering arc (i, j) closes: its apex, the leaving arc (the node below it), the
 * flow theta that moves, and how many nodes each side has below the apex (in t->cycle_nodes). */
typedef struct cycle {
  int32_t apex, leave;
  int on_j_side;
  double theta;
  int32_t i_count, j_count;
} cycle;

static emd_cycle_side i_side(const tree *t, const cycle *c) {
  const emd_cycle_side side = {t->cycle_nodes, 1, c->i_count};
  return side;
}

static emd_cycle_side j_side(const tree *t, const cycle *c) {
  const emd_cycle_side side = {t->cycle_nodes + t->nodes - 1, -1, c->j_count};
  return side;
}

static cycle find_cycle(const tree *t, int32_t i, int32_t jn) {
  const int32_t n = t->n;
  /* Walk both ends up to the apex. Decreasing arcs: on the side of i, the arcs above rows; on
   * the side of j, the arcs above columns. Ties: the j side is walked last from the apex, so it
   * wins, and within it the arc nearest the apex; on the i side the arc nearest i. */
  double theta_i = INFINITY, theta_j = INFINITY;
  int32_t leave_i = -1, leave_j = -1;
  int32_t x = i, y = jn;
  int32_t *i_nodes = t->cycle_nodes, *j_nodes = t->cycle_nodes + t->nodes - 1;
  /* A proper ancestor has a larger subtree, so the end with the smaller subtree (either one on
   * a tie) is not above the apex and may step up. */
  int32_t size_x = t->size[x], size_y = t->size[y];
  while (x != y) {
    /* the same steps as alternating one at a time, in runs that the branch predictor follows */
    for (; size_x <= size_y && x != y; size_x = t->size[x]) {
      if (x < n && t->flow[x] < theta_i) theta_i = t->flow[x], leave_i = x;
      *i_nodes++ = x;
      x = t->parent[x];
    }
    for (; size_y < size_x; size_y = t->size[y]) {
      if (y >= n && t->flow[y] <= theta_j) theta_j = t->flow[y], leave_j = y;
      *j_nodes-- = y;
      y = t->parent[y];
    }
  }
  cycle c;
  c.apex = x;
  c.on_j_side = theta_j <= theta_i;
  c.theta = c.on_j_side ? theta_j : theta_i;
  c.leave = c.on_j_side ? leave_j : leave_i;
  c.i_count = (int32_t)(i_nodes - t->cycle_nodes);
  c.j_count = (int32_t)(t->cycle_nodes + t->nodes - 1 - j_nodes);
  return c;
}

/* The cycle's second walk, over the sides find_cycle recorded, fused with the updates: theta
 * moves along the cycle (rows' arcs change by row_change, columns' by -row_change; the i side
 * gives up flow on its rows, the j side on its columns), the path from `inside` up to the
 * leaving arc is recorded in t->path, and the subtree sizes follow the move of the cut subtree
 * (moved nodes) from the inside chain above the leaving arc to the outside chain. Returns the
 * path's length. */
static int32_t walk_cycle(tree *t, const cycle *c) {
  const int32_t n = t->n, moved = t->size[c->leave];
  const emd_cycle_side in = c->on_j_side ? j_side(t, c) : i_side(t, c);
  const emd_cycle_side out = c->on_j_side ? i_side(t, c) : j_side(t, c);
  /* inside is j when the leaving arc is on j's side */
  const double row_change = c->on_j_side ? c->theta : -c->theta;
  const double inside_change[2] = {row_change, -row_change};
  const double outside_change[2] = {-row_change, row_change};
  const int flows_move = c->theta > 0.0;
  int32_t length = 0, k = 0;
  const int32_t *node = in.first;
  for (;; ++k, node += in.step) {
    const int32_t x = *node;
    if (flows_move) t->flow[x] += inside_change[x >= n];
    t->path[length++] = x;
    if (x == c->leave) break;
  }
  for (++k, node += in.step; k < in.count; ++k, node += in.step) {
    const int32_t x = *node;
    if (flows_move) t->flow[x] += inside_change[x >= n];
    t->size[x] -= moved;
  }
  node = out.first;
  for (k = 0; k < out.count; ++k, node += out.step) {
    const int32_t x = *node;
    if (flows_move) t->flow[x] += outside_change[x >= n];
    t->size[x] += moved;
  }
  return length;
}

/* Re-hangs the path s_0 .. s_k below `outside` (parents reversed; each arc's flow moves with it
 * to its new child end) and sets the subtree sizes on it (walk_cycle set those above it). */
static void rehang(tree *t, const cycle *c, int32_t path_length, int32_t outside) {
  const int32_t *path = t->path;
  /* On the reversed path, s_t (t >= 1) keeps all but the part it had below s_{t-1}. */
  const int32_t moved_size = t->size[c->leave];
  int32_t new_parent = outside, below_size = 0;
  double new_flow = c->theta;
  for (int32_t k = 0; k < path_length; ++k) {
    const int32_t x = path[k];
    const double old_flow = t->flow[x];
    const int32_t old_size = t->size[x];
    t->parent[x] = new_parent;
    t->flow[x] = new_flow;
    t->size[x] = moved_size - below_size;
    below_size = old_size, new_parent = x, new_flow = old_flow;
  }
}

/* One pivot on entering arc (i, j). */
static void pivot(tree *t, int32_t i, int32_t j_col) {
  const int32_t n = t->n, jn = n + j_col;
  const double reduced = t->cost[(size_t)i * t->m + j_col] - t->pot[i] - t->pot[jn];
  const cycle c = find_cycle(t, i, jn);
  /* Cut the leaving arc; the subtree below it holds `inside`, the entering arc's end on that
   * side, and is re-hung from the other end. */
  const int32_t inside = c.on_j_side ? jn : i, outside = c.on_j_side ? i : jn;
  const int32_t path_length = walk_cycle(t, &c);
  const int32_t moved_size = t->size[c.leave];
  const emd_thread_tree order = thread_tree(t);
  const int32_t tail = emd_thread_rehang(&order, path_length, outside);
  rehang(t, &c, path_length, outside);
  /* Potentials are defined up to a constant: shift whichever side of the entering arc is
   * smaller so that the entering arc becomes tight (rows by one amount, columns by its
   * opposite, which keeps every arc between them tight). */
  const double row_shift = inside < n ? reduced : -reduced;
  const double inside_shift[2] = {row_shift, -row_shift},
               outside_shift[2] = {-row_shift, row_shift};
  if (2 * moved_size <= t->nodes)
    emd_thread_shift(&order, t->pot, n, inside, moved_size, inside_shift);
  else
    emd_thread_shift(&order, t->pot, n, t->thread[tail], t->nodes - moved_size, outside_shift);
}

/* Block pricing on this CPU's kernels. Reduced costs are trusted down to a few hundred ulps of
 * the largest cost. */
static pricing pricing_rule(const emd_dense_problem *problem) {
  const int32_t n = problem->n, m = problem->m;
  int finite; /* checked before: every cost is finite */
  const double largest = normot_largest_magnitude(problem->cost, (int64_t)n * m, &finite);
  pricing rule = {largest * 1e-13, (int32_t)ceil(sqrt((double)n * (double)m) / m), row_minimum,
                  first_column_at};
#if NORMOT_PRICING_AVX2
  if (normot_cpu_use_avx2())
    rule.row_minimum = row_minimum_avx2, rule.first_column_at = first_column_at_avx2;
#endif
  if (rule.block_rows < 1) rule.block_rows = 1;
  return rule;
}

void emd_network_simplex_solve(const emd_dense_problem *problem, int64_t max_iter, void *workspace,
                               emd_basic_solution *solution) {
  const int32_t n = problem->n, m = problem->m, nodes = n + m;
  char *cursor = workspace;
  tree t;
  t.n = n, t.m = m, t.nodes = nodes, t.cost = problem->cost;
  t.parent = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.size = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.thread = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.rev_thread = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.last = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.path = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.cycle_nodes = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.segments = carve(&cursor, 4 * (size_t)nodes * sizeof(int32_t));
  t.skip = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  t.touched = carve(&cursor, 3 * (size_t)nodes * sizeof(int32_t));
  t.flow = carve(&cursor, (size_t)nodes * sizeof(double));
  t.pot = carve(&cursor, (size_t)nodes * sizeof(double));
  const pricing rule = pricing_rule(problem);
  build_initial_tree(&t, problem, &rule, cursor);

  int64_t iterations = 0;
  int status = NORMOT_EMD_OPTIMAL;
  search_cursor resume = {0, -1, 0, (int64_t)n * m >= SAME_ROW_MIN_ARCS ? SAME_ROW_PIVOTS : 1};
  int32_t enter_row, enter_col;
  while (find_entering_arc(&t, &rule, &resume, &enter_row, &enter_col)) {
    if (max_iter > 0 && iterations >= max_iter) {
      status = NORMOT_EMD_MAX_ITER_REACHED;
      break;
    }
    pivot(&t, enter_row, enter_col);
    ++iterations;
  }

  /* Fresh potentials from the root, then the basic arcs. */
  t.pot[0] = 0.0;
  refresh_potentials(&t);
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
