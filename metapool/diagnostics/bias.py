"""Small-study effects: Egger, Begg, Peters and Harbord tests, trim-and-fill.

All of them work on the analysis' estimable study effects (analysis scale, the
zero-cell rule applied) with inverse-variance weights, whatever the analysis'
pooling method, as metafor's ``regtest``, ``ranktest`` and ``trimfill`` do on
``rma(yi, vi)``. Pooled quantities come from the engine
(:func:`metapool.pooling.engine.pool_segments`); the regressions are two-column
weighted least squares.

The tests refuse analyses of fewer than 10 studies unless asked (``k_min=``):
the Cochrane Handbook advises tests for funnel plot asymmetry only with at
least 10 studies, as with fewer they are too weak to tell asymmetry from chance.

References
----------
.. [1] Page MJ, Higgins JPT, Sterne JAC. Chapter 13: Assessing risk of bias
   due to missing results in a synthesis. In: Higgins JPT et al. (eds).
   Cochrane Handbook for Systematic Reviews of Interventions, version 6,
   section 13.3.5.4. Cochrane, 2019.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs
import numpy as np
from scipy import linalg, special, stats

from metapool._typing import FloatArray
from metapool.analysis import group_results
from metapool.diagnostics.sensitivity import StudyData, estimable_studies, pool_groups
from metapool.effects import peto_o_minus_e
from metapool.errors import InputError
from metapool.pooling.design import Studies
from metapool.pooling.engine import pool_segments
from metapool.pooling.segments import Segments
from metapool.pooling.tau2 import Within, estimate_tau2
from metapool.report import effect_text, format_p, heterogeneity_line, overall_effect_line
from metapool.results import Heterogeneity, Interval, Total
from metapool.vocabulary import DataType, Model

if TYPE_CHECKING:  # pragma: no cover
    from metapool.results import MetaAnalysis

__all__ = [
    "RankTest",
    "RegressionTest",
    "TrimFill",
    "begg",
    "egger",
    "harbord",
    "peters",
    "trimfill",
]

#: trim-and-fill iterations before giving up (metafor's ``maxiter``)
MAXITER = 100

#: fewest studies for a test of funnel plot asymmetry by default (Cochrane Handbook 13.3.5.4)
K_MIN = 10


# -- records ------------------------------------------------------------------------------


@attrs.frozen
class RegressionTest:
    """A regression test for funnel-plot asymmetry: t test of the slope, k − 2 df.

    The regression is weighted least squares of the effect on ``predictor``
    with a multiplicative residual variance (metafor ``regtest(model="lm")``).
    Coefficients are on the analysis scale (log for ratios).

    Attributes
    ----------
    test : str
        ``"Egger"``, ``"Peters"`` or ``"Harbord"``.
    predictor : str
        The regressor: ``"SE"`` (Egger, Harbord: 1/sqrt(V)) or ``"1/N"`` (Peters).
    statistic, df, p_value : float
        t = slope / SE(slope), its degrees of freedom (k − 2) and two-sided P.
    intercept, intercept_se : float
        The effect extrapolated to a predictor of 0: metafor's "limit estimate".
    intercept_ci : Interval
        Its t-based confidence interval at the analysis' level.
    slope, slope_se : float
        The asymmetry coefficient and its SE, also as :attr:`bias` and
        :attr:`bias_se`.
    k : int
        Studies in the regression.
    """

    test: str
    predictor: str
    statistic: float
    df: float
    p_value: float
    intercept: float
    intercept_se: float
    intercept_ci: Interval
    slope: float
    slope_se: float
    k: int

    @property
    def bias(self) -> float:
        """The slope under the name R meta's and Stata's ``metabias`` give it: "bias".

        The intercept of Egger's regression of y/SE on 1/SE (Egger 1997), the
        same number as the slope of y on SE fitted here.
        """
        return self.slope

    @property
    def bias_se(self) -> float:
        """The SE of :attr:`bias`."""
        return self.slope_se

    def __str__(self) -> str:
        return (
            f"{self.test}{_possessive(self.test)} regression test for funnel plot asymmetry "
            f"(predictor {self.predictor}, k = {self.k})\n"
            f"t = {self.statistic:.4f}, df = {self.df:.0f}, {format_p(self.p_value)}\n"
            f"bias (slope): {self.slope:.4f} (SE {self.slope_se:.4f}); "
            f"intercept (limit estimate): {self.intercept:.4f} (SE {self.intercept_se:.4f}, "
            f"CI {self.intercept_ci.lower:.4f} to {self.intercept_ci.upper:.4f})"
        )


def _possessive(name: str) -> str:
    return "'" if name.endswith("s") else "'s"


@attrs.frozen
class RankTest:
    """Begg and Mazumdar's rank correlation test (metafor ``ranktest``).

    Attributes
    ----------
    statistic : float
        Kendall's τ_b between standardised effects and variances.
    p_value : float
        Two-sided; exact when there are no ties, else the normal approximation
        with the tie-corrected variance and no continuity correction.
    exact : bool
        Whether ``p_value`` is exact.
    k : int
    """

    statistic: float
    p_value: float
    exact: bool
    k: int

    @property
    def tau(self) -> float:
        """Kendall's τ_b (the statistic)."""
        return self.statistic

    def __str__(self) -> str:
        kind = "exact" if self.exact else "normal approximation"
        return (
            f"Begg and Mazumdar's rank correlation test (k = {self.k})\n"
            f"Kendall's tau = {self.statistic:.4f}, {format_p(self.p_value)} ({kind})"
        )


@attrs.frozen(eq=False)
class TrimFill:
    """Duval and Tweedie's trim-and-fill (metafor ``trimfill``).

    Attributes
    ----------
    estimator : str
        ``"L0"`` or ``"R0"``.
    side : str
        ``"left"`` or ``"right"``: where studies were judged missing.
    k0, k0_se : int, float
        Estimated number of missing studies and its standard error.
    total : Total
        The analysis' model refitted on the observed and filled studies
        (natural scale for ratios, as :attr:`MetaAnalysis.total`).
    heterogeneity : Heterogeneity
        Of that refit.
    filled_yi, filled_vi : ndarray
        The filled studies' effects (analysis scale) and variances.
    k : int
        Studies in the refit (observed + filled).
    measure : str
    random : bool
        Whether the model is random effects (for the heterogeneity line).
    """

    estimator: str
    side: str
    k0: int
    k0_se: float
    total: Total
    heterogeneity: Heterogeneity
    filled_yi: FloatArray
    filled_vi: FloatArray
    k: int
    measure: str
    random: bool

    def __str__(self) -> str:
        plural = "study" if self.k0 == 1 else "studies"
        t = self.total
        return "\n".join(
            [
                f"Trim-and-fill ({self.estimator} estimator): {self.k0} {plural} "
                f"(SE {self.k0_se:.4f}) filled on the {self.side} side",
                f"Adjusted total ({self.measure}, k = {self.k}): "
                f"{effect_text(t.estimate, t.ci_lower, t.ci_upper)}",
                heterogeneity_line(self.heterogeneity, self.random),
                overall_effect_line(t),
            ]
        )


def _rounding(y: FloatArray) -> float:
    """Differences below this are rounding noise for effects of the size of ``y``."""
    return float(100 * np.finfo(float).eps * np.abs(y).max())


# -- weighted least squares ---------------------------------------------------------------


@attrs.frozen
class _Fit:
    """Weighted least squares of y on (1, x): coefficients, raw residuals, (X'WX)⁻¹."""

    coef: FloatArray
    residual: FloatArray
    xtwx_inv: FloatArray


def _wfit(y: FloatArray, x: FloatArray, w: FloatArray) -> _Fit:
    # QR of the weighted design, as R's lm: better conditioned than normal equations
    root = np.sqrt(w)
    design = np.column_stack([root, root * x])
    q, r = np.linalg.qr(design)
    coef = linalg.solve_triangular(r, q.T @ (root * y))
    r_inv = linalg.solve_triangular(r, np.eye(2))
    return _Fit(coef, y - coef[0] - coef[1] * x, r_inv @ r_inv.T)


def _enough(test: str, k: int, k_min: int) -> None:
    """Refuse fewer than ``k_min`` studies (by default the Handbook's 10), and fewer than 3."""
    if isinstance(k_min, bool) or not isinstance(k_min, (int, np.integer)) or k_min < 1:
        raise InputError(f"k_min must be a positive whole number, got {k_min!r}")
    if k < k_min:
        anyway = f"; pass k_min={k} to run it anyway" if k >= 3 else ""
        raise InputError(
            f"{test}'s test needs at least k_min = {k_min} studies, the analysis has {k}: "
            f"the Cochrane Handbook (section 13.3.5.4) advises tests for funnel plot "
            f"asymmetry only with at least {K_MIN} studies, as with fewer they are too weak "
            f"to tell asymmetry from chance{anyway}"
        )
    if k < 3:
        raise InputError(f"{test}'s test needs at least 3 studies, the analysis has {k}")


def _regression_test(
    test: str,
    predictor: str,
    y: FloatArray,
    x: FloatArray,
    w: FloatArray,
    level: float,
    k_min: int,
) -> RegressionTest:
    k = y.size
    _enough(test, k, k_min)
    if np.ptp(x) == 0:
        raise InputError(f"{test}'s test is not possible: every study has the same {predictor}")
    fit = _wfit(y, x, w)
    df = k - 2
    sigma2 = float(w @ fit.residual**2) / df  # lm's residual variance
    se = np.sqrt(sigma2 * np.diag(fit.xtwx_inv))
    # a line through every study leaves residuals of rounding size only: no test
    # (R's lm reports the t of that noise)
    terms = np.concatenate([y, fit.coef[:1], fit.coef[1] * x])
    perfect = np.abs(fit.residual).max() <= _rounding(terms)
    t = math.nan if perfect else fit.coef[1] / se[1]
    half = float(special.stdtrit(df, 0.5 + level / 2)) * se[0]
    return RegressionTest(
        test=test,
        predictor=predictor,
        statistic=float(t),
        df=float(df),
        p_value=float(2 * special.stdtr(df, -abs(t))),
        intercept=float(fit.coef[0]),
        intercept_se=float(se[0]),
        intercept_ci=Interval(float(fit.coef[0] - half), float(fit.coef[0] + half)),
        slope=float(fit.coef[1]),
        slope_se=float(se[1]),
        k=k,
    )


# -- tests --------------------------------------------------------------------------------


def egger(res: MetaAnalysis, *, k_min: int = K_MIN) -> RegressionTest:
    """Egger's regression test: effect on its SE, weights 1/SE², t test of the slope.

    The same as regressing y/SE on 1/SE and testing the intercept, Egger's
    "bias" (Egger 1997); metafor ``regtest(model="lm")``, R meta ``metabias``.

    Parameters
    ----------
    res : MetaAnalysis
    k_min : int
        Fewest estimable studies to test (default 10, the Cochrane Handbook's
        advice); at least 3 are always needed.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> t = egger(res, k_min=7)  # the seven aspirin trials: fewer than the Handbook's 10
    >>> round(t.statistic, 4), round(t.p_value, 4), t.df, round(t.bias, 4)
    (-0.9213, 0.3992, 5.0, -0.7245)
    """
    data = estimable_studies(res)
    se = np.sqrt(data.vi)
    return _regression_test(
        "Egger", "SE", data.yi, se, 1.0 / data.vi, data.settings.ci_level, k_min
    )


def peters(res: MetaAnalysis, *, k_min: int = K_MIN) -> RegressionTest:
    """Peters' test (dichotomous data): effect on 1/N, weights 1/(1/S + 1/F).

    N, S and F are each study's raw numbers of participants, events and
    non-events over both arms (R meta ``metabias(method.bias="Peters")``).
    A study without events or without non-events has no weight and is left out.
    ``k_min`` as for :func:`egger`, counting the studies in the regression.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> round(peters(res, k_min=7).p_value, 4)
    0.3051
    """
    data = _dichotomous(res, "Peters")
    assert data.cells is not None
    c = data.cells
    events, non_events = c.a + c.c, c.b + c.d
    used = (events > 0) & (non_events > 0)
    w = 1.0 / (1.0 / events[used] + 1.0 / non_events[used])
    inverse_n = 1.0 / (events + non_events)[used]
    return _regression_test(
        "Peters", "1/N", data.yi[used], inverse_n, w, data.settings.ci_level, k_min
    )


def harbord(res: MetaAnalysis, *, k_min: int = K_MIN) -> RegressionTest:
    """Harbord's test (odds ratios): Egger's test on Peto's score statistics.

    y = (O − E)/V with SE 1/sqrt(V), V the hypergeometric variance, from the raw
    2x2 cells (no continuity correction); the same regression as Z/sqrt(V) on
    sqrt(V) (Harbord 2006; R meta ``metabias(method.bias="Harbord")``).
    ``k_min`` as for :func:`egger`.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> round(harbord(res, k_min=7).statistic, 4)
    -0.9214
    """
    data = _dichotomous(res, "Harbord")
    if data.settings.measure not in ("OR", "PETO_OR"):
        raise InputError(
            f"Harbord's test is for odds ratios; the analysis uses {data.settings.measure}"
        )
    assert data.cells is not None
    o_minus_e, v = peto_o_minus_e(data.cells)
    return _regression_test(
        "Harbord", "1/sqrt(V)", o_minus_e / v, 1.0 / np.sqrt(v), v, data.settings.ci_level, k_min
    )


def _dichotomous(res: MetaAnalysis, test: str) -> StudyData:
    if res.settings.data_type is not DataType.DICHOTOMOUS:
        raise InputError(
            f"{test}'s test needs dichotomous data (events and totals); "
            f"the analysis has {res.settings.data_type.value} data"
        )
    return estimable_studies(res)


def begg(res: MetaAnalysis, *, k_min: int = K_MIN) -> RankTest:
    """Begg and Mazumdar's rank correlation test (metafor ``ranktest``).

    Kendall's τ between (yᵢ − θ_FE)/sqrt(vᵢ − 1/Σw) and vᵢ, θ_FE the
    fixed-effect inverse-variance estimate. ``k_min`` as for :func:`egger`.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> r = begg(res, k_min=7)
    >>> round(r.statistic, 4), round(r.p_value, 4), r.exact
    (-0.4286, 0.2389, True)
    """
    data = estimable_studies(res)
    k = data.k
    _enough("Begg", k, k_min)
    if np.ptp(data.vi) == 0:
        raise InputError("Begg's test is not possible: every study has the same SE")
    fe = pool_segments(data.yi, data.vi, Segments.single(k), random=False)
    centred = data.yi - fe.estimate[0]
    # equal effects are tied at 0, not ranked by rounding noise
    centred[np.abs(centred) <= _rounding(data.yi)] = 0.0
    standardised = centred / np.sqrt(data.vi - fe.se[0] ** 2)
    ties = np.unique(standardised).size < k or np.unique(data.vi).size < k
    result = stats.kendalltau(standardised, data.vi, method="asymptotic" if ties else "exact")
    return RankTest(
        statistic=float(result.statistic), p_value=float(result.pvalue), exact=not ties, k=k
    )


# -- trim and fill ------------------------------------------------------------------------


def trimfill(res: MetaAnalysis, estimator: str = "L0", side: str | None = None) -> TrimFill:
    """Duval and Tweedie's trim-and-fill with the analysis' model (metafor ``trimfill``).

    Parameters
    ----------
    res : MetaAnalysis
    estimator : {"L0", "R0"}
        Estimator of the number of missing studies.
    side : {"left", "right"}, optional
        Where studies are missing. By default from the sign of the slope of
        a meta-regression of yᵢ on SEᵢ under the analysis' model (negative
        slope: missing on the right), as metafor.

    Returns
    -------
    TrimFill
        The refit uses the analysis' model (τ² estimator, CI method and level)
        pooled by inverse variance.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> tf = trimfill(res)
    >>> tf.k0, tf.side, round(tf.total.estimate, 4)
    (3, 'right', 0.914)
    """
    name = estimator.strip().upper() if isinstance(estimator, str) else estimator
    if name not in ("L0", "R0"):
        raise InputError(f"unknown trim-and-fill estimator {estimator!r}; allowed: L0, R0")
    data = estimable_studies(res)
    k = data.k
    if k < 3:
        raise InputError(f"trim-and-fill needs at least 3 studies, the analysis has {k}")
    random = data.settings.model is Model.RANDOM
    if side is None:
        se = np.sqrt(data.vi)
        slope = _regression_slope(data.yi, data.vi, se, data.settings.tau2, random)
        # a slope of rounding size (symmetric data) has no sign: metafor's default, left
        side = "right" if slope * np.ptp(se) < -_rounding(data.yi) else "left"
    elif side not in ("left", "right"):
        raise InputError(f"side must be 'left' or 'right', got {side!r}")
    # work as if studies were missing on the left: flip the sign otherwise
    sign = -1.0 if side == "right" else 1.0
    # by effect; equal effects by variance (metafor keeps their input order), so that
    # the result does not depend on the order of the studies
    order = np.lexsort((data.vi, sign * data.yi))
    y, v = sign * data.yi[order], data.vi[order]
    flipped = attrs.evolve(data, names=tuple(data.names[i] for i in order), yi=y, vi=v, cells=None)
    k0, k0_prev, k0_se, beta, iterations = 0, -1, math.nan, math.nan, 0
    while k0 != k0_prev:
        iterations += 1
        if iterations > MAXITER:
            raise InputError(f"trim-and-fill did not converge in {MAXITER} iterations")
        k0_prev = k0
        kept = np.arange(k - k0)
        trimmed = pool_groups(flipped, kept, Segments.single(kept.size), own_method=False)
        beta = float(trimmed.estimate[0])
        centred = y - beta
        # a study at the estimate up to rounding is on neither side (all effects equal:
        # nothing is missing) rather than on a side chosen by rounding noise
        k0, k0_se = _missing(np.where(np.abs(centred) <= _rounding(y), 0.0, centred), name)
    # the k0 largest (on the flipped scale) mirrored around the trimmed estimate
    filled_yi = sign * (2 * beta - y[k - k0 :])
    filled_vi = v[k - k0 :]
    augmented = attrs.evolve(
        data,
        names=(*data.names, *(f"Filled {i + 1}" for i in range(k0))),
        yi=np.concatenate([data.yi, filled_yi]),
        vi=np.concatenate([data.vi, filled_vi]),
        cells=None,
    )
    everyone = np.arange(k + k0)
    refit = pool_groups(augmented, everyone, Segments.single(k + k0), own_method=False)
    refitted = group_results(refit, data.settings.ratio)[0]
    return TrimFill(
        estimator=name,
        side=side,
        k0=k0,
        k0_se=k0_se,
        total=refitted["total"],
        heterogeneity=refitted["heterogeneity"],
        filled_yi=filled_yi,
        filled_vi=filled_vi,
        k=k + k0,
        measure=data.settings.measure,
        random=random,
    )


def _missing(centred: FloatArray, estimator: str) -> tuple[int, float]:
    """Duval and Tweedie's estimate of the number of missing studies, and its SE."""
    k = centred.size
    rank = np.empty(k)
    # ranks of |centred| with ties in order of appearance (R's ties.method="first")
    rank[np.argsort(np.abs(centred), kind="stable")] = np.arange(1, k + 1)
    if estimator == "R0":
        # the rightmost run of positive ranks: above the largest rank of a study at or
        # below the estimate (metafor: of a negative one, which it then always has)
        k0 = k - rank[centred <= 0].max(initial=0.0) - 1
        se = math.sqrt(2 * max(0.0, k0) + 2)
    else:
        sr = rank[centred > 0].sum()
        k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
        var_sr = (
            k * (k + 1) * (2 * k + 1)
            + 10 * k0**3
            + 27 * k0**2
            + 17 * k0
            - 18 * k * k0**2
            - 18 * k * k0
            + 6 * k**2 * k0
        ) / 24
        se = 4 * math.sqrt(var_sr) / (2 * k - 1) if var_sr >= 0 else math.nan
    # round half to even, as R's round()
    return max(0, int(np.round(k0))), se


# -- meta-regression on the SE: the side of trim-and-fill ---------------------------------


def _regression_slope(
    y: FloatArray, v: FloatArray, x: FloatArray, method: str, random: bool
) -> float:
    """Slope of the meta-regression of y on x: fixed effect or random effects with τ².

    As metafor's ``rma(yi, vi, mods=x, method=...)``; only its sign is used.
    """
    studies = Studies(y, v, Segments.single(y.size), x)
    fixed = studies.fit(1.0 / v)
    tau2 = estimate_tau2(method, Within.of(fixed)).tau2[0] if random else 0.0
    return float(studies.fit(1.0 / (v + tau2)).coef[1][0])
