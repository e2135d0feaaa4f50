"""The pooling engine: fixed and random effects for many analyses at once (spec §3-6).

One code path serves a single RevMan analysis, its subgroups, leave-one-out
runs and a million simulated meta-analyses: everything is a segment sum over
flat study arrays (see :mod:`metapool.pooling.segments`).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from scipy import special

from metapool._typing import BoolArray, FloatArray
from metapool.pooling.mantel_haenszel import FixedEffect
from metapool.pooling.segments import Segments
from metapool.pooling.tau2 import Within, estimate_tau2, generalised_q_root

__all__ = ["PoolResult", "pool_segments", "z_critical"]


def z_critical(level: float) -> float:
    """Two-sided standard normal quantile (1.959964 for 0.95)."""
    return float(special.ndtri(0.5 + level / 2))


@attrs.frozen(repr=False)
class PoolResult:
    """Results per group, on the analysis scale (log for ratios).

    Every field is an array with one entry per group; a group without any
    study has NaN everywhere and ``k == 0``.
    """

    estimate: FloatArray
    se: FloatArray
    ci_lower: FloatArray
    ci_upper: FloatArray
    z: FloatArray
    p_value: FloatArray
    q: FloatArray
    df: FloatArray
    p_q: FloatArray
    i2: FloatArray
    h2: FloatArray
    tau2: FloatArray
    k: FloatArray
    converged: BoolArray
    pi_lower: FloatArray | None = None
    pi_upper: FloatArray | None = None
    tau2_ci_lower: FloatArray | None = None
    tau2_ci_upper: FloatArray | None = None
    i2_ci_lower: FloatArray | None = None
    i2_ci_upper: FloatArray | None = None
    h2_ci_lower: FloatArray | None = None
    h2_ci_upper: FloatArray | None = None
    weights: FloatArray | None = None  # per study, percent of its group (when asked)
    groups: Any = None  # group labels, in the order of every array


def pool_segments(
    yi: FloatArray,
    vi: FloatArray,
    seg: Segments,
    *,
    random: bool,
    tau2: str = "DL",
    ci_level: float = 0.95,
    hksj: bool = False,
    prediction: bool = False,
    tau2_ci: bool = False,
    i2: str = "Q",
    fixed: FixedEffect | None = None,
    weights: bool = False,
) -> PoolResult:
    """Pool every group of ``seg`` at once.

    Parameters
    ----------
    yi, vi
        Estimable studies' estimates and variances (analysis scale).
    seg
        The group of each study.
    random
        Random-effects (True) or fixed-effect model.
    tau2, hksj, prediction, tau2_ci, i2
        τ² estimator; Hartung-Knapp-Sidik-Jonkman CI; prediction interval;
        Q-profile CI for τ² (and I², H²); I² from ``"Q"`` or from ``"tau2"``.
    fixed
        A fixed-effect estimate that replaces the inverse-variance one and
        centres Q (Mantel-Haenszel, as RevMan computes Q).
    weights
        Also return each study's weight as a percentage of its group.
    """
    k = seg.counts.astype(np.float64)
    df = k - 1
    empty = k == 0
    w = 1.0 / vi
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = seg.sum(w)
        if fixed is None:
            theta_f = seg.sum(w * yi) / sw
            var_f = 1.0 / sw
        else:
            theta_f, var_f = fixed.estimate, fixed.variance
        resid = yi - seg.expand(theta_f)
        q = seg.sum(w * resid * resid)
        sw2 = seg.sum(w * w)
        base = Within(yi, vi, seg, k, sw, sw2, q)
        converged = np.ones(seg.n, dtype=bool)
        if random:
            est = estimate_tau2(tau2, base)
            t2, converged = est.tau2, est.converged
            w_star = 1.0 / (vi + seg.expand(t2))
            sw_star = seg.sum(w_star)
            theta = seg.sum(w_star * yi) / sw_star
            var = 1.0 / sw_star
        else:
            t2 = np.zeros(seg.n)
            w_star = fixed.weights if fixed is not None else w
            theta, var = theta_f, var_f
        if hksj:
            r = yi - seg.expand(theta)
            wk = 1.0 / (vi + seg.expand(t2))
            var = seg.sum(wk * r * r) / (df * seg.sum(wk))
            crit = special.stdtrit(df, 0.5 + ci_level / 2)
        else:
            crit = np.full(seg.n, z_critical(ci_level))
        se = np.sqrt(var)
        z = theta / se
        p = 2 * (special.stdtr(df, -np.abs(z)) if hksj else special.ndtr(-np.abs(z)))
        multi = k >= 2
        p_q = np.where(multi, special.chdtrc(df, q), np.nan)
        typical = (k - 1) * sw / (sw * sw - sw2)  # Higgins-Thompson typical variance
        if i2 == "tau2":
            i2_v = np.where(multi, 100 * t2 / (t2 + typical), np.nan)
            h2_v = np.where(multi, (t2 + typical) / typical, np.nan)
        else:
            i2_v = np.where(multi, np.where(q > 0, np.maximum(0.0, (q - df) / q), 0.0) * 100, np.nan)
            h2_v = np.where(multi, q / df, np.nan)
        extra: dict[str, FloatArray | None] = {}
        if prediction:
            half = np.where(
                random & (k >= 3), special.stdtrit(k - 2, 0.5 + ci_level / 2), np.nan
            ) * np.sqrt(t2 + var)
            extra.update(pi_lower=theta - half, pi_upper=theta + half)
        if tau2_ci:
            extra.update(_q_profile(base, ci_level, typical, random))
        if weights:
            extra["weights"] = 100 * w_star / seg.expand(seg.sum(w_star))
    nan_if_empty = _blank(empty)
    q = np.where(multi, q, np.where(empty, np.nan, 0.0))
    return PoolResult(
        estimate=nan_if_empty(theta),
        se=nan_if_empty(se),
        ci_lower=nan_if_empty(theta - crit * se),
        ci_upper=nan_if_empty(theta + crit * se),
        z=nan_if_empty(z),
        p_value=nan_if_empty(p),
        q=q,
        df=np.where(empty, np.nan, df),
        p_q=p_q,
        i2=i2_v,
        h2=h2_v,
        tau2=nan_if_empty(t2),
        k=k,
        converged=converged,
        **{key: (value if key == "weights" else nan_if_empty(value)) for key, value in extra.items()},
    )


def _blank(empty: BoolArray) -> Any:
    def apply(x: FloatArray | None) -> FloatArray | None:
        return None if x is None else np.where(empty, np.nan, x)

    return apply


def _q_profile(
    base: Within, level: float, typical: FloatArray, random: bool
) -> dict[str, FloatArray | None]:
    """Q-profile confidence interval for τ² (Viechtbauer 2007), with I² and H² from it."""
    df = base.k - 1
    alpha = 1 - level
    upper_q = special.chdtri(df, alpha / 2)  # Q above this: τ² is above the lower bound
    lower_q = special.chdtri(df, 1 - alpha / 2)
    lo = generalised_q_root(base, upper_q).tau2
    hi = generalised_q_root(base, lower_q).tau2
    multi = base.k >= 2
    lo, hi = np.where(multi, lo, np.nan), np.where(multi, hi, np.nan)
    return {
        "tau2_ci_lower": lo,
        "tau2_ci_upper": hi,
        "i2_ci_lower": 100 * lo / (lo + typical),
        "i2_ci_upper": 100 * hi / (hi + typical),
        "h2_ci_lower": lo / typical + 1,
        "h2_ci_upper": hi / typical + 1,
    }
