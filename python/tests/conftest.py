"""Shared helpers: seeded count matrices, and the EMD optimality certificate."""

import numpy as np
import pytest


def count_matrix(n_cells, n_genes, *, density=0.1, seed=0, zero_cells=0, dtype=np.float32,
                 max_count=None):
    """A dense cells x genes matrix of integer counts with log-normal library sizes; the first
    `zero_cells` rows are all zero."""
    rng = np.random.default_rng(seed)
    library = rng.lognormal(mean=np.log(2000), sigma=0.6, size=n_cells)
    gene_weights = rng.gamma(0.3, size=n_genes)
    gene_weights /= gene_weights.sum()
    mask = rng.random((n_cells, n_genes)) < density
    lam = library[:, None] * gene_weights[None, :] / density
    counts = np.where(mask, rng.poisson(lam), 0)
    if max_count is not None:
        counts = np.minimum(counts, max_count)
    empty = np.flatnonzero(counts.sum(1) == 0)
    counts[empty, rng.integers(0, n_genes, size=empty.size)] = 1  # only asked-for cells are empty
    counts[:zero_cells] = 0
    return counts.astype(dtype)


def certificate_violation(G, u, v, a, b, M):
    """Largest violation of the optimality certificate of a transport plan, relative to the
    scale of M: marginals, G >= 0, u_i + v_j <= M_ij everywhere, and equality where G > 0."""
    G, u, v, a, b, M = (np.asarray(t, dtype=np.float64) for t in (G, u, v, a, b, M))
    scale = max(1.0, float(np.abs(M).max()))
    reduced = M - u[:, None] - v[None, :]
    violations = [
        np.abs(G.sum(1) - a).max() / max(a.sum(), 1e-300),
        np.abs(G.sum(0) - b).max() / max(b.sum(), 1e-300),
        max(0.0, -G.min()),
        max(0.0, -reduced.min()) / scale,
        np.abs(reduced[G > 1e-14 * a.sum()]).max(initial=0.0) / scale,
    ]
    return max(violations)


def random_batch(rng, k, n, m):
    """k problems of n x m with random positive weights (each summing to 1) and costs."""
    A = rng.random((k, n)) + 0.05
    B = rng.random((k, m)) + 0.05
    A /= A.sum(1, keepdims=True)
    B /= B.sum(1, keepdims=True)
    return A, B, rng.random((k, n, m))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
