/* The exact auction core: cost-scaling push-relabel (Bertsekas' epsilon-relaxation, Goldberg and
 * Tarjan's refine) on the bipartite transportation graph, with integer prices on a fixed-point
 * cost grid and integer flows on a fixed-point mass grid.
 *
 * Everything here is a static inline NORMOT_HD function, so that auction.c (host) and the CUDA
 * backend (one warp per problem) run the same code. A "lane" is one thread of the team solving
 * one problem: on the host there is one lane; on the device a team is a full warp of 32 lanes.
 * Every lane executes the same control flow on the same values (reductions leave their result in
 * every lane), scans are split across lanes, and only lane 0 writes shared state, followed by
 * auction_sync(). With one lane this is an ordinary sequential program; with 32 it gives
 * bitwise the same result, since reductions break ties by the smaller index.
 *
 * Why it is exact: costs become integers C_ij = round(M_ij * s) with s = 2^41 / unit (unit: the
 * smallest power of two >= max|M|), and the
 * solver works with C_ij * K, K = 2 min(n, m) + 1. A flow that is epsilon-optimal for epsilon = 1
 * in those units has every residual cycle (at most 2 min(n, m) arcs) of scaled cost > -K, hence
 * of grid cost > -1, hence >= 0 since grid costs are integers: it is optimal for the rounded
 * costs. The masses are integers too (the total mass maps to 2^60 units), so no rounding ever
 * enters the search and it terminates like the integer algorithm. */
#ifndef NORMOT_SRC_AUCTION_CORE_H
#define NORMOT_SRC_AUCTION_CORE_H

#include <math.h>
#include <stdint.h>

#include "auction.h"
#include "normot/normot.h"

#if defined(__CUDACC__)
#define NORMOT_AUCTION_INLINE static __inline__ __host__ __device__
#else
#define NORMOT_AUCTION_INLINE static inline
#endif

/* The cost grid: the unit (a power of two >= max|M|) maps to 2^41 levels. */
#define NORMOT_AUCTION_COST_LEVELS 2199023255552.0 /* 2^41 */
/* The mass grid: the total mass maps to 2^60 units (so every sum of flows fits in int64). */
#define NORMOT_AUCTION_MASS_UNITS 1152921504606846976.0 /* 2^60 */
/* Epsilon shrinks by this factor per phase. */
#ifndef NORMOT_AUCTION_EPSILON_FACTOR
#define NORMOT_AUCTION_EPSILON_FACTOR 8
#endif
/* Prices beyond this magnitude could overflow C_ij - v_j: the solve gives up (never seen). */
#define NORMOT_AUCTION_PRICE_LIMIT ((int64_t)1 << 61)
/* Problems with min(n, m) above this would make K * 2^41 overflow the price range. */
#define NORMOT_AUCTION_MAX_SIDE ((int64_t)1 << 16)

/* The arrays of one problem's solve; the caller carves them out of a workspace. */
typedef struct normot_auction_state {
  int64_t n, m;
  int64_t *cost;          /* n x m scaled grid costs C_ij * K (filled by the caller) */
  int64_t *flow;          /* n x m flows in mass units */
  int64_t *supply;        /* n source masses in mass units (filled by the caller) */
  int64_t *demand;        /* m sink masses in mass units, same total as supply */
  int64_t *u;             /* n source prices */
  int64_t *v;             /* m sink prices */
  int64_t *source_excess; /* n: supply not yet sent (>= 0) */
  int64_t *sink_excess;   /* m: received minus demand */
  int64_t *queue;         /* n: the active sources, a ring */
  int64_t *saved_u;       /* n, m: the prices an optimality proof builds */
  int64_t *saved_v;
  int64_t *order; /* n + m: the proof's walk over the support */
  int64_t *basis; /* 9 (n + m) + 1: normot_auction_make_basic's forest and walk */
} normot_auction_state;

/* Bytes of the state's arrays, each rounded up to 8-byte alignment (they are all int64). */
NORMOT_AUCTION_INLINE size_t normot_auction_state_bytes(int64_t n, int64_t m) {
  return (size_t)(2 * n * m + 16 * n + 15 * m + 1) * sizeof(int64_t);
}

/* Lays the state out in `memory` (normot_auction_state_bytes(n, m) bytes, 8-byte aligned). */
NORMOT_AUCTION_INLINE void normot_auction_state_init(normot_auction_state *state, int64_t n,
                                                     int64_t m, void *memory) {
  int64_t *p = (int64_t *)memory;
  state->n = n;
  state->m = m;
  state->cost = p;
  p += n * m;
  state->flow = p;
  p += n * m;
  state->supply = p;
  p += n;
  state->demand = p;
  p += m;
  state->u = p;
  p += n;
  state->v = p;
  p += m;
  state->source_excess = p;
  p += n;
  state->sink_excess = p;
  p += m;
  state->queue = p;
  p += n;
  state->saved_u = p;
  p += n;
  state->saved_v = p;
  p += m;
  state->order = p;
  p += n + m;
  state->basis = p;
}

/* The team's primitives: a barrier, an exchange with lane (lane ^ offset), and a vote. On the
 * device the team is a warp (warp shuffles, __syncwarp); on the host it is one lane, unless a
 * test defines NORMOT_AUCTION_EMULATED_TEAM and provides the primitives itself, running a team
 * of threads in lockstep (tests/test_auction_cuda_emulation.cc), so that the warp's code paths
 * are exercised without a GPU. NORMOT_AUCTION_WIDTH is the team size the reductions span. */
#if defined(__CUDA_ARCH__)
#define NORMOT_AUCTION_WIDTH 32
NORMOT_AUCTION_INLINE void normot_auction_sync(void) {
  __syncwarp();
}
NORMOT_AUCTION_INLINE int64_t normot_auction_exchange(int64_t value, int offset) {
  return __shfl_xor_sync(0xffffffffu, value, offset);
}
NORMOT_AUCTION_INLINE double normot_auction_exchange_double(double value, int offset) {
  return __shfl_xor_sync(0xffffffffu, value, offset);
}
NORMOT_AUCTION_INLINE unsigned normot_auction_vote(int flag) {
  return __ballot_sync(0xffffffffu, flag);
}
NORMOT_AUCTION_INLINE int normot_auction_popcount(unsigned mask) {
  return __popc(mask);
}
#else
#if defined(NORMOT_AUCTION_EMULATED_TEAM)
int normot_emulated_width(void);
void normot_emulated_sync(void);
int64_t normot_emulated_exchange(int64_t value, int offset);
double normot_emulated_exchange_double(double value, int offset);
unsigned normot_emulated_vote(int flag);
#define NORMOT_AUCTION_WIDTH normot_emulated_width()
#define NORMOT_AUCTION_HOOK(emulated, plain) emulated
#else
#define NORMOT_AUCTION_WIDTH 1
#define NORMOT_AUCTION_HOOK(emulated, plain) plain
#endif
NORMOT_AUCTION_INLINE void normot_auction_sync(void) {
  NORMOT_AUCTION_HOOK(normot_emulated_sync(), (void)0);
}
NORMOT_AUCTION_INLINE int64_t normot_auction_exchange(int64_t value, int offset) {
  (void)offset;
  return NORMOT_AUCTION_HOOK(normot_emulated_exchange(value, offset), value);
}
NORMOT_AUCTION_INLINE double normot_auction_exchange_double(double value, int offset) {
  (void)offset;
  return NORMOT_AUCTION_HOOK(normot_emulated_exchange_double(value, offset), value);
}
NORMOT_AUCTION_INLINE unsigned normot_auction_vote(int flag) {
  return NORMOT_AUCTION_HOOK(normot_emulated_vote(flag), flag != 0 ? 1u : 0u);
}
NORMOT_AUCTION_INLINE int normot_auction_popcount(unsigned mask) {
  int count = 0;
  for (; mask != 0; mask &= mask - 1) ++count;
  return count;
}
#endif

/* Lexicographic (value, index) minimum across the team; every lane gets the result. */
NORMOT_AUCTION_INLINE void normot_auction_reduce_argmin(int64_t *value, int64_t *index) {
  for (int offset = NORMOT_AUCTION_WIDTH / 2; offset > 0; offset >>= 1) {
    int64_t other_value = normot_auction_exchange(*value, offset);
    int64_t other_index = normot_auction_exchange(*index, offset);
    if (other_value < *value || (other_value == *value && other_index < *index)) {
      *value = other_value;
      *index = other_index;
    }
  }
}

NORMOT_AUCTION_INLINE int64_t normot_auction_reduce_min(int64_t value) {
  for (int offset = NORMOT_AUCTION_WIDTH / 2; offset > 0; offset >>= 1) {
    int64_t other = normot_auction_exchange(value, offset);
    if (other < value) value = other;
  }
  return value;
}

/* Not -reduce_min(-value): a lane with nothing to scan holds INT64_MIN, whose negation
 * overflows (the first epsilon then came out as 1 for problems with fewer entries than lanes,
 * and the solve crawled through the whole cost range one unit at a time). */
NORMOT_AUCTION_INLINE int64_t normot_auction_reduce_max(int64_t value) {
  for (int offset = NORMOT_AUCTION_WIDTH / 2; offset > 0; offset >>= 1) {
    int64_t other = normot_auction_exchange(value, offset);
    if (other > value) value = other;
  }
  return value;
}

/* A team-wide ballot: every lane learns how many lanes have `flag` set (*count), and a lane with
 * it set learns how many lanes before it have it too (the return value): its slot. */
NORMOT_AUCTION_INLINE int64_t normot_auction_ballot(int flag, int lane, int64_t *count) {
  const unsigned mask = normot_auction_vote(flag);
  *count = normot_auction_popcount(mask);
  return normot_auction_popcount(mask & ((1u << lane) - 1u));
}

NORMOT_AUCTION_INLINE int64_t normot_auction_reduce_sum_int(int64_t value) {
  for (int offset = NORMOT_AUCTION_WIDTH / 2; offset > 0; offset >>= 1)
    value += normot_auction_exchange(value, offset);
  return value;
}

NORMOT_AUCTION_INLINE double normot_auction_reduce_max_double(double value) {
  for (int offset = NORMOT_AUCTION_WIDTH / 2; offset > 0; offset >>= 1) {
    double other = normot_auction_exchange_double(value, offset);
    if (other > value) value = other;
  }
  return value;
}

/* The grid's unit: the smallest power of two >= max|M| (1 when all costs are 0). Costs are
 * divided by it before scaling (never multiplied by 2^41 / unit, which overflows for tiny
 * costs); being a power of two, the division and the scaling are exact, so integer and other
 * dyadic costs land on the grid exactly (no rounding at all), and the grid keeps between 2^40
 * and 2^41 levels over max|M|. */
NORMOT_AUCTION_INLINE double normot_auction_cost_unit(double max_abs_cost) {
  if (!(max_abs_cost > 0)) return 1.0;
  int exponent = 0;
  const double fraction = frexp(max_abs_cost, &exponent);
  return fraction == 0.5 ? max_abs_cost : ldexp(1.0, exponent);
}

/* K: the factor that makes epsilon = 1 (scaled) exact for the rounded costs. */
NORMOT_AUCTION_INLINE int64_t normot_auction_cost_multiplier(int64_t n, int64_t m) {
  return 2 * (n < m ? n : m) + 1;
}

/* One scaled grid cost: round(cost / unit * 2^41) * K. */
NORMOT_AUCTION_INLINE int64_t normot_auction_grid_cost(double cost, double unit,
                                                       int64_t multiplier) {
  return (int64_t)llround(cost / unit * NORMOT_AUCTION_COST_LEVELS) * multiplier;
}

/* A price (scaled grid units) back in cost units: price / (K 2^41) * unit. */
NORMOT_AUCTION_INLINE double normot_auction_price_to_cost(int64_t price, double unit,
                                                          int64_t multiplier) {
  return (double)price / ((double)multiplier * NORMOT_AUCTION_COST_LEVELS) * unit;
}

/* A flow (mass units) back in the mass of the weights that summed to `total`. */
NORMOT_AUCTION_INLINE double normot_auction_flow_to_mass(int64_t flow, double total) {
  return (double)flow / NORMOT_AUCTION_MASS_UNITS * total;
}

/* Maps positive weights w[0..count) (sum `total`) to integer masses that sum exactly to
 * `units`, each >= 1; the rounding difference goes to the largest mass. Runs in lane 0 only
 * (the caller syncs). Returns 0 when the weights cannot be represented (never for count <
 * 2^20). */
NORMOT_AUCTION_INLINE int normot_auction_quantize(const double *w, int64_t count, double total,
                                                  int64_t units, int64_t *out) {
  int64_t sum = 0, largest = 0;
  for (int64_t i = 0; i < count; ++i) {
    int64_t q = (int64_t)llround(w[i] / total * (double)units);
    if (q < 1) q = 1;
    out[i] = q;
    sum += q;
    if (q > out[largest]) largest = i;
  }
  out[largest] += units - sum;
  return out[largest] >= 1;
}

/* The flow from source i to sink j. */
NORMOT_AUCTION_INLINE int64_t normot_auction_flow(const normot_auction_state *s, int64_t i,
                                                  int64_t j) {
  return s->flow[j * s->n + i];
}

/* Pushes `amount` from source i to sink j. */
NORMOT_AUCTION_INLINE void normot_auction_push(normot_auction_state *s, int lane, int64_t i,
                                               int64_t j, int64_t amount) {
  if (lane == 0) {
    s->flow[j * s->n + i] += amount;
    s->source_excess[i] -= amount;
    s->sink_excess[j] += amount;
  }
}

/* For a support that does not connect every node (degenerate problems, assignments): prices
 * for the optimality test by label correcting (a queue-based Bellman-Ford) from the current
 * epsilon-optimal prices, into saved_u / saved_v: v_j <= C_kj - u_k on every arc, and
 * u_i >= C_ij - v_j on every arc with flow. If the flow is optimal this settles; a bounded
 * amount of work is spent before giving up (0). Lane-parallel scans, lane 0 keeps the queue. */
NORMOT_AUCTION_INLINE int normot_auction_settle_prices(normot_auction_state *s, int lane,
                                                       int lanes) {
  const int64_t n = s->n, m = s->m, nodes = n + m;
  int64_t *tree_u = s->saved_u, *tree_v = s->saved_v, *ring = s->order;
  int64_t *queued_source = s->source_excess, *queued_sink = s->sink_excess; /* zero now */
  for (int64_t i = lane; i < n; i += lanes) {
    tree_u[i] = s->u[i];
    ring[i] = i;
    queued_source[i] = 1;
  }
  for (int64_t j = lane; j < m; j += lanes) tree_v[j] = s->v[j];
  normot_auction_sync();
  int64_t head = 0, waiting = n, budget = 4 * nodes;
  while (waiting > 0 && budget-- > 0) {
    const int64_t node = ring[head];
    head = head + 1 == nodes ? 0 : head + 1;
    --waiting;
    normot_auction_sync();
    if (node < n) {
      if (lane == 0) queued_source[node] = 0;
      const int64_t u = tree_u[node];
      const int64_t *row = s->cost + node * m;
      for (int64_t base = 0; base < m; base += lanes) {
        const int64_t j = base + lane;
        const int lowered = j < m && row[j] - u < tree_v[j];
        const int enqueue = lowered && !queued_sink[j];
        int64_t count = 0;
        const int64_t slot = normot_auction_ballot(enqueue, lane, &count);
        if (lowered) tree_v[j] = row[j] - u;
        if (enqueue) {
          queued_sink[j] = 1;
          int64_t tail = head + waiting + slot;
          ring[tail % nodes] = n + j;
        }
        waiting += count;
      }
    } else {
      const int64_t j = node - n;
      if (lane == 0) queued_sink[j] = 0;
      const int64_t v = tree_v[j];
      const int64_t *column = s->flow + j * n;
      for (int64_t base = 0; base < n; base += lanes) {
        const int64_t i = base + lane;
        const int raised = i < n && column[i] > 0 && s->cost[i * m + j] - v > tree_u[i];
        const int enqueue = raised && !queued_source[i];
        int64_t count = 0;
        const int64_t slot = normot_auction_ballot(enqueue, lane, &count);
        if (raised) tree_u[i] = s->cost[i * m + j] - v;
        if (enqueue) {
          queued_source[i] = 1;
          int64_t tail = head + waiting + slot;
          ring[tail % nodes] = i;
        }
        waiting += count;
      }
    }
    normot_auction_sync();
  }
  int64_t out_of_range = 0;
  for (int64_t i = lane; i < n; i += lanes) {
    queued_source[i] = 0;
    out_of_range +=
        tree_u[i] >= NORMOT_AUCTION_PRICE_LIMIT || tree_u[i] <= -NORMOT_AUCTION_PRICE_LIMIT;
  }
  for (int64_t j = lane; j < m; j += lanes) {
    queued_sink[j] = 0;
    out_of_range +=
        tree_v[j] >= NORMOT_AUCTION_PRICE_LIMIT || tree_v[j] <= -NORMOT_AUCTION_PRICE_LIMIT;
  }
  out_of_range = normot_auction_reduce_sum_int(out_of_range);
  normot_auction_sync();
  return waiting == 0 && out_of_range == 0;
}

/* Tests whether the current (feasible) flow is already optimal, so that the remaining epsilon
 * phases can be skipped: when the arcs with flow connect every node, they fix the prices
 * (u_i + v_j = C_ij on each, u_0 kept), and if then u_i + v_j <= C_ij on every arc, those
 * prices prove the flow optimal and are exact duals. A disconnected support (assignments,
 * degenerate problems) or a violated arc proves nothing, and the prices are left as they were.
 * O(n m), split across the lanes. Returns 1 when proven. */
NORMOT_AUCTION_INLINE int normot_auction_prove_optimal(normot_auction_state *s, int lane,
                                                       int lanes) {
  const int64_t n = s->n, m = s->m;
  int64_t *tree_u = s->saved_u, *tree_v = s->saved_v;
  /* Nodes 0..n-1 are sources, n..n+m-1 sinks; the excess arrays (all zero now) mark the
   * nodes reached. A breadth-first walk whose neighbour scans are split across the lanes. */
  int64_t *order = s->order;
  int64_t reached = 1, next = 0;
  if (lane == 0) {
    order[0] = 0;
    tree_u[0] = s->u[0];
    s->source_excess[0] = 1;
  }
  normot_auction_sync();
  while (next < reached) {
    const int64_t node = order[next++];
    if (node < n) {
      for (int64_t base = 0; base < m; base += lanes) {
        const int64_t j = base + lane;
        const int found = j < m && !s->sink_excess[j] && s->flow[j * n + node] > 0;
        int64_t count = 0;
        const int64_t slot = normot_auction_ballot(found, lane, &count);
        if (found) {
          s->sink_excess[j] = 1;
          tree_v[j] = s->cost[node * m + j] - tree_u[node];
          order[reached + slot] = n + j;
        }
        reached += count;
      }
    } else {
      const int64_t j = node - n;
      const int64_t *column = s->flow + j * n;
      for (int64_t base = 0; base < n; base += lanes) {
        const int64_t i = base + lane;
        const int found = i < n && !s->source_excess[i] && column[i] > 0;
        int64_t count = 0;
        const int64_t slot = normot_auction_ballot(found, lane, &count);
        if (found) {
          s->source_excess[i] = 1;
          tree_u[i] = s->cost[i * m + j] - tree_v[j];
          order[reached + slot] = i;
        }
        reached += count;
      }
    }
    normot_auction_sync();
  }
  for (int64_t i = lane; i < n; i += lanes) s->source_excess[i] = 0;
  for (int64_t j = lane; j < m; j += lanes) s->sink_excess[j] = 0;
  normot_auction_sync();
  /* Only a walk that reached every node has set every tree price: otherwise the prices of the
   * unreached nodes are whatever the workspace held (earlier problems, other threads' history),
   * and label correcting starts over from the current prices instead. */
  if (reached != n + m) {
    if (!normot_auction_settle_prices(s, lane, lanes)) return 0;
  } else {
    int64_t out_of_range = 0;
    for (int64_t i = lane; i < n; i += lanes)
      out_of_range +=
          tree_u[i] >= NORMOT_AUCTION_PRICE_LIMIT || tree_u[i] <= -NORMOT_AUCTION_PRICE_LIMIT;
    for (int64_t j = lane; j < m; j += lanes)
      out_of_range +=
          tree_v[j] >= NORMOT_AUCTION_PRICE_LIMIT || tree_v[j] <= -NORMOT_AUCTION_PRICE_LIMIT;
    if (normot_auction_reduce_sum_int(out_of_range) != 0) return 0;
  }

  /* Flow arcs outside the tree (cycles) must be tight too. */
  int64_t violations = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t *row = s->cost + i * m;
    const int64_t u = tree_u[i];
    for (int64_t j = lane; j < m; j += lanes) {
      int64_t r = row[j] - u - tree_v[j];
      violations += r < 0 || (r != 0 && s->flow[j * n + i] > 0);
    }
  }
  if (normot_auction_reduce_sum_int(violations) != 0) return 0;
  for (int64_t i = lane; i < n; i += lanes) s->u[i] = tree_u[i];
  for (int64_t j = lane; j < m; j += lanes) s->v[j] = tree_v[j];
  normot_auction_sync();
  return 1;
}

/* One epsilon phase's running state (every lane holds the same values). */
typedef struct normot_auction_phase {
  normot_auction_state *s;
  int lane, lanes;
  int64_t epsilon;
  int64_t max_iter; /* 0: no bound */
  int64_t pushes;   /* so far, over all phases */
  int64_t head;     /* the ring of active sources: its first slot and its length */
  int64_t active;
  int status; /* OPTIMAL while the phase runs */
} normot_auction_phase;

/* The first epsilon: the whole cost range (at least 1). */
NORMOT_AUCTION_INLINE int64_t normot_auction_first_epsilon(const normot_auction_state *s, int lane,
                                                           int lanes) {
  int64_t low = INT64_MAX, high = INT64_MIN;
  for (int64_t e = lane; e < s->n * s->m; e += lanes) {
    int64_t c = s->cost[e];
    if (c < low) low = c;
    if (c > high) high = c;
  }
  low = normot_auction_reduce_min(low);
  high = normot_auction_reduce_max(high);
  return high - low < 1 ? 1 : high - low;
}

/* Starts a phase. The first starts from the zero flow with u_i = min_j (C_ij - v_j), which is
 * 0-optimal. The others keep the last phase's flow (Goldberg and Tarjan's refine): lowering u_i
 * to at most min_j (C_ij - v_j) + epsilon makes every arc's reduced cost >= -epsilon, and the
 * flow on arcs whose reduced cost is then > epsilon goes back to its source. Then the sources
 * with excess fill the ring, in index order. */
NORMOT_AUCTION_INLINE void normot_auction_refine(normot_auction_phase *ph, int first_phase) {
  normot_auction_state *s = ph->s;
  const int64_t n = s->n, m = s->m, epsilon = ph->epsilon;
  const int lane = ph->lane, lanes = ph->lanes;
  if (first_phase) {
    for (int64_t e = lane; e < n * m; e += lanes) s->flow[e] = 0;
    for (int64_t j = lane; j < m; j += lanes) s->sink_excess[j] = -s->demand[j];
    for (int64_t i = lane; i < n; i += lanes) s->source_excess[i] = s->supply[i];
    normot_auction_sync();
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = INT64_MAX;
    const int64_t *row = s->cost + i * m;
    for (int64_t j = lane; j < m; j += lanes) {
      int64_t reduced = row[j] - s->v[j];
      if (reduced < best) best = reduced;
    }
    best = normot_auction_reduce_min(best);
    int64_t price = first_phase ? best : best + epsilon;
    if (price > s->u[i] && !first_phase) price = s->u[i];
    int64_t returned = 0;
    if (!first_phase) {
      for (int64_t j = lane; j < m; j += lanes) {
        int64_t *flow = s->flow + j * n + i;
        if (*flow > 0 && row[j] - s->v[j] - price > epsilon) {
          returned += *flow;
          s->sink_excess[j] -= *flow;
          *flow = 0;
        }
      }
      returned = normot_auction_reduce_sum_int(returned);
    }
    normot_auction_sync();
    if (lane == 0) {
      s->u[i] = price;
      s->source_excess[i] += returned;
    }
  }
  normot_auction_sync();
  ph->head = 0;
  ph->active = 0;
  for (int64_t i = 0; i < n; ++i)
    if (s->source_excess[i] > 0) {
      if (lane == 0) s->queue[ph->active] = i;
      ++ph->active;
    }
  normot_auction_sync();
}

/* The push limit, checked before every push: 1 (and the status set) once it is reached. */
NORMOT_AUCTION_INLINE int normot_auction_limit_reached(normot_auction_phase *ph) {
  if (ph->max_iter > 0 && ph->pushes >= ph->max_iter) {
    ph->status = NORMOT_EMD_MAX_ITER_REACHED;
    return 1;
  }
  return 0;
}

/* Sink j: while it holds too much, send mass back to the holder with the largest reduced cost,
 * relabelling first when no backward arc is admissible; a holder that becomes active joins the
 * ring. */
NORMOT_AUCTION_INLINE void normot_auction_drain_sink(normot_auction_phase *ph, int64_t j) {
  normot_auction_state *s = ph->s;
  const int64_t n = s->n, m = s->m;
  const int lane = ph->lane, lanes = ph->lanes;
  while (s->sink_excess[j] > 0) {
    int64_t worst = INT64_MAX, worst_i = n; /* minimum of -(C_kj - u_k) */
    const int64_t *column = s->flow + j * n;
    for (int64_t k = lane; k < n; k += lanes) {
      if (column[k] > 0) {
        int64_t negated = s->u[k] - s->cost[k * m + j];
        if (negated < worst || (negated == worst && k < worst_i)) {
          worst = negated;
          worst_i = k;
        }
      }
    }
    normot_auction_reduce_argmin(&worst, &worst_i);
    const int64_t gain = -worst; /* C_kj - u_k of the worst holder k */
    int64_t sink_price = s->v[j];
    if (gain - sink_price <= 0) {
      if (gain - ph->epsilon <= -NORMOT_AUCTION_PRICE_LIMIT) {
        ph->status = NORMOT_EMD_INFEASIBLE;
        return;
      }
      sink_price = gain - ph->epsilon;
    }
    if (normot_auction_limit_reached(ph)) return;
    const int64_t k = worst_i;
    const int64_t held = s->flow[j * n + k];
    const int64_t amount = s->sink_excess[j] < held ? s->sink_excess[j] : held;
    const int was_idle = s->source_excess[k] == 0;
    normot_auction_sync(); /* every lane has read what lane 0 now changes */
    if (lane == 0) s->v[j] = sink_price;
    normot_auction_push(s, lane, k, j, -amount);
    ++ph->pushes;
    if (was_idle) {
      int64_t tail = ph->head + ph->active;
      if (tail >= n) tail -= n;
      if (lane == 0) s->queue[tail] = k;
      ++ph->active;
    }
    normot_auction_sync();
  }
}

/* The next source of the ring: relabel it to the best sink if no arc is admissible, then send
 * all its excess there (its arcs have no capacity, so one push empties it), then drain that
 * sink. */
NORMOT_AUCTION_INLINE void normot_auction_discharge(normot_auction_phase *ph) {
  normot_auction_state *s = ph->s;
  const int64_t n = s->n, m = s->m;
  const int lane = ph->lane, lanes = ph->lanes;
  const int64_t i = s->queue[ph->head];
  ph->head = ph->head + 1 == n ? 0 : ph->head + 1;
  --ph->active;
  int64_t best = INT64_MAX, best_j = m;
  const int64_t *row = s->cost + i * m;
  for (int64_t j = lane; j < m; j += lanes) {
    int64_t reduced = row[j] - s->v[j];
    if (reduced < best || (reduced == best && j < best_j)) {
      best = reduced;
      best_j = j;
    }
  }
  normot_auction_reduce_argmin(&best, &best_j);
  int64_t price = s->u[i];
  if (best >= price) {
    if (best + ph->epsilon >= NORMOT_AUCTION_PRICE_LIMIT) {
      ph->status = NORMOT_EMD_INFEASIBLE;
      return;
    }
    price = best + ph->epsilon;
  }
  const int64_t j = best_j;
  const int64_t sent = s->source_excess[i];
  normot_auction_sync(); /* every lane has read what lane 0 now changes */
  if (lane == 0) s->u[i] = price;
  normot_auction_push(s, lane, i, j, sent);
  ++ph->pushes;
  normot_auction_sync();
  normot_auction_drain_sink(ph, j);
}

/* After the push limit: make the flow feasible (overfull sinks give back, then the remaining
 * excess fills the remaining room in index order). The result is a plan, not an optimum. */
NORMOT_AUCTION_INLINE void normot_auction_make_feasible(normot_auction_state *s, int lane) {
  const int64_t n = s->n, m = s->m;
  if (lane == 0) {
    for (int64_t j = 0; j < m; ++j) {
      for (int64_t k = 0; k < n && s->sink_excess[j] > 0; ++k) {
        int64_t held = s->flow[j * n + k];
        int64_t amount = s->sink_excess[j] < held ? s->sink_excess[j] : held;
        if (amount > 0) normot_auction_push(s, 0, k, j, -amount);
      }
    }
    int64_t j = 0;
    for (int64_t i = 0; i < n; ++i) {
      while (s->source_excess[i] > 0 && j < m) {
        int64_t room = -s->sink_excess[j];
        if (room <= 0) {
          ++j;
          continue;
        }
        int64_t amount = s->source_excess[i] < room ? s->source_excess[i] : room;
        normot_auction_push(s, 0, i, j, amount);
      }
    }
  }
  normot_auction_sync();
}

/* Runs the epsilon-scaling phases to the exact optimum of the integer problem in `s` (costs,
 * supply and demand filled). `lane`/`lanes`: this thread's place in the team. max_iter bounds
 * the number of pushes exactly (0: no bound): the check comes before every push, of a source or
 * of a sink. Returns a normot_emd_status: OPTIMAL, or
 * MAX_ITER_REACHED (the flow is then made feasible but may not be optimal), or INFEASIBLE when
 * the prices would leave their range (the caller re-solves with another method). */
NORMOT_AUCTION_INLINE int normot_auction_run(normot_auction_state *s, int lane, int lanes,
                                             int64_t max_iter, int64_t *iterations) {
  normot_auction_phase ph = {s, lane, lanes, 0, max_iter, 0, 0, 0, NORMOT_EMD_OPTIMAL};
  int64_t epsilon = normot_auction_first_epsilon(s, lane, lanes);
  for (int64_t j = lane; j < s->m; j += lanes) s->v[j] = 0;
  normot_auction_sync();

  int last_phase = 0, first_phase = 1;
  while (!last_phase && ph.status == NORMOT_EMD_OPTIMAL) {
    epsilon /= NORMOT_AUCTION_EPSILON_FACTOR;
    if (epsilon <= 1) {
      epsilon = 1;
      last_phase = 1;
    }
    ph.epsilon = epsilon;
    normot_auction_refine(&ph, first_phase);
    first_phase = 0;
    while (ph.active > 0 && ph.status == NORMOT_EMD_OPTIMAL && !normot_auction_limit_reached(&ph))
      normot_auction_discharge(&ph);
    if (ph.status == NORMOT_EMD_OPTIMAL && normot_auction_prove_optimal(s, lane, lanes))
      last_phase = 1;
  }
  if (ph.status == NORMOT_EMD_MAX_ITER_REACHED) normot_auction_make_feasible(s, lane);
  *iterations = ph.pushes;
  return ph.status;
}

/* The root of a node in make_basic's union-find (with path halving). */
NORMOT_AUCTION_INLINE int64_t normot_auction_root(int64_t *parent, int64_t node) {
  while (parent[node] != node) {
    parent[node] = parent[parent[node]];
    node = parent[node];
  }
  return node;
}

/* Turns an optimal flow into a basic one (its support a forest: at most n + m - 1 arcs), so that
 * sparse plans are the basic solution docs/emd_semantics.md promises. Arcs with flow join a forest
 * one by one; an arc that closes a cycle has flow moved around the cycle, away from itself, until
 * it or a forest arc of the cycle is empty, and the empty arc leaves. Masses are integers: the
 * marginals are kept exactly. Every arc of an optimal flow's support is tight for the optimal
 * duals, so a cycle's alternating (rounded) cost is zero and the flow stays optimal, its support
 * shrinking inside the old one (the duals remain a certificate). Lane 0 works, the others wait. */
NORMOT_AUCTION_INLINE void normot_auction_make_basic(normot_auction_state *s, int lane) {
  if (lane == 0) {
    const int64_t n = s->n, m = s->m, nodes = n + m;
    int64_t *parent = s->basis, *arc_i = parent + nodes, *arc_j = arc_i + nodes;
    int64_t *start = arc_j + nodes, *adjacent = start + nodes + 1, *previous = adjacent + 2 * nodes;
    int64_t *walk = previous + nodes;
    int64_t arcs = 0;
    for (int64_t node = 0; node < nodes; ++node) parent[node] = node;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < m; ++j) {
        int64_t *closing = &s->flow[j * n + i];
        if (*closing <= 0) continue;
        const int64_t root_i = normot_auction_root(parent, i);
        const int64_t root_j = normot_auction_root(parent, n + j);
        if (root_i != root_j) {
          parent[root_i] = root_j;
          arc_i[arcs] = i;
          arc_j[arcs] = j;
          ++arcs;
          continue;
        }
        /* The forest path from source i to sink j, by a breadth-first walk from i. */
        for (int64_t node = 0; node <= nodes; ++node) start[node] = 0;
        for (int64_t a = 0; a < arcs; ++a) ++start[arc_i[a] + 1], ++start[n + arc_j[a] + 1];
        for (int64_t node = 0; node < nodes; ++node) start[node + 1] += start[node];
        for (int64_t node = 0; node < nodes; ++node) previous[node] = start[node];
        for (int64_t a = 0; a < arcs; ++a) {
          adjacent[previous[arc_i[a]]++] = a;
          adjacent[previous[n + arc_j[a]]++] = a;
        }
        for (int64_t node = 0; node < nodes; ++node) previous[node] = -1;
        previous[i] = arcs; /* the root: no arc */
        int64_t head = 0, tail = 0;
        walk[tail++] = i;
        while (head < tail && previous[n + j] < 0) {
          const int64_t node = walk[head++];
          for (int64_t e = start[node]; e < start[node + 1]; ++e) {
            const int64_t a = adjacent[e];
            const int64_t other = node < n ? n + arc_j[a] : arc_i[a];
            if (previous[other] >= 0) continue;
            previous[other] = a;
            walk[tail++] = other;
          }
        }
        /* Around the cycle: -delta on (i, j), then from j back to i the path arcs take +delta,
         * -delta, ..., +delta. delta is the smallest flow among the arcs that lose. */
        int64_t delta = *closing, leaving = -1, node = n + j, gains = 1;
        while (node != i) {
          const int64_t a = previous[node];
          const int64_t held = s->flow[arc_j[a] * n + arc_i[a]];
          if (!gains && held < delta) delta = held, leaving = a;
          node = node < n ? n + arc_j[a] : arc_i[a];
          gains = !gains;
        }
        *closing -= delta;
        node = n + j;
        gains = 1;
        while (node != i) {
          const int64_t a = previous[node];
          s->flow[arc_j[a] * n + arc_i[a]] += gains ? delta : -delta;
          node = node < n ? n + arc_j[a] : arc_i[a];
          gains = !gains;
        }
        if (leaving >= 0) { /* (i, j) replaces the emptied arc in the forest */
          arc_i[leaving] = i;
          arc_j[leaving] = j;
        }
      }
    }
  }
  normot_auction_sync();
}

/* A solution to be certified, on dense row-major data: b is compared rescaled by b_scale (the
 * mass of a over the mass of b, as the solve maps it). */
typedef struct normot_auction_claim {
  int64_t n, m;
  const double *a, *b;
  double b_scale;
  const double *cost, *plan, *u, *v;
  double cost_tol, mass_tol;
} normot_auction_claim;

/* The optimality certificate (docs/emd_semantics.md) for a real-valued problem: |row sums - a| and
 * |column sums - b * b_scale| <= mass_tol (absolute), u_i + v_j <= M_ij + cost_tol everywhere and
 * u_i + v_j >= M_ij - cost_tol wherever plan_ij > 0. Lane-parallel; every lane gets the verdict
 * (1: certified). */
NORMOT_AUCTION_INLINE int normot_auction_certify_dense(const normot_auction_claim *c, int lane,
                                                       int lanes) {
  const int64_t n = c->n, m = c->m;
  int64_t failures = 0;
  for (int64_t i = lane; i < n; i += lanes) {
    double sum = 0;
    for (int64_t j = 0; j < m; ++j) {
      double x = c->plan[i * m + j];
      double slack = c->cost[i * m + j] - c->u[i] - c->v[j];
      sum += x;
      if (!(x >= 0) || !(slack >= -c->cost_tol) || (x > 0 && slack > c->cost_tol)) ++failures;
    }
    if (!(fabs(sum - c->a[i]) <= c->mass_tol)) ++failures;
  }
  for (int64_t j = lane; j < m; j += lanes) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += c->plan[i * m + j];
    if (!(fabs(sum - c->b[j] * c->b_scale) <= c->mass_tol)) ++failures;
  }
  return normot_auction_reduce_max(failures) == 0;
}

/* The tolerances that the certificate of an auction solution is checked with: the cost grid's
 * rounding plus the final epsilon, with room to spare ((n + m) grid steps), and 1e-12 of the
 * total mass. */
NORMOT_AUCTION_INLINE double normot_auction_cost_tolerance(int64_t n, int64_t m,
                                                           double max_abs_cost) {
  return (double)(n + m + 4) * normot_auction_cost_unit(max_abs_cost) / NORMOT_AUCTION_COST_LEVELS;
}
NORMOT_AUCTION_INLINE double normot_auction_mass_tolerance(double total_mass) {
  return 1e-12 * total_mass;
}

#endif
