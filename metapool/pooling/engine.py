"""The pooling engine: fixed and random effects for many analyses at once.

One code path serves a single RevMan analysis, its subgroups, leave-one-out
runs and a million simulated meta-analyses: everything is a segment sum over
flat study arrays (see :mod:`metapool.pooling.segments`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from scipy import special

from metapool._extras import pandas
from metapool._typing import I2, BoolArray, FloatArray, Hksj, IntArray, Tau2Method
from metapool.effects import Cells
from metapool.errors import InputError
from metapool.pooling._warn import warn_groups
from metapool.pooling.design import Studies
from metapool.pooling.mantel_haenszel import FixedEffect, mantel_haenszel
from metapool.pooling.segments import Segments
from metapool.pooling.sums import hksj_variance, pooled_mean, typical_variance, weighted_squares
from metapool.pooling.tau2 import Within, estimate_tau2, generalised_q_root
from metapool.vocabulary import Method, Model, Settings

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PoolResult",
    "hksj_variance",
    "needs_units",
    "pool_segments",
    "pool_with",
    "summarise",
    "typical_variance",
    "units",
    "z_critical",
]


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
    ``p_value`` its P-value, except in a group of one study, which reports
    the study's own z test. Interval fields are None unless requested.
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

    def to_dataframe(self) -> pd.DataFrame:
        """One row per analysis, as a DataFrame; needs pandas.

        Columns: ``group`` (the label), ``k``, ``estimate``, ``se``, ``ci_lower``,
        ``ci_upper``, ``z``, ``p_value``, ``q``, ``df``, ``p_q``, ``i2``, ``h2``,
        ``i2_tau2``, ``h2_tau2``, ``tau2``, ``converged``, and the intervals that
        were asked for (``pi_lower``, ``pi_upper``, ``tau2_ci_lower``, ...). Values
        are on the analysis scale (log for ratios), as in the record.

        Examples
        --------
        >>> import metapool
        >>> res = metapool.pool([0.1, 0.3, 0.2, -0.1, 0.4], [0.01, 0.02, 0.015, 0.02, 0.03],
        ...                     groups=["a", "a", "a", "b", "b"])
        >>> res.to_dataframe()[["group", "k", "estimate"]].round(4)
          group    k  estimate
        0     a  3.0    0.1769
        1     b  2.0    0.1400
        """
        columns = [
            "k", "estimate", "se", "ci_lower", "ci_upper", "z", "p_value", "q", "df", "p_q",
            "i2", "h2", "i2_tau2", "h2_tau2", "tau2", "converged",
        ]  # fmt: skip
        optional = [
            "pi_lower", "pi_upper", "tau2_ci_lower", "tau2_ci_upper",
            "i2_ci_lower", "i2_ci_upper", "h2_ci_lower", "h2_ci_upper",
        ]  # fmt: skip
        data: dict[str, Any] = {"group": self.groups}
        data.update({c: getattr(self, c) for c in columns})
        data.update({c: v for c in optional if (v := getattr(self, c)) is not None})
        frame: pd.DataFrame = pandas().DataFrame(data)
        return frame

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
    tau2: Tau2Method = "DL",
    ci_level: float = 0.95,
    hksj: Hksj = False,
    prediction: bool = False,
    tau2_ci: bool = False,
    i2: I2 = "Q",
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
        τ² estimator; Hartung-Knapp-Sidik-Jonkman CI (True, or ``"adhoc"`` for
        Knapp and Hartung's variance that is never below the Wald one);
        prediction interval; Q-profile CI for τ² (and I², H²); I² from ``"Q"``
        or from ``"tau2"``.
    fixed
        A fixed-effect estimate that replaces the inverse-variance one and
        centres Q (Mantel-Haenszel, as RevMan computes Q).
    weights
        Also return each study's weight as a percentage of its group.
    groups
        The groups' labels, kept on the result.
    """
    k = seg.counts.astype(np.float64)
    unit = _units(yi, vi, seg, k)
    if unit is not None:  # pooled in each group's own units, then converted back
        centre, scale = unit
        with np.errstate(over="ignore", invalid="ignore"):
            yi = (yi - seg.expand(centre)) / seg.expand(scale)
        vi = vi / seg.expand(scale * scale)
        if fixed is not None:
            fixed = FixedEffect(
                (fixed.estimate - centre) / scale, fixed.variance / (scale * scale), fixed.weights
            )
    w = 1.0 / vi
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
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
            theta, var = pooled_mean(seg.sum(w_star), seg.sum(w_star * yi))
        else:
            t2 = np.zeros(seg.n)
            converged = np.ones(seg.n, dtype=bool)
            w_star = fixed.weights if fixed is not None else 1.0 / vi
            theta, var = theta_f, var_f
        var_hksj = None
        if hksj:
            wk = 1.0 / (vi + seg.expand(t2))
            q_hksj = weighted_squares(seg, yi, wk, theta)
            # identical estimates have no spread, whatever the rounding of θ
            q_hksj[seg.max(yi) == seg.min(yi)] = 0.0
            var_hksj = hksj_variance(q_hksj, k, seg.sum(wk))
        bounds = _q_profile(base, ci_level) if tau2_ci else None
        study_weights = 100 * w_star / seg.expand(seg.sum(w_star)) if weights else None
        typical = typical_variance(k, sw, sw2)
    return summarise(
        k=k,
        theta=theta,
        var=var,
        q=q,
        typical=typical,
        tau2=t2,
        converged=converged,
        random=random,
        ci_level=ci_level,
        hksj=hksj,
        var_hksj=var_hksj,
        prediction=prediction,
        i2=i2,
        tau2_bounds=bounds,
        weights=study_weights,
        groups=groups,
        unit=unit,
    )


#: data whose estimates and variances all lie within this bound (and variances
#: above its inverse) are pooled as given: weights, their squares and cubes stay
#: far from overflow and underflow. Other data are pooled in each group's units.
_SAFE = 1e50


def _units(
    yi: FloatArray, vi: FloatArray, seg: Segments, k: FloatArray
) -> tuple[FloatArray, FloatArray] | None:
    """Each group's centre and scale (:func:`units`), or None when the data need none."""
    if not yi.size or not needs_units(vi.min(), vi.max(), yi.min(), yi.max()):
        return None
    return units(seg.min(vi), seg.min(yi), seg.max(yi), k > 0)


def units(
    v_min: FloatArray, y_min: FloatArray, y_max: FloatArray, present: BoolArray
) -> tuple[FloatArray, FloatArray]:
    """Each group's centre and scale, from its smallest variance and its range of estimates.

    The scale is a power of two s with s² <= min vᵢ < 4s², so dividing by it
    is exact and the groups' results are those of the same data in other
    units; the centre (the mid-range of the estimates) keeps huge estimates
    from overflowing the weighted sums. A group without studies gets (0, 1).
    """
    smallest = np.where(present, v_min, 1.0)
    exponent = np.frexp(smallest)[1]
    scale = np.ldexp(1.0, (exponent - 1) // 2)
    centre = np.where(present, 0.5 * y_max + 0.5 * y_min, 0.0)
    return centre, scale


def needs_units(v_min: float, v_max: float, y_min: float, y_max: float) -> bool:
    """Whether data of these extremes are pooled in each group's own units."""
    return not (v_min >= 1 / _SAFE and v_max <= _SAFE and max(-y_min, y_max) <= _SAFE)


def summarise(
    *,
    k: FloatArray,
    theta: FloatArray,
    var: FloatArray,
    q: FloatArray,
    typical: FloatArray,
    tau2: FloatArray,
    converged: BoolArray,
    random: bool,
    ci_level: float,
    hksj: Hksj,
    prediction: bool,
    i2: I2,
    var_hksj: FloatArray | None = None,
    tau2_bounds: tuple[FloatArray, FloatArray] | None = None,
    weights: FloatArray | None = None,
    groups: Any = None,
    unit: tuple[FloatArray, FloatArray] | None = None,
) -> PoolResult:
    """Intervals, tests and heterogeneity statistics from per-group sums.

    ``var`` is the (Wald) variance of the pooled estimate and ``var_hksj``
    the HKSJ one when ``hksj`` (see :func:`hksj_variance`); ``typical`` is the
    typical within-study variance (:func:`typical_variance`). With ``unit``,
    a per-group (centre, scale), the estimate, variances and τ² are those of
    (y - centre) / scale, converted back here (square roots before scaling, so
    that an SE stays exact when its square would underflow). Every engine (in
    memory, Dask) ends here, so these formulas and rules exist once:

    - ``hksj="adhoc"`` never lets the HKSJ variance fall below ``var`` (Knapp
      and Hartung 2003); plain HKSJ does so only where the HKSJ variance is 0
      (identical estimates), with a :class:`~metapool.MetapoolWarning`;
    - a group of one study reports that study's own result (a z test), as
      RevMan does, with or without HKSJ.
    """
    df = k - 1
    empty = k == 0
    multi = k >= 2
    _warn_unconverged(converged)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t_test = multi if hksj else None
        if hksj:
            assert var_hksj is not None
            if hksj == "adhoc":
                var_hksj = np.maximum(var_hksj, var)
            else:
                degenerate = multi & (var_hksj == 0)
                if degenerate.any():
                    warn_groups(
                        "the HKSJ variance is 0 (identical estimates) in {count}: the ad "
                        "hoc rule (never below the Wald variance) was used there",
                        degenerate,
                    )
                    var_hksj = np.where(degenerate, var, var_hksj)
            var = np.where(multi, var_hksj, var)
        # intervals of the mean: its variance, plus τ² for the prediction interval
        root_var = np.sqrt(var)
        root_pi = np.sqrt(tau2 + var) if prediction else None
        ratio_bounds = None if tau2_bounds is None else tuple(b / typical for b in tau2_bounds)
        i2_t_ratio = tau2 / typical
        if unit is not None:
            centre, scale = unit
            theta = centre + scale * theta
            root_var = scale * root_var
            root_pi = None if root_pi is None else scale * root_pi
            square = scale * scale
            tau2 = square * tau2
            if tau2_bounds is not None:
                tau2_bounds = (square * tau2_bounds[0], square * tau2_bounds[1])
        se = root_var
        z = theta / se
        if t_test is None:
            crit: Any = z_critical(ci_level)
            p = 2 * special.ndtr(-np.abs(z))
        else:
            crit = np.where(t_test, special.stdtrit(df, 0.5 + ci_level / 2), z_critical(ci_level))
            p = 2 * special.stdtr(df, -np.abs(z))
            single = k == 1
            if single.any():
                p = np.where(single, 2 * special.ndtr(-np.abs(z)), p)
        # Higgins-Thompson from Q (RevMan 5.4), and from τ² (metafor, RevMan Web)
        h2_q = q / df
        i2_q = np.maximum(0.0, 100 * (1 - df / q))  # 0 when q == 0 (-inf)
        h2_t = i2_t_ratio + 1
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
            half = np.where(random & (k >= 3), t, np.nan) * root_pi
            extra.update(pi_lower=theta - half, pi_upper=theta + half)
        if tau2_bounds is not None and ratio_bounds is not None:
            lo, hi = (np.where(multi, b, np.nan) for b in tau2_bounds)
            lo_ratio, hi_ratio = (np.where(multi, b, np.nan) for b in ratio_bounds)
            extra.update(
                tau2_ci_lower=lo,
                tau2_ci_upper=hi,
                i2_ci_lower=100 * lo_ratio / (lo_ratio + 1),
                i2_ci_upper=100 * hi_ratio / (hi_ratio + 1),
                h2_ci_lower=lo_ratio + 1,
                h2_ci_upper=hi_ratio + 1,
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


def _warn_unconverged(converged: BoolArray) -> None:
    if not converged.all():
        warn_groups(
            "the iterative τ² estimator did not converge in {count} "
            "(converged is False there; τ² is the last iterate)",
            ~converged,
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


def pool_with(
    settings: Settings,
    yi: FloatArray,
    vi: FloatArray,
    rows: IntArray | slice,
    seg: Segments,
    *,
    cells: Cells | None = None,
    inverse_variance: bool = False,
    hksj: Hksj | None = None,
    weights: bool = False,
    tau2_ci: bool | None = None,
    groups: Any = None,
) -> PoolResult:
    """Pool the studies ``rows`` (indices into ``yi``, ``vi``, ``cells``, or a slice
    of them) in the groups ``seg`` with the analysis' settings: its method
    (Mantel-Haenszel needs ``cells``; ``inverse_variance=True`` pools by inverse
    variance instead, as metafor's ``rma.uni`` diagnostics do), model, τ² estimator,
    CI method and Q-profile CIs of τ² (``hksj`` and ``tau2_ci`` override them). Peto
    pooling is inverse-variance pooling of the Peto effects, so it needs nothing
    special. :func:`metapool.analyse`, :func:`metapool.pool_tables` and the
    diagnostics' refits all pool here.
    """
    fixed = None
    if settings.method is Method.MH and not inverse_variance:
        if cells is None:
            raise InputError("Mantel-Haenszel pooling needs the 2x2 cells")
        fixed = mantel_haenszel(settings.measure, cells.take(rows), seg)
    return pool_segments(
        yi[rows],
        vi[rows],
        seg,
        random=settings.model is Model.RANDOM,
        tau2=settings.tau2,
        ci_level=settings.ci_level,
        hksj=settings.hksj if hksj is None else hksj,
        prediction=settings.prediction,
        tau2_ci=settings.tau2_ci if tau2_ci is None else tau2_ci,
        i2=settings.i2,
        fixed=fixed,
        weights=weights,
        groups=groups,
    )
