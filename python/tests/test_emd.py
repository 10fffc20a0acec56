"""normot.emd / emd2 / emd_pointclouds against POT's ot.emd / ot.emd2 on the same inputs.

Costs must agree within 1e-9 relative. Plans and duals are checked by the optimality
certificate (marginals, complementary slackness, dual feasibility), because an optimal plan is
not unique when costs tie, so POT's plan may legitimately differ.
"""

import warnings

import numpy as np
import ot
import pytest

import normot
from normot import _library as L

from conftest import certificate_violation, random_batch

RTOL = 1e-9
CERT_TOL = 1e-9


def random_problem(rng, n, m, *, integer_costs=False, zero_a=0, zero_b=0, dtype=np.float64):
    a = rng.random(n) + 0.05
    b = rng.random(m) + 0.05
    a[:zero_a] = 0
    b[:zero_b] = 0
    a /= a.sum()
    b /= b.sum()
    M = rng.integers(0, 5, size=(n, m)).astype(float) if integer_costs else rng.random((n, m))
    return a.astype(dtype), b.astype(dtype), M.astype(dtype)


def pot_cost(a, b, M, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ot.emd2(a, b, M, **kwargs)


def assert_cost_close(actual, expected):
    assert abs(actual - expected) <= RTOL * max(abs(expected), 1e-300) + 1e-15, (actual, expected)


@pytest.mark.parametrize("n,m", [(1, 1), (1, 7), (6, 1), (5, 5), (13, 29), (40, 17), (64, 64)])
@pytest.mark.parametrize("integer_costs", [False, True])
def test_single_problem_matches_pot(rng, n, m, integer_costs):
    a, b, M = random_problem(rng, n, m, integer_costs=integer_costs)
    G, log = normot.emd(a, b, M, log=True)
    G_pot, log_pot = ot.emd(a, b, M, log=True)
    assert G.shape == G_pot.shape and G.dtype == G_pot.dtype
    assert set(log) == set(log_pot)
    assert_cost_close(log["cost"], log_pot["cost"])
    assert_cost_close(float(np.sum(G * M)), log_pot["cost"])
    assert log["result_code"] == log_pot["result_code"] == 1
    assert log["warning"] is None
    assert certificate_violation(G, log["u"], log["v"], a, b, M) < CERT_TOL
    # POT's centring: the duals weigh the same on both sides.
    assert abs(np.dot(a, log["u"]) - np.dot(b, log["v"])) < 1e-12 * max(1, np.abs(M).max())


def test_emd2_returns_a_float_and_the_pot_log(rng):
    a, b, M = random_problem(rng, 20, 30)
    cost = normot.emd2(a, b, M)
    assert isinstance(cost, float)
    assert_cost_close(cost, pot_cost(a, b, M))
    cost, log = normot.emd2(a, b, M, log=True, return_matrix=True)
    _, log_pot = ot.emd2(a, b, M, log=True, return_matrix=True)
    assert set(log) == set(log_pot)
    assert_cost_close(log["cost"], log_pot["cost"])
    assert certificate_violation(log["G"], log["u"], log["v"], a, b, M) < CERT_TOL


def test_empty_weights_mean_uniform(rng):
    M = rng.random((12, 9))
    G = normot.emd([], [], M)
    np.testing.assert_allclose(G.sum(1), np.full(12, 1 / 12), rtol=1e-12)
    np.testing.assert_allclose(G.sum(0), np.full(9, 1 / 9), rtol=1e-12)
    assert_cost_close(normot.emd2([], [], M), pot_cost([], [], M))
    assert_cost_close(normot.emd2(None, None, M), pot_cost([], [], M))


@pytest.mark.parametrize("dtypes", [("f4", "f4", "f4"), ("f8", "f8", "f4"), ("f4", "f4", "f8")])
def test_dtypes_follow_pot(rng, dtypes):
    a, b, M = random_problem(rng, 15, 11)
    a, b, M = a.astype(dtypes[0]), b.astype(dtypes[1]), M.astype(dtypes[2])
    G, log = normot.emd(a, b, M, log=True)
    G_pot, log_pot = ot.emd(a, b, M, log=True)
    assert G.dtype == G_pot.dtype and log["u"].dtype == log_pot["u"].dtype
    assert_cost_close(log["cost"], log_pot["cost"])
    assert ot.emd([], [], M).dtype == normot.emd([], [], M).dtype


def test_lists_are_accepted(rng):
    G = normot.emd([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(G, [[0.5, 0.0], [0.0, 0.5]])


@pytest.mark.parametrize("zero_a,zero_b", [(2, 0), (0, 3), (1, 1)])
def test_zero_weights_are_restored_with_feasible_duals(rng, zero_a, zero_b):
    a, b, M = random_problem(rng, 10, 12, zero_a=zero_a, zero_b=zero_b)
    G, log = normot.emd(a, b, M, log=True)
    _, log_pot = ot.emd(a, b, M, log=True)
    assert_cost_close(log["cost"], log_pot["cost"])
    assert not G[:zero_a].any() and not G[:, :zero_b].any()
    assert np.isfinite(log["u"]).all() and np.isfinite(log["v"]).all()
    assert certificate_violation(G, log["u"], log["v"], a, b, M) < CERT_TOL


def test_degenerate_all_equal_costs(rng):
    a, b, _ = random_problem(rng, 8, 8)
    M = np.full((8, 8), 3.0)
    G, log = normot.emd(a, b, M, log=True)
    assert_cost_close(log["cost"], 3.0)
    assert certificate_violation(G, log["u"], log["v"], a, b, M) < CERT_TOL


def test_pot_multiple_targets_form(rng):
    a, _, M = random_problem(rng, 10, 14)
    B = rng.random((14, 4))
    B /= B.sum(0)
    costs = normot.emd2(a, B, M)
    expected = pot_cost(a, B, M)
    assert isinstance(costs, list) and len(costs) == 4
    for c, e in zip(costs, expected):
        assert_cost_close(c, e)


def test_unbalanced_marginals_raise_an_assertion_error_like_pot(rng):
    a, b, M = random_problem(rng, 6, 6)
    with pytest.raises(AssertionError):
        ot.emd(a, b * 2, M)
    with pytest.raises(AssertionError) as caught:
        normot.emd(a, b * 2, M)
    assert isinstance(caught.value, normot.NormotError)
    assert caught.value.status == L.ERROR_UNBALANCED
    # Unchecked, b is rescaled to a's mass, as POT does.
    assert_cost_close(normot.emd2(a, b * 2, M, check_marginals=False),
                      pot_cost(a, b * 2, M, check_marginals=False))


def test_max_iterations_warn_and_return_a_feasible_plan(rng):
    a, b, M = random_problem(rng, 60, 60)
    with pytest.warns(UserWarning, match="numItermax reached"):
        G, log = normot.emd(a, b, M, numItermax=1, log=True)
    assert log["result_code"] == L.EMD_MAX_ITER_REACHED
    assert log["warning"].startswith("numItermax reached")
    np.testing.assert_allclose(G.sum(1), a, atol=1e-12)
    np.testing.assert_allclose(G.sum(0), b, atol=1e-12)


def test_bad_inputs(rng):
    a, b, M = random_problem(rng, 5, 4)
    with pytest.raises(ValueError, match="Dimension mismatch"):
        normot.emd(a[:3], b, M)
    with pytest.raises(ValueError):
        normot.emd(a, b, M[0])
    negative = a.copy()
    negative[0], negative[1] = -0.1, negative[1] + 0.1 + a[0]
    with pytest.raises(normot.NormotError) as caught:
        normot.emd(negative, b, M)
    assert caught.value.status == L.ERROR_NEGATIVE_WEIGHT
    bad_cost = M.copy()
    bad_cost[1, 2] = np.nan
    with pytest.raises(normot.NormotError) as caught:
        normot.emd(a, b, bad_cost)
    assert caught.value.status == L.ERROR_NONFINITE_VALUE
    with pytest.raises(normot.NormotError) as caught:
        normot.emd(np.zeros(5), np.zeros(4), M)
    assert caught.value.status in (L.ERROR_ZERO_MASS, L.ERROR_UNBALANCED)
    with pytest.raises(ValueError):
        normot.emd(a, b, M, numItermax=-1)
    from scipy import sparse

    # A scipy.sparse cost is solved on its stored entries; its bad values fail as a dense one's.
    with pytest.raises(normot.NormotError) as caught:
        normot.emd(a, b, sparse.coo_matrix(bad_cost))
    assert caught.value.status == L.ERROR_NONFINITE_VALUE


# ---- batches -----------------------------------------------------------------------------------


def test_batch_matches_a_pot_loop(rng):
    A, B, M = random_batch(rng, 25, 17, 23)
    plans, log = normot.emd(A, B, M, log=True)
    assert plans.shape == (25, 17, 23)
    assert log["cost"].shape == (25,) and log["u"].shape == (25, 17) and log["v"].shape == (25, 23)
    assert (log["result_code"] == 1).all() and log["warning"] == [None] * 25
    for i in range(25):
        assert_cost_close(log["cost"][i], pot_cost(A[i], B[i], M[i]))
        assert certificate_violation(plans[i], log["u"][i], log["v"][i], A[i], B[i], M[i]) < CERT_TOL
    costs = normot.emd2(A, B, M)
    assert costs.shape == (25,)
    np.testing.assert_allclose(costs, log["cost"], rtol=1e-12)


def test_batch_with_shared_and_uniform_weights(rng):
    A, B, M = random_batch(rng, 6, 9, 9)
    costs = normot.emd2(A[0], [], M)  # a shared by all, b uniform
    for i in range(6):
        assert_cost_close(costs[i], pot_cost(A[0], [], M[i]))
    costs = normot.emd2([], B, M)
    for i in range(6):
        assert_cost_close(costs[i], pot_cost([], B[i], M[i]))


def test_batch_with_one_shared_cost(rng):
    A, B, M = random_batch(rng, 7, 10, 8)
    costs = normot.emd2(A, B, M[:1])  # (1, n, m): the same cost for every problem
    assert costs.shape == (7,)
    for i in range(7):
        assert_cost_close(costs[i], pot_cost(A[i], B[i], M[0]))


def test_batch_float32(rng):
    A, B, M = (t.astype(np.float32) for t in random_batch(rng, 5, 8, 6))
    plans, log = normot.emd(A, B, M, log=True)
    for i in range(5):
        assert_cost_close(log["cost"][i], pot_cost(A[i], B[i], M[i]))


def test_empty_batch(rng):
    costs = normot.emd2(np.zeros((0, 3)), np.zeros((0, 4)), np.zeros((0, 3, 4)))
    assert costs.shape == (0,)


def test_batch_shape_mismatch(rng):
    A, B, M = random_batch(rng, 4, 5, 6)
    with pytest.raises(ValueError, match="Dimension mismatch"):
        normot.emd(A[:3], B, M)


def test_batch_results_do_not_depend_on_threads(rng):
    A, B, M = random_batch(rng, 40, 12, 12)
    normot.set_num_threads(1)
    one = normot.emd2(A, B, M)
    normot.set_num_threads(0)
    np.testing.assert_array_equal(one, normot.emd2(A, B, M))


# ---- point clouds ------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_point_clouds_match_pot_on_the_cost_matrix(rng, metric):
    X, Y = rng.normal(size=(30, 3)), rng.normal(size=(25, 3))
    a, b, _ = random_problem(rng, 30, 25)
    M = ot.dist(X, Y, metric=metric)
    cost = normot.emd_pointclouds(X, Y, a, b, metric=metric)
    assert isinstance(cost, float)
    assert_cost_close(cost, pot_cost(a, b, M))
    cost, log = normot.emd_pointclouds(X, Y, a, b, metric=metric, return_matrix=True)
    G = log["G"].toarray()
    assert log["G"].nnz <= 30 + 25 - 1
    assert certificate_violation(G, log["u"], log["v"], a, b, M) < 1e-8


def test_point_cloud_batch(rng):
    X, Y = rng.normal(size=(8, 20, 2)), rng.normal(size=(8, 15, 2))
    costs = normot.emd_pointclouds(X, Y)
    assert costs.shape == (8,)
    for i in range(8):
        assert_cost_close(costs[i], pot_cost([], [], ot.dist(X[i], Y[i])))
    with pytest.raises(ValueError):
        normot.emd_pointclouds(X, Y[:, :, :1])


# ---- GPU arrays --------------------------------------------------------------------------------


def test_cupy_batch_runs_on_the_device(rng):
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed: GPU array paths not run")
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            pytest.skip("no CUDA device: GPU array paths not run")
    except Exception as error:
        pytest.skip(f"no usable CUDA device: {error}")
    if "cuda" not in normot.info()["backends"]:
        pytest.skip("libnormot was built without the CUDA backend")
    A, B, M = random_batch(rng, 10, 16, 16)
    plans, log = normot.emd(cupy.asarray(A), cupy.asarray(B), cupy.asarray(M), log=True)
    assert isinstance(plans, cupy.ndarray)
    assert isinstance(normot.emd2(cupy.asarray(A), cupy.asarray(B), cupy.asarray(M)),
                      cupy.ndarray)
    for i in range(10):
        assert_cost_close(float(log["cost"][i]), pot_cost(A[i], B[i], M[i]))
        assert certificate_violation(plans[i].get(), log["u"][i].get(), log["v"][i].get(),
                                     A[i], B[i], M[i]) < 1e-9


def test_python_threads_use_their_own_contexts(rng):
    from concurrent.futures import ThreadPoolExecutor

    batches = [random_batch(rng, 10, 9, 11) for _ in range(6)]
    sequential = [normot.emd2(*batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = list(pool.map(lambda batch: normot.emd2(*batch), batches))
    for one, other in zip(sequential, parallel):
        np.testing.assert_array_equal(one, other)


def test_num_threads_is_honoured_and_checked_like_pot(rng):
    A, B, M = random_batch(rng, 12, 9, 9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = normot.emd2(A, B, M, numThreads=1)
        np.testing.assert_array_equal(one, normot.emd2(A, B, M, numThreads="max"))
        np.testing.assert_array_equal(one, normot.emd2(A, B, M, numThreads=2))
    for bad in (0, -1, 1.5, "two"):
        with pytest.raises(ValueError, match='numThreads should either be "max"'):
            normot.emd(A, B, M, numThreads=bad)
        with pytest.raises(ValueError, match='numThreads should either be "max"'):
            ot.emd(A[0], B[0], M[0], numThreads=bad)


def test_processes_warns_only_for_several_targets_as_pot(rng):
    a, b, M = random_problem(rng, 6, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert normot.emd2(a, b, M, processes=2) == normot.emd2(a, b, M)
    B = np.stack([b, b[::-1]], axis=1)
    with pytest.warns(UserWarning) as normot_warnings:
        normot.emd2(a, B, M, processes=2)
    with pytest.warns(UserWarning) as pot_warnings:
        ot.emd2(a, B, M, processes=2)
    assert [str(w.message) for w in normot_warnings] == [str(w.message) for w in pot_warnings]
