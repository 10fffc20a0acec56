/* The preorder thread of a spanning tree (emd_tree_links.h) re-hung by a pivot, shared by the
 * dense and the sparse network simplex. */
#include "emd_tree_links.h"

static inline void link(const emd_thread_tree *t, int32_t before, int32_t after) {
  t->thread[before] = after;
  t->rev_thread[after] = before;
}

/* The subtree below the leaving arc, S, re-rooted at `inside` (path s_0 = inside, ..., s_k =
 * leave) and hung below `outside`, in the preorder thread. S re-rooted reads: s_0's own subtree
 * (unchanged), then for each s_t (t >= 1) s_t itself and what it had besides s_{t-1}'s subtree:
 * the run before it (A) and the run after it (B) in the old order. The new S starts right after
 * `outside`. Returns the last node of the new S, which is the new last[] of every s_t. */
int32_t emd_thread_rehang(const emd_thread_tree *t, int32_t path_length, int32_t outside) {
  const int32_t *path = t->path;
  int32_t *seg = t->segments, *last = t->last, *thread = t->thread;
  const int32_t leave = path[path_length - 1], old_last = last[leave];
  for (int64_t k = 1; k < path_length; ++k) {
    const int32_t s = path[k], below = path[k - 1];
    seg[4 * k] = thread[s] != below ? thread[s] : -1, seg[4 * k + 1] = t->rev_thread[below];
    seg[4 * k + 2] = last[s] != last[below] ? thread[last[below]] : -1, seg[4 * k + 3] = last[s];
  }
  /* Cut S out; the ancestors whose subtree ended with it now end before it. */
  const int32_t before = t->rev_thread[leave];
  link(t, before, thread[old_last]);
  for (int32_t u = t->parent[leave]; u >= 0 && last[u] == old_last; u = t->parent[u])
    last[u] = before;
  int32_t tail = last[path[0]];
  for (int64_t k = 1; k < path_length; ++k) {
    link(t, tail, path[k]);
    tail = path[k];
    if (seg[4 * k] >= 0) link(t, tail, seg[4 * k]), tail = seg[4 * k + 1];
    if (seg[4 * k + 2] >= 0) link(t, tail, seg[4 * k + 2]), tail = seg[4 * k + 3];
  }
  for (int32_t k = 0; k < path_length; ++k) last[path[k]] = tail;
  /* Insert after `outside`, as its first child. */
  link(t, tail, thread[outside]);
  link(t, outside, path[0]);
  if (last[outside] == outside)
    for (int32_t u = outside; u >= 0 && last[u] == outside; u = t->parent[u]) last[u] = tail;
  return tail;
}
