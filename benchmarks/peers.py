"""Thin wrappers that call each peer the way its documentation says, and return per-analysis arrays.

Every wrapper returns a dict with (a subset of) ``estimate``, ``se``, ``tau2``,
``q`` so that ``run.py`` can compare it with metapool. Peers are imported
lazily: a missing one becomes a "not installed" row, not a crash.

* statsmodels: ``statsmodels.stats.meta_analysis.combine_effects(yi, vi, method_re="dl")``
  pools one analysis per call, so batches are a Python loop. In 0.14/0.15 its DL
  τ² is (Q - df)/C *without* truncation at 0: the random-effects numbers are
  wrong where Q < df, and ``run.py`` compares only where Q >= df.
* PyMARE: ``pymare.estimators.DerSimonianLaird`` and
  ``VarianceBasedLikelihoodEstimator(method="REML")``; ``fit(y, v, X)`` takes
  ``(k, m)`` arrays (k studies, m parallel datasets, one shared design ``X`` of
  shape ``(k, 1)``), so it vectorises only analyses with the same k.
  ``small_sample_correction="wald"`` gives the plain 1/Σw* variance that
  metapool reports by default (PyMARE >= 0.0.11 defaults to Knapp-Hartung).
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import numpy as np

__all__ = [
    "available",
    "pymare_dl",
    "pymare_dl_by_k",
    "pymare_reml",
    "statsmodels_dl_loop",
    "statsmodels_dl_one",
    "statsmodels_mh_or",
    "version",
]


def version(dist: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def available(dist: str) -> bool:
    return version(dist) is not None


# --------------------------------------------------------------------------- statsmodels


def statsmodels_dl_one(yi: np.ndarray, vi: np.ndarray) -> dict[str, np.ndarray]:
    """One analysis by ``combine_effects(method_re="dl")``."""
    from statsmodels.stats.meta_analysis import combine_effects

    r = combine_effects(yi, vi, method_re="dl")
    return {
        "estimate": np.array([r.mean_effect_re]),
        "se": np.array([r.sd_eff_w_re]),
        "tau2": np.array([r.tau2]),
        "q": np.array([r.q]),
    }


def statsmodels_dl_loop(
    yi: np.ndarray, vi: np.ndarray, bounds: np.ndarray
) -> dict[str, np.ndarray]:
    """``combine_effects`` once per analysis; ``bounds`` holds the m + 1 segment offsets."""
    from statsmodels.stats.meta_analysis import combine_effects

    m = bounds.size - 1
    est, se, tau2, q = np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    for j in range(m):
        s, e = bounds[j], bounds[j + 1]
        r = combine_effects(yi[s:e], vi[s:e], method_re="dl")
        est[j], se[j], tau2[j], q[j] = r.mean_effect_re, r.sd_eff_w_re, r.tau2, r.q
    return {"estimate": est, "se": se, "tau2": tau2, "q": q}


def statsmodels_mh_or(tables: np.ndarray) -> dict[str, np.ndarray]:
    """Mantel-Haenszel pooled log odds ratio and its RGB standard error.

    ``tables`` has shape (2, 2, K): [[a, b], [c, d]] per study.
    """
    from statsmodels.stats.contingency_tables import StratifiedTable

    st = StratifiedTable(tables)
    return {"estimate": np.array([st.logodds_pooled]), "se": np.array([st.logodds_pooled_se])}


# --------------------------------------------------------------------------- PyMARE


def _design(k: int) -> np.ndarray:
    return np.ones((k, 1))


def pymare_dl(y2: np.ndarray, v2: np.ndarray, X: np.ndarray | None = None) -> dict[str, Any]:
    """PyMARE's vectorised DerSimonian-Laird on ``(k, m)`` arrays (equal k only)."""
    from pymare.estimators import DerSimonianLaird

    if X is None:
        X = _design(y2.shape[0])
    est = DerSimonianLaird(small_sample_correction="wald").fit(y2, v2, X)
    p = est.params_
    return {
        "estimate": np.asarray(p["fe_params"]).reshape(-1),
        "se": np.sqrt(np.asarray(p["inv_cov"])[0, 0].reshape(-1)),
        "tau2": np.asarray(p["tau2"]).reshape(-1),
    }


def pymare_dl_by_k(
    yi: np.ndarray, vi: np.ndarray, k: np.ndarray, bounds: np.ndarray
) -> dict[str, Any]:
    """Ragged data the only way PyMARE can: regroup by k, one vectorised call per distinct k.

    ``yi``, ``vi`` are flat (analyses in order), ``k`` the studies per analysis and
    ``bounds`` the m + 1 offsets. The regrouping (a gather into (k, m_k) arrays per
    distinct k) is part of the cost, as it would be for a user holding flat data.
    """
    m = k.size
    out = {"estimate": np.empty(m), "se": np.empty(m), "tau2": np.empty(m)}
    for kk in np.unique(k):
        idx = np.flatnonzero(k == kk)
        pos = bounds[idx] + np.arange(kk)[:, None]  # (kk, m_k) study positions
        r = pymare_dl(yi[pos], vi[pos])
        for key in out:
            out[key][idx] = r[key]
    return out


def pymare_reml(y2: np.ndarray, v2: np.ndarray, X: np.ndarray | None = None) -> dict[str, Any]:
    """PyMARE's vectorised REML (``VarianceBasedLikelihoodEstimator(method="REML")``)."""
    from pymare.estimators import VarianceBasedLikelihoodEstimator

    if X is None:
        X = _design(y2.shape[0])
    est = VarianceBasedLikelihoodEstimator(method="REML", small_sample_correction="wald").fit(
        y2, v2, X
    )
    p = est.params_
    return {
        "estimate": np.asarray(p["fe_params"]).reshape(-1),
        "se": np.sqrt(np.asarray(p["inv_cov"])[0, 0].reshape(-1)),
        "tau2": np.asarray(p["tau2"]).reshape(-1),
    }
