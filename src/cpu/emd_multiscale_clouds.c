/* Coarse to fine on point clouds (1 to 3 dimensions): each cloud is coarsened on a grid of
 * cells that doubles in size at every level (a point of level l + 1 is a cell of level l: its
 * mass is the sum of its members', its position their mass-weighted mean), until both clouds
 * together have at most COARSEST_POINTS points. The coarsest problem is solved by the
 * certified candidate-set loop (emd_multiscale.c); every finer level starts from the pairs of
 * points that lie in two cells joined by an arc of the coarser basis, and is again solved and
 * priced over all of its pairs until none violates. The finest level is the problem itself,
 * so its result carries the full certificate; the coarser levels only make its first candidate
 * set nearly right, which saves most of the pivots and pricing rounds. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "emd_solvers.h"

enum {
  COARSEST_POINTS = EMD_HIERARCHY_MIN_POINTS,
  MAX_LEVELS = 24,
  MAX_DIM = EMD_HIERARCHY_MAX_DIM,
  BITS_PER_DIM = 21
};

typedef struct level {
  int32_t count;
  double *points;   /* count x dim */
  double *by_dim;   /* dim x count: the same, transposed (for the column side of a cost) */
  double *mass;     /* count */
  int32_t *start;   /* count + 1: members of point c are members[start[c] .. start[c + 1]) */
  int32_t *members; /* indices of the finer level's points */
} level;

typedef struct hierarchy {
  level levels[MAX_LEVELS];
  int32_t count;
} hierarchy;

typedef struct keyed {
  uint64_t key;
  int32_t index;
} keyed;

static int compare_keyed(const void *left, const void *right) {
  const keyed *l = left, *r = right;
  if (l->key != r->key) return l->key < r->key ? -1 : 1;
  return (l->index > r->index) - (l->index < r->index);
}

static void free_level(level *l) {
  free(l->points), free(l->by_dim), free(l->mass), free(l->start), free(l->members);
  memset(l, 0, sizeof *l);
}

static int allocate_level(level *l, int32_t count, int32_t dim, int32_t finer_count) {
  l->count = count;
  l->points = malloc((size_t)count * dim * sizeof(double));
  l->by_dim = malloc((size_t)count * dim * sizeof(double));
  l->mass = malloc((size_t)count * sizeof(double));
  l->start = finer_count > 0 ? malloc(((size_t)count + 1) * sizeof(int32_t)) : NULL;
  l->members = finer_count > 0 ? malloc((size_t)finer_count * sizeof(int32_t)) : NULL;
  return l->points && l->by_dim && l->mass && (finer_count == 0 || (l->start && l->members));
}

static void transpose(level *l, int32_t dim) {
  for (int32_t c = 0; c < l->count; ++c)
    for (int32_t d = 0; d < dim; ++d)
      l->by_dim[(size_t)d * l->count + c] = l->points[(size_t)c * dim + d];
}

typedef struct grid {
  int32_t dim;
  double origin[MAX_DIM];
  double cell;
} grid;

static uint64_t cell_key(const grid *g, const double *point) {
  uint64_t key = 0;
  for (int32_t d = 0; d < g->dim; ++d) {
    double q = floor((point[d] - g->origin[d]) / g->cell);
    const double top = (double)((1u << BITS_PER_DIM) - 1);
    q = q < 0.0 ? 0.0 : q > top ? top : q;
    key |= (uint64_t)q << (BITS_PER_DIM * d);
  }
  return key;
}

/* A crowded cell (more than CROWDED members) is split into its 2^dim half-size sub-cells,
 * again and again, until no part is crowded, its members all coincide, or it has been halved
 * MAX_SPLITS times. Without it one cell of a dense cluster could hold thousands of points, and
 * refining a coarse arc between two such cells pairs all their members (millions of arcs). */
enum { MAX_SPLITS = 40 };

typedef struct cell_split {
  const double *points; /* the finer level's */
  int32_t dim, crowded;
  keyed *spare;          /* as long as the level */
  unsigned char *starts; /* per position of the order: 1 where a group begins */
} cell_split;

static int all_coincide(const cell_split *cs, const keyed *run, int32_t count) {
  const double *first = cs->points + (size_t)run[0].index * cs->dim;
  for (int32_t k = 1; k < count; ++k)
    for (int32_t d = 0; d < cs->dim; ++d)
      if (cs->points[(size_t)run[k].index * cs->dim + d] != first[d]) return 0;
  return 1;
}

/* Orders run[0 .. count) by the half-size sub-cell of the cell at `corner` that each member
 * lies in; begin[q] .. begin[q + 1] is sub-cell q's part. */
static void sort_into_parts(const cell_split *cs, keyed *run, int32_t count, const double *corner,
                            double half, int32_t *begin) {
  const int32_t dim = cs->dim, parts = 1 << dim;
  for (int32_t q = 0; q <= parts; ++q) begin[q] = 0;
  for (int32_t k = 0; k < count; ++k) { /* the sub-cell's number, kept in the key */
    const double *point = cs->points + (size_t)run[k].index * dim;
    uint64_t part = 0;
    for (int32_t d = 0; d < dim; ++d) part |= (uint64_t)(point[d] >= corner[d] + half) << d;
    run[k].key = part;
    ++begin[part + 1];
  }
  for (int32_t q = 0; q < parts; ++q) begin[q + 1] += begin[q];
  int32_t fill[1 << MAX_DIM];
  memcpy(fill, begin, (size_t)parts * sizeof(int32_t));
  for (int32_t k = 0; k < count; ++k) cs->spare[fill[run[k].key]++] = run[k];
  memcpy(run, cs->spare, (size_t)count * sizeof *run);
}

/* A cell to split: its members run[0 .. count), at position `at` of the order. */
typedef struct crowded_cell {
  keyed *run;
  int32_t at, count, depth; /* depth: how many times its cell was halved */
  double corner[MAX_DIM], side;
} crowded_cell;

/* Splits the cell's members into groups; marks where each begins. */
static void split_cell(const cell_split *cs, const crowded_cell *cell) {
  if (cell->count <= cs->crowded || cell->depth >= MAX_SPLITS ||
      all_coincide(cs, cell->run, cell->count))
    return;
  const double half = 0.5 * cell->side;
  int32_t begin[(1 << MAX_DIM) + 1];
  sort_into_parts(cs, cell->run, cell->count, cell->corner, half, begin);
  for (int32_t q = 0; q < 1 << cs->dim; ++q) {
    if (begin[q + 1] == begin[q]) continue;
    crowded_cell part = {cell->run + begin[q],
                         cell->at + begin[q],
                         begin[q + 1] - begin[q],
                         cell->depth + 1,
                         {0},
                         half};
    for (int32_t d = 0; d < cs->dim; ++d)
      part.corner[d] = cell->corner[d] + (((q >> d) & 1) ? half : 0.0);
    cs->starts[part.at] = 1;
    split_cell(cs, &part);
  }
}

/* Marks the groups of `order` (sorted by cell of g): one per cell, crowded cells split. */
static void mark_groups(const cell_split *cs, const grid *g, keyed *order, int32_t count) {
  for (int32_t i = 0, next; i < count; i = next) {
    for (next = i + 1; next < count && order[next].key == order[i].key;) ++next;
    cs->starts[i] = 1;
    if (next - i <= cs->crowded) continue;
    crowded_cell cell = {order + i, i, next - i, 0, {0}, g->cell};
    const double *point = cs->points + (size_t)order[i].index * g->dim;
    for (int32_t d = 0; d < g->dim; ++d)
      cell.corner[d] = g->origin[d] + floor((point[d] - g->origin[d]) / g->cell) * g->cell;
    split_cell(cs, &cell);
  }
}

/* The next level of `finer` on grid g; returns 0 when memory runs out. */
static int coarsen(const level *finer, const grid *g, keyed *order, level *out) {
  const int32_t dim = g->dim;
  for (int32_t i = 0; i < finer->count; ++i)
    order[i].key = cell_key(g, finer->points + (size_t)i * dim), order[i].index = i;
  qsort(order, (size_t)finer->count, sizeof *order, compare_keyed);
  cell_split cs = {finer->points, dim, 1 << (dim + 2), malloc((size_t)finer->count * sizeof(keyed)),
                   calloc((size_t)finer->count, 1)};
  if (cs.spare == NULL || cs.starts == NULL) return free(cs.spare), free(cs.starts), 0;
  mark_groups(&cs, g, order, finer->count);
  int32_t count = 0;
  for (int32_t i = 0; i < finer->count; ++i) count += cs.starts[i];
  if (!allocate_level(out, count, dim, finer->count)) return free(cs.spare), free(cs.starts), 0;
  int32_t c = -1;
  for (int32_t i = 0; i < finer->count; ++i) {
    if (cs.starts[i]) {
      ++c;
      out->start[c] = i;
      out->mass[c] = 0.0;
      for (int32_t d = 0; d < dim; ++d) out->points[(size_t)c * dim + d] = 0.0;
    }
    const int32_t member = order[i].index;
    const double w = finer->mass[member];
    out->members[i] = member;
    out->mass[c] += w;
    for (int32_t d = 0; d < dim; ++d)
      out->points[(size_t)c * dim + d] += w * finer->points[(size_t)member * dim + d];
  }
  free(cs.spare), free(cs.starts);
  out->start[count] = finer->count;
  for (c = 0; c < count; ++c)
    for (int32_t d = 0; d < dim; ++d) out->points[(size_t)c * dim + d] /= out->mass[c];
  transpose(out, dim);
  return 1;
}

int emd_cloud_hierarchy_applies(const emd_multiscale_problem *problem) {
  const emd_cost_source *source = problem->source;
  return source->cost == NULL && source->dim >= 1 && source->dim <= MAX_DIM &&
         (int64_t)problem->n + problem->m > COARSEST_POINTS;
}

/* Level 0: the problem's active points and weights. */
static int finest_levels(const emd_multiscale_problem *p, level *x, level *y) {
  const emd_cost_source *s = p->source;
  const int32_t dim = s->dim;
  if (!allocate_level(x, p->n, dim, 0) || !allocate_level(y, p->m, dim, 0)) return 0;
  for (int32_t r = 0; r < p->n; ++r) {
    const int32_t i = p->row_of != NULL ? p->row_of[r] : r;
    memcpy(x->points + (size_t)r * dim, s->x + (size_t)i * dim, (size_t)dim * sizeof(double));
  }
  for (int32_t c = 0; c < p->m; ++c) {
    const int32_t j = p->col_of != NULL ? p->col_of[c] : c;
    for (int32_t d = 0; d < dim; ++d)
      y->points[(size_t)c * dim + d] = s->y_by_dim[(size_t)d * s->m + j];
  }
  memcpy(x->mass, p->a, (size_t)p->n * sizeof(double));
  memcpy(y->mass, p->b, (size_t)p->m * sizeof(double));
  transpose(x, dim);
  transpose(y, dim);
  return 1;
}

/* The grid of the first coarsening: about 2^dim points of the larger cloud per cell. */
static grid first_grid(const level *x, const level *y, int32_t dim) {
  grid g;
  g.dim = dim;
  double extent = 0.0;
  for (int32_t d = 0; d < dim; ++d) {
    double low = INFINITY, high = -INFINITY;
    for (int32_t i = 0; i < x->count; ++i) {
      double v = x->points[(size_t)i * dim + d];
      low = v < low ? v : low, high = v > high ? v : high;
    }
    for (int32_t j = 0; j < y->count; ++j) {
      double v = y->points[(size_t)j * dim + d];
      low = v < low ? v : low, high = v > high ? v : high;
    }
    g.origin[d] = low;
    extent = high - low > extent ? high - low : extent;
  }
  const int32_t larger = x->count > y->count ? x->count : y->count;
  g.cell = 2.0 * extent / pow((double)larger, 1.0 / dim);
  if (!(g.cell > 0.0)) g.cell = 1.0; /* every point in one place */
  return g;
}

static void free_hierarchies(hierarchy *x, hierarchy *y) {
  for (int32_t l = 0; l < MAX_LEVELS; ++l) free_level(&x->levels[l]), free_level(&y->levels[l]);
}

/* Coarsens both clouds together until they are small or stop shrinking. */
static int build_hierarchies(const emd_multiscale_problem *p, hierarchy *x, hierarchy *y) {
  const int32_t dim = p->source->dim;
  memset(x, 0, sizeof *x), memset(y, 0, sizeof *y);
  if (!finest_levels(p, &x->levels[0], &y->levels[0])) return 0;
  x->count = y->count = 1;
  grid g = first_grid(&x->levels[0], &y->levels[0], dim);
  keyed *order = malloc(((size_t)(p->n > p->m ? p->n : p->m)) * sizeof *order);
  if (order == NULL) return 0;
  int ok = 1;
  while (ok && x->count < MAX_LEVELS) {
    const level *fx = &x->levels[x->count - 1], *fy = &y->levels[y->count - 1];
    if ((int64_t)fx->count + fy->count <= COARSEST_POINTS) break;
    ok = coarsen(fx, &g, order, &x->levels[x->count]) &&
         coarsen(fy, &g, order, &y->levels[y->count]);
    if (!ok) break;
    const int shrank =
        x->levels[x->count].count < fx->count || y->levels[y->count].count < fy->count;
    ++x->count, ++y->count;
    if (!shrank) break;
    g.cell *= 2.0;
  }
  free(order);
  return ok;
}

/* Every pair of members of cells r and c. */
static int push_block(const emd_multiscale_problem *fine, const level *cx, const level *cy,
                      int32_t r, int32_t c, emd_arc_list *arcs) {
  for (int32_t s = cx->start[r]; s < cx->start[r + 1]; ++s)
    for (int32_t t = cy->start[c]; t < cy->start[c + 1]; ++t) {
      const int32_t i = cx->members[s], j = cy->members[t];
      const int32_t si = fine->row_of != NULL ? fine->row_of[i] : i;
      const int32_t sj = fine->col_of != NULL ? fine->col_of[j] : j;
      if (!emd_arc_list_push(arcs, i, j, emd_cost_at(fine->source, si, sj))) return 0;
    }
  return 1;
}

/* Candidates of level l from the basis of level l + 1: every pair of members of two cells
 * that a basic arc joins. block[e] receives where basic arc e's pairs start in arcs. */
static int refine_candidates(const emd_multiscale_problem *fine, const level *cx, const level *cy,
                             const emd_basic_solution *coarse, emd_arc_list *arcs, int64_t *block) {
  for (int64_t e = 0; e < coarse->count; ++e) {
    if (block != NULL) block[e] = arcs->count;
    if (!push_block(fine, cx, cy, coarse->row[e], coarse->col[e], arcs)) return 0;
  }
  return 1;
}

/* ---- a start basis from the coarser plan ------------------------------------------------------
 */

/* The finer level starts from a feasible plan on its candidates that refines the coarser
 * optimum: each cell's members are split among the cell's basic arcs, and within each arc's
 * block the rows' shares meet the columns' shares, both by the northwest-corner rule
 * (emd_northwest). Each such staircase is a tree, so the union is (nearly) a forest; the sparse
 * simplex makes it a basis. */
int32_t emd_northwest(const emd_staircase *st) {
  int32_t p = 0, q = 0, count = 0;
  double left_p = st->first[0], left_q = st->second[0];
  for (;;) {
    const double moved = left_p < left_q ? left_p : left_q;
    st->pair_first[count] = p, st->pair_second[count] = q;
    st->moved[count++] = moved > 0.0 ? moved : 0.0;
    const int last_p = p + 1 == st->first_count, last_q = q + 1 == st->second_count;
    if (last_p && last_q) return count;
    if (last_q || (!last_p && left_p <= left_q)) {
      left_q -= left_p;
      left_p = st->first[++p];
    } else {
      left_p -= left_q;
      left_q = st->second[++q];
    }
  }
}

typedef struct shares {
  int32_t *position; /* a member's position inside its cell */
  double *amount;
  int64_t *first; /* per coarse arc: its shares are first[e] .. first[e] + count[e] - 1 */
  int32_t *count;
} shares;

typedef struct refinement {
  const level *cells[2]; /* the coarser level's rows and columns */
  const double *mass[2]; /* the finer level's weights */
  const emd_basic_solution *coarse;
  const int64_t *block; /* per coarse arc: where its block starts in the arcs */
  shares side[2];
  int32_t *by_cell, *cell_start; /* the coarse arcs grouped by cell */
  double *amount_first, *amount_second, *moved;
  int32_t *pair_first, *pair_second;
} refinement;

/* Each cell's members of one side (0: rows, 1: columns) split among its basic arcs. */
static void split_cells(refinement *f, int side) {
  const level *cells = f->cells[side];
  const emd_basic_solution *coarse = f->coarse;
  const int32_t *cell_of = side == 0 ? coarse->row : coarse->col;
  memset(f->cell_start, 0, ((size_t)cells->count + 1) * sizeof(int32_t));
  for (int64_t e = 0; e < coarse->count; ++e) ++f->cell_start[cell_of[e] + 1];
  for (int32_t c = 0; c < cells->count; ++c) f->cell_start[c + 1] += f->cell_start[c];
  for (int64_t e = 0; e < coarse->count; ++e) f->by_cell[f->cell_start[cell_of[e]]++] = (int32_t)e;
  for (int32_t c = cells->count; c > 0; --c) f->cell_start[c] = f->cell_start[c - 1];
  f->cell_start[0] = 0;
  shares *out = &f->side[side];
  int64_t next = 0;
  for (int32_t c = 0; c < cells->count; ++c) {
    const int32_t arcs = f->cell_start[c + 1] - f->cell_start[c],
                  *by = f->by_cell + f->cell_start[c];
    if (arcs == 0) continue;
    const int32_t members = cells->start[c + 1] - cells->start[c];
    for (int32_t k = 0; k < members; ++k)
      f->amount_first[k] = f->mass[side][cells->members[cells->start[c] + k]];
    for (int32_t q = 0; q < arcs; ++q) f->amount_second[q] = coarse->flow[by[q]];
    const emd_staircase st = {f->amount_first, f->amount_second, members, arcs,
                              f->pair_first,   f->pair_second,   f->moved};
    const int32_t pairs = emd_northwest(&st);
    for (int32_t t = 0; t < pairs; ++t) {
      const int32_t e = by[f->pair_second[t]];
      if (t == 0 || f->pair_second[t] != f->pair_second[t - 1])
        out->first[e] = next, out->count[e] = 0;
      out->position[next] = f->pair_first[t], out->amount[next++] = f->moved[t];
      ++out->count[e];
    }
  }
}

/* The arc ids (as refine_candidates numbers them) of every block's staircase. */
static int64_t block_staircases(refinement *f, int64_t *ids) {
  const emd_basic_solution *coarse = f->coarse;
  const shares *rows = &f->side[0], *cols = &f->side[1];
  int64_t count = 0;
  for (int64_t e = 0; e < coarse->count; ++e) {
    const int32_t c = coarse->col[e];
    const int32_t width = f->cells[1]->start[c + 1] - f->cells[1]->start[c];
    const int64_t offset = f->block[e];
    if (rows->count[e] > 0 && cols->count[e] > 0) {
      const emd_staircase st = {rows->amount + rows->first[e],
                                cols->amount + cols->first[e],
                                rows->count[e],
                                cols->count[e],
                                f->pair_first,
                                f->pair_second,
                                f->moved};
      const int32_t pairs = emd_northwest(&st);
      for (int32_t t = 0; t < pairs; ++t)
        ids[count++] = offset + (int64_t)rows->position[rows->first[e] + f->pair_first[t]] * width +
                       cols->position[cols->first[e] + f->pair_second[t]];
    }
  }
  return count;
}

static void free_refinement(refinement *f) {
  for (int side = 0; side < 2; ++side) {
    free(f->side[side].position), free(f->side[side].amount);
    free(f->side[side].first), free(f->side[side].count);
  }
  free(f->by_cell), free(f->cell_start), free(f->amount_first), free(f->amount_second);
  free(f->moved), free(f->pair_first), free(f->pair_second);
}

/* A start basis's support for the finer problem `fine` (arcs as refine_candidates pushes them
 * from `coarse`): *ids malloc'd, NULL when memory runs out (the solve then starts cold). */
static int64_t coarse_start(const emd_multiscale_problem *fine, const level *cx, const level *cy,
                            const emd_basic_solution *coarse, const int64_t *block, int64_t **ids) {
  refinement f;
  memset(&f, 0, sizeof f);
  f.cells[0] = cx, f.cells[1] = cy, f.mass[0] = fine->a, f.mass[1] = fine->b, f.coarse = coarse;
  f.block = block;
  const size_t arcs = (size_t)(coarse->count > 0 ? coarse->count : 1);
  const size_t cells = (size_t)(cx->count > cy->count ? cx->count : cy->count) + 1;
  const size_t most = (size_t)(fine->n > fine->m ? fine->n : fine->m) + arcs;
  int ok = 1;
  for (int side = 0; side < 2; ++side) {
    f.side[side].position = malloc(most * sizeof(int32_t));
    f.side[side].amount = malloc(most * sizeof(double));
    f.side[side].first = malloc(arcs * sizeof(int64_t));
    f.side[side].count = calloc(arcs, sizeof(int32_t));
    ok = ok && f.side[side].position && f.side[side].amount && f.side[side].first &&
         f.side[side].count;
  }
  f.by_cell = malloc(arcs * sizeof(int32_t)), f.cell_start = malloc(cells * sizeof(int32_t));
  f.amount_first = malloc(most * sizeof(double)), f.amount_second = malloc(most * sizeof(double));
  f.moved = malloc(2 * most * sizeof(double));
  f.pair_first = malloc(2 * most * sizeof(int32_t));
  f.pair_second = malloc(2 * most * sizeof(int32_t));
  *ids = malloc(((size_t)fine->n + (size_t)fine->m + 2 * arcs) * sizeof(int64_t));
  ok = ok && f.by_cell && f.cell_start && f.amount_first && f.amount_second && f.moved &&
       f.pair_first && f.pair_second && *ids;
  int64_t count = 0;
  if (ok) {
    split_cells(&f, 0), split_cells(&f, 1);
    count = block_staircases(&f, *ids);
  } else {
    free(*ids), *ids = NULL;
  }
  free_refinement(&f);
  return count;
}

/* The finer level's candidates (refine_candidates) and its start basis (coarse_start, *start
 * NULL when there is none); returns the start's arc count, or -1 when memory runs out. */
static int64_t refine_level(const emd_multiscale_problem *fine, const level *cx, const level *cy,
                            const emd_basic_solution *coarse, emd_arc_list *arcs, int64_t **start) {
  int64_t *block = malloc(((size_t)coarse->count + 1) * sizeof(int64_t));
  *start = NULL;
  int64_t count = -1;
  if (refine_candidates(fine, cx, cy, coarse, arcs, block))
    count = block != NULL ? coarse_start(fine, cx, cy, coarse, block, start) : 0;
  free(block);
  return count;
}

typedef struct level_solution {
  int32_t *row, *col;
  double *flow, *u, *v;
} level_solution;

static int allocate_solution(level_solution *s, int32_t n, int32_t m) {
  const size_t nodes = (size_t)n + (size_t)m;
  s->row = malloc(nodes * sizeof(int32_t)), s->col = malloc(nodes * sizeof(int32_t));
  s->flow = malloc(nodes * sizeof(double));
  s->u = malloc((size_t)n * sizeof(double)), s->v = malloc((size_t)m * sizeof(double));
  return s->row && s->col && s->flow && s->u && s->v;
}

static void free_solution(level_solution *s) {
  free(s->row), free(s->col), free(s->flow), free(s->u), free(s->v);
  memset(s, 0, sizeof *s);
}

/* ---- pricing by cells ---------------------------------------------------------------------- */

/* Exact pricing of level `base`'s pairs that skips whole cells of the coarser levels of y: for
 * a cell with bounding box B and largest column dual vmax, every member y_j has
 * c(x_i, y_j) >= d(x_i, B) (the gaps to the box are no larger than the coordinate differences,
 * also after rounding, which is monotone), so (c - u_i) - v_j >= (d - u_i) - vmax; a cell whose
 * bound is not below the threshold holds no violator. */
typedef struct cell_pricer {
  const emd_multiscale_problem *problem; /* level base's problem (its costs, maps) */
  const level *rows;                     /* level base of x: the rows' points */
  const hierarchy *y;
  int32_t base, dim;
  double *low[MAX_LEVELS], *high[MAX_LEVELS], *vmax[MAX_LEVELS]; /* levels base + 1 .. top */
} cell_pricer;

static double box_distance(const cell_pricer *cp, const double *x, int32_t l, int32_t cell) {
  const double *low = cp->low[l] + (size_t)cell * cp->dim,
               *high = cp->high[l] + (size_t)cell * cp->dim;
  double total = 0.0;
  for (int32_t d = 0; d < cp->dim; ++d) {
    double gap = x[d] < low[d] ? low[d] - x[d] : x[d] > high[d] ? x[d] - high[d] : 0.0;
    total += gap * gap;
  }
  return cp->problem->source->euclidean ? sqrt(total) : total;
}

static void prepare_cells(void *context, const double *v) {
  cell_pricer *cp = context;
  const hierarchy *y = cp->y;
  for (int32_t l = cp->base + 1; l < y->count; ++l) {
    const level *cells = &y->levels[l];
    const double *below = l == cp->base + 1 ? v : cp->vmax[l - 1];
    for (int32_t c = 0; c < cells->count; ++c) {
      double largest = -INFINITY;
      for (int32_t s = cells->start[c]; s < cells->start[c + 1]; ++s)
        largest = below[cells->members[s]] > largest ? below[cells->members[s]] : largest;
      cp->vmax[l][c] = largest;
    }
  }
}

typedef struct row_query {
  const cell_pricer *cp;
  int32_t r;
  const double *x, *v;
  double u_r, threshold;
  int32_t *cols;
  double kept[16];
  int32_t count, capacity;
} row_query;

/* Visits cell `cell` of level l (> base): its members that may hold a violator. */
static void visit_cell(row_query *q, int32_t l, int32_t cell) {
  const cell_pricer *cp = q->cp;
  const level *cells = &cp->y->levels[l];
  for (int32_t s = cells->start[cell]; s < cells->start[cell + 1]; ++s) {
    const int32_t member = cells->members[s];
    if (l - 1 > cp->base) {
      double bound = box_distance(cp, q->x, l - 1, member) - q->u_r - cp->vmax[l - 1][member];
      if (bound < q->threshold) visit_cell(q, l - 1, member);
      continue;
    }
    const emd_multiscale_problem *p = cp->problem;
    const int32_t i = p->row_of != NULL ? p->row_of[q->r] : q->r;
    const int32_t j = p->col_of != NULL ? p->col_of[member] : member;
    const double cost = emd_cost_at(p->source, i, j);
    const double reduced = cost - q->u_r - q->v[member];
    if (reduced < q->threshold)
      emd_keep_smallest(reduced, member, q->kept, q->cols, &q->count, q->capacity);
  }
}

static int32_t price_row_by_cells(const void *context, const emd_row_request *request) {
  const cell_pricer *cp = context;
  const int32_t r = request->r, capacity = request->capacity;
  row_query q = {cp,
                 r,
                 cp->rows->points + (size_t)r * cp->dim,
                 request->v,
                 request->u_r,
                 request->threshold,
                 request->cols,
                 {0},
                 0,
                 capacity < 16 ? capacity : 16};
  const int32_t top = cp->y->count - 1;
  for (int32_t cell = 0; cell < cp->y->levels[top].count; ++cell)
    if (box_distance(cp, q.x, top, cell) - q.u_r - cp->vmax[top][cell] < q.threshold)
      visit_cell(&q, top, cell);
  const emd_multiscale_problem *p = cp->problem;
  for (int32_t t = 0; t < q.count; ++t)
    request->costs[t] = emd_cost_at(p->source, p->row_of != NULL ? p->row_of[r] : r,
                                    p->col_of != NULL ? p->col_of[q.cols[t]] : q.cols[t]);
  return q.count;
}

static void free_cell_pricer(cell_pricer *cp) {
  for (int32_t l = 0; l < MAX_LEVELS; ++l) free(cp->low[l]), free(cp->high[l]), free(cp->vmax[l]);
  memset(cp, 0, sizeof *cp);
}

static void widen_range(const level *points, int32_t dim, int32_t d, double *low, double *high) {
  for (int32_t i = 0; i < points->count; ++i) {
    const double value = points->points[(size_t)i * dim + d];
    *low = value < *low ? value : *low, *high = value > *high ? value : *high;
  }
}

/* Bounding boxes of the cells of y above level base, and the largest |cost| any pair of the
 * level can have (from the boxes of both clouds). */
static int make_cell_pricer(cell_pricer *cp, const emd_multiscale_problem *p, const hierarchy *x,
                            const hierarchy *y, int32_t base, double *cost_bound) {
  const int32_t dim = p->source->dim;
  memset(cp, 0, sizeof *cp);
  cp->problem = p, cp->rows = &x->levels[base], cp->y = y, cp->base = base, cp->dim = dim;
  for (int32_t l = base + 1; l < y->count; ++l) {
    const level *cells = &y->levels[l];
    cp->low[l] = malloc((size_t)cells->count * dim * sizeof(double));
    cp->high[l] = malloc((size_t)cells->count * dim * sizeof(double));
    cp->vmax[l] = malloc((size_t)cells->count * sizeof(double));
    if (!cp->low[l] || !cp->high[l] || !cp->vmax[l]) return 0;
    for (int32_t c = 0; c < cells->count; ++c)
      for (int32_t d = 0; d < dim; ++d) {
        double low = INFINITY, high = -INFINITY;
        for (int32_t s = cells->start[c]; s < cells->start[c + 1]; ++s) {
          const int32_t member = cells->members[s];
          const double lo = l == base + 1 ? y->levels[base].points[(size_t)member * dim + d]
                                          : cp->low[l - 1][(size_t)member * dim + d];
          const double hi = l == base + 1 ? lo : cp->high[l - 1][(size_t)member * dim + d];
          low = lo < low ? lo : low, high = hi > high ? hi : high;
        }
        cp->low[l][(size_t)c * dim + d] = low, cp->high[l][(size_t)c * dim + d] = high;
      }
  }
  double total = 0.0;
  for (int32_t d = 0; d < dim; ++d) {
    double low = INFINITY, high = -INFINITY;
    widen_range(&x->levels[base], dim, d, &low, &high);
    widen_range(&y->levels[base], dim, d, &low, &high);
    total += (high - low) * (high - low);
  }
  *cost_bound = p->source->euclidean ? sqrt(total) : total;
  return 1;
}

/* Solves level `base` (problem p) from the candidate arcs, pricing by the cells above it. */
static int solve_level(const emd_multiscale_problem *p, const hierarchy *x, const hierarchy *y,
                       int32_t base, emd_arc_list *arcs, emd_basic_solution *solution) {
  cell_pricer cp;
  memset(&cp, 0, sizeof cp);
  emd_row_pricer pricer = {&cp, prepare_cells, price_row_by_cells, 0.0};
  /* Without memory for the cells, every pair is priced: slower, as exact. */
  int ok = base + 1 < y->count && make_cell_pricer(&cp, p, x, y, base, &pricer.cost_bound);
  emd_multiscale_problem priced = *p;
  if (ok) priced.pricer = &pricer;
  ok = emd_certified_solve(base + 1 < y->count ? &priced : p, arcs, solution);
  free_cell_pricer(&cp);
  return ok;
}

/* Solves levels top-1 .. 1 (each a problem between the two clouds' points of that level),
 * leaving the basis of level 1 in `coarse`. */
static int solve_coarse_levels(const emd_multiscale_problem *p, const hierarchy *x,
                               const hierarchy *y, emd_basic_solution *coarse,
                               level_solution *store) {
  const int32_t dim = p->source->dim;
  int64_t pivots = 0;
  for (int32_t l = x->count - 1; l >= 1; --l) {
    const level *lx = &x->levels[l], *ly = &y->levels[l];
    emd_cost_source source = {lx->count, ly->count,           NULL, lx->points, ly->by_dim,
                              dim,       p->source->euclidean};
    emd_multiscale_problem problem = {lx->count, ly->count, lx->mass,   ly->mass, &source,
                                      NULL,      NULL,      p->threads, NULL,     NULL,
                                      NULL,      0,         NULL,       NULL};
    emd_arc_list arcs = {0, 0, NULL, NULL, NULL};
    int64_t *start = NULL;
    if (l + 1 < x->count) {
      problem.warm_count =
          refine_level(&problem, &x->levels[l + 1], &y->levels[l + 1], coarse, &arcs, &start);
      problem.warm_arcs = start;
      if (problem.warm_count < 0) {
        emd_arc_list_free(&arcs);
        return 0;
      }
    }
    free_solution(store);
    int ok = allocate_solution(store, lx->count, ly->count);
    emd_basic_solution solution = {store->row, store->col, store->flow, 0,
                                   store->u,   store->v,   0,           0};
    ok = ok && (l + 1 < x->count ? solve_level(&problem, x, y, l, &arcs, &solution)
                                 : emd_certified_solve(&problem, &arcs, &solution));
    emd_arc_list_free(&arcs);
    free(start);
    if (!ok) return 0;
    pivots += solution.iterations;
    *coarse = solution;
  }
  coarse->iterations = pivots;
  return 1;
}

static int solve_in_order(const emd_multiscale_problem *problem, emd_basic_solution *solution) {
  hierarchy x, y;
  level_solution store = {NULL, NULL, NULL, NULL, NULL};
  emd_basic_solution coarse = {NULL, NULL, NULL, 0, NULL, NULL, 0, 0};
  emd_arc_list arcs = {0, 0, NULL, NULL, NULL};
  int ok =
      build_hierarchies(problem, &x, &y) && solve_coarse_levels(problem, &x, &y, &coarse, &store);
  emd_multiscale_problem fine = *problem;
  int64_t *start = NULL;
  if (ok && x.count > 1) {
    fine.warm_count = refine_level(problem, &x.levels[1], &y.levels[1], &coarse, &arcs, &start);
    fine.warm_arcs = start;
    ok = fine.warm_count >= 0;
  }
  const int64_t coarse_iterations = coarse.iterations;
  free_solution(&store);
  ok = ok && solve_level(&fine, &x, &y, 0, &arcs, solution);
  free(start);
  free_hierarchies(&x, &y);
  emd_arc_list_free(&arcs);
  if (ok) solution->iterations += coarse_iterations;
  return ok;
}

/* ---- points in a spatial order ------------------------------------------------------------- */

/* Most of the sparse simplex's time goes into walks over its tree in preorder (potential
 * updates after each pivot), and a transport tree between clouds joins nearby points. With the
 * points numbered along a Morton (Z-order) curve, such a walk stays in nearby memory instead of
 * jumping across all of it: the same problem solved about 2x faster on 2-D clouds of 2 x 10^4
 * points (bench/RESULTS.md). The order changes which optimal basis ties lead to, not the
 * certificate. */
static uint64_t morton_key(const double *point, const double *low, double scale, int32_t dim) {
  uint32_t q[MAX_DIM] = {0};
  const double top = (double)((1u << BITS_PER_DIM) - 1);
  for (int32_t d = 0; d < dim; ++d) {
    double t = floor((point[d] - low[d]) * scale);
    q[d] = (uint32_t)(t < 0.0 ? 0.0 : t > top ? top : t);
  }
  uint64_t key = 0;
  for (int32_t bit = BITS_PER_DIM - 1; bit >= 0; --bit)
    for (int32_t d = 0; d < dim; ++d) key = key << 1 | ((q[d] >> bit) & 1u);
  return key;
}

/* order[k]: the active index of one side's k-th point along the curve (side 0: rows). */
static int spatial_order(const emd_multiscale_problem *p, int side, int32_t *order) {
  const emd_cost_source *s = p->source;
  const int32_t dim = s->dim, count = side == 0 ? p->n : p->m;
  const int32_t *source_of = side == 0 ? p->row_of : p->col_of;
  double *points = malloc((size_t)count * dim * sizeof(double));
  keyed *keys = malloc((size_t)count * sizeof(keyed));
  if (points == NULL || keys == NULL) return free(points), free(keys), 0;
  double low[MAX_DIM], extent = 0.0;
  for (int32_t d = 0; d < dim; ++d) {
    double lowest = INFINITY, highest = -INFINITY;
    for (int32_t k = 0; k < count; ++k) {
      const int32_t i = source_of != NULL ? source_of[k] : k;
      const double v = side == 0 ? s->x[(size_t)i * dim + d] : s->y_by_dim[(size_t)d * s->m + i];
      points[(size_t)k * dim + d] = v;
      lowest = v < lowest ? v : lowest, highest = v > highest ? v : highest;
    }
    low[d] = lowest;
    extent = highest - lowest > extent ? highest - lowest : extent;
  }
  const double scale = extent > 0.0 ? (double)(1u << BITS_PER_DIM) / extent : 0.0;
  for (int32_t k = 0; k < count; ++k)
    keys[k].key = morton_key(points + (size_t)k * dim, low, scale, dim), keys[k].index = k;
  qsort(keys, (size_t)count, sizeof *keys, compare_keyed);
  for (int32_t k = 0; k < count; ++k) order[k] = keys[k].index;
  free(points), free(keys);
  return 1;
}

typedef struct reordered {
  int32_t *order[2];     /* per side: new index -> active index */
  int32_t *source_of[2]; /* per side: new index -> source index */
  double *weight[2], *dual[2];
} reordered;

static void free_reordered(reordered *r) {
  for (int side = 0; side < 2; ++side)
    free(r->order[side]), free(r->source_of[side]), free(r->weight[side]), free(r->dual[side]);
}

/* The problem with both sides renumbered along the curve; 0 when memory runs out. */
static int reorder(const emd_multiscale_problem *p, reordered *r, emd_multiscale_problem *out) {
  *out = *p;
  for (int side = 0; side < 2; ++side) {
    const int32_t count = side == 0 ? p->n : p->m;
    const int32_t *source_of = side == 0 ? p->row_of : p->col_of;
    const double *weight = side == 0 ? p->a : p->b;
    r->order[side] = malloc((size_t)count * sizeof(int32_t));
    r->source_of[side] = malloc((size_t)count * sizeof(int32_t));
    r->weight[side] = malloc((size_t)count * sizeof(double));
    r->dual[side] = malloc((size_t)count * sizeof(double));
    if (!r->order[side] || !r->source_of[side] || !r->weight[side] || !r->dual[side] ||
        !spatial_order(p, side, r->order[side]))
      return 0;
    for (int32_t k = 0; k < count; ++k) {
      const int32_t i = r->order[side][k];
      r->source_of[side][k] = source_of != NULL ? source_of[i] : i;
      r->weight[side][k] = weight[i];
    }
  }
  out->row_of = r->source_of[0], out->col_of = r->source_of[1];
  out->a = r->weight[0], out->b = r->weight[1];
  return 1;
}

int emd_cloud_hierarchy_solve(const emd_multiscale_problem *problem, emd_basic_solution *solution) {
  const int merged = emd_cloud_solve_merged(problem, solution);
  if (merged >= 0) return merged;
  reordered r;
  memset(&r, 0, sizeof r);
  emd_multiscale_problem renumbered;
  if (!reorder(problem, &r, &renumbered)) {
    free_reordered(&r);
    return solve_in_order(problem, solution); /* slower, as exact */
  }
  emd_basic_solution inner = *solution;
  inner.u = r.dual[0], inner.v = r.dual[1];
  const int ok = solve_in_order(&renumbered, &inner);
  if (ok) {
    for (int64_t e = 0; e < inner.count; ++e)
      solution->row[e] = r.order[0][inner.row[e]], solution->col[e] = r.order[1][inner.col[e]];
    for (int32_t k = 0; k < problem->n; ++k) solution->u[r.order[0][k]] = r.dual[0][k];
    for (int32_t k = 0; k < problem->m; ++k) solution->v[r.order[1][k]] = r.dual[1][k];
    solution->count = inner.count, solution->iterations = inner.iterations;
    solution->status = inner.status;
  }
  free_reordered(&r);
  return ok;
}
