/* The preorder thread of a spanning tree (emd_tree_links.h) re-hung by a pivot, shared by the
 * dense and the sparse network simplex. */
#include "emd_tree_links.h"

/* Joins `before` to `after` in the thread and notes `before`, whose skip pointer and those of
 * the nodes just before it may now be stale. */
static inline void link(const emd_thread_tree *t, int32_t *touched, int32_t before, int32_t after) {
  t->thread[before] = after;
  t->rev_thread[after] = before;
  touched[0] = before;
}

/* Renews the skip pointers that a change of thread[before] can reach: those of `before` and of
 * the EMD_THREAD_SKIP - 1 nodes before it. */
static void renew_skips(const emd_thread_tree *t, int32_t before) {
  int32_t window[2 * EMD_THREAD_SKIP];
  window[EMD_THREAD_SKIP - 1] = before;
  for (int k = EMD_THREAD_SKIP - 1; k > 0; --k) window[k - 1] = t->rev_thread[window[k]];
  for (int k = EMD_THREAD_SKIP; k < 2 * EMD_THREAD_SKIP; ++k) window[k] = t->thread[window[k - 1]];
  for (int k = 0; k < EMD_THREAD_SKIP; ++k) t->skip[window[k]] = window[k + EMD_THREAD_SKIP];
}

void emd_thread_skip_all(const emd_thread_tree *t, int32_t nodes) {
  for (int32_t x = 0; x < nodes; ++x) {
    int32_t ahead = x;
    for (int k = 0; k < EMD_THREAD_SKIP; ++k) ahead = t->thread[ahead];
    t->skip[x] = ahead;
  }
}

void emd_thread_shift(const emd_thread_tree *t, double *pot, int32_t n, int32_t first,
                      int32_t count, const double shift[2]) {
  int32_t chain[EMD_THREAD_SKIP];
  chain[0] = first;
  for (int c = 1; c < EMD_THREAD_SKIP; ++c) chain[c] = t->thread[chain[c - 1]];
  const int32_t *skip = t->skip;
  for (int32_t round = count / EMD_THREAD_SKIP; round > 0; --round)
    for (int c = 0; c < EMD_THREAD_SKIP; ++c) {
      pot[chain[c]] += shift[chain[c] >= n];
      chain[c] = skip[chain[c]];
    }
  for (int c = 0; c < count % EMD_THREAD_SKIP; ++c) pot[chain[c]] += shift[chain[c] >= n];
}

/* The subtree below the leaving arc, S, re-rooted at `inside` (path s_0 = inside, ..., s_k =
 * leave) and hung below `outside`, in the preorder thread. S re-rooted reads: s_0's own subtree
 * (unchanged), then for each s_t (t >= 1) s_t itself and what it had besides s_{t-1}'s subtree:
 * the run before it (A) and the run after it (B) in the old order. The new S starts right after
 * `outside`. Returns the last node of the new S, which is the new last[] of every s_t. */
int32_t emd_thread_rehang(const emd_thread_tree *t, int32_t path_length, int32_t outside) {
  const int32_t *path = t->path;
  int32_t *seg = t->segments, *last = t->last, *thread = t->thread, *touched = t->touched;
  int32_t touches = 0;
  const int32_t leave = path[path_length - 1], old_last = last[leave];
  for (int64_t k = 1; k < path_length; ++k) {
    const int32_t s = path[k], below = path[k - 1];
    seg[4 * k] = thread[s] != below ? thread[s] : -1, seg[4 * k + 1] = t->rev_thread[below];
    seg[4 * k + 2] = last[s] != last[below] ? thread[last[below]] : -1, seg[4 * k + 3] = last[s];
  }
  /* Cut S out; the ancestors whose subtree ended with it now end before it. */
  const int32_t before = t->rev_thread[leave];
  link(t, touched + touches++, before, thread[old_last]);
  for (int32_t u = t->parent[leave]; u >= 0 && last[u] == old_last; u = t->parent[u])
    last[u] = before;
  int32_t tail = last[path[0]];
  for (int64_t k = 1; k < path_length; ++k) {
    link(t, touched + touches++, tail, path[k]);
    tail = path[k];
    if (seg[4 * k] >= 0) link(t, touched + touches++, tail, seg[4 * k]), tail = seg[4 * k + 1];
    if (seg[4 * k + 2] >= 0)
      link(t, touched + touches++, tail, seg[4 * k + 2]), tail = seg[4 * k + 3];
  }
  for (int32_t k = 0; k < path_length; ++k) last[path[k]] = tail;
  /* Insert after `outside`, as its first child. */
  link(t, touched + touches++, tail, thread[outside]);
  link(t, touched + touches++, outside, path[0]);
  if (last[outside] == outside)
    for (int32_t u = outside; u >= 0 && last[u] == outside; u = t->parent[u]) last[u] = tail;
  for (int32_t k = 0; k < touches; ++k) renew_skips(t, touched[k]);
  return tail;
}
