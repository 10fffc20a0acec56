/* The primal network simplex on a sparse bipartite graph (an arc list that may grow).
 *
 * Nodes 0..n-1 are the rows (supplies a_i), n..n+m-1 the columns (demands b_j), and one more,
 * the root (n + m), is joined to every row by an artificial arc row -> root and to every
 * column by an artificial arc root -> column, each of cost `artificial_cost`. The start basis
 * is those 2 artificial stars, carrying a_i and b_j; it is strongly feasible because every
 * flow is positive. The artificial cost is larger than half of any alternating path of real
 * arcs can save (nodes x the largest |cost|), so an optimal basis carries no artificial flow
 * unless the real arcs cannot carry the marginals (the problem is then infeasible).
 *
 * Potentials pot[] give an arc x -> y the reduced cost cost - pot[x] + pot[y]; the duals of
 * the transportation problem are u_i = pot[i] and v_j = -pot[n + j]. The tree is stored as in
 * the dense solver (emd_network_simplex.c): parent pointers, the preorder thread
 * (emd_tree_links.h), subtree sizes, the flow of the arc above each node and that arc's id (-1
 * for an artificial arc). The arc above
 * a row always points up (row -> column or row -> root), the arc above a column down, so the
 * pivot rules of the dense solver apply unchanged, including Cunningham's leaving-arc rule that
 * keeps the tree strongly feasible.
 *
 * Arcs are only ever appended, so the ids held by the tree stay valid: a caller that adds arcs
 * and runs again resumes from the last optimal basis (a warm start). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "emd_solvers.h"
#include "emd_tree_links.h"
#include "normot/normot.h"

struct emd_sparse_simplex {
  int32_t n, m, nodes, root;
  double artificial_cost, tolerance;
  const emd_arc_list *arcs;
  int32_t *parent, *size, *thread, *rev_thread, *last, *path, *segments;
  int64_t *parent_arc;
  double *flow, *pot;
  int64_t next_arc; /* where pricing resumes */
};

int emd_arc_list_reserve(emd_arc_list *arcs, int64_t capacity) {
  if (capacity <= arcs->capacity) return 1;
  int32_t *row = realloc(arcs->row, (size_t)capacity * sizeof *row);
  if (row == NULL) return 0;
  arcs->row = row;
  int32_t *col = realloc(arcs->col, (size_t)capacity * sizeof *col);
  if (col == NULL) return 0;
  arcs->col = col;
  double *cost = realloc(arcs->cost, (size_t)capacity * sizeof *cost);
  if (cost == NULL) return 0;
  arcs->cost = cost;
  arcs->capacity = capacity;
  return 1;
}

int emd_arc_list_push(emd_arc_list *arcs, int32_t row, int32_t col, double cost) {
  if (arcs->count == arcs->capacity &&
      !emd_arc_list_reserve(arcs, arcs->capacity < 1024 ? 1024 : 2 * arcs->capacity))
    return 0;
  arcs->row[arcs->count] = row, arcs->col[arcs->count] = col, arcs->cost[arcs->count] = cost;
  ++arcs->count;
  return 1;
}

void emd_arc_list_free(emd_arc_list *arcs) {
  free(arcs->row), free(arcs->col), free(arcs->cost);
  memset(arcs, 0, sizeof *arcs);
}

double emd_sparse_tolerance(double cost_bound, int64_t nodes) {
  /* Reduced costs are trusted down to a few hundred ulps of the largest cost, and of the
   * artificial cost (nodes x that) that the potentials may carry while artificial arcs are in
   * the tree. */
  const double scale = cost_bound > 0.0 ? cost_bound : 1.0;
  return scale * (1e-13 + 1e-15 * (double)nodes);
}

void emd_sparse_simplex_destroy(emd_sparse_simplex *s) {
  if (s == NULL) return;
  free(s->parent), free(s->size), free(s->thread), free(s->rev_thread), free(s->last);
  free(s->path), free(s->segments), free(s->parent_arc), free(s->flow), free(s->pot);
  free(s);
}

static inline double parent_arc_cost(const emd_sparse_simplex *s, int32_t x) {
  int64_t arc = s->parent_arc[x];
  return arc < 0 ? s->artificial_cost : s->arcs->cost[arc];
}

/* Sets every potential from the root's along the preorder (parents before children). */
static void refresh_potentials(emd_sparse_simplex *s) {
  for (int32_t x = s->thread[s->root]; x != s->root; x = s->thread[x]) {
    double cost = parent_arc_cost(s, x);
    s->pot[x] = s->pot[s->parent[x]] + (x < s->n ? cost : -cost);
  }
}

/* Adds `delta` to the potentials of `count` nodes of the preorder from `first` on. */
static void shift_run(emd_sparse_simplex *s, int32_t first, int32_t count, double delta) {
  int32_t x = first;
  for (int32_t c = 0; c < count; ++c, x = s->thread[x]) s->pot[x] += delta;
}

emd_sparse_simplex *emd_sparse_simplex_create(const emd_sparse_setup *setup) {
  emd_sparse_simplex *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  const int32_t n = setup->n, m = setup->m, nodes = n + m + 1;
  s->n = n, s->m = m, s->nodes = nodes, s->root = n + m;
  double bound = setup->cost_bound > 0.0 ? setup->cost_bound : 1.0;
  s->artificial_cost = bound * (double)nodes;
  s->tolerance = emd_sparse_tolerance(bound, nodes);
  const size_t count = (size_t)nodes;
  s->parent = malloc(count * sizeof(int32_t));
  s->size = malloc(count * sizeof(int32_t));
  s->thread = malloc(count * sizeof(int32_t));
  s->rev_thread = malloc(count * sizeof(int32_t));
  s->last = malloc(count * sizeof(int32_t));
  s->path = malloc(count * sizeof(int32_t));
  s->segments = malloc(4 * count * sizeof(int32_t));
  s->parent_arc = malloc(count * sizeof(int64_t));
  s->flow = malloc(count * sizeof(double));
  s->pot = malloc(count * sizeof(double));
  if (!s->parent || !s->size || !s->thread || !s->rev_thread || !s->last || !s->path ||
      !s->segments || !s->parent_arc || !s->flow || !s->pot) {
    emd_sparse_simplex_destroy(s);
    return NULL;
  }
  /* The stars: the root first in the preorder, then every row and column as a leaf. */
  for (int32_t x = 0; x < nodes; ++x) {
    const int32_t next = x + 1 < nodes ? x + 1 : 0, node = x == 0 ? s->root : x - 1;
    const int32_t following = next == 0 ? s->root : next - 1;
    s->thread[node] = following, s->rev_thread[following] = node;
    s->last[node] = node;
    s->parent[node] = node == s->root ? -1 : s->root;
    s->size[node] = 1;
    s->parent_arc[node] = -1;
    s->flow[node] = node == s->root ? 0.0 : node < n ? setup->a[node] : setup->b[node - n];
  }
  s->last[s->root] = nodes > 1 ? nodes - 2 : s->root;
  s->size[s->root] = nodes;
  s->pot[s->root] = 0.0;
  refresh_potentials(s);
  return s;
}

/* Block search: the most negative reduced cost among the next `block` arcs from the cursor,
 * blocks visited cyclically until one holds a negative arc or every arc was priced. */
static int64_t find_entering_arc(emd_sparse_simplex *s, int64_t block) {
  const emd_arc_list *arcs = s->arcs;
  const int64_t count = arcs->count;
  const int32_t n = s->n;
  const double *pot = s->pot;
  double best = -s->tolerance;
  int64_t best_arc = -1, e = s->next_arc < count ? s->next_arc : 0;
  for (int64_t visited = 0; visited < count;) {
    int64_t block_end = visited + block < count ? visited + block : count;
    for (; visited < block_end; ++visited) {
      double reduced = arcs->cost[e] - pot[arcs->row[e]] + pot[n + arcs->col[e]];
      if (reduced < best) best = reduced, best_arc = e;
      e = e + 1 == count ? 0 : e + 1;
    }
    if (best_arc >= 0) {
      s->next_arc = e;
      return best_arc;
    }
  }
  return -1;
}

/* Re-hangs the subtree cut below `leave` from `outside` through the entering arc: the parent
 * path from `inside` up to `leave` is reversed, each arc moving with its flow to its new child
 * end. */
typedef struct rehang {
  int32_t inside, outside, leave, apex;
  int64_t entering_arc;
  double theta;
} rehang;

static void rehang_subtree(emd_sparse_simplex *s, const rehang *r) {
  const int32_t moved_size = s->size[r->leave];
  for (int32_t x = s->parent[r->leave]; x != r->apex; x = s->parent[x]) s->size[x] -= moved_size;
  for (int32_t x = r->outside; x != r->apex; x = s->parent[x]) s->size[x] += moved_size;
  int32_t current = r->inside, new_parent = r->outside, below_size = 0;
  double new_flow = r->theta;
  int64_t new_arc = r->entering_arc;
  for (;;) {
    int32_t old_parent = s->parent[current], old_size = s->size[current];
    double old_flow = s->flow[current];
    int64_t old_arc = s->parent_arc[current];
    s->parent[current] = new_parent;
    s->flow[current] = new_flow;
    s->parent_arc[current] = new_arc;
    s->size[current] = moved_size - below_size;
    if (current == r->leave) break;
    below_size = old_size;
    new_parent = current;
    new_flow = old_flow;
    new_arc = old_arc;
    current = old_parent;
  }
}

/* One pivot on entering arc `arc` (row i -> column j): the same walk, ratio test and tie
 * rules as the dense solver. */
static void pivot(emd_sparse_simplex *s, int64_t arc) {
  const int32_t n = s->n, i = s->arcs->row[arc], jn = n + s->arcs->col[arc];
  double theta_i = INFINITY, theta_j = INFINITY;
  int32_t leave_i = -1, leave_j = -1, x = i, y = jn;
  while (x != y) {
    if (s->size[x] <= s->size[y]) {
      if (x < n && s->flow[x] < theta_i) theta_i = s->flow[x], leave_i = x;
      x = s->parent[x];
    } else {
      if (y >= n && s->flow[y] <= theta_j) theta_j = s->flow[y], leave_j = y;
      y = s->parent[y];
    }
  }
  const int32_t apex = x;
  const double reduced = s->arcs->cost[arc] - s->pot[i] + s->pot[jn];
  const int on_j_side = theta_j <= theta_i;
  const double theta = on_j_side ? theta_j : theta_i;
  if (theta > 0.0) {
    for (x = i; x != apex; x = s->parent[x]) s->flow[x] += x < n ? -theta : theta;
    for (y = jn; y != apex; y = s->parent[y]) s->flow[y] += y >= n ? -theta : theta;
  }
  rehang r = {
      on_j_side ? jn : i, on_j_side ? i : jn, on_j_side ? leave_j : leave_i, apex, arc, theta};
  int32_t path_length = 0;
  for (x = r.inside;; x = s->parent[x]) {
    s->path[path_length++] = x;
    if (x == r.leave) break;
  }
  const int32_t moved_size = s->size[r.leave];
  const emd_thread_tree order = {s->parent, s->thread, s->rev_thread,
                                 s->last,   s->path,   s->segments};
  const int32_t tail = emd_thread_rehang(&order, path_length, r.outside);
  rehang_subtree(s, &r);
  /* Make the entering arc tight by shifting the smaller side of the tree. */
  const double delta = r.inside == i ? reduced : -reduced;
  if (2 * moved_size <= s->nodes)
    shift_run(s, r.inside, moved_size, delta);
  else
    shift_run(s, s->thread[tail], s->nodes - moved_size, -delta);
}

int emd_sparse_simplex_run(emd_sparse_simplex *s, const emd_arc_list *arcs, int64_t max_iter,
                           int64_t *iterations) {
  s->arcs = arcs;
  int64_t block = (int64_t)ceil(sqrt((double)arcs->count));
  if (block < 64) block = 64;
  for (;;) {
    int64_t arc = find_entering_arc(s, block);
    if (arc < 0) break;
    if (max_iter > 0 && *iterations >= max_iter) return NORMOT_EMD_MAX_ITER_REACHED;
    pivot(s, arc);
    ++*iterations;
  }
  /* Fresh potentials, so that rounding of the incremental shifts does not accumulate. */
  s->pot[s->root] = 0.0;
  refresh_potentials(s);
  return NORMOT_EMD_OPTIMAL;
}

int emd_sparse_simplex_leaves_artificial_flow(const emd_sparse_simplex *s, double mass) {
  double total = 0.0;
  for (int32_t x = 0; x < s->n + s->m; ++x)
    if (s->parent[x] == s->root && s->parent_arc[x] < 0) total += s->flow[x];
  return total > fmax(1e-12 * mass, (double)s->nodes * DBL_TRUE_MIN);
}

void emd_sparse_simplex_duals(const emd_sparse_simplex *s, double *u, double *v) {
  for (int32_t i = 0; i < s->n; ++i) u[i] = s->pot[i];
  for (int32_t j = 0; j < s->m; ++j) v[j] = -s->pot[s->n + j];
}

int64_t emd_sparse_simplex_basis(const emd_sparse_simplex *s, int32_t *row, int32_t *col,
                                 double *flow, double *cost) {
  int64_t count = 0;
  for (int32_t x = 0; x < s->n + s->m; ++x) {
    int64_t arc = s->parent_arc[x];
    if (arc < 0) continue;
    row[count] = s->arcs->row[arc], col[count] = s->arcs->col[arc], flow[count] = s->flow[x];
    if (cost != NULL) cost[count] = s->arcs->cost[arc];
    ++count;
  }
  return count;
}
