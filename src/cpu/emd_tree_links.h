/* The child lists of a spanning tree stored as arrays (the network simplex solvers'): each node
 * has a parent, a first child and doubly linked siblings; -1 ends a list. */
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

#endif
