"""Real data from ../shared/data (skipped when absent): a Cell Ranger v3 matrix against scanpy,
and a DOTmark image pair against POT."""

import os
import warnings
from pathlib import Path

import numpy as np
import ot
import pytest
import scanpy as sc

import normot

from conftest import certificate_violation


def shared_data_dir():
    candidates = [os.environ.get("NORMOT_SHARED_DATA"),
                  Path(__file__).resolve().parents[2].parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    pytest.skip("../shared/data is absent (or set NORMOT_SHARED_DATA)")


@pytest.mark.parametrize("layout", ["csc", "csr"])
def test_cell_ranger_matrix_is_bitwise_scanpy(layout):
    folder = shared_data_dir() / "10x" / "v3" / "filtered_feature_bc_matrix"
    reference = sc.read_10x_mtx(folder)  # cells x genes, CSC as read
    ours = reference.copy()
    if layout == "csr":
        reference.X, ours.X = reference.X.tocsr(), ours.X.tocsr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.normalize_total(reference, key_added="sf")
        normot.normalize_total(ours, key_added="sf")
    assert ours.X.format == layout
    expected = reference.X.toarray()
    actual = ours.X.toarray()
    assert np.array_equal(actual.view(np.uint32), expected.view(np.uint32))
    assert np.array_equal(ours.obs["sf"].to_numpy(), reference.obs["sf"].to_numpy())


def test_dotmark_pair_matches_pot():
    folder = shared_data_dir() / "dotmark" / "Shapes"
    # A Shapes pair: its zero pixels are dropped by both solvers, so it stays fast.
    a = np.loadtxt(folder / "data32_1001.csv", delimiter=",").ravel()
    b = np.loadtxt(folder / "data32_1002.csv", delimiter=",").ravel()
    a, b = a / a.sum(), b / b.sum()
    grid = np.stack(np.meshgrid(np.arange(32), np.arange(32), indexing="ij"), -1)
    grid = grid.reshape(-1, 2).astype(float)
    M = ot.dist(grid, grid)
    G, log = normot.emd(a, b, M, log=True)
    expected = ot.emd2(a, b, M)
    assert abs(log["cost"] - expected) <= 1e-9 * expected
    assert certificate_violation(G, log["u"], log["v"], a, b, M) < 1e-9
    assert abs(normot.emd_pointclouds(grid, grid, a, b) - expected) <= 1e-9 * expected
