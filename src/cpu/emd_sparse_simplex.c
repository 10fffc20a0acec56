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
  int32_t *skip, *touched; /* emd_thread_tree's skip pointers and their scratch */
  /* A pivot's cycle as the apex walk met it: i's side from the front, j's from the back, so
   * that the updates read two lists instead of chasing the parents four more times. */
  int32_t *cycle_nodes;
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
  free(s->cycle_nodes), free(s->skip), free(s->touched);
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

static emd_thread_tree thread_tree(const emd_sparse_simplex *s) {
  const emd_thread_tree order = {s->parent, s->thread,   s->rev_thread, s->last,
                                 s->path,   s->segments, s->skip,       s->touched};
  return order;
}

/* Adds `delta` to the potentials of `count` nodes of the preorder from `first` on. */
static void shift_run(const emd_sparse_simplex *s, int32_t first, int32_t count, double delta) {
  const emd_thread_tree order = thread_tree(s);
  const double shift[2] = {delta, delta};
  emd_thread_shift(&order, s->pot, s->nodes, first, count, shift);
}

/* The stars: the root first in the preorder, then every row and column as a leaf. */
static void star_basis(emd_sparse_simplex *s, const emd_sparse_setup *setup) {
  const int32_t n = s->n, nodes = s->nodes;
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
  const emd_thread_tree order = thread_tree(s);
  emd_thread_skip_all(&order, nodes);
  s->pot[s->root] = 0.0;
  s->next_arc = 0;
  refresh_potentials(s);
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
  s->cycle_nodes = malloc(count * sizeof(int32_t));
  s->skip = malloc(count * sizeof(int32_t));
  s->touched = malloc(3 * count * sizeof(int32_t));
  s->parent_arc = malloc(count * sizeof(int64_t));
  s->flow = malloc(count * sizeof(double));
  s->pot = malloc(count * sizeof(double));
  if (!s->parent || !s->size || !s->thread || !s->rev_thread || !s->last || !s->path ||
      !s->segments || !s->cycle_nodes || !s->skip || !s->touched || !s->parent_arc || !s->flow ||
      !s->pot) {
    emd_sparse_simplex_destroy(s);
    return NULL;
  }
  star_basis(s, setup);
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
 * path from `inside` up to `leave` (s->path, path_length nodes) is reversed, each arc moving
 * with its flow to its new child end. The sizes above the cut were moved by the caller. */
typedef struct rehang {
  int32_t inside, outside, leave, apex;
  int64_t entering_arc;
  double theta;
} rehang;

static void rehang_subtree(emd_sparse_simplex *s, const rehang *r, int32_t path_length) {
  const int32_t moved_size = s->size[r->leave];
  int32_t new_parent = r->outside, below_size = 0;
  double new_flow = r->theta;
  int64_t new_arc = r->entering_arc;
  for (int32_t k = 0; k < path_length; ++k) {
    const int32_t current = s->path[k], old_size = s->size[current];
    const double old_flow = s->flow[current];
    const int64_t old_arc = s->parent_arc[current];
    s->parent[current] = new_parent;
    s->flow[current] = new_flow;
    s->parent_arc[current] = new_arc;
    s->size[current] = moved_size - below_size;
    below_size = old_size;
    new_parent = current;
    new_flow = old_flow;
    new_arc = old_arc;
  }
}

/* Flows: theta moves along a side (rows' arcs by row_change, columns' by -row_change). */
static void move_flow(emd_sparse_simplex *s, emd_cycle_side side, double row_change) {
  const int32_t n = s->n;
  const double change[2] = {row_change, -row_change};
  const int32_t *node = side.first;
  for (int32_t k = 0; k < side.count; ++k, node += side.step) s->flow[*node] += change[*node >= n];
}

/* One pivot on entering arc `arc` (row i -> column j): the same walk, ratio test and tie
 * rules as the dense solver. */
static void pivot(emd_sparse_simplex *s, int64_t arc) {
  const int32_t n = s->n, i = s->arcs->row[arc], jn = n + s->arcs->col[arc];
  double theta_i = INFINITY, theta_j = INFINITY;
  int32_t leave_i = -1, leave_j = -1, x = i, y = jn;
  int32_t *i_nodes = s->cycle_nodes, *j_nodes = s->cycle_nodes + s->nodes - 1;
  while (x != y) {
    if (s->size[x] <= s->size[y]) {
      if (x < n && s->flow[x] < theta_i) theta_i = s->flow[x], leave_i = x;
      *i_nodes++ = x;
      x = s->parent[x];
    } else {
      if (y >= n && s->flow[y] <= theta_j) theta_j = s->flow[y], leave_j = y;
      *j_nodes-- = y;
      y = s->parent[y];
    }
  }
  const emd_cycle_side i_side = {s->cycle_nodes, 1, (int32_t)(i_nodes - s->cycle_nodes)};
  const emd_cycle_side j_side = {s->cycle_nodes + s->nodes - 1, -1,
                                 (int32_t)(s->cycle_nodes + s->nodes - 1 - j_nodes)};
  const int32_t apex = x;
  const double reduced = s->arcs->cost[arc] - s->pot[i] + s->pot[jn];
  const int on_j_side = theta_j <= theta_i;
  const double theta = on_j_side ? theta_j : theta_i;
  if (theta > 0.0) {
    move_flow(s, i_side, -theta);
    move_flow(s, j_side, theta);
  }
  rehang r = {
      on_j_side ? jn : i, on_j_side ? i : jn, on_j_side ? leave_j : leave_i, apex, arc, theta};
  /* The stem (inside up to leave) and the sizes above the cut: they lose the cut subtree on the
   * inside's side up to the apex and gain it on the outside's. */
  const emd_cycle_side in = on_j_side ? j_side : i_side, out = on_j_side ? i_side : j_side;
  const int32_t moved_size = s->size[r.leave];
  int32_t path_length = 0, k = 0;
  const int32_t *node = in.first;
  for (;; ++k, node += in.step) {
    s->path[path_length++] = *node;
    if (*node == r.leave) break;
  }
  for (++k, node += in.step; k < in.count; ++k, node += in.step) s->size[*node] -= moved_size;
  node = out.first;
  for (k = 0; k < out.count; ++k, node += out.step) s->size[*node] += moved_size;
  const emd_thread_tree order = thread_tree(s);
  const int32_t tail = emd_thread_rehang(&order, path_length, r.outside);
  rehang_subtree(s, &r, path_length);
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

/* ---- warm start: a spanning tree around a given forest --------------------------------------- */

typedef struct warm_scratch {
  int32_t *set;      /* nodes: union-find links, later the depth-first stack */
  int32_t *anchor;   /* nodes: per component (at its representative) the node hung from the root */
  int32_t *offset;   /* nodes + 1: adjacency of the kept arcs, later of the children */
  int32_t *adjacent; /* 2 x kept, later the children */
  int64_t *via;      /* 2 x kept: the arc to that neighbour */
  int64_t *kept;     /* the given arcs that close no cycle */
  int32_t *order;    /* nodes: parents before children, later the preorder */
  double *left;      /* nodes: supply not yet carried (first: per component, its net supply) */
} warm_scratch;

static int32_t find_set(int32_t *set, int32_t x) {
  while (set[x] != x) x = set[x] = set[set[x]];
  return x;
}

/* Keeps the given arcs that join two components (an arc closing a cycle cannot be basic), and
 * picks each component's anchor: a row when its net supply is positive (the artificial arc
 * row -> root then carries it up), else a column (root -> column carries the deficit down, and
 * a zero flow on it points away from the root). Returns how many arcs were kept. */
static int64_t keep_forest(const emd_sparse_simplex *s, const emd_sparse_setup *setup,
                           const emd_arc_list *arcs, const int64_t *given, int64_t count,
                           warm_scratch *w) {
  const int32_t n = s->n, real = s->n + s->m;
  int64_t kept = 0;
  for (int32_t x = 0; x < real; ++x) w->set[x] = x, w->anchor[x] = -1, w->left[x] = 0.0;
  for (int64_t k = 0; k < count; ++k) {
    const int32_t from = find_set(w->set, arcs->row[given[k]]);
    const int32_t to = find_set(w->set, n + arcs->col[given[k]]);
    if (from != to) w->set[from] = to, w->kept[kept++] = given[k];
  }
  for (int32_t x = 0; x < real; ++x)
    w->left[find_set(w->set, x)] += x < n ? setup->a[x] : -setup->b[x - n];
  for (int32_t x = 0; x < real; ++x) {
    const int32_t r = find_set(w->set, x);
    const int wants_row = w->left[r] > 0.0;
    if (w->anchor[r] < 0 || (wants_row != (w->anchor[r] < n) && wants_row == (x < n)))
      w->anchor[r] = x;
  }
  return kept;
}

static void warm_adjacency(const emd_sparse_simplex *s, const emd_arc_list *arcs, int64_t kept,
                           warm_scratch *w) {
  const int32_t n = s->n, real = s->n + s->m;
  memset(w->offset, 0, ((size_t)real + 1) * sizeof(int32_t));
  for (int64_t k = 0; k < kept; ++k)
    ++w->offset[arcs->row[w->kept[k]] + 1], ++w->offset[n + arcs->col[w->kept[k]] + 1];
  for (int32_t x = 0; x < real; ++x) w->offset[x + 1] += w->offset[x];
  int32_t *fill = w->set; /* the union-find is done with */
  memcpy(fill, w->offset, (size_t)real * sizeof(int32_t));
  for (int64_t k = 0; k < kept; ++k) {
    const int64_t e = w->kept[k];
    const int32_t i = arcs->row[e], j = n + arcs->col[e];
    w->adjacent[fill[i]] = j, w->via[fill[i]++] = e;
    w->adjacent[fill[j]] = i, w->via[fill[j]++] = e;
  }
}

/* Parents and arcs, breadth first from each anchor, which hangs from the root. */
static void hang_components(emd_sparse_simplex *s, warm_scratch *w) {
  const int32_t real = s->n + s->m;
  for (int32_t x = 0; x < real; ++x) s->parent[x] = -2; /* not reached */
  s->parent[s->root] = -1, s->parent_arc[s->root] = -1;
  int32_t reached = 0;
  w->order[reached++] = s->root;
  for (int32_t x = 0; x < real; ++x) {
    const int32_t from = w->anchor[x];
    if (from < 0 || s->parent[from] != -2) continue;
    s->parent[from] = s->root, s->parent_arc[from] = -1;
    int32_t head = reached;
    w->order[reached++] = from;
    while (head < reached) {
      const int32_t y = w->order[head++];
      for (int32_t k = w->offset[y]; k < w->offset[y + 1]; ++k) {
        const int32_t z = w->adjacent[k];
        if (s->parent[z] != -2) continue;
        s->parent[z] = y, s->parent_arc[z] = w->via[k];
        w->order[reached++] = z;
      }
    }
  }
}

/* Flows by conservation, leaves first: the arc above a row carries its subtree's surplus up,
 * the arc above a column its subtree's deficit down. Returns 0 when one would be negative
 * beyond rounding (the forest was no feasible plan's support). */
static int tree_flows(emd_sparse_simplex *s, const emd_sparse_setup *setup, warm_scratch *w) {
  const int32_t n = s->n, real = s->n + s->m;
  double mass = 0.0;
  for (int32_t x = 0; x < real; ++x) {
    w->left[x] = x < n ? setup->a[x] : -setup->b[x - n];
    mass += x < n ? setup->a[x] : 0.0;
    s->size[x] = 1;
  }
  const double slack = 1e-13 * mass;
  s->size[s->root] = 1, s->flow[s->root] = 0.0;
  for (int32_t k = s->nodes - 1; k > 0; --k) {
    const int32_t x = w->order[k];
    const double surplus = w->left[x], carried = x < n ? surplus : -surplus;
    if (carried < -slack) return 0;
    s->flow[x] = carried > 0.0 ? carried : 0.0;
    s->size[s->parent[x]] += s->size[x];
    if (s->parent[x] != s->root) w->left[s->parent[x]] += surplus;
  }
  return 1;
}

/* The preorder thread and last[] from the parents, depth first. */
static void tree_thread(emd_sparse_simplex *s, warm_scratch *w) {
  const int32_t nodes = s->nodes;
  memset(w->offset, 0, ((size_t)nodes + 1) * sizeof(int32_t));
  for (int32_t x = 0; x < nodes; ++x)
    if (x != s->root) ++w->offset[s->parent[x] + 1];
  for (int32_t x = 0; x < nodes; ++x) w->offset[x + 1] += w->offset[x];
  int32_t *fill = w->anchor; /* the anchors are done with */
  memcpy(fill, w->offset, (size_t)nodes * sizeof(int32_t));
  for (int32_t x = 0; x < nodes; ++x)
    if (x != s->root) w->adjacent[fill[s->parent[x]]++] = x;
  int32_t *stack = w->set, depth = 0, count = 0;
  stack[depth++] = s->root;
  while (depth > 0) {
    const int32_t x = stack[--depth];
    w->order[count++] = x;
    for (int32_t k = w->offset[x]; k < w->offset[x + 1]; ++k) stack[depth++] = w->adjacent[k];
  }
  for (int32_t k = 0; k < nodes; ++k) {
    const int32_t x = w->order[k], next = w->order[k + 1 < nodes ? k + 1 : 0];
    s->thread[x] = next, s->rev_thread[next] = x;
    s->last[x] = w->order[k + s->size[x] - 1];
  }
  const emd_thread_tree order = thread_tree(s);
  emd_thread_skip_all(&order, nodes);
}

static int allocate_warm(warm_scratch *w, int32_t nodes, int64_t count) {
  const size_t many = (size_t)(2 * count > nodes ? 2 * count : nodes);
  w->set = malloc((size_t)nodes * sizeof(int32_t));
  w->anchor = malloc((size_t)nodes * sizeof(int32_t));
  w->offset = malloc(((size_t)nodes + 1) * sizeof(int32_t));
  w->adjacent = malloc(many * sizeof(int32_t));
  w->via = malloc(many * sizeof(int64_t));
  w->kept = malloc((size_t)(count > 0 ? count : 1) * sizeof(int64_t));
  w->order = malloc((size_t)nodes * sizeof(int32_t));
  w->left = malloc((size_t)nodes * sizeof(double));
  return w->set && w->anchor && w->offset && w->adjacent && w->via && w->kept && w->order &&
         w->left;
}

int emd_sparse_simplex_warm_start(emd_sparse_simplex *s, const emd_sparse_setup *setup,
                                  const emd_arc_list *arcs, const int64_t *tree_arcs,
                                  int64_t count) {
  warm_scratch w;
  int ok = allocate_warm(&w, s->nodes, count);
  if (ok) {
    const int64_t kept = keep_forest(s, setup, arcs, tree_arcs, count, &w);
    warm_adjacency(s, arcs, kept, &w);
    hang_components(s, &w);
    s->arcs = arcs;
    ok = tree_flows(s, setup, &w);
  }
  if (ok) {
    tree_thread(s, &w);
    s->pot[s->root] = 0.0;
    s->next_arc = 0;
    refresh_potentials(s);
  } else {
    star_basis(s, setup);
  }
  free(w.set), free(w.anchor), free(w.offset), free(w.adjacent), free(w.via), free(w.kept);
  free(w.order), free(w.left);
  return ok;
}
