"""The synthetic data of the benchmarks, seeded: one model for every script.

Analyses follow the normal-normal model yi ~ N(MU + u_j, v_i), u_j ~ N(0, TAU2),
v_i ~ SIGMA2·χ²(DF_V)/DF_V (benchmarks/run.py, dask_bench.py, tables_bench.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import metapool

SEED = 20261124
MU, TAU2, SIGMA2, DF_V = (
    0.3,
    0.04,
    0.05,
    8,
)  # yi ~ N(MU + u_j, v_i), u_j ~ N(0, TAU2), v_i ~ SIGMA2·χ²(DF_V)/DF_V


def random_effects(rng: np.random.Generator, m: int) -> np.ndarray:
    """The true effects' deviations u_j ~ N(0, TAU2) of m analyses."""
    return rng.normal(0.0, math.sqrt(TAU2), m)


def studies(
    rng: np.random.Generator, u: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(yi, vi) of studies in analyses ``groups`` (indices into ``u``)."""
    vi = SIGMA2 * rng.chisquare(DF_V, groups.size) / DF_V
    yi = MU + u[groups] + rng.standard_normal(groups.size) * np.sqrt(vi)
    return yi, vi


@dataclass
class Data:
    """m analyses as flat arrays (sorted integer groups) and as a NaN-padded (k_max, m) array."""

    yi: np.ndarray
    vi: np.ndarray
    groups: np.ndarray  # sorted integer codes 0..m-1, one per study
    k: np.ndarray  # studies per analysis
    bounds: np.ndarray  # m + 1 offsets of each analysis in the flat arrays
    y2: np.ndarray  # (k_max, m), C-contiguous, NaN padding
    v2: np.ndarray

    @property
    def m(self) -> int:
        return self.k.size

    @property
    def n(self) -> int:
        return self.yi.size


def simulate(m: int, k: int | tuple[int, int], tag: str) -> Data:
    """Seeded synthetic analyses; ``k`` an int, or (lo, hi) for k uniform in lo..hi."""
    rng = np.random.default_rng([SEED, m, sum(map(ord, tag))])
    ks = np.full(m, k) if isinstance(k, int) else rng.integers(k[0], k[1] + 1, size=m)
    groups = np.repeat(np.arange(m), ks)
    n = groups.size
    yi, vi = studies(rng, random_effects(rng, m), groups)
    bounds = np.concatenate(([0], np.cumsum(ks)))
    kmax = int(ks.max())
    if isinstance(k, int):
        y2, v2 = yi.reshape(m, k).T.copy(), vi.reshape(m, k).T.copy()
    else:
        pos = np.arange(n) - bounds[groups]
        y2, v2 = np.full((kmax, m), np.nan), np.full((kmax, m), np.nan)
        y2[pos, groups], v2[pos, groups] = yi, vi
    return Data(yi, vi, groups, ks, bounds, y2, v2)


def dichotomous_studies(k: int = 10) -> tuple[list[metapool.Dichotomous], np.ndarray]:
    """k seeded two-arm trials (no zero cells) as records and as (2, 2, k) tables."""
    rng = np.random.default_rng([SEED, k, 2])
    n1, n2 = rng.integers(50, 500, k), rng.integers(50, 500, k)
    p2 = rng.uniform(0.1, 0.3, k)
    lor = rng.normal(-0.3, 0.25, k)
    odds1 = p2 / (1 - p2) * np.exp(lor)
    p1 = odds1 / (1 + odds1)
    e1 = np.clip(rng.binomial(n1, p1), 1, n1 - 1)
    e2 = np.clip(rng.binomial(n2, p2), 1, n2 - 1)
    studies = [
        metapool.Dichotomous(f"Trial {i + 1}", int(e1[i]), int(n1[i]), int(e2[i]), int(n2[i]))
        for i in range(k)
    ]
    tables = np.array([[e1, n1 - e1], [e2, n2 - e2]], dtype=float)
    return studies, tables
