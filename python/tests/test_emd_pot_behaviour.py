"""The behaviour POT's own emd tests check, with normot in place of ot.emd / ot.emd2, on numpy
arrays and on torch tensors (float32 and float64; skipped when torch is not installed).

Each test states the property POT asserts (errors, types and devices, gradients, exact
solutions with a known value, the duality gap), on inputs generated here.
"""

import warnings

import numpy as np
import ot
import pytest

import normot

try:
    import torch
except ImportError:  # the torch backends are skipped, the numpy ones still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

BACKENDS = [
    pytest.param("numpy-f64", id="numpy-f64"),
    pytest.param("numpy-f32", id="numpy-f32"),
    pytest.param("torch-f64", id="torch-f64", marks=needs_torch),
    pytest.param("torch-f32", id="torch-f32", marks=needs_torch),
]


def to_backend(backend, array):
    dtype = np.float32 if backend.endswith("f32") else np.float64
    array = np.asarray(array, dtype=dtype)
    return torch.from_numpy(array.copy()) if backend.startswith("torch") else array


def to_numpy(value):
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def same_kind(value, reference):
    """True when value has reference's array type, dtype and device (POT's
    assert_same_dtype_device); a Python float counts as a float64 numpy scalar."""
    if torch is not None and isinstance(reference, torch.Tensor):
        return (isinstance(value, torch.Tensor) and value.dtype == reference.dtype
                and value.device == reference.device)
    if isinstance(value, float):
        return True  # POT returns a Python float for numpy inputs of any float dtype
    return isinstance(value, np.ndarray) and value.dtype == reference.dtype


def clouds(n, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = rng.normal(size=(n, 2)) + shift
    return x, y, ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def gaussian_histogram(n, mean, std):
    values = np.exp(-((np.arange(n, dtype=np.float64) - mean) ** 2) / (2 * std ** 2))
    return values / values.sum()


def duality_gap_ok(a, b, M, G, u, v, cost, decimal=7):
    a, b, M, G, u, v = (np.asarray(to_numpy(t), dtype=np.float64) for t in (a, b, M, G, u, v))
    np.testing.assert_almost_equal(a @ u + b @ v, float(to_numpy(cost)), decimal=decimal)
    rows, cols = np.nonzero(G)
    reduced = M - u[:, None] - v[None, :]
    np.testing.assert_array_almost_equal(reduced[rows, cols], 0, decimal=decimal)
    return True


@pytest.mark.parametrize("backend", BACKENDS)
def test_dimension_and_mass_mismatch_raise_assertion_errors(backend):
    _, _, M = clouds(30)
    a = to_backend(backend, np.full(31, 1 / 31))
    M = to_backend(backend, M)
    for function in (normot.emd, normot.emd2):
        with pytest.raises(AssertionError, match="Dimension mismatch"):
            function(a, a, M)
    b = to_backend(backend, np.full(30, 1 / 30))
    heavy = to_backend(backend, np.r_[100.0, np.full(29, 1 / 30)])
    with pytest.raises(AssertionError):
        normot.emd(heavy, b, M)
    with pytest.raises(AssertionError):
        normot.emd2(heavy, b, M)


@pytest.mark.parametrize("backend", BACKENDS)
def test_plans_and_costs_agree_across_backends(backend):
    _, _, M = clouds(60, seed=1)
    a = np.full(60, 1 / 60)
    G_ref = ot.emd(a, a, M)
    cost_ref = ot.emd2(a, a, M)
    G = normot.emd(to_backend(backend, a), to_backend(backend, a), to_backend(backend, M))
    cost = normot.emd2(to_backend(backend, a), to_backend(backend, a), to_backend(backend, M))
    tolerance = 1e-6 if backend.endswith("f32") else 1e-12
    np.testing.assert_allclose(to_numpy(G), G_ref, atol=tolerance)
    np.testing.assert_allclose(float(to_numpy(cost)), cost_ref, rtol=tolerance)


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_have_the_type_and_device_of_the_inputs(backend):
    _, _, M = clouds(40, seed=2)
    a = to_backend(backend, np.full(40, 1 / 40))
    Mb = to_backend(backend, M)
    G = normot.emd(a, a, Mb)
    cost = normot.emd2(a, a, Mb)
    assert same_kind(G, Mb) and same_kind(cost, Mb)
    pot_G, pot_cost = ot.emd(a, a, Mb), ot.emd2(a, a, Mb)
    assert type(G) is type(pot_G) and G.dtype == pot_G.dtype
    assert type(cost) is type(pot_cost)
    if backend.startswith("torch"):
        assert cost.shape == pot_cost.shape == ()


@pytest.mark.parametrize("backend", BACKENDS)
def test_log_keys_and_types_are_pots(backend):
    _, _, M = clouds(25, seed=3)
    a = to_backend(backend, np.full(25, 1 / 25))
    Mb = to_backend(backend, M)
    for function, kwargs in ((normot.emd, {}), (normot.emd2, {"return_matrix": True})):
        pot_function = {normot.emd: ot.emd, normot.emd2: ot.emd2}[function]
        _, log = function(a, a, Mb, log=True, **kwargs)
        _, pot_log = pot_function(a, a, Mb, log=True, **kwargs)
        assert set(log) == set(pot_log)
        for key in pot_log:
            assert type(log[key]) is type(pot_log[key]), key
            if hasattr(pot_log[key], "dtype"):
                assert log[key].dtype == pot_log[key].dtype, key


def test_gradients_have_the_input_shapes_and_scale_with_the_loss():
    torch_module = pytest.importorskip("torch", reason="torch is not installed")
    x, y, M = clouds(80, seed=4)
    a = np.full(80, 1 / 80)

    def gradients(scale):
        a1, b1, M1 = (torch_module.tensor(t, requires_grad=True) for t in (a, a, M))
        (scale * normot.emd2(a1, b1, M1)).backward()
        return a1, b1, M1

    a1, b1, M1 = gradients(1.0)
    assert a1.grad.shape == a1.shape and b1.grad.shape == b1.shape
    assert M1.grad.shape == M1.shape
    a2, b2, M2 = gradients(10.0)
    for one, ten in ((a1, a2), (b1, b2), (M1, M2)):
        np.testing.assert_allclose(10.0 * one.grad.numpy(), ten.grad.numpy(), rtol=1e-12,
                                   atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_identical_clouds_give_the_identity_plan_and_zero_cost(backend):
    x, _, _ = clouds(100, seed=5)
    M = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    u = np.full(100, 1 / 100)
    for weights in ((u, u), ([], [])):
        args = [to_backend(backend, w) if len(w) else [] for w in weights]
        G = to_numpy(normot.emd(*args, to_backend(backend, M)))
        tolerance = 1e-7 if backend.endswith("f32") else 1e-15
        np.testing.assert_allclose(G, np.eye(100) / 100, atol=tolerance)
        np.testing.assert_allclose(G.sum(1), u, atol=tolerance)
        np.testing.assert_allclose(float(to_numpy(normot.emd2(*args, to_backend(backend, M)))),
                                   0, atol=tolerance)


def test_many_targets_with_log_satisfy_the_duality_gap():
    n = 300
    x = np.arange(n, dtype=np.float64)
    M = (x[:, None] - x[None, :]) ** 2
    a = gaussian_histogram(n, 20, 5)
    means = np.arange(20, n, 25)
    B = np.stack([gaussian_histogram(n, mu, 10) for mu in means], axis=1)
    costs = normot.emd2(a, B, M)
    np.testing.assert_allclose(costs, ot.emd2(a, B, M), rtol=1e-9)
    results = normot.emd2(a, B, M, log=True, return_matrix=True)
    for i, (cost, log) in enumerate(results):
        assert duality_gap_ok(a, B[:, i], M, log["G"], log["u"], log["v"], cost, decimal=5)
        assert cost == costs[i]


@pytest.mark.parametrize("backend", BACKENDS)
def test_iteration_limit_warns_with_pots_message(backend):
    # Random costs: on POT's 1-D |x - y| example normot's starting basis (north-west corner) is
    # already optimal, so one pivot suffices and nothing is to be warned about.
    n = 100
    M = np.random.default_rng(6).random((n, n))
    a, b = gaussian_histogram(n, 30, 5), gaussian_histogram(n, 50, 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        normot.emd(to_backend(backend, a), to_backend(backend, b), to_backend(backend, M),
                   numItermax=1)
    with warnings.catch_warnings(record=True) as pot_caught:
        warnings.simplefilter("always")
        ot.emd(a, b, M, numItermax=1)
    assert [str(w.message) for w in caught] == [str(w.message) for w in pot_caught]
    assert all(w.category is UserWarning for w in caught)


def test_dual_variables_on_gaussians_match_the_closed_form():
    n, m = 400, 500
    x, y = np.arange(n, dtype=np.float64), np.arange(m, dtype=np.float64)
    a, b = gaussian_histogram(n, 200, 5), gaussian_histogram(m, 300, 10)
    M = np.abs(x[:, None] - y[None, :])
    G, log = normot.emd(a, b, M, log=True)
    G_transposed = normot.emd(b, a, np.ascontiguousarray(M.T))
    cost = (G * M).sum()
    np.testing.assert_almost_equal(cost, (M * G_transposed.T).sum())
    # In 1-D with |x - y| costs the optimal cost is the distance between the means (up to the
    # truncation of the tails at the grid's ends).
    np.testing.assert_almost_equal(cost, 100.0, decimal=5)
    np.testing.assert_almost_equal(cost, log["cost"])
    assert duality_gap_ok(a, b, M, G, log["u"], log["v"], log["cost"])
    assert (log["u"][:, None] + log["v"][None, :] - M).max() < 1e-8


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_weights_warn_like_pot(backend):
    if backend.startswith("torch"):
        a = torch.ones(4, dtype=torch.int64)
        M = torch.rand(4, 4, dtype=torch.float64)
    else:
        a, M = np.ones(4, dtype=np.int64), np.random.default_rng(0).random((4, 4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        G = normot.emd(a, a, M)
    with warnings.catch_warnings(record=True) as pot_caught:
        warnings.simplefilter("always")
        G_pot = ot.emd(a, a, M)
    assert [str(w.message) for w in caught] == [str(w.message) for w in pot_caught]
    assert G.dtype == G_pot.dtype
