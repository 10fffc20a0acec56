"""normot.emd / emd2 on torch tensors: results as tensors, gradients as POT's, batches, sparse
plans. Skipped as a whole when torch is not installed."""

import sys

import numpy as np
import ot
import pytest

import normot

from conftest import random_batch

torch = pytest.importorskip("torch", reason="torch is not installed: tensor paths not run")


def leaves(*arrays, dtype=torch.float64):
    return [torch.tensor(x, dtype=dtype, requires_grad=True) for x in arrays]


def pot_gradients(a, b, M):
    a1, b1, M1 = leaves(a, b, M)
    ot.emd2(a1, b1, M1).backward()
    return a1.grad, b1.grad, M1.grad


def test_single_problem_gradients_equal_pots(rng):
    A, B, M = random_batch(rng, 1, 30, 40)
    a, b, M0 = A[0], B[0], M[0]
    a1, b1, M1 = leaves(a, b, M0)
    cost = normot.emd2(a1, b1, M1)
    assert cost.shape == () and cost.dtype == torch.float64 and cost.requires_grad
    cost.backward()
    for ours, theirs in zip((a1.grad, b1.grad, M1.grad), pot_gradients(a, b, M0)):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)


def test_batch_gradients_equal_a_loop_of_pot(rng):
    A, B, M = random_batch(rng, 6, 12, 15)
    A1, B1, M1 = leaves(A, B, M)
    costs = normot.emd2(A1, B1, M1)
    assert costs.shape == (6,)
    weights = torch.arange(1.0, 7.0, dtype=torch.float64)
    (costs * weights).sum().backward()
    for i in range(6):
        ga, gb, gM = pot_gradients(A[i], B[i], M[i])
        torch.testing.assert_close(A1.grad[i], weights[i] * ga, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(B1.grad[i], weights[i] * gb, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(M1.grad[i], weights[i] * gM, rtol=1e-9, atol=1e-12)


def test_shared_weights_and_cost_sum_their_gradients(rng):
    A, B, M = random_batch(rng, 5, 8, 8)
    a1, M1 = leaves(A[0], M[:1])
    B1, = leaves(B)
    normot.emd2(a1, B1, M1).sum().backward()
    expected = [pot_gradients(A[0], B[i], M[0]) for i in range(5)]
    torch.testing.assert_close(a1.grad, sum(g[0] for g in expected), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(M1.grad[0], sum(g[2] for g in expected), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(B1.grad, torch.stack([g[1] for g in expected]), rtol=1e-9,
                               atol=1e-12)


def test_several_targets_form_is_differentiable_like_pot(rng):
    A, B, M = random_batch(rng, 3, 10, 9)
    columns = np.ascontiguousarray(B.T)
    a1, B1, M1 = leaves(A[0], columns, M[0])
    costs = normot.emd2(a1, B1, M1)
    assert isinstance(costs, list) and len(costs) == 3
    sum(costs).backward()
    # POT's own torch backend fails on this form's backward (a gradient of shape (m,) for b
    # (m, nb)), so each column is compared with POT's single-problem gradients.
    expected = [pot_gradients(A[0], B[i], M[0]) for i in range(3)]
    torch.testing.assert_close(a1.grad, sum(g[0] for g in expected), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(B1.grad, torch.stack([g[1] for g in expected], 1), rtol=1e-9,
                               atol=1e-12)
    torch.testing.assert_close(M1.grad, sum(g[2] for g in expected), rtol=1e-9, atol=1e-12)


def test_only_what_requires_grad_gets_a_gradient(rng):
    A, B, M = random_batch(rng, 1, 7, 7)
    a = torch.tensor(A[0])
    b = torch.tensor(B[0])
    M1, = leaves(M[0])
    normot.emd2(a, b, M1).backward()
    assert a.grad is None and b.grad is None
    torch.testing.assert_close(M1.grad, torch.as_tensor(ot.emd(A[0], B[0], M[0])), rtol=0,
                               atol=1e-15)
    with torch.no_grad():
        cost = normot.emd2(*leaves(A[0], B[0], M[0]))
    assert not cost.requires_grad


def test_float32_tensors_give_float32_results_and_gradients(rng):
    A, B, M = random_batch(rng, 4, 9, 11)
    A1, B1, M1 = leaves(A, B, M, dtype=torch.float32)
    costs = normot.emd2(A1, B1, M1)
    assert costs.dtype == torch.float32
    costs.sum().backward()
    assert A1.grad.dtype == B1.grad.dtype == M1.grad.dtype == torch.float32
    plans = normot.emd(A1, B1, M1)
    assert plans.dtype == torch.float32 and not plans.requires_grad
    expected = [ot.emd2(A[i].astype(np.float32), B[i].astype(np.float32),
                        M[i].astype(np.float32)) for i in range(4)]
    np.testing.assert_allclose(costs.detach().numpy(), expected, rtol=1e-6)


def test_emd_on_tensors_returns_tensor_plans_and_log(rng):
    A, B, M = random_batch(rng, 3, 6, 5)
    plans, log = normot.emd(torch.tensor(A), torch.tensor(B), torch.tensor(M), log=True)
    assert isinstance(plans, torch.Tensor) and plans.shape == (3, 6, 5)
    for key in ("cost", "u", "v"):
        assert isinstance(log[key], torch.Tensor), key
    G, single = normot.emd(torch.tensor(A[0]), torch.tensor(B[0]), torch.tensor(M[0]), log=True)
    G_pot, pot_log = ot.emd(torch.tensor(A[0]), torch.tensor(B[0]), torch.tensor(M[0]), log=True)
    torch.testing.assert_close(G, G_pot, rtol=0, atol=1e-15)
    assert {k: type(v) for k, v in single.items()} == {k: type(v) for k, v in pot_log.items()}


def test_sparse_plans_hold_the_dense_plans_entries(rng):
    A, B, M = random_batch(rng, 4, 10, 12)
    dense = normot.emd(A, B, M)
    per_problem = normot.emd(A, B, M, sparse=True)
    assert len(per_problem) == 4
    for i, plan in enumerate(per_problem):
        assert plan.format == "coo" and plan.nnz <= 10 + 12 - 1
        np.testing.assert_array_equal(plan.toarray(), dense[i])
    whole = normot.emd(A, B, M, sparse="batch")
    assert whole.shape == (4, 10, 12)
    np.testing.assert_array_equal(whole.toarray(), dense)
    one = normot.emd(A[0], B[0], M[0], sparse=True)
    np.testing.assert_array_equal(one.toarray(), dense[0])
    tensors = normot.emd(torch.tensor(A), torch.tensor(B), torch.tensor(M), sparse="batch")
    assert tensors.layout == torch.sparse_coo
    np.testing.assert_array_equal(tensors.to_dense().numpy(), dense)
    with pytest.raises(ValueError, match="sparse must be"):
        normot.emd(A, B, M, sparse="csr")


def test_cpu_tensors_are_read_without_a_copy(rng, monkeypatch):
    A, B, M = random_batch(rng, 2, 5, 5)
    M1 = torch.tensor(M)
    seen = []
    module = sys.modules["normot.emd"]  # normot.emd is the function; its module by name
    original = module._problem

    def spy(inputs, metric):
        problem = original(inputs, metric)
        seen.append(problem.cost)
        return problem

    monkeypatch.setattr(module, "_problem", spy)
    normot.emd2(torch.tensor(A), torch.tensor(B), M1)
    assert seen == [M1.data_ptr()]


class FakeDeviceArray:
    """Claims CUDA device memory through __cuda_array_interface__; the pointer is never read,
    because the call must fail before the library sees it."""

    def __init__(self, shape):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f8",
                                         "data": (0xDEAD0000, False), "version": 3,
                                         "strides": None}


def test_device_arrays_without_a_cuda_backend_name_the_array(rng):
    if "cuda" in normot.info()["backends"]:
        pytest.skip("this libnormot has a CUDA backend: the refusal is not what happens")
    with pytest.raises(normot.NormotError, match=r"M \(a FakeDeviceArray\) lives in CUDA"):
        normot.emd2([], [], FakeDeviceArray((3, 4)))
    with pytest.raises(normot.NormotError, match=r"X \(a FakeDeviceArray\) lives in CUDA"):
        normot.normalize_total(FakeDeviceArray((3, 4)))


def test_the_cpu_backend_refuses_device_arrays_by_name(rng):
    normot.set_backend("cpu")
    try:
        with pytest.raises(normot.NormotError, match=r"M \(a FakeDeviceArray\).*set_backend"):
            normot.emd2([], [], FakeDeviceArray((3, 4)))
    finally:
        normot.set_backend("auto")


def test_cuda_tensors_stay_on_their_device_with_gradients(rng):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device for torch: the device path is not run")
    if "cuda" not in normot.info()["backends"]:
        pytest.skip("libnormot was built without the CUDA backend")
    A, B, M = random_batch(rng, 8, 16, 16)
    A1, B1, M1 = (torch.tensor(x, device="cuda", requires_grad=True) for x in (A, B, M))
    costs = normot.emd2(A1, B1, M1)
    assert costs.device == M1.device
    costs.sum().backward()
    assert M1.grad.device == M1.device
    for i in range(8):
        ga, gb, gM = pot_gradients(A[i], B[i], M[i])
        torch.testing.assert_close(M1.grad[i].cpu(), gM, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(A1.grad[i].cpu(), ga, rtol=1e-7, atol=1e-9)
