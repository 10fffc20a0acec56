/* Coincident points of a point cloud, merged before the solve and split again after it.
 *
 * Two points of a side at the same coordinates have the same cost to every partner. Merged into
 * one point carrying their total weight, the problem has the same optimal cost; its optimal plan
 * is split back by the northwest-corner rule: first each merged column's flows among its
 * points (in order), then each merged row's among its points. Each split of a point's k copies
 * adds at most k - 1 arcs, so the plan keeps at most n + m - 1 of them and stays a tree. The
 * copies of a point share its dual, so every pair's reduced cost is one the merged problem
 * certified, and every positive flow lies on a pair whose merged pair carried flow: the split
 * plan is optimal with the merged certificate.
 *
 * Without it the grid hierarchy cannot tell coincident points apart: a cell of 500 copies
 * paired with another such cell gives 250,000 candidate arcs, and the solve takes seconds where
 * it should take milliseconds. */
#include <stdlib.h>
#include <string.h>

#include "emd_solvers.h"

enum { MAX_DIM = EMD_HIERARCHY_MAX_DIM };

typedef struct located {
  double coords[MAX_DIM]; /* unused dimensions 0 */
  int32_t index;
} located;

static int compare_located(const void *left, const void *right) {
  const located *l = left, *r = right;
  for (int32_t d = 0; d < MAX_DIM; ++d)
    if (l->coords[d] != r->coords[d]) return l->coords[d] < r->coords[d] ? -1 : 1;
  return (l->index > r->index) - (l->index < r->index);
}

/* Equal coordinates (-0.0 and +0.0 are one place: their costs to every point are equal). */
static int same_place(const located *l, const located *r) {
  for (int32_t d = 0; d < MAX_DIM; ++d)
    if (l->coords[d] != r->coords[d]) return 0;
  return 1;
}

typedef struct merged_side {
  int32_t count;    /* distinct points */
  int32_t *start;   /* count + 1: the copies of distinct point g are members[start[g] ..) */
  int32_t *members; /* active indices, grouped */
  double *points;   /* count x dim */
  double *mass;     /* count */
  int32_t *copies;  /* count: how many points each distinct point stands for */
} merged_side;

static void free_side(merged_side *s) {
  free(s->start), free(s->members), free(s->points), free(s->mass), free(s->copies);
}

static void load_point(const emd_multiscale_problem *p, int side, int32_t k, double *out) {
  const emd_cost_source *s = p->source;
  const int32_t *source_of = side == 0 ? p->row_of : p->col_of;
  const int32_t i = source_of != NULL ? source_of[k] : k;
  for (int32_t d = 0; d < s->dim; ++d)
    out[d] = side == 0 ? s->x[(size_t)i * s->dim + d] : s->y_by_dim[(size_t)d * s->m + i];
}

/* Groups one side's points by their coordinates; 0 when memory runs out. */
static int group_side(const emd_multiscale_problem *p, int side, merged_side *out) {
  const int32_t count = side == 0 ? p->n : p->m, dim = p->source->dim;
  const double *weight = side == 0 ? p->a : p->b;
  located *sorted = calloc((size_t)count, sizeof *sorted);
  out->start = malloc(((size_t)count + 1) * sizeof(int32_t));
  out->members = malloc((size_t)count * sizeof(int32_t));
  out->points = malloc((size_t)count * dim * sizeof(double));
  out->mass = malloc((size_t)count * sizeof(double));
  out->copies = malloc((size_t)count * sizeof(int32_t));
  if (!sorted || !out->start || !out->members || !out->points || !out->mass || !out->copies)
    return free(sorted), 0;
  for (int32_t k = 0; k < count; ++k) load_point(p, side, k, sorted[k].coords), sorted[k].index = k;
  qsort(sorted, (size_t)count, sizeof *sorted, compare_located);
  int32_t g = -1;
  for (int32_t k = 0; k < count; ++k) {
    if (k == 0 || !same_place(&sorted[k], &sorted[k - 1])) {
      out->start[++g] = k, out->mass[g] = 0.0;
      memcpy(out->points + (size_t)g * dim, sorted[k].coords, (size_t)dim * sizeof(double));
    }
    out->members[k] = sorted[k].index;
    out->mass[g] += weight[sorted[k].index];
  }
  out->count = g + 1;
  out->start[out->count] = count;
  for (g = 0; g < out->count; ++g) out->copies[g] = out->start[g + 1] - out->start[g];
  free(sorted);
  return 1;
}

typedef struct arcs_view {
  int32_t *row, *col;
  double *flow;
  int64_t count;
} arcs_view;

typedef struct split_scratch {
  int32_t *by_point, *offset;     /* the arcs grouped by their merged point */
  double *first, *second, *moved; /* staircase amounts */
  int32_t *pair_first, *pair_second;
} split_scratch;

/* Splits every arc of `in` at its merged end on `side` (0: rows) among that point's copies
 * (weights `weight`); `out` receives at most in->count + copies - distinct arcs. */
static void split_side(const merged_side *s, int side, const double *weight, const arcs_view *in,
                       split_scratch *w, arcs_view *out) {
  const int32_t *end = side == 0 ? in->row : in->col;
  memset(w->offset, 0, ((size_t)s->count + 1) * sizeof(int32_t));
  for (int64_t e = 0; e < in->count; ++e) ++w->offset[end[e] + 1];
  for (int32_t g = 0; g < s->count; ++g) w->offset[g + 1] += w->offset[g];
  for (int64_t e = 0; e < in->count; ++e) w->by_point[w->offset[end[e]]++] = (int32_t)e;
  for (int32_t g = s->count; g > 0; --g) w->offset[g] = w->offset[g - 1];
  w->offset[0] = 0;
  out->count = 0;
  for (int32_t g = 0; g < s->count; ++g) {
    const int32_t arcs = w->offset[g + 1] - w->offset[g], *by = w->by_point + w->offset[g];
    const int32_t copies = s->start[g + 1] - s->start[g], *member = s->members + s->start[g];
    if (arcs == 0) continue;
    for (int32_t k = 0; k < copies; ++k) w->first[k] = weight[member[k]];
    for (int32_t q = 0; q < arcs; ++q) w->second[q] = in->flow[by[q]];
    const emd_staircase st = {w->first,      w->second,      copies,  arcs,
                              w->pair_first, w->pair_second, w->moved};
    const int32_t pairs = emd_northwest(&st);
    for (int32_t t = 0; t < pairs; ++t) {
      const int32_t e = by[w->pair_second[t]], copy = member[w->pair_first[t]];
      out->row[out->count] = side == 0 ? copy : in->row[e];
      out->col[out->count] = side == 0 ? in->col[e] : copy;
      out->flow[out->count++] = w->moved[t];
    }
  }
}

/* The merged solution `merged` split back onto the copies (columns first, then rows) into
 * `solution`; 0 when memory runs out. */
static int split_solution(const emd_multiscale_problem *p, const merged_side side[2],
                          const emd_basic_solution *merged, emd_basic_solution *solution) {
  const size_t most = (size_t)p->n + (size_t)p->m;
  split_scratch w = {malloc(most * sizeof(int32_t)), malloc((most + 1) * sizeof(int32_t)),
                     malloc(most * sizeof(double)),  malloc(most * sizeof(double)),
                     malloc(most * sizeof(double)),  malloc(most * sizeof(int32_t)),
                     malloc(most * sizeof(int32_t))};
  arcs_view middle = {malloc(most * sizeof(int32_t)), malloc(most * sizeof(int32_t)),
                      malloc(most * sizeof(double)), 0};
  const int ok = w.by_point && w.offset && w.first && w.second && w.moved && w.pair_first &&
                 w.pair_second && middle.row && middle.col && middle.flow;
  if (ok) {
    const arcs_view in = {merged->row, merged->col, merged->flow, merged->count};
    arcs_view out = {solution->row, solution->col, solution->flow, 0};
    split_side(&side[1], 1, p->b, &in, &w, &middle);
    split_side(&side[0], 0, p->a, &middle, &w, &out);
    solution->count = out.count;
    for (int32_t g = 0; g < side[0].count; ++g)
      for (int32_t k = side[0].start[g]; k < side[0].start[g + 1]; ++k)
        solution->u[side[0].members[k]] = merged->u[g];
    for (int32_t g = 0; g < side[1].count; ++g)
      for (int32_t k = side[1].start[g]; k < side[1].start[g + 1]; ++k)
        solution->v[side[1].members[k]] = merged->v[g];
    solution->iterations = merged->iterations, solution->status = merged->status;
  }
  free(w.by_point), free(w.offset), free(w.first), free(w.second), free(w.moved);
  free(w.pair_first), free(w.pair_second), free(middle.row), free(middle.col), free(middle.flow);
  return ok;
}

/* The distinct points' problem when it is too small for the grid hierarchy (at most 2048
 * points, so its cost takes at most 8 MB): the dense simplex, as AUTO would run on such clouds
 * (several times faster than the candidate loop from scratch), then the candidate loop started
 * from that basis, which prices every pair and so certifies it (or improves it). 0 when memory
 * runs out. */
static int solve_small(const emd_multiscale_problem *distinct, emd_basic_solution *merged) {
  const int32_t n = distinct->n, m = distinct->m;
  double *cost = malloc((size_t)n * m * sizeof(double));
  void *workspace = malloc(emd_network_simplex_workspace_bytes(n, m));
  int64_t *ids = malloc(((size_t)n + m) * sizeof(int64_t));
  emd_arc_list arcs = {0, 0, NULL, NULL, NULL};
  int ok = cost && workspace && ids && emd_arc_list_reserve(&arcs, (int64_t)n + m);
  if (ok) {
    for (int32_t i = 0; i < n; ++i) emd_cost_row(distinct->source, i, cost + (size_t)i * m);
    const emd_dense_problem dense = {n, m, distinct->a, distinct->b, cost};
    emd_network_simplex_solve(&dense, 0, workspace, merged);
    emd_multiscale_problem warm = *distinct;
    if (merged->status == NORMOT_EMD_OPTIMAL) {
      for (int64_t e = 0; e < merged->count; ++e) {
        emd_arc_list_push(&arcs, merged->row[e], merged->col[e],
                          cost[(size_t)merged->row[e] * m + merged->col[e]]);
        ids[e] = e;
      }
      warm.warm_arcs = ids, warm.warm_count = merged->count;
    }
    const int64_t dense_pivots = merged->iterations;
    ok = emd_certified_solve(&warm, &arcs, merged);
    merged->iterations += dense_pivots;
  }
  free(cost), free(workspace), free(ids);
  emd_arc_list_free(&arcs);
  return ok;
}

/* Solves the problem of the distinct points; 0 when memory runs out. */
static int solve_distinct(const emd_multiscale_problem *p, const merged_side side[2],
                          emd_basic_solution *solution) {
  const int32_t n = side[0].count, m = side[1].count, dim = p->source->dim;
  const size_t nodes = (size_t)n + (size_t)m;
  double *y_by_dim = malloc((size_t)m * dim * sizeof(double));
  emd_basic_solution merged = {malloc(nodes * sizeof(int32_t)),
                               malloc(nodes * sizeof(int32_t)),
                               malloc(nodes * sizeof(double)),
                               0,
                               malloc((size_t)n * sizeof(double)),
                               malloc((size_t)m * sizeof(double)),
                               0,
                               0};
  int ok = y_by_dim && merged.row && merged.col && merged.flow && merged.u && merged.v;
  if (ok) {
    for (int32_t g = 0; g < m; ++g)
      for (int32_t d = 0; d < dim; ++d)
        y_by_dim[(size_t)d * m + g] = side[1].points[(size_t)g * dim + d];
    const emd_cost_source source = {
        n, m, NULL, side[0].points, y_by_dim, dim, p->source->euclidean};
    const emd_multiscale_problem distinct = {n,    m,    side[0].mass,   side[1].mass,  &source,
                                             NULL, NULL, p->threads,     p->stats,      NULL,
                                             NULL, 0,    side[0].copies, side[1].copies};
    ok = (emd_cloud_hierarchy_applies(&distinct) ? emd_multiscale_solve(&distinct, &merged)
                                                 : solve_small(&distinct, &merged)) &&
         split_solution(p, side, &merged, solution);
  }
  free(y_by_dim), free(merged.row), free(merged.col), free(merged.flow), free(merged.u);
  free(merged.v);
  return ok;
}

int emd_cloud_solve_merged(const emd_multiscale_problem *problem, emd_basic_solution *solution) {
  merged_side side[2];
  memset(side, 0, sizeof side);
  int result = -1; /* without memory to look for copies, the problem is solved as it is */
  if (problem->source->cost == NULL && problem->source->dim <= MAX_DIM &&
      group_side(problem, 0, &side[0]) && group_side(problem, 1, &side[1]) &&
      (side[0].count < problem->n || side[1].count < problem->m))
    result = solve_distinct(problem, side, solution);
  free_side(&side[0]), free_side(&side[1]);
  return result;
}
