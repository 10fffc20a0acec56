/* The fixed-point auction core for exact EMD: one problem, dense cost, plain C11 that compiles
 * for the host and, under nvcc, for the device (NORMOT_HD). The CUDA backend runs it per block;
 * the CPU backend offers it as NORMOT_EMD_SOLVER_AUCTION, so that the tests exercise the same
 * logic without a GPU. Zero-weight rows/columns are removed by the caller before this is called
 * (every a_i > 0, b_j > 0); dual centring and sparse plans are the caller's too. */
#ifndef NORMOT_SRC_AUCTION_H
#define NORMOT_SRC_AUCTION_H

#include <stddef.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define NORMOT_HD __host__ __device__
#else
#define NORMOT_HD
#endif

/* The library is built with hidden visibility; these few internal entry points are exported
 * so that the test suite can call the core directly. They are not part of the public API. */
#if defined(__GNUC__)
#define NORMOT_AUCTION_API __attribute__((visibility("default")))
#else
#define NORMOT_AUCTION_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct normot_auction_problem {
  int64_t n, m;
  const double *a;    /* n positive weights */
  const double *b;    /* m positive weights, same total as a */
  const double *cost; /* n x m, row-major */
  int64_t max_iter;   /* push limit; 0 = none. Reaching it: MAX_ITER_REACHED, plan feasible */
} normot_auction_problem;

typedef struct normot_auction_output {
  double *plan; /* n x m, required */
  double *u;    /* n, optional */
  double *v;    /* m, optional */
  double cost;  /* <plan, cost> */
  int64_t iterations;
  int status;    /* a normot_emd_status value */
  int certified; /* OPTIMAL and proven on the original costs (see auction_solve.h); an OPTIMAL
                    answer that is not certified must be re-solved exactly or reported */
} normot_auction_output;

/* Bytes of workspace normot_auction_solve needs for an n x m problem. */
NORMOT_AUCTION_API size_t normot_auction_workspace_bytes(int64_t n, int64_t m);

/* Solves exactly (for costs on a fixed-point grid of >= 2^40 levels over max|cost|) and
 * returns a normot_emd_status value (also stored in output->status); output->certified says
 * whether the answer also holds for the original costs. */
NORMOT_AUCTION_API int normot_auction_solve(const normot_auction_problem *problem, void *workspace,
                                            normot_auction_output *output);
/* INFEASIBLE is returned only when the problem is outside the core's range (min(n, m) > 2^16,
 * n or m < 1) or the integer prices would overflow (not seen in practice): the caller should
 * then re-solve with the network simplex. The plan is then all zeros. The workspace must be
 * 8-byte aligned (malloc's is). */

/* The optimality certificate (docs/emd_semantics.md), with the tolerances the auction guarantees:
 * marginals within 1e-12 of the total mass, u_i + v_j <= M_ij + tol and u_i + v_j >= M_ij - tol
 * where plan_ij > 0, tol = (n + m + 4) * 2^-40 * max|M|. Needs output->u and output->v. Returns 1
 * when certified, 0 when not. */
NORMOT_AUCTION_API int normot_auction_certify(const normot_auction_problem *problem,
                                              const normot_auction_output *output);

#ifdef __cplusplus
}
#endif

#endif
