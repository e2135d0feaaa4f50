#!/usr/bin/env python
"""metapool against its peers, in one run, on the same synthetic data.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py            # full suite
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py --quick    # smoke, < 20 s
    python benchmarks/run.py --only dl-1e6 --repeat 9
    python benchmarks/run.py --only reml --profile       # + cProfile of metapool's call

Times are medians of ``--repeat`` samples (timeit-style: one warm-up call
excluded, each sample auto-ranged to >= ``min_time`` by running the call
``number`` times, garbage collector off while timing). The implementations of
one workload take their samples in interleaved rounds, so that load from other
processes on a shared machine hits them alike and their ratios stay fair. Peak extra memory is
measured on one more, untimed call under ``tracemalloc`` (numpy reports its
buffers to it): the highest traced allocation during the call above what was
allocated before it, the returned result included. Every peer's answer is
compared with metapool's on the same data; a disagreement marks the row with
✗ and makes the script exit with status 1. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
import reference_numpy as ref  # noqa: E402

import metapool  # noqa: E402

# ----------------------------------------------------------------------------- data

SEED = 20261124
MU, TAU2, SIGMA2, DF_V = (
    0.3,
    0.04,
    0.05,
    8,
)  # yi ~ N(MU + u_j, v_i), u_j ~ N(0, TAU2), v_i ~ SIGMA2·χ²(DF_V)/DF_V
CLOSED_FORM_TOL = 1e-8  # relative; metapool's own target against metafor
LL_TOL = 1e-9  # a REML log-likelihood this much below PyMARE's counts as worse


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
    u = rng.normal(0.0, math.sqrt(TAU2), m)
    vi = SIGMA2 * rng.chisquare(DF_V, n) / DF_V
    yi = MU + u[groups] + rng.standard_normal(n) * np.sqrt(vi)
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


# ----------------------------------------------------------------------------- measuring


@dataclass
class Impl:
    name: str
    fn: Callable[[], Any] | None  # None: the peer cannot do this workload
    to_dict: Callable[[Any], dict[str, Any]] = lambda out: out
    check: Callable[[dict[str, Any], dict[str, Any]], tuple[str, bool]] | None = None
    subject: bool = False  # the metapool call the ratios are relative to
    key: str = ""  # short name for the targets section
    note: str = ""  # shown instead of a time when fn is None


@dataclass
class Row:
    workload: str
    impl: str
    key: str
    median: float | None
    spread: tuple[float, float] | None
    number: int
    peak: int | None
    agreement: str
    ok: bool
    ratio: float | None = None
    input_bytes: int | None = None


@dataclass
class Config:
    repeat: int
    min_time: float
    quick: bool
    profile: bool


def _calibrate(fn: Callable[[], Any], min_time: float) -> tuple[Any, int]:
    """Warm-up call (its result is the one checked) and timeit-style autorange of ``number``."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    number = 1
    if first < min_time:  # timeit.autorange: 1, 2, 5, 10, 20, ...
        for number in (n * 10**e for e in range(9) for n in (1, 2, 5)):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            if time.perf_counter() - t0 >= min_time:
                break
    return out, number


def _sample(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call over ``number`` calls, garbage collector off (as timeit)."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number
    finally:
        if gc_was:
            gc.enable()


def _peak_memory(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return peak - before


def run_workload(name: str, impls: list[Impl], cfg: Config, input_bytes: int | None) -> list[Row]:
    """Time every implementation of one workload, interleaved.

    Warm-up and autorange per implementation, then ``repeat`` rounds in which
    every implementation takes one sample in turn, so that a change in the
    machine's load hits all of them alike and the ratios stay fair; then one
    untimed call each under tracemalloc.
    """
    state: dict[int, dict[str, Any]] = {}
    gc.collect()  # once: with scipy/pandas/statsmodels loaded a collection takes ~0.1 s
    for i, impl in enumerate(impls):
        if impl.fn is None:
            continue
        print(f"  {name}: {impl.name} ...", file=sys.stderr, flush=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out, number = _calibrate(impl.fn, cfg.min_time)
            state[i] = {"out": out, "number": number, "samples": []}
        except Exception as exc:  # a broken peer is a row, not a crash
            state[i] = {"error": f"✗ failed: {type(exc).__name__}: {exc}"}
    live = [i for i in state if "error" not in state[i]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(cfg.repeat):
            for i in live:
                fn = impls[i].fn
                assert fn is not None
                state[i]["samples"].append(_sample(fn, state[i]["number"]))
        for i in live:
            fn = impls[i].fn
            assert fn is not None
            state[i]["peak"] = _peak_memory(fn)

    rows: list[Row] = []
    subject: dict[str, Any] | None = None
    subject_time: float | None = None
    for i, impl in enumerate(impls):
        if impl.fn is None:
            rows.append(Row(name, impl.name, impl.key, None, None, 0, None, impl.note, True))
            continue
        st = state[i]
        if "error" in st:
            rows.append(Row(name, impl.name, impl.key, None, None, 0, None, st["error"], False))
            continue
        med = statistics.median(st["samples"])
        result = impl.to_dict(st.pop("out"))
        if impl.subject:
            subject, subject_time = result, med
            if cfg.profile:
                _profile(name, impl, st["number"])
        if impl.check is not None and subject is None:
            text, ok = "not compared: metapool's own call failed", True
        elif impl.check is not None:
            text, ok = impl.check(result, subject)
        else:
            text, ok = ("(reference for this workload)" if impl.subject else "—"), True
        rows.append(
            Row(
                name,
                impl.name,
                impl.key,
                med,
                (min(st["samples"]), max(st["samples"])),
                st["number"],
                st["peak"],
                text,
                ok,
                input_bytes=input_bytes,
            )
        )
    for row in rows:
        if row.median is not None and subject_time:
            row.ratio = row.median / subject_time
    return rows


def _profile(name: str, impl: Impl, number: int) -> None:
    assert impl.fn is not None
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(max(number, 3)):
        impl.fn()
    prof.disable()
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values())  # type: ignore[attr-defined]
    items = sorted(st.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]

    def where(file: str, line: int, func: str) -> str:
        short = file.replace(str(REPO) + "/", "") if file.startswith(str(REPO)) else Path(file).name
        return f"{short}:{line}({func})" if line else func

    runs = max(number, 3)
    print(
        f"\n### cProfile: {name} / {impl.name} ({runs} calls, {total:.3f} s profiled; "
        "cProfile inflates Python-call-heavy code)\n"
    )
    print("Own time (tottime), top 15:\n")
    print("| function | ncalls | tottime s | % of total |")
    print("|---|---:|---:|---:|")
    for (file, line, func), (_cc, nc, tt, _ct, _callers) in items[:15]:
        print(f"| {where(file, line, func)} | {nc} | {tt:.4f} | {100 * tt / total:.1f} |")
    print("\nmetapool functions by cumulative time (callees included), top 15:\n")
    print("| function | ncalls | cumtime s | % of total |")
    print("|---|---:|---:|---:|")
    ours = [
        kv
        for kv in st.stats.items()  # type: ignore[attr-defined]
        if kv[0][0].startswith(str(REPO / "metapool"))
    ]
    for (file, line, func), (_cc, nc, _tt, ct, _callers) in sorted(ours, key=lambda kv: -kv[1][3])[
        :15
    ]:
        print(f"| {where(file, line, func)} | {nc} | {ct:.4f} | {100 * ct / total:.1f} |")
    print()


# ----------------------------------------------------------------------------- checks


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


# ----------------------------------------------------------------------------- report


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.1f} µs"
    if t < 1:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def _fmt_peak(row: Row) -> str:
    if row.peak is None:
        return "—"
    mib = row.peak / 2**20
    text = f"{mib:.2f}" if mib < 10 else f"{mib:.0f}"
    if row.input_bytes:
        text += f" ({row.peak / row.input_bytes:.1f}×)"
    return text


def table(rows: list[Row]) -> str:
    lines = [
        "| workload | implementation | median (min) | ratio to metapool "
        "| peak extra MiB (× input array) | agreement with metapool |",
        "|---|---|---:|---:|---:|---|",
    ]
    last = None
    for r in rows:
        wl = r.workload if r.workload != last else ""
        last = r.workload
        ratio = (
            "—"
            if r.ratio is None
            else (
                "1"
                if r.key.startswith(("pool_flat", "analyse", "pool_one"))
                and abs(r.ratio - 1) < 1e-12
                else f"{r.ratio:.2f}×"
            )
        )
        lines.append(
            f"| {wl} | {r.impl} | {_fmt_time(r.median)}"
            + (f" (min {_fmt_time(r.spread[0])})" if r.spread else "")
            + f" | {ratio} | {_fmt_peak(r)} "
            f"| {r.agreement} |"
        )
    return "\n".join(lines)


def _find(rows: list[Row], workload_prefix: str, key: str) -> Row | None:
    for r in rows:
        if r.workload.startswith(workload_prefix) and r.key.split(";")[0] == key:
            return r
    return None


def _ratio(a: Row, b: Row) -> tuple[float, float]:
    """a/b by medians and by minima (the minimum is less sensitive to load from other processes)."""
    assert a.median and b.median and a.spread and b.spread
    return a.median / b.median, a.spread[0] / b.spread[0]


def targets(rows: list[Row], big: str, reml_label: str) -> str:
    out = ["| target | measured (median; min in brackets) | met? (by medians) |", "|---|---|---|"]

    def add(target: str, measured: str, met: bool | None) -> None:
        out.append(
            f"| {target} | {measured} | {'n/a' if met is None else ('yes' if met else '**no**')} |"
        )

    def timed(r: Row | None) -> bool:
        return r is not None and r.median is not None

    for key, what in (("analyse_fixed", "MH OR fixed"), ("analyse_random", "MH OR random")):
        r = _find(rows, "latency: `analyse`", key)
        if r and r.median is not None and r.spread:
            add(
                f"one `analyse` of 10 studies ({what}) ≤ 100 µs median",
                f"{_fmt_time(r.median)} ({_fmt_time(r.spread[0])})",
                r.median <= 100e-6,
            )
    mp, sm = _find(rows, "latency: `pool`", "pool_one"), _find(rows, "latency: `pool`", "sm_one")
    if mp and sm and timed(mp) and timed(sm):
        r, rmin = _ratio(sm, mp)
        add(
            "`pool` on one group of 10 faster than statsmodels `combine_effects`",
            f"{_fmt_time(mp.median)} vs {_fmt_time(sm.median)}: statsmodels/metapool = "
            f"{r:.2f}× ({rmin:.2f}×)"
            + ("; within ±5%: a tie, not a clear win" if abs(r - 1) < 0.05 else ""),
            r > 1,
        )
    wl = f"DL, {big} analyses"
    rf = _find(rows, wl, "ref")
    for key, layout in (("pool_flat", "flat, sorted int groups"), ("pool_2d", "2-D input")):
        mp = _find(rows, wl, key)
        if mp and rf and timed(mp) and timed(rf):
            r, rmin = _ratio(mp, rf)
            add(
                f"DL on {big} × 10 ({layout}): metapool within 1.5× of the numpy reference",
                f"metapool/reference = {r:.2f}× ({rmin:.2f}×)",
                r <= 1.5,
            )
    for r in rows:
        if r.key.split(";")[0] in ("pool_flat", "pool_2d") and r.peak is not None and r.input_bytes:
            add(
                "peak extra memory of `pool` ≤ 10 input-sized float64 arrays "
                f"({r.workload}, {r.impl.split(' (')[1].rstrip(')')})",
                f"{r.peak / r.input_bytes:.1f}×",
                r.peak <= 10 * r.input_bytes,
            )
    wl = f"REML, {reml_label} analyses"
    mp, py = _find(rows, wl, "pool_flat"), _find(rows, wl, "pymare")
    if mp and py and timed(mp) and timed(py):
        r, rmin = _ratio(py, mp)
        add(
            f"REML on {reml_label} × 10: metapool ≥ 2× faster than PyMARE",
            f"PyMARE/metapool = {r:.2f}× ({rmin:.2f}×)",
            r >= 2,
        )
    if mp and ";" in mp.key:
        fields = dict(kv.split("=") for kv in mp.key.split(";")[1:])
        conv, m = int(fields["converged"]), int(fields["m"])
        add(f"REML on {reml_label}: every group converges", f"{conv:,} of {m:,}", conv == m)
    if py and py.median is not None:
        add(
            f"REML on {reml_label}: no group below PyMARE's restricted likelihood",
            py.agreement.lstrip("✓✗ "),
            py.ok,
        )
    return "\n".join(out)


def _cmd(*args: str) -> str:
    try:
        return subprocess.run(
            args, capture_output=True, text=True, check=False, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def header(cfg: Config, argv: list[str], load: str, started: str) -> str:
    import scipy

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in _cmd("lscpu").splitlines()
            if ln.startswith("Model name")
        ),
        platform.processor(),
    )
    rev = _cmd("git", "-C", str(REPO), "rev-parse", "--short", "HEAD")
    dirty = _cmd("git", "-C", str(REPO), "status", "--porcelain", "--", "metapool")
    if dirty:
        import hashlib

        diff = _cmd("git", "-C", str(REPO), "diff", "HEAD", "--", "metapool")
        digest = hashlib.sha1(diff.encode()).hexdigest()[:10]
        dirty = (
            f", uncommitted changes in metapool/ (diff sha1 {digest})"
            if diff
            else ", untracked files in metapool/"
        )
    try:
        from threadpoolctl import threadpool_info

        blas = (
            "; ".join(
                f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} "
                f"threads={i.get('num_threads')}"
                for i in threadpool_info()
            )
            or "none loaded"
        )
    except ImportError:
        blas = "threadpoolctl not installed"
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env_text = ", ".join(f"{k}={v}" if v is not None else f"{k} unset" for k, v in env.items())
    lines = [
        f"# metapool benchmarks{' (--quick)' if cfg.quick else ''}",
        "",
        f"- date: {started} (start of the run)",
        f"- command: `python {' '.join(['benchmarks/run.py', *argv])}`",
        f"- machine: {platform.machine()}, {os.cpu_count()} logical CPUs "
        f"({_cmd('nproc')} usable), {cpu}",
        f"- python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"metapool {metapool.__version__} (git {rev}{dirty}), "
        f"statsmodels {peers.version('statsmodels') or 'not installed'}, "
        f"PyMARE {peers.version('PyMARE') or 'not installed'}",
        f"- BLAS (threadpoolctl): {blas}; {env_text}",
        f"- load average before the run: {load}",
        f"- timing: median of {cfg.repeat} samples, each ≥ {cfg.min_time:g} s (auto-ranged), "
        "taken in interleaved rounds across a workload's implementations, warm-up excluded, "
        "gc off; memory: tracemalloc peak during one more call, above the "
        "baseline before it (result included)",
    ]
    if os.getloadavg()[0] > 0.5 or float(load.split()[0]) > 0.5:
        lines.append(
            "- **note**: the machine was not idle (1-minute load average > 0.5): other processes "
            "share the cores, so absolute times are noisy; ratios within one workload are measured "
            "back to back and are more robust"
        )
    if any(v is not None for v in env.values()):
        lines.append(
            "- **warning**: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set, which slows a current "
            "OpenBLAS; benchmark with "
            "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py`"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="CI-sized smoke run: 10^3 and 10^4 analyses, 3 repeats (a few seconds)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="timed samples per implementation (default 7, --quick 3)",
    )
    ap.add_argument(
        "--min-time",
        type=float,
        default=None,
        help="seconds each sample lasts at least (default 0.2, --quick 0.02)",
    )
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only workloads whose name starts with NAME (repeatable or comma-separated); "
        "names: latency, dl-1e3, dl-1e5, dl-1e6, ragged-1e5, reml-1e5 "
        "(--quick: dl-1e3, dl-1e4, ragged-1e4, reml-1e4)",
    )
    ap.add_argument(
        "--profile", action="store_true", help="also cProfile metapool's call in each workload"
    )
    ap.add_argument(
        "--output",
        type=Path,
        default=HERE / "results" / "latest.md",
        help="markdown file to write (default benchmarks/results/latest.md)",
    )
    args = ap.parse_args(argv)
    cfg = Config(
        repeat=args.repeat or (3 if args.quick else 7),
        min_time=args.min_time if args.min_time is not None else (0.02 if args.quick else 0.2),
        quick=args.quick,
        profile=args.profile,
    )
    if args.quick:
        big, mid, reml_m = 10**4, None, 10**4
    else:
        big, mid, reml_m = 10**6, 10**5, 10**5

    def lab(m: int) -> str:
        return f"10^{round(math.log10(m))}"

    workloads: list[tuple[str, Callable[[], list[Row]]]] = [("latency", lambda: latency(cfg))]
    for m in [10**3, *([mid] if mid else []), big]:
        workloads.append((f"dl-1e{round(math.log10(m))}", lambda m=m: dl_scale(m, cfg, lab(m))))
    rag_m = 10**4 if args.quick else 10**5
    workloads.append(
        (f"ragged-1e{round(math.log10(rag_m))}", lambda: ragged(rag_m, cfg, lab(rag_m)))
    )
    workloads.append(
        (f"reml-1e{round(math.log10(reml_m))}", lambda: reml(reml_m, cfg, lab(reml_m)))
    )
    only = [o for arg in args.only for o in arg.split(",") if o]
    chosen = [(n, f) for n, f in workloads if not only or any(n.startswith(o) for o in only)]
    if not chosen:
        ap.error(f"--only {only} matches none of {[n for n, _ in workloads]}")

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = _cmd("date") or dt.datetime.now(dt.timezone.utc).isoformat()
    t0 = time.perf_counter()
    rows: list[Row] = []
    for name, fn in chosen:
        print(f"[{name}]", file=sys.stderr, flush=True)
        t_w = time.perf_counter()
        rows += fn()
        print(f"[{name}] {time.perf_counter() - t_w:.1f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - t0

    report = (
        "\n\n".join(
            [
                header(cfg, argv, load, started),
                table(rows),
                "Ratio: implementation's median / metapool's median in the same workload "
                "(> 1: slower than metapool). Agreement: max relative difference "
                "|a - b| / max(|a|, |b|, 1e-12) over the fields and groups named, "
                f"tolerance {CLOSED_FORM_TOL:g} for closed forms.",
                "## Targets (issue 5)\n\n" + targets(rows, lab(big), lab(reml_m)),
                f"Suite ran in {elapsed:.1f} s.",
            ]
        )
        + "\n"
    )
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print(f"(written to {args.output})", file=sys.stderr)
    failed = [r for r in rows if not r.ok]
    if failed:
        print(
            f"{len(failed)} disagreement(s): "
            + "; ".join(f"{r.workload} / {r.impl}" for r in failed),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
