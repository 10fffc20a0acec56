/* A spanning tree stored as arrays (the network simplex solvers'): each node has a parent; the
 * child lists (a first child and doubly linked siblings, -1 ending a list) serve to build it,
 * the preorder thread to update it. */
#ifndef NORMOT_SRC_CPU_EMD_TREE_LINKS_H
#define NORMOT_SRC_CPU_EMD_TREE_LINKS_H

#include <stdint.h>

typedef struct emd_tree_links {
  int32_t *parent, *first_child, *next_sibling, *prev_sibling;
} emd_tree_links;

/* Makes `child` the first child of `parent`. */
static inline void emd_tree_add_child(const emd_tree_links *t, int32_t parent, int32_t child) {
  int32_t first = t->first_child[parent];
  t->next_sibling[child] = first;
  t->prev_sibling[child] = -1;
  if (first >= 0) t->prev_sibling[first] = child;
  t->first_child[parent] = child;
  t->parent[child] = parent;
}

/* Unlinks `child` from the child list of `parent` (its parent pointer is left as it is). */
static inline void emd_tree_remove_child(const emd_tree_links *t, int32_t parent, int32_t child) {
  int32_t prev = t->prev_sibling[child], next = t->next_sibling[child];
  if (prev >= 0)
    t->next_sibling[prev] = next;
  else
    t->first_child[parent] = next;
  if (next >= 0) t->prev_sibling[next] = prev;
}

/* One side of a pivot's cycle as the apex walk recorded it (the network simplex solvers keep one
 * array of nodes: i's side from the front, j's from the back): `count` nodes from the entering
 * arc's end up to the apex (excluded), `step` apart. */
typedef struct emd_cycle_side {
  const int32_t *first;
  int32_t step, count;
} emd_cycle_side;

/* The tree's preorder as a cyclic list (thread[x] follows x, rev_thread[x] precedes it) from
 * the root, and last[x], the last node of x's subtree in it, so that every subtree is one run
 * of the list. path (one per node) and segments (four per node) are a pivot's scratch. */
typedef struct emd_thread_tree {
  int32_t *parent, *thread, *rev_thread, *last, *path, *segments;
  /* skip[x]: the node EMD_THREAD_SKIP places after x in the thread, kept current by
   * emd_thread_rehang, so that a run of the thread can be walked as EMD_THREAD_SKIP independent
   * chains (emd_thread_shift); touched (3 per node) is its scratch. */
  int32_t *skip, *touched;
} emd_thread_tree;

/* How far a skip pointer reaches: the potential shift after a pivot walks a run of the thread,
 * one dependent load per node; with skip pointers it walks this many chains at once. */
enum { EMD_THREAD_SKIP = 4 };

/* A pivot's change of the thread: the subtree S below the leaving arc, whose root is
 * path[path_length - 1], is re-rooted at path[0] (path: the parent chain from path[0] up to
 * that root, path_length nodes) and hung below `outside` (not in S). Reads the parents before
 * the pivot (call it before they change); updates thread, rev_thread and last, not parent.
 * Returns the last node of S in the new order. */
int32_t emd_thread_rehang(const emd_thread_tree *t, int32_t path_length, int32_t outside);

/* Sets every skip pointer of the `nodes` nodes from the thread (after the thread was built). */
void emd_thread_skip_all(const emd_thread_tree *t, int32_t nodes);

/* Adds shift[0] to pot[x] of the rows (x < n) and shift[1] to that of the other nodes, for the
 * `count` nodes of the thread from `first` on. */
void emd_thread_shift(const emd_thread_tree *t, double *pot, int32_t n, int32_t first,
                      int32_t count, const double shift[2]);

#endif
