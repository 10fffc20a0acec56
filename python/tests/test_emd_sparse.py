"""normot.emd with a scipy.sparse cost, against POT 0.9.7 (which restricts transport to the
stored entries and returns the plan as a scipy.sparse COO array)."""
import numpy as np
import pytest

import normot

sparse = pytest.importorskip("scipy.sparse")
ot = pytest.importorskip("ot")


def random_sparse_problem(rng, n, m, density):
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    a, b = a / a.sum(), b / b.sum()
    dense = rng.random((n, m))
    keep = rng.random((n, m)) < density
    # A feasible support: the north-west corner rule's path through the matrix.
    i = j = 0
    left_a, left_b = a.copy(), b.copy()
    while i < n and j < m:
        keep[i, j] = True
        moved = min(left_a[i], left_b[j])
        left_a[i] -= moved
        left_b[j] -= moved
        if left_a[i] <= 1e-15 and i + 1 < n:
            i += 1
        elif j + 1 < m:
            j += 1
        else:
            break
    rows, cols = np.nonzero(keep)
    return a, b, sparse.csr_array((dense[rows, cols], (rows, cols)), shape=(n, m))


@pytest.mark.parametrize("n,m,density", [(2, 3, 0.6), (40, 30, 0.2), (200, 170, 0.05)])
def test_sparse_cost_matches_pot(n, m, density):
    rng = np.random.default_rng(n)
    a, b, M = random_sparse_problem(rng, n, m, density)
    G, log = normot.emd(a, b, M, log=True)
    G_pot, log_pot = ot.emd(a, b, M, log=True)
    assert sparse.issparse(G) and G.format == "coo" and G.shape == (n, m)
    assert log["result_code"] == log_pot["result_code"] == 1
    assert abs(log["cost"] - log_pot["cost"]) <= 1e-9 * max(1.0, abs(log_pot["cost"]))
    dense = G.toarray()
    np.testing.assert_allclose(dense.sum(1), a, atol=1e-12)
    np.testing.assert_allclose(dense.sum(0), b, atol=1e-12)
    # Flow only on stored entries, and the duals certify optimality on them.
    stored = M.toarray() != 0
    assert not np.any((dense > 0) & ~stored)
    coo = M.tocoo()
    reduced = coo.data - log["u"][coo.row] - log["v"][coo.col]
    assert reduced.min() >= -1e-9
    assert abs(float(a @ log["u"] + b @ log["v"]) - log["cost"]) <= 1e-9


def test_infeasible_edges_warn_like_pot():
    a, b = np.array([0.5, 0.5]), np.array([0.5, 0.5])
    M = sparse.csr_array((np.array([1.0, 2.0]), (np.array([0, 0]), np.array([0, 1]))),
                         shape=(2, 2))
    with pytest.warns(UserWarning):
        G, log = normot.emd(a, b, M, log=True)
    assert log["result_code"] == 0 and log["cost"] == 0.0 and G.nnz == 0
