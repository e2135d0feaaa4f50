"""The pooling engine: fixed and random effects for many analyses at once (spec §3-6).

One code path serves a single RevMan analysis, its subgroups, leave-one-out
runs and a million simulated meta-analyses: everything is a segment sum over
flat study arrays (see :mod:`metapool.pooling.segments`).
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import numpy as np
from scipy import special

from metapool._typing import BoolArray, FloatArray
from metapool.pooling.design import Studies
from metapool.pooling.mantel_haenszel import FixedEffect
from metapool.pooling.segments import Segments
from metapool.pooling.tau2 import Within, estimate_tau2, generalised_q_root

__all__ = ["PoolResult", "finish", "pool_segments", "z_critical"]


def z_critical(level: float) -> float:
    """Two-sided standard normal quantile (1.959964 for 0.95)."""
    return float(special.ndtri(0.5 + level / 2))


@attrs.frozen(repr=False, slots=False)
class PoolResult:
    """Results per group, on the analysis scale (log for ratios).

    Every field is an array with one entry per group; a group without any
    study has NaN everywhere and ``k == 0``. ``p_q`` (the P-value of Q) is
    computed when first read: its chi-squared tail costs as much as the
    pooling itself for a million analyses.

    ``i2`` and ``h2`` are the Higgins-Thompson values from Q (RevMan 5.4) unless
    the analysis asked for ``i2="tau2"``; ``i2_tau2`` and ``h2_tau2`` are always
    the values from τ² and the typical within-study variance (metafor's ``I2``
    and ``H2``). With ``hksj``, ``z`` is the t statistic on k - 1 df and
    ``p_value`` its P-value. Interval fields are None unless requested.
    """

    estimate: FloatArray
    se: FloatArray
    ci_lower: FloatArray
    ci_upper: FloatArray
    z: FloatArray
    p_value: FloatArray
    q: FloatArray
    df: FloatArray
    i2: FloatArray
    h2: FloatArray
    i2_tau2: FloatArray
    h2_tau2: FloatArray
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

    @functools.cached_property
    def p_q(self) -> FloatArray:
        """P-value of the test of heterogeneity (chi-squared, k - 1 df)."""
        with np.errstate(invalid="ignore"):
            return np.where(self.k >= 2, special.chdtrc(self.df, self.q), np.nan)

    def to_dataframe(self) -> Any:
        """One row per analysis; needs pandas.

        See :func:`metapool.io.dataframe.pool_result_to_dataframe`.
        """
        from metapool.io.dataframe import pool_result_to_dataframe

        return pool_result_to_dataframe(self)

    def __repr__(self) -> str:
        n = self.estimate.size
        head = ", ".join(
            f"{name}={np.array2string(getattr(self, name)[:3], precision=4)}"
            for name in ("estimate", "se", "tau2", "k")
        )
        return f"PoolResult({n} analyses: {head}{', ...' if n > 3 else ''})"


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
    groups: Any = None,
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
    groups
        The groups' labels, kept on the result.
    """
    k = seg.counts.astype(np.float64)
    w = 1.0 / vi
    with np.errstate(divide="ignore", invalid="ignore"):
        fit = Studies(yi, vi, seg).fit(w)
        sw, sw2 = fit.xtwx[0], fit.xtw2x[0]
        q_method = None  # None: the inverse-variance fit's own Q
        if fixed is None:
            theta_f, var_f = fit.coef[0], 1.0 / sw
        else:  # RevMan's Q: inverse-variance weights around the MH estimate
            theta_f, var_f = fixed.estimate, fixed.variance
            r = yi - seg.expand(theta_f)
            q_method = seg.sum(w * r * r)
        if random or tau2_ci:  # the τ² estimators start from the fit's sums
            base = Within.of(fit, q_method)
            q = base.q
        else:
            q = fit.rss() if q_method is None else q_method
        del fit, w  # per-study arrays not needed any more (1/vᵢ is cheap to redo)
        if random:
            est = estimate_tau2(tau2, base)
            t2, converged = est.tau2, est.converged
            w_star = seg.expand(t2)
            np.add(w_star, vi, out=w_star)
            np.divide(1.0, w_star, out=w_star)
            sw_star = seg.sum(w_star)
            theta = seg.sum(w_star * yi) / sw_star
            var = 1.0 / sw_star
        else:
            t2 = np.zeros(seg.n)
            converged = np.ones(seg.n, dtype=bool)
            w_star = fixed.weights if fixed is not None else 1.0 / vi
            theta, var = theta_f, var_f
        if hksj:
            r = yi - seg.expand(theta)
            wk = 1.0 / (vi + seg.expand(t2))
            var = seg.sum(wk * r * r) / ((k - 1) * seg.sum(wk))
        bounds = _q_profile(base, ci_level) if tau2_ci else None
        study_weights = 100 * w_star / seg.expand(seg.sum(w_star)) if weights else None
    return finish(
        k=k,
        theta=theta,
        var=var,
        q=q,
        sw=sw,
        sw2=sw2,
        tau2=t2,
        converged=converged,
        random=random,
        ci_level=ci_level,
        hksj=hksj,
        prediction=prediction,
        i2=i2,
        tau2_bounds=bounds,
        weights=study_weights,
        groups=groups,
    )


def finish(
    *,
    k: FloatArray,
    theta: FloatArray,
    var: FloatArray,
    q: FloatArray,
    sw: FloatArray,
    sw2: FloatArray,
    tau2: FloatArray,
    converged: BoolArray,
    random: bool,
    ci_level: float,
    hksj: bool,
    prediction: bool,
    i2: str,
    tau2_bounds: tuple[FloatArray, FloatArray] | None = None,
    weights: FloatArray | None = None,
    groups: Any = None,
) -> PoolResult:
    """Intervals, tests and heterogeneity statistics from per-group sums.

    ``var`` is the variance of the pooled estimate (the HKSJ one when ``hksj``);
    ``sw`` and ``sw2`` are Σ1/vᵢ and Σ1/vᵢ². Every engine (in memory, Dask)
    ends here, so these formulas exist once.
    """
    df = k - 1
    empty = k == 0
    multi = k >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        crit = special.stdtrit(df, 0.5 + ci_level / 2) if hksj else z_critical(ci_level)
        se = np.sqrt(var)
        z = theta / se
        p = 2 * (special.stdtr(df, -np.abs(z)) if hksj else special.ndtr(-np.abs(z)))
        typical = df * sw / (sw * sw - sw2)  # Higgins-Thompson typical within-study variance
        # Higgins-Thompson from Q (RevMan 5.4), and from τ² (metafor, RevMan Web)
        h2_q = q / df
        i2_q = np.maximum(0.0, 100 * (1 - df / q))  # 0 when q == 0 (-inf)
        h2_t = (tau2 + typical) / typical
        i2_t = 100 * (1 - 1 / h2_t)
        not_applicable = ~multi
        if not_applicable.any():
            i2_q, h2_q, i2_t, h2_t = (
                np.where(not_applicable, np.nan, x) for x in (i2_q, h2_q, i2_t, h2_t)
            )
        i2_v, h2_v = (i2_t, h2_t) if i2 == "tau2" else (i2_q, h2_q)
        extra: dict[str, FloatArray | None] = {}
        if prediction:
            t = special.stdtrit(k - 2, 0.5 + ci_level / 2)
            half = np.where(random & (k >= 3), t, np.nan) * np.sqrt(tau2 + var)
            extra.update(pi_lower=theta - half, pi_upper=theta + half)
        if tau2_bounds is not None:
            lo, hi = (np.where(multi, b, np.nan) for b in tau2_bounds)
            extra.update(
                tau2_ci_lower=lo,
                tau2_ci_upper=hi,
                i2_ci_lower=100 * lo / (lo + typical),
                i2_ci_upper=100 * hi / (hi + typical),
                h2_ci_lower=lo / typical + 1,
                h2_ci_upper=hi / typical + 1,
            )
    nan_if_empty = _blank(empty)
    return PoolResult(
        estimate=nan_if_empty(theta),
        se=nan_if_empty(se),
        ci_lower=nan_if_empty(theta - crit * se),
        ci_upper=nan_if_empty(theta + crit * se),
        z=nan_if_empty(z),
        p_value=nan_if_empty(p),
        q=q if multi.all() else np.where(multi, q, np.where(empty, np.nan, 0.0)),
        df=nan_if_empty(df),
        i2=i2_v,
        h2=h2_v,
        i2_tau2=i2_t,
        h2_tau2=h2_t,
        tau2=nan_if_empty(tau2),
        k=k,
        converged=converged,
        weights=weights,
        groups=groups,
        **{key: nan_if_empty(value) for key, value in extra.items()},
    )


def _blank(empty: BoolArray) -> Any:
    if not empty.any():
        return lambda x: x

    def apply(x: FloatArray | None) -> FloatArray | None:
        return None if x is None else np.where(empty, np.nan, x)

    return apply


def _q_profile(base: Within, level: float) -> tuple[FloatArray, FloatArray]:
    """Q-profile confidence limits for τ² (Viechtbauer 2007): Q(τ²) at χ² quantiles."""
    df = base.k - 1
    alpha = 1 - level
    lower = generalised_q_root(base, special.chdtri(df, alpha / 2)).tau2
    upper = generalised_q_root(base, special.chdtri(df, 1 - alpha / 2)).tau2
    return lower, upper
