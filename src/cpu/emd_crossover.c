/* From an optimal plan that need not be a vertex (the auction's) to a basic optimal solution:
 * the positive entries are added one by one to a forest; an entry that closes a cycle has
 * flow pushed around that cycle, against itself, until it or an arc of the cycle is empty,
 * and the empty arc leaves. Every arc of an optimal plan's support is tight for the optimal
 * duals, so the alternating cost of any such cycle is zero and the cost does not change. */
#include <string.h>

#include "emd_solvers.h"

typedef struct forest {
  int32_t *end_row, *end_col;   /* per slot: the arc's row node and column node */
  int32_t *next_row, *prev_row; /* per slot: incidence list links at the row end */
  int32_t *next_col, *prev_col; /* ... and at the column end */
  double *flow;                 /* per slot */
  int32_t *head;                /* per node: first slot incident to it */
  int32_t *free_slots;
  int32_t free_count;
  int32_t *seen, *via_slot, *from_node, *stack;
  int32_t stamp;
} forest;

size_t emd_crossover_workspace_bytes(int32_t n, int32_t m) {
  size_t nodes = (size_t)n + (size_t)m;
  return 12 * emd_align64(nodes * sizeof(int32_t)) + emd_align64(nodes * sizeof(double)) + 64;
}

static void *carve(char **cursor, size_t bytes) {
  void *start = *cursor;
  *cursor += emd_align64(bytes);
  return start;
}

static inline int32_t *next_of(forest *f, int32_t slot, int32_t node) {
  return f->end_row[slot] == node ? &f->next_row[slot] : &f->next_col[slot];
}
static inline int32_t *prev_of(forest *f, int32_t slot, int32_t node) {
  return f->end_row[slot] == node ? &f->prev_row[slot] : &f->prev_col[slot];
}

static void link_end(forest *f, int32_t slot, int32_t node) {
  int32_t first = f->head[node];
  *next_of(f, slot, node) = first;
  *prev_of(f, slot, node) = -1;
  if (first >= 0) *prev_of(f, first, node) = slot;
  f->head[node] = slot;
}

static void unlink_end(forest *f, int32_t slot, int32_t node) {
  int32_t prev = *prev_of(f, slot, node), next = *next_of(f, slot, node);
  if (prev >= 0)
    *next_of(f, prev, node) = next;
  else
    f->head[node] = next;
  if (next >= 0) *prev_of(f, next, node) = prev;
}

static void insert_arc(forest *f, int32_t row_node, int32_t col_node, double flow) {
  int32_t slot = f->free_slots[--f->free_count];
  f->end_row[slot] = row_node, f->end_col[slot] = col_node, f->flow[slot] = flow;
  link_end(f, slot, row_node);
  link_end(f, slot, col_node);
}

static void remove_arc(forest *f, int32_t slot) {
  unlink_end(f, slot, f->end_row[slot]);
  unlink_end(f, slot, f->end_col[slot]);
  f->free_slots[f->free_count++] = slot;
}

/* Depth-first search from `from` for `to`; on success via_slot/from_node describe the path
 * backwards from `to`. */
static int find_path(forest *f, int32_t from, int32_t to) {
  ++f->stamp;
  int32_t size = 0;
  f->stack[size++] = from;
  f->seen[from] = f->stamp;
  while (size > 0) {
    int32_t x = f->stack[--size];
    if (x == to) return 1;
    for (int32_t s = f->head[x]; s >= 0; s = *next_of(f, s, x)) {
      int32_t y = f->end_row[s] == x ? f->end_col[s] : f->end_row[s];
      if (f->seen[y] == f->stamp) continue;
      f->seen[y] = f->stamp;
      f->via_slot[y] = s;
      f->from_node[y] = x;
      f->stack[size++] = y;
    }
  }
  return 0;
}

/* Lays the forest out in `workspace` (emd_crossover_workspace_bytes) with every node alone. */
static void forest_init(forest *f, void *workspace, int32_t nodes) {
  char *cursor = workspace;
  int32_t **lists[] = {&f->end_row,  &f->end_col,  &f->next_row,  &f->prev_row,
                       &f->next_col, &f->prev_col, &f->head,      &f->free_slots,
                       &f->seen,     &f->via_slot, &f->from_node, &f->stack};
  for (size_t l = 0; l < sizeof lists / sizeof lists[0]; ++l)
    *lists[l] = carve(&cursor, (size_t)nodes * sizeof(int32_t));
  f->flow = carve(&cursor, (size_t)nodes * sizeof(double));
  for (int32_t x = 0; x < nodes; ++x) f->head[x] = -1, f->seen[x] = 0;
  f->free_count = 0;
  for (int32_t s = nodes - 1; s >= 0; --s) f->free_slots[f->free_count++] = s;
  f->stamp = 0;
}

/* Adds the plan entry row_node -> col_node carrying `amount`. When it closes a cycle (the path
 * col->...->row that find_path left in from_node), flow is pushed against the new arc: on the
 * path, an arc walked from its column to its row gains, one walked from its row to its column
 * loses, until the new arc or a losing arc is empty; an emptied arc leaves the forest. */
static void add_plan_entry(forest *f, int32_t row_node, int32_t col_node, double amount) {
  if (!find_path(f, row_node, col_node)) {
    insert_arc(f, row_node, col_node, amount);
    return;
  }
  double theta = amount;
  int32_t emptied = -1;
  for (int32_t x = col_node; x != row_node; x = f->from_node[x]) {
    int32_t s = f->via_slot[x];
    /* the path is stored backwards (from col_node towards row_node = `from` nodes), so the
     * walk col->row goes from x to from_node[x] */
    int walked_row_to_col = f->from_node[x] != f->end_row[s];
    if (walked_row_to_col && f->flow[s] < theta) theta = f->flow[s], emptied = s;
  }
  for (int32_t x = col_node; x != row_node; x = f->from_node[x]) {
    int32_t s = f->via_slot[x];
    int walked_row_to_col = f->from_node[x] != f->end_row[s];
    f->flow[s] += walked_row_to_col ? -theta : theta;
  }
  if (emptied >= 0) {
    f->flow[emptied] = 0.0;
    remove_arc(f, emptied);
    insert_arc(f, row_node, col_node, amount - theta);
  }
}

void emd_basic_from_plan(int32_t n, int32_t m, const double *plan, void *workspace,
                         emd_basic_solution *solution) {
  forest f;
  forest_init(&f, workspace, n + m);
  for (int32_t i = 0; i < n; ++i)
    for (int32_t j = 0; j < m; ++j) {
      double amount = plan[(size_t)i * m + j];
      if (amount > 0.0) add_plan_entry(&f, i, n + j, amount);
    }
  int64_t count = 0;
  for (int32_t x = 0; x < n; ++x)
    for (int32_t s = f.head[x]; s >= 0; s = f.next_row[s]) {
      solution->row[count] = f.end_row[s];
      solution->col[count] = f.end_col[s] - n;
      solution->flow[count++] = f.flow[s];
    }
  solution->count = count;
}
