"""The workloads of benchmarks/run.py and the checks of every peer's answer against metapool's."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import peers
import reference_numpy as ref
from _simulate import Data, dichotomous_studies, simulate
from _timing import Config, Impl, Row, run_workload

import metapool

CLOSED_FORM_TOL = 1e-8  # relative; metapool's own target against metafor
LL_TOL = 1e-9  # a REML log-likelihood this much below PyMARE's counts as worse


def rel_diff(a: Any, b: Any, mask: np.ndarray | None = None, floor: float = 1e-12) -> float:
    """max |a - b| / max(|a|, |b|, floor); NaN in both counts as equal, in one as inf."""
    a, b = np.asarray(a, dtype=float).reshape(-1), np.asarray(b, dtype=float).reshape(-1)
    if mask is not None:
        a, b = a[mask], b[mask]
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        d = np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    both = np.isnan(a) & np.isnan(b)
    d = np.where(both, 0.0, np.where(np.isnan(d), np.inf, d))
    return float(d.max())


def agree(
    fields: tuple[str, ...] = ("estimate", "se", "tau2"),
    tol: float = CLOSED_FORM_TOL,
    where: Callable[[dict[str, Any]], np.ndarray] | None = None,
    where_text: str = "",
) -> Callable[[dict[str, Any], dict[str, Any]], tuple[str, bool]]:
    """A check: every field within ``tol`` of metapool's (optionally on a mask of groups)."""

    def check(peer: dict[str, Any], subject: dict[str, Any]) -> tuple[str, bool]:
        mask = where(subject) if where is not None else None
        worst = max(rel_diff(peer[f], subject[f], mask) for f in fields)
        n_all = np.asarray(subject[fields[0]]).size
        n = n_all if mask is None else int(mask.sum())
        label = "/".join("τ²" if f == "tau2" else f for f in fields)
        plural = "group" if n_all == 1 else "groups"
        scope = (
            f"{n:,} of {n_all:,} {plural}{where_text}"
            if mask is not None
            else f"{n_all:,} {plural}"
        )
        ok = worst <= tol
        mark = "✓" if ok else f"✗ > {tol:g}"
        return f"{mark} {worst:.1e} ({label}; {scope})", ok

    return check


def p_q_check(peer: dict[str, Any], subject: dict[str, Any]) -> tuple[str, bool]:
    """Same pooled numbers as the subject, and p_q = χ² tail of Q (checked with scipy directly)."""
    text, ok = agree(("estimate", "se", "tau2", "q"))(peer, subject)
    expected = ref.p_q(np.asarray(subject["q"]), np.asarray(subject["k"]))
    d = rel_diff(peer["p_q"], expected)
    ok_p = d <= CLOSED_FORM_TOL
    return f"{text}; p_Q vs scipy chdtrc {'✓' if ok_p else '✗'} {d:.1e}", ok and ok_p


def q_at_least_df(subject: dict[str, Any]) -> np.ndarray:
    return np.asarray(subject["q"]) >= np.asarray(subject["k"]) - 1


def pool_dict(res: metapool.PoolResult) -> dict[str, Any]:
    return {
        "estimate": res.estimate,
        "se": res.se,
        "tau2": res.tau2,
        "q": res.q,
        "k": res.k,
        "converged": res.converged,
    }


def reml_check(data: Data) -> Callable[[dict[str, Any], dict[str, Any]], tuple[str, bool]]:
    """metapool's REML τ² must reach at least PyMARE's restricted likelihood, in every group."""

    def check(peer: dict[str, Any], subject: dict[str, Any]) -> tuple[str, bool]:
        ll_mp = ref.reml_loglik(data.yi, data.vi, data.groups, data.m, np.asarray(subject["tau2"]))
        ll_py = ref.reml_loglik(data.yi, data.vi, data.groups, data.m, np.asarray(peer["tau2"]))
        worse = int((ll_mp < ll_py - LL_TOL).sum())
        better = int((ll_mp > ll_py + LL_TOL).sum())
        d_tau = rel_diff(peer["tau2"], subject["tau2"], floor=1e-8)
        d_est = rel_diff(peer["estimate"], subject["estimate"])
        ok = worse == 0
        mark = "✓" if ok else "✗"
        return (
            f"{mark} metapool log-lik lower by > {LL_TOL:g} in {worse:,} groups, higher in "
            f"{better:,}; τ² max rel diff {d_tau:.1e}, estimate {d_est:.1e}",
            ok,
        )

    return check


# ----------------------------------------------------------------------------- workloads


def latency(cfg: Config) -> list[Row]:
    rows: list[Row] = []
    studies, tables = dichotomous_studies(10)

    def analyse_fixed() -> Any:
        return metapool.analyse(studies, measure="OR", method="MH", model="fixed")

    def analyse_random() -> Any:
        return metapool.analyse(studies, measure="OR", method="MH", model="random")

    def total_dict(res: Any) -> dict[str, Any]:
        t = res.total
        return {
            "estimate": np.array([math.log(t.estimate)]),
            "se": np.array([t.se]),
            "tau2": np.array([res.heterogeneity.tau2]),
        }

    mh_ok = peers.available("statsmodels")
    rows += run_workload(
        "latency: `analyse`, 10 dichotomous studies, MH OR fixed",
        [
            Impl("metapool.analyse", analyse_fixed, total_dict, subject=True, key="analyse_fixed"),
            Impl(
                "statsmodels StratifiedTable (MH log OR + RGB se only)",
                (lambda: peers.statsmodels_mh_or(tables)) if mh_ok else None,
                check=agree(("estimate", "se")),
                note="statsmodels not installed",
            ),
        ],
        cfg,
        None,
    )

    def revman_random_by_hand() -> dict[str, Any]:
        # RevMan 5.4 random effects for MH: Q around the MH estimate with IV weights, DL τ²
        a, b = tables[0]
        c, d = tables[1]
        yi, vi = np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
        n = a + b + c + d
        theta_mh = np.log((a * d / n).sum() / (b * c / n).sum())
        w = 1 / vi
        q = (w * (yi - theta_mh) ** 2).sum()
        tau2 = max(0.0, (q - (yi.size - 1)) / (w.sum() - (w * w).sum() / w.sum()))
        ws = 1 / (vi + tau2)
        return {
            "estimate": np.array([(ws * yi).sum() / ws.sum()]),
            "se": np.array([ws.sum() ** -0.5]),
            "tau2": np.array([tau2]),
        }

    rows += run_workload(
        "latency: `analyse`, 10 dichotomous studies, MH OR random (DL)",
        [
            Impl(
                "metapool.analyse", analyse_random, total_dict, subject=True, key="analyse_random"
            ),
            Impl(
                "numpy by hand (RevMan's MH-Q DL formulas, 10 lines)",
                revman_random_by_hand,
                check=agree(),
            ),
        ],
        cfg,
        None,
    )

    # pool on one analysis of k = 10: the first simulated analysis with Q >= df,
    # so statsmodels' untruncated DL τ² is right and all of its numbers can be compared
    pick = simulate(1000, 10, "latency")
    full = ref.dl(pick.yi, pick.vi, pick.groups, pick.m)
    j = int(np.flatnonzero(full["q"] >= full["k"] - 1)[0])
    s, e = pick.bounds[j], pick.bounds[j + 1]
    y1, v1 = pick.yi[s:e].copy(), pick.vi[s:e].copy()
    codes1 = np.zeros(10, dtype=np.intp)
    rows += run_workload(
        "latency: `pool`, 1 analysis of k = 10 (DL)",
        [
            Impl(
                "metapool.pool",
                lambda: metapool.pool(y1, v1),
                pool_dict,
                subject=True,
                key="pool_one",
            ),
            Impl(
                "statsmodels combine_effects(method_re='dl')",
                (lambda: peers.statsmodels_dl_one(y1, v1))
                if peers.available("statsmodels")
                else None,
                check=agree(where=q_at_least_df, where_text=", Q >= df"),
                key="sm_one",
                note="statsmodels not installed",
            ),
            Impl("numpy reference (bincount)", lambda: ref.dl(y1, v1, codes1, 1), check=agree()),
        ],
        cfg,
        None,
    )
    return rows


def _dl_impls(data: Any, layout: str) -> list[Impl]:
    """metapool (flat and 2-D) and the numpy references on one DL workload."""
    same = agree(("estimate", "se", "tau2", "q"))
    return [
        Impl(
            "metapool.pool (flat, sorted int groups)",
            lambda: metapool.pool(data.yi, data.vi, groups=data.groups),
            pool_dict,
            subject=True,
            key="pool_flat",
        ),
        Impl(
            f"metapool.pool ({layout})",
            lambda: metapool.pool(data.y2, data.v2),
            pool_dict,
            check=same,
            key="pool_2d",
        ),
        Impl(
            "numpy reference (bincount, minimal DL)",
            lambda: ref.dl(data.yi, data.vi, data.groups, data.m),
            check=same,
            key="ref",
        ),
        Impl(
            "numpy reference, reduceat over sorted runs (context)",
            lambda: ref.dl_sorted(data.yi, data.vi, data.bounds[:-1]),
            check=same,
            key="ref_sorted",
        ),
        Impl(
            "numpy reference + CI, z, p, I², H² (context)",
            lambda: ref.dl_full(data.yi, data.vi, data.groups, data.m),
            check=same,
            key="ref_full",
        ),
    ]


def dl_scale(m: int, cfg: Config, label: str) -> list[Row]:
    data = simulate(m, 10, "dl")
    has_pymare, has_sm = peers.available("PyMARE"), peers.available("statsmodels")
    impls = [
        *_dl_impls(data, "2-D, 10 × m"),
        Impl(
            "metapool.pool (flat) and read `.p_q` (χ² tail, lazy)",
            lambda: _with_p_q(metapool.pool(data.yi, data.vi, groups=data.groups)),
            lambda res: {**pool_dict(res), "p_q": res.p_q},
            check=p_q_check,
            key="pool_pq",
        ),
        Impl(
            "PyMARE DerSimonianLaird (vectorised, 10 × m)",
            (lambda: peers.pymare_dl(data.y2, data.v2)) if has_pymare else None,
            check=agree(),
            key="pymare",
            note="PyMARE not installed",
        ),
    ]
    if m <= 1000:
        impls += [
            Impl(
                "statsmodels combine_effects, Python loop",
                (lambda: peers.statsmodels_dl_loop(data.yi, data.vi, data.bounds))
                if has_sm
                else None,
                check=agree(where=q_at_least_df, where_text=" with Q >= df"),
                key="sm_loop",
                note="statsmodels not installed",
            ),
            Impl(
                "metapool.pool, Python loop of single analyses",
                lambda: _pool_loop(data),
                check=agree(),
                key="pool_loop",
            ),
        ]
    return run_workload(f"DL, {label} analyses × k = 10", impls, cfg, 8 * data.n)


def _with_p_q(res: metapool.PoolResult) -> metapool.PoolResult:
    res.p_q  # noqa: B018 - reading it is the point (computed on first read)
    return res


def _pool_loop(data: Data) -> dict[str, np.ndarray]:
    m = data.m
    est, se, tau2 = np.empty(m), np.empty(m), np.empty(m)
    for j in range(m):
        s, e = data.bounds[j], data.bounds[j + 1]
        r = metapool.pool(data.yi[s:e], data.vi[s:e])
        est[j], se[j], tau2[j] = r.estimate[0], r.se[0], r.tau2[0]
    return {"estimate": est, "se": se, "tau2": tau2}


def ragged(m: int, cfg: Config, label: str) -> list[Row]:
    data = simulate(m, (2, 40), "ragged")
    n_k = np.unique(data.k).size
    has_pymare = peers.available("PyMARE")
    impls = [
        *_dl_impls(data, "2-D, 40 × m, NaN-padded"),
        Impl(
            "PyMARE DerSimonianLaird, one call",
            None,
            note="cannot: PyMARE vectorises only analyses with the same k (one X for all)",
        ),
        Impl(
            f"PyMARE DerSimonianLaird, regrouped by k: one call per distinct k ({n_k} calls, "
            "regrouping timed)",
            (lambda: peers.pymare_dl_by_k(data.yi, data.vi, data.k, data.bounds))
            if has_pymare
            else None,
            check=agree(),
            key="pymare_by_k",
            note="PyMARE not installed",
        ),
    ]
    return run_workload(f"DL, ragged: {label} analyses, k uniform in 2..40", impls, cfg, 8 * data.n)


def reml(m: int, cfg: Config, label: str) -> list[Row]:
    data = simulate(m, 10, "reml")
    has_pymare = peers.available("PyMARE")

    def subject_dict(res: metapool.PoolResult) -> dict[str, Any]:
        return pool_dict(res)

    impls = [
        Impl(
            "metapool.pool(tau2='REML') (flat, sorted int groups)",
            lambda: metapool.pool(data.yi, data.vi, groups=data.groups, tau2="REML"),
            subject_dict,
            subject=True,
            key="pool_flat",
        ),
        Impl(
            "PyMARE VarianceBasedLikelihoodEstimator(method='REML') (vectorised, 10 × m)",
            (lambda: peers.pymare_reml(data.y2, data.v2)) if has_pymare else None,
            check=reml_check(data),
            key="pymare",
            note="PyMARE not installed",
        ),
    ]
    rows = run_workload(f"REML, {label} analyses × k = 10", impls, cfg, 8 * data.n)
    # the subject row reports convergence
    res = metapool.pool(data.yi, data.vi, groups=data.groups, tau2="REML")
    conv = int(np.asarray(res.converged).sum())
    rows[0].agreement = f"converged in {conv:,} of {data.m:,} groups"
    rows[0].ok = True
    rows[0].key = f"pool_flat;converged={conv};m={data.m}"
    return rows
