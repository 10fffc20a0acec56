"""The GPU check script (bench/gpu_normalize.py) judges log1p values with the tolerance the
documentation and the C tests use: 1 ulp for the natural log, 2 with a log_base."""

import importlib.util
import os

import numpy as np

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "gpu_normalize.py")


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_normalize", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def failures_for(module, ulps, log_base, dtype=np.float32):
    checker = object.__new__(module.Checker)  # no contexts: compare() needs none
    checker.failures = 0
    checker.cases = 0
    values = np.linspace(0.5, 9.0, 64).astype(dtype)
    int_type = np.int32 if dtype == np.float32 else np.int64
    moved = (values.view(int_type) + ulps).view(dtype)
    result = {"factors": np.ones(3), "totals": np.ones(3), "target": 1.0, "zero": 0,
              "excluded": 0, "values": values}
    candidate = dict(result, values=moved)
    out_type = module.F32 if dtype == np.float32 else module.F64
    checker.compare("case", (0, "", result), (0, "", candidate), out_type, 1, log_base)
    return checker.failures


def test_log1p_with_a_base_allows_two_ulp():
    module = load_script()
    for dtype in (np.float32, np.float64):
        assert failures_for(module, 2, 2.0, dtype) == 0
        assert failures_for(module, 3, 2.0, dtype) == 1
        assert failures_for(module, 1, 0.0, dtype) == 0
        assert failures_for(module, 2, 0.0, dtype) == 1
