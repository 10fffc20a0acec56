"""The direct call of normot.emd / emd2: one problem given as C-contiguous float64 numpy arrays
goes to the library without the general path's buffers. It must give the same bits, the same
logs, warnings and errors as the general path, which a Fortran-ordered copy of M still takes.
"""

import sys
import warnings

import numpy as np
import pytest

import normot
from normot import _library as L

EMD = sys.modules["normot.emd"]


def problem(rng, n, m):
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), rng.random((n, m))


def test_plain_arrays_take_the_direct_call(rng, monkeypatch):
    a, b, M = problem(rng, 7, 5)

    def refuse(*args, **kwargs):
        raise RuntimeError("the general path ran")

    monkeypatch.setattr(EMD, "_solve", refuse)
    assert isinstance(normot.emd2(a, b, M), float)
    assert normot.emd(a, b, M).shape == (7, 5)
    # Anything else is the general path's: other layouts, dtypes, lists, empty weights.
    for args in ((a, b, np.asfortranarray(M)), (a, b, M.astype(np.float32)),
                 (list(a), b, M), ([], b, M), (a, b, M[None])):
        with pytest.raises(RuntimeError, match="the general path ran"):
            normot.emd2(*args)


@pytest.mark.parametrize("n, m", [(1, 1), (6, 9), (40, 40)])
def test_direct_call_gives_the_general_paths_bits(rng, n, m):
    a, b, M = problem(rng, n, m)
    direct_cost = normot.emd2(a, b, M)
    direct_plan, direct_log = normot.emd(a, b, M, log=True)
    direct_cost2, direct_log2 = normot.emd2(a, b, M, log=True, return_matrix=True)
    with pytest.MonkeyPatch.context() as patch:  # the same arrays, on the general path
        patch.setattr(EMD, "_is_plain_host_problem", lambda a, b, M: False)
        general_cost = normot.emd2(a, b, M)
        general_plan, general_log = normot.emd(a, b, M, log=True)
        general_cost2, general_log2 = normot.emd2(a, b, M, log=True, return_matrix=True)
    assert type(direct_cost) is float and direct_cost == general_cost
    for array in (a, b, M):  # read-only arrays lend no writable buffer: numpy gives the address
        array.setflags(write=False)
    assert normot.emd2(a, b, M) == direct_cost
    assert direct_cost2 == general_cost2 == direct_cost
    assert direct_plan.shape == (n, m) and direct_plan.dtype == np.float64
    assert direct_plan.tobytes() == general_plan.tobytes()
    for direct, reference in ((direct_log, general_log), (direct_log2, general_log2)):
        assert list(direct) == list(reference)
        for key in direct:
            if isinstance(direct[key], np.ndarray):
                assert direct[key].tobytes() == reference[key].tobytes(), key
            else:
                assert direct[key] == reference[key], key


def failure(call):
    with pytest.raises(Exception) as caught:
        call()
    return type(caught.value), str(caught.value), getattr(caught.value, "status", None)


def test_direct_call_fails_as_the_general_path(rng, monkeypatch):
    a, b, M = problem(rng, 5, 4)
    bad_cost = M.copy()
    bad_cost[1, 2] = np.nan
    negative = a.copy()
    negative[0], negative[1] = -0.1, negative[1] + 0.1 + a[0]
    cases = [lambda: normot.emd2(a, b, bad_cost), lambda: normot.emd(negative, b, M),
             lambda: normot.emd2(a, b * 2, M), lambda: normot.emd(a, b, M, numItermax=-1),
             lambda: normot.emd2(a, b, M, numThreads=0), lambda: normot.emd2(a[:3], b, M),
             lambda: normot.emd2(a, b, M.T.copy())]
    direct = [failure(call) for call in cases]
    monkeypatch.setattr(EMD, "_is_plain_host_problem", lambda a, b, M: False)
    assert direct == [failure(call) for call in cases]
    assert direct[0][2] == L.ERROR_NONFINITE_VALUE and "problem 0: cost element 6" in direct[0][1]
    assert issubclass(direct[2][0], AssertionError) and direct[2][2] == L.ERROR_UNBALANCED


def test_direct_call_warns_at_the_callers_line(rng):
    a, b, M = problem(rng, 60, 60)
    for call in (lambda: normot.emd(a, b, M, numItermax=1),
                 lambda: normot.emd2(a, b, M, numItermax=1)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        assert [str(w.message) for w in caught] == [EMD.result_message(L.EMD_MAX_ITER_REACHED)]
        assert caught[0].filename == __file__


def test_a_calls_thread_count_does_not_stay_with_the_context(rng):
    a, b, M = problem(rng, 8, 8)
    try:
        normot.set_num_threads(2)
        normot.emd2(a, b, M, numThreads=1)
        assert normot.get_num_threads() == 2
        normot.set_num_threads(1)
        normot.emd2(a, b, M)
        assert normot.get_num_threads() == 1
    finally:
        normot.set_num_threads(0)
